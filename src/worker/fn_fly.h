// One instance of a `fly` function on a worker (docs/functions.md, "Runners"): a child process
// of the worker, `volo __fn-fly`, started through the worker's Launcher (so in the sandbox,
// under the function's limits), that compiles the function's FLY program once and then calls
// its function F for each request, in warm VMs.
//
// The child speaks exec/frame.h frames over one socket, its stdin and stdout:
//
//   worker -> child  init:   "init", file, source, function, vms, max_memory (bytes, 0: none)
//                    call:   "call", call id, method, path, query, header count,
//                            name and value per header, body
//   child -> worker  ready:  "ready"                         (compiled, every VM's top level ran)
//                    failed: "failed", message               (then it exits)
//                    answer: "answer", call id, kind (0 an answer, 1 a FLY runtime error, 2 fatal:
//                            FLY's memory limit, the child exits after it), status, content type,
//                            header count, name and value per header, body, CPU nanoseconds of
//                            the call, the child's peak resident bytes
//                    log:    "log", text                     (what F prints: whole lines)
//
// Several frames are written at once when several are ready (answers of concurrent calls, calls
// that arrived together), and the reading side takes them all from one read.
//
// `vms` VMs run calls at once, each on a thread of its own with its own Runtime (so its own
// globals: the program's top level runs once per VM at start), which is how `--concurrency N`
// is served. A call is F(), F(body) or F(body, request) by F's arity (request: a map of method,
// path, query and headers); its return value is the answer (FnFlyAnswerOf in fn_fly.cc).
//
// The worker side (FlyInstance) writes calls to the socket from the caller's thread. Given an
// io_context (the worker's: options.io), that loop's thread also reads the socket: it waits for
// the socket to be readable with the loop's other sockets, takes every frame one read brought
// and answers each call from there, so a warm call costs the worker no thread switch. Without
// one, the monitor thread reads it. The monitor thread (one per instance) reads the child's
// stderr, enforces each call's timeout (a call past it is answered "timed out" and the child
// is killed: a VM cannot be stopped from outside without that) and reports the child's end (a
// crash, FLY's memory limit, a kill) once, after every frame the child wrote before it ended
// has been taken.
//
// Threading: Call from many threads at once; Stop, Kill from any thread. With options.io, the
// answers' callbacks run on the loop's thread (those the child wrote just before it ended on
// the monitor thread), one at a time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/status.h"
#include "exec/frame.h"
#include "wire/function_messages.h"
#include "worker/launcher.h"

namespace boost::asio {
class io_context;
}

namespace volo::worker {

inline constexpr std::string_view kFnFlyCommand = "__fn-fly";

// The child's main, for `volo __fn-fly` (src/cli/main.cc). Returns its exit status: 0 when the
// worker closed the socket, 1 when the program cannot start (after "failed"), 3 after a fatal
// answer, 2 for a bad start.
int FnFlyMain(int argc, char** argv);

struct FlyInstanceOptions {
  std::shared_ptr<Launcher> launcher;
  LaunchSpec spec;  // argv (the worker's binary, __fn-fly), env, directories, limits
  std::string dir;  // the instance's own directory (HOME, TMPDIR), removed when it ends
  std::string file, source, function;
  int vms = 1;              // calls at once
  uint64_t max_memory = 0;  // FLY's heap limit in the child, bytes; 0: none
  double timeout = 0;       // seconds per call; 0: none
  std::chrono::milliseconds kill_grace{5000};
  // The loop whose thread reads the answers (run by one thread; it must outlive the instance);
  // null: the monitor thread reads them.
  boost::asio::io_context* io = nullptr;
  // What the program prints (whole lines) and what the child writes on stderr (as read), from
  // the monitor thread; an empty view once the child has ended.
  std::function<void(std::string_view text)> on_log;
  // The child ended without Stop or Kill (a crash, FLY's memory limit: its message, a call's
  // timeout: "a call timed out after 5 s"): why, once, from the monitor thread.
  std::function<void(const std::string& why)> on_exit;
};

class FlyInstance {
 public:
  using Answered = std::function<void(wire::FnAnswer answer)>;

  // Starts the child and sends it the program. IoError/NotFound when it cannot start.
  static Result<std::unique_ptr<FlyInstance>> Start(FlyInstanceOptions options);
  // After Stop, waits for the calls in flight to be answered and the child to end (bounded by
  // the timeout); then kills the child if it still runs, joins the monitor, removes the
  // directory. Calls still waiting are never answered.
  ~FlyInstance();
  FlyInstance(const FlyInstance&) = delete;
  FlyInstance& operator=(const FlyInstance&) = delete;

  // Blocks until the child has compiled the program and run every VM's top level (OK), said
  // why it cannot (InvalidArgument: "hello.fly:3:5: ..."), ended, `timeout` seconds passed, or
  // Stop/Kill (Cancelled).
  Status WaitReady(double timeout);

  // Sends one call; `done` runs once with its answer (m.call and m.instance in it), on the
  // thread that reads the answers
  // (options.io's or the monitor; or here, failed,
  // when the child has already ended). A FLY runtime error is an answer (500 with the error's
  // first line). A crash, FLY's memory limit or the timeout ends the child instead: `done` never
  // runs for the calls it was running, and on_exit reports the end, naming the cause.
  void Call(const wire::FnCall& m, Answered done);
  // Sends several calls (that arrived together) in one write, each answered as by Call.
  void CallMany(std::vector<std::pair<const wire::FnCall*, Answered>> calls);

  // Takes no more calls; the child is stopped once the calls in flight have been answered.
  void Stop();
  // Kills the child now; calls in flight are never answered (the caller reports the end).
  void Kill();
  bool exited() const;
  pid_t pid() const;

 private:
  struct IoReader;
  explicit FlyInstance(FlyInstanceOptions options);
  void Monitor();
  void Wake();
  // On options.io's thread: reads what the socket holds, then waits for it to be readable
  // again (IoReader).
  static void ReadAndWait(const std::shared_ptr<IoReader>& reader);
  // Takes what the socket holds until it has nothing more (every frame, each handled), on the
  // thread that reads it. False once the socket has ended (or the child broke the protocol).
  bool ReadFrames();
  // Handles one frame from the child. False: the child broke the protocol.
  bool OnFrame(std::string_view payload);

  struct Pending {
    Answered done;
    uint64_t instance = 0;  // the call's, given back in its answer
    std::chrono::steady_clock::time_point started, deadline;
  };

  FlyInstanceOptions options_;
  std::unique_ptr<Launched> proc_;
  int sock_ = -1;  // our end of the child's socket
  int err_ = -1;   // the child's stderr (read end)
  int wake_ = -1;  // eventfd: wakes the monitor
  std::thread monitor_;
  exec::FrameBuffer frames_;             // by the thread that reads the socket
  std::shared_ptr<IoReader> io_reader_;  // with options.io

  std::mutex write_mu_;  // one writer on sock_ at a time

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool ready_ = false;                 // GUARDED_BY(mu_)
  bool exited_ = false;                // GUARDED_BY(mu_)
  bool stopping_ = false;              // GUARDED_BY(mu_)
  bool killed_ = false;                // GUARDED_BY(mu_)
  std::string failed_;                 // GUARDED_BY(mu_); "failed" from the child, or its end
  std::string tail_;                   // GUARDED_BY(mu_); the child's last stderr
  std::string fatal_;                  // GUARDED_BY(mu_); a fatal answer's message
  std::string broke_;                  // GUARDED_BY(mu_); why the child was killed by the reader
  std::map<uint64_t, Pending> calls_;  // GUARDED_BY(mu_)
};

}  // namespace volo::worker
