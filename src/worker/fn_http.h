// One instance of an `http` function on a worker (docs/functions.md, "Runners"): a long-lived
// process, started through the worker's Launcher (so in the sandbox, under the function's
// limits), serving HTTP on 127.0.0.1:$PORT. The worker proxies each call to it over a pool of
// keep-alive connections (Boost.Beast, kept to fn_http.cc).
//
// Reaching the port: a sandboxed process has a network namespace of its own with only a
// loopback (bwrap's --unshare-net, or the warm sandbox's namespace its commands share), which
// the worker's 127.0.0.1 is not. The instance forks a small *connector* that joins the user and
// network namespaces of a process inside the sandbox (setns; the worker's user owns those
// namespaces) and, for each connection the worker asks for, connects to 127.0.0.1:$PORT there
// and hands the connected socket back (SCM_RIGHTS). The socket stays in the sandbox's namespace,
// so after that the worker talks to the server directly, with no copy through a third process.
// Without a sandbox (or with one that shares the host's network) the worker connects itself.
//
// Threading: Call from many threads at once; Stop, Kill from any thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "wire/function_messages.h"
#include "worker/launcher.h"
#include "worker/process_watch.h"

namespace volo::worker {

struct HttpInstanceOptions {
  std::shared_ptr<Launcher> launcher;
  LaunchSpec spec;  // argv, env (PORT included), directories, limits; stdio set here
  uint16_t port = 0;
  std::string dir;  // the instance's own directory (HOME, TMPDIR), removed when it ends
  std::chrono::milliseconds kill_grace{5000};
  size_t max_response = 8 << 20;
  // Each line the process writes on stdout or stderr (without its newline), from the
  // instance's own thread.
  std::function<void(std::string_view line)> on_output;
  // The bytes the process writes on stderr as they are read, from the instance's own thread;
  // an empty view once stderr has ended.
  std::function<void(std::string_view data)> on_stderr;
  // The process ended without Stop or Kill (a crash, an exit): its description ("killed by
  // SIGSEGV: <output tail>"), once, from the instance's own thread.
  std::function<void(const std::string& why)> on_exit;
};

class HttpInstance {
 public:
  // Starts the process. IoError/NotFound when it cannot start.
  static Result<std::unique_ptr<HttpInstance>> Start(HttpInstanceOptions options);
  // Kills the process tree if it still runs, removes the directory.
  ~HttpInstance();
  HttpInstance(const HttpInstance&) = delete;
  HttpInstance& operator=(const HttpInstance&) = delete;

  // Blocks until the server answers `GET path` with a status below 500 (OK), the process ends
  // (its description), `timeout` passes (killed; "did not answer ... within N s"), or Kill.
  Status WaitReady(const std::string& path, double timeout);

  // Proxies one call: the request's method, path (percent-encoded again), query, headers and
  // body through, the answer's status, headers (but hop-by-hop ones) and body back. A failure
  // (the process crashed, the connection broke, the timeout) leaves answer.ok false with the
  // reason; `crashed` when the process died of a signal.
  void Call(const wire::FnCall& m, double timeout, wire::FnAnswer& answer);

  // Takes no more calls; the process is stopped (SIGTERM, then SIGKILL after kill_grace) once
  // the calls in flight have finished.
  void Stop();
  // Kills the process now; calls in flight fail.
  void Kill();
  bool exited() const;
  pid_t pid() const;

 private:
  explicit HttpInstance(HttpInstanceOptions options);
  void Monitor();
  void Wake();
  // A connected socket to the server (from the pool: *pooled, or new), or -errno.
  int Connect(bool* pooled);
  int ConnectDirect();
  // Finds the sandbox's namespaces and starts the connector; false while the sandboxed
  // process cannot be found yet.
  bool ResolveConnector();
  int ConnectThroughConnector();
  // The process's end (waits up to `wait` for it): its description, or empty while it runs.
  std::string EndedWith(std::chrono::milliseconds wait);
  void Release(int fd, bool reuse);

  HttpInstanceOptions options_;
  std::unique_ptr<Launched> proc_;
  int out_ = -1, err_ = -1;  // the process's stdout and stderr (read ends)
  int wake_ = -1;            // eventfd: wakes the monitor
  std::thread monitor_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool exited_ = false;       // GUARDED_BY(mu_)
  bool stopping_ = false;     // GUARDED_BY(mu_)
  bool killed_ = false;       // GUARDED_BY(mu_)
  bool ended_ = false;        // GUARDED_BY(mu_); the monitor is done
  int inflight_ = 0;          // GUARDED_BY(mu_)
  std::string why_;           // GUARDED_BY(mu_); the end's description
  OutputTail tail_{2 << 10};  // GUARDED_BY(mu_); the last output, for error messages
  std::vector<int> idle_;     // GUARDED_BY(mu_); keep-alive connections

  std::mutex connector_mu_;
  enum class Route { kUnknown, kDirect, kConnector } route_ = Route::kUnknown;  // connector_mu_
  int connector_ = -1;        // GUARDED_BY(connector_mu_); our end of its socket
  pid_t connector_pid_ = -1;  // GUARDED_BY(connector_mu_)
};

// The port for a new instance: one the kernel hands out as free on the worker's loopback, and
// not in `taken`. 0 when none could be had.
uint16_t PickPort(const std::vector<uint16_t>& taken);

// A decoded path percent-encoded again for a request target ("" is "/").
std::string EncodePath(const std::string& path);

}  // namespace volo::worker
