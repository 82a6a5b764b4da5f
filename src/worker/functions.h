// Function instances on a worker (docs/functions.md): the planner starts an instance of a
// function here (`fn_start`), sends it calls (`fn_call`) and stops it (`fn_stop`); the host
// answers `fn_ready`, `fn_answer` and `fn_exited` (wire/function_messages.h).
//
// The `cmd` runner: an instance holds the function's bundle (fetched and unpacked once, kept
// from eviction while the instance lives); each call runs the function's program in a fresh
// directory through the worker's Launcher (so under the bubblewrap sandbox and the worker's
// limits, as the `exec` operation runs), with the request body on stdin. Its stdout is the
// answer; a non-zero exit, a signal or a timeout fails the call with the tail of its stderr.
//
// The `fly` runner (fn_fly.h): an instance is a child process that compiled the function's FLY
// program once and calls its function in warm VMs, `concurrency` calls at once; calls go to it
// over a socket without a host thread each.
//
// The `http` runner (fn_http.h): an instance is one long-lived process serving HTTP on $PORT,
// started by fn_start and ready once it answers the readiness check; calls are proxied to it,
// up to the function's concurrency at once. fn_stop lets its calls in flight finish, then
// stops the process; a process that ends on its own is reported (`fn_exited`).
//
// Threading: Start, Call, Stop and StopAll from any thread (the worker's io thread); the work
// runs on the host's own threads (one per call running, up to max_threads), and `send` is
// called on them (and on options.io's thread for fly instances' answers).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "wire/function_messages.h"
#include "worker/bundle_cache.h"
#include "worker/launcher.h"

namespace boost::asio {
class io_context;
}

namespace volo::worker {

struct FunctionHostOptions {
  std::string work_dir;  // calls' directories go here (created when missing)
  std::shared_ptr<Launcher> launcher;
  std::shared_ptr<BundleCache> bundles;  // null: functions with a bundle cannot start
  std::chrono::milliseconds kill_grace{5000};
  int max_threads = 64;           // calls running at once; more wait for a thread
  size_t max_response = 8 << 20;  // bytes of stdout a call may answer with
  // The worker's loop: fly instances' answers are read on its thread (FlyInstanceOptions::io),
  // and `send` is called there for them. Null: on each instance's monitor thread.
  boost::asio::io_context* io = nullptr;
};

struct FunctionHostStats {
  int64_t instances = 0;  // running now
  int64_t started = 0;    // instances started
  int64_t calls = 0;      // calls run
  int64_t failed = 0;     // calls that failed (exit, signal, timeout)
  int64_t busy = 0;       // calls running or waiting for a host thread, and instances stopping
};

class FunctionHost {
  using Clock = std::chrono::steady_clock;

 public:
  // A protocol message for the planner (fn_ready, fn_answer, fn_exited), made in `epoch`: the
  // number of StopAll calls before it. A message of an older epoch is for a planner connection
  // that is gone, and the caller drops it.
  using Send = std::function<void(std::string message, uint64_t epoch)>;

  static Result<std::unique_ptr<FunctionHost>> Create(FunctionHostOptions options, Send send);
  // Kills running calls (their answers are never sent) and joins the threads.
  ~FunctionHost();
  FunctionHost(const FunctionHost&) = delete;
  FunctionHost& operator=(const FunctionHost&) = delete;

  void Start(wire::FnStart m);
  void Call(wire::FnCall m);
  // Calls that arrived together (one fn_batch): each as Call, a fly instance's in one write.
  void CallMany(std::vector<wire::FnCall> calls);
  // The instance takes no more calls; those running finish and are answered.
  void Stop(uint64_t instance);
  // The planner is gone: every instance goes and running calls are killed unanswered.
  void StopAll();
  FunctionHostStats stats() const;

 private:
  struct Instance;
  struct Job;
  struct Running;
  explicit FunctionHost(FunctionHostOptions options, Send send);
  void Enqueue(std::function<void(Running&)> work);
  // A fly call's answer callback: counts it and sends its fn_answer (on the thread that reads
  // the instance's answers).
  std::function<void(wire::FnAnswer)> FlyAnswered(uint64_t epoch);
  void Loop();
  void RunStart(const wire::FnStart& m);
  // fn_exited for an instance that could not start (or ended), in `epoch`.
  void Exited(uint64_t instance, uint64_t epoch, std::string why);
  // An instance takes calls: counted, logged (`where` after "ready": " on port 8080"), fn_ready.
  void Ready(const wire::FnStart& m, Clock::time_point t0, uint64_t epoch,
             const std::string& where);
  // A long-lived instance's own directory (its HOME and TMPDIR), made; empty when it cannot be,
  // after fn_exited said why.
  std::string MakeInstanceDir(const wire::FnStart& m, uint64_t epoch);
  // The http runner's start: the process, then its readiness check.
  void StartHttp(const std::shared_ptr<Instance>& inst, Clock::time_point t0, uint64_t epoch);
  // What an http or fly instance's process writes on stderr (and a fly program prints), to the
  // planner as fn_log lines (`volo fn logs`); an empty view ends the last line.
  std::function<void(std::string_view)> LogForwarder(const wire::FnStart& m, uint64_t epoch);
  // A long-lived instance's process: its environment (the worker's base, HOME and TMPDIR in
  // `dir`, VOLO_FUNCTION*, the bundle, the function's --env), directories and limits; argv and
  // stdio are the caller's.
  LaunchSpec InstanceSpec(const Instance& inst, const std::string& dir) const;
  // Waits for a long-lived instance to become ready (`wait`), known meanwhile as starting (so
  // that fn_stop or StopAll can end the wait). True when it is ready and still wanted: it then
  // takes calls. Otherwise a failure to start is reported (fn_exited) and the caller lets the
  // instance go.
  bool AwaitReady(const std::shared_ptr<Instance>& inst, uint64_t epoch,
                  const std::function<Status()>& wait);
  // The fly runner's start: the child process, its program compiled and its top level run.
  void StartFly(const std::shared_ptr<Instance>& inst, Clock::time_point t0, uint64_t epoch);
  // An http or fly instance's process ended on its own (from its monitor thread).
  void HttpExited(uint64_t instance, const std::string& why);
  // Lets the last reference to an instance go on a host thread (never an instance's own).
  void Release(std::shared_ptr<Instance> inst);
  void RunCall(Running& run, const std::shared_ptr<Instance>& inst, wire::FnCall m);
  // Runs the call into `answer`; its directory is removed by the time it returns.
  void Execute(Running& run, const Instance& inst, const wire::FnCall& m, wire::FnAnswer& answer);

  FunctionHostOptions options_;
  Send send_;
  std::vector<std::string> base_env_;
  std::vector<uint16_t> ports_;  // GUARDED_BY(mu_); http instances' ports
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                                        // GUARDED_BY(mu_)
  std::deque<std::function<void(Running&)>> queue_;          // GUARDED_BY(mu_)
  std::map<uint64_t, std::shared_ptr<Instance>> instances_;  // GUARDED_BY(mu_)
  std::set<uint64_t> stopped_early_;                         // GUARDED_BY(mu_)
  std::map<uint64_t, std::shared_ptr<Instance>> starting_;   // GUARDED_BY(mu_); http, not ready
  std::vector<Running*> running_;                            // GUARDED_BY(mu_)
  int idle_threads_ = 0;                                     // GUARDED_BY(mu_)
  uint64_t epoch_ = 0;  // GUARDED_BY(mu_); StopAll bumps it: older work is dropped
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> serial_{0};
  std::atomic<int64_t> started_{0}, calls_{0}, failed_{0};
};

}  // namespace volo::worker
