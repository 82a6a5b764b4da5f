// In-test peers of the planner: a seed-style HTTP worker (net::Server) and a WebSocket client
// (net::WsConnect) that speaks, or breaks, the native protocol.
//
// Each runs its own io_context on its own thread; the methods here are called from the test
// thread and hand work to that thread. Counters are atomics so the test can poll them.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "net/server.h"

namespace boost::asio {
class io_context;
}

namespace volo::itest {

enum class FakeMode {
  kOk,         // {"res": a op b} after `delay`; 403 "Already working" while busy
  kStatus500,  // 500 {"error": "fake worker exploded"}
  kGarbage,    // 200 with a body that is not JSON
  kHang,       // never answers (until Stop)
};

struct FakeHttpWorkerOptions {
  FakeMode mode = FakeMode::kOk;
  std::chrono::milliseconds delay{0};
  int busy_first = 0;  // answer 403 "Already working" to this many operation requests first
  std::set<std::string> ops = {"add", "mult"};  // POST /<other> gets 404
  // Busy per operation (runs an add and a mult at once, as the seed's worker does) instead
  // of one task at a time.
  bool busy_per_op = false;
};

// The seed's worker, rewritten on net::Server: POST /add and /mult with {"a","b"}.
class FakeHttpWorker {
 public:
  explicit FakeHttpWorker(FakeHttpWorkerOptions options);
  ~FakeHttpWorker();
  FakeHttpWorker(const FakeHttpWorker&) = delete;
  FakeHttpWorker& operator=(const FakeHttpWorker&) = delete;

  bool listening() const { return port_ != 0; }
  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Closes the listener and every connection; afterwards connections to the port are refused.
  // Blocks until done.
  void Stop();

  int requests() const { return requests_; }        // operation requests received
  int completed() const { return completed_; }      // answered 200 with a result
  int busy_answers() const { return busy_; }        // answered 403
  int max_running() const { return max_running_; }  // most operations running at once

 private:
  void OnRequest(net::HttpRequest request, net::Respond respond);

  FakeHttpWorkerOptions options_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<net::Server> server_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<int> completed_{0};
  std::atomic<int> busy_{0};
  std::atomic<int> max_running_{0};
  // io thread only:
  std::set<std::string> working_;  // operations running now
  int busy_left_ = 0;
  std::vector<net::Respond> hung_;
};

// POST /register of `worker` as `id` on the planner (`ops_json`: a JSON array, or "" to leave
// the planner's default).
Reply RegisterFake(const PlannerProc& planner, const FakeHttpWorker& worker, const std::string& id,
                   const std::string& ops_json = "");

// A WebSocket client to the planner that records what it receives.
class FakeWsClient {
 public:
  FakeWsClient();
  ~FakeWsClient();
  FakeWsClient(const FakeWsClient&) = delete;
  FakeWsClient& operator=(const FakeWsClient&) = delete;

  // Opens `url` (ws://...); returns an empty string when open, else the error.
  std::string Connect(const std::string& url, std::chrono::milliseconds timeout = seconds(10));
  void Send(std::string text);
  void Close();

  bool closed() const { return closed_; }
  std::vector<std::string> messages() const;
  // The received messages that parse as JSON objects with "t" == type.
  std::vector<json::object> MessagesOfType(const std::string& type) const;

 private:
  std::unique_ptr<boost::asio::io_context> io_;
  std::thread thread_;
  std::atomic<bool> closed_{false};
  mutable std::mutex mu_;
  std::vector<std::string> messages_;        // guarded by mu_
  std::shared_ptr<net::WsConnection> conn_;  // io thread only
};

}  // namespace volo::itest
