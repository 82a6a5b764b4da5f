// In-test peers written to the seed exercise's behaviour (shared/seeds/workers-exercise.txt and
// issue 13 section 3), so volo is checked against what the exercise's own programs do, not
// against volo's reading of them:
//
// - SeedPlanner: every `tick` it takes the first waiting task and the next registered worker
//   (round robin) and POSTs the task's {"a","b"} to WORKER/op without waiting for the answer. It
//   reads ANY answer as JSON, whatever its status: an answer that parses is the task's result
//   (even {"error": ...} from a 403; that is the defect a volo worker must not trigger), one that
//   does not (or a failed request) puts the task back at the end of the queue. Workers join with
//   POST /register {"url", "id"}, answered with the text "ok".
// - SeedWorker: POST /add and /mult (only those its ADD / MULT allow; others get express's HTML
//   404 "Cannot POST /mult"), one task per operation at a time (403 "Already working" as plain
//   text), answering {"res", "duration"} as JSON text after `duration`; GET / answers
//   "ready to work" or {"type","task"}. It may register itself with a planner as the seed's
//   workers of exercise 4 do.
//
// Each runs its own io_context on its own thread; call the public methods from the test thread.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "net/server.h"

namespace boost::asio {
class io_context;
}
namespace volo::net {
class HttpClient;
}

namespace volo::itest {

struct SeedTaskSpec {
  std::string op;  // "add" or "mult"
  int a = 0;
  int b = 0;
};

// One answer the seed planner got for a task.
struct SeedAnswer {
  SeedTaskSpec task;
  std::string worker_url;
  int status = 0;  // 0: the request failed (transport)
  std::string content_type;
  std::string body;
  bool parsed = false;  // the body parsed as JSON (so the seed planner took it as the result)
};

struct SeedRegistration {
  std::string url;
  std::string id;
  std::string authorization;  // the Authorization header, if any
};

class SeedPlanner {
 public:
  SeedPlanner(std::vector<SeedTaskSpec> tasks, std::chrono::milliseconds tick);
  ~SeedPlanner();
  SeedPlanner(const SeedPlanner&) = delete;
  SeedPlanner& operator=(const SeedPlanner&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  bool listening() const { return port_ != 0; }

  // Answers the planner took as results (they parsed as JSON), one per finished task.
  std::vector<SeedAnswer> results() const;
  // Every answer, in arrival order.
  std::vector<SeedAnswer> answers() const;
  std::vector<SeedRegistration> registrations() const;
  int tasks_left() const { return tasks_left_; }

 private:
  void OnRequest(net::HttpRequest request, net::Respond respond);
  void Tick();

  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<net::Server> server_;
  std::unique_ptr<net::HttpClient> client_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::chrono::milliseconds tick_;
  std::atomic<int> tasks_left_;
  // io thread only:
  std::deque<SeedTaskSpec> queue_;
  // The worker for each send is drawn at random: a strict rotation can lock into giving the
  // same tasks to the same wrong specialised workers forever (two tasks, two workers, in phase).
  std::mt19937 pick_{12345};
  bool stopping_ = false;
  mutable std::mutex mu_;
  std::vector<SeedRegistration> workers_;  // guarded by mu_
  std::vector<SeedAnswer> answers_;        // guarded by mu_
};

struct SeedWorkerOptions {
  bool add = true;   // ADD
  bool mult = true;  // MULT
  std::chrono::milliseconds duration{30};
  std::string register_with;  // a planner URL: POST /register {"url","id"} at start
  std::string id = "seed-worker";
};

class SeedWorker {
 public:
  explicit SeedWorker(SeedWorkerOptions options);
  ~SeedWorker();
  SeedWorker(const SeedWorker&) = delete;
  SeedWorker& operator=(const SeedWorker&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  bool listening() const { return port_ != 0; }
  // The answer of its POST /register (empty when it did not register).
  const Reply& registration() const { return registration_; }

  int completed(const std::string& op) const;  // tasks answered with a result
  int busy_answers() const { return busy_; }
  int not_found_answers() const { return not_found_; }

 private:
  void OnRequest(net::HttpRequest request, net::Respond respond);

  SeedWorkerOptions options_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<net::Server> server_;
  std::thread thread_;
  uint16_t port_ = 0;
  Reply registration_;
  std::atomic<int> completed_add_{0};
  std::atomic<int> completed_mult_{0};
  std::atomic<int> busy_{0};
  std::atomic<int> not_found_{0};
  // io thread only:
  std::map<std::string, std::string> working_;  // op -> task JSON
};

// n tasks alternating add and mult with small distinct arguments.
std::vector<SeedTaskSpec> SeedTasks(int n);
// a op b.
double SeedExpected(const SeedTaskSpec& t);

}  // namespace volo::itest
