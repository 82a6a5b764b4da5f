// Environments: where the instances of a `fly` statement run.
//
// A `fly f in X on env` statement becomes one FlyJob: N instances of the FLY function f, each
// with its own argument and its own copy of the program's consts as they were when the fly
// started (FLY.md Part A 7). The statement hands the job to the Environment bound to `env`,
// which runs every instance somewhere and reports each one's end to the job. Instances share
// nothing but channels.
//
//   smp      threads in this process (MakeSmpEnvironment, in src/fly).
//   cluster  a volo planner and its workers; k8s: a Kubernetes Job. Both are implemented outside
//            src/fly (src/cluster) by code that talks to the planner, and reach the Runtime
//            through an EnvironmentFactory (RunOptions::make_environment). Such an environment
//            ships program_source(), RemoteSpec() and SerializedArgument(i) to a remote executor
//            (RemoteProgram in remote.h: it compiles the source and runs the function in a Vm
//            whose globals come from the spec), hands the messages the instances sent to
//            Deliver() and their output to Print(), and then calls Complete(i, ...) with the
//            serialized return value or the error text. Channel messages cross machines in the
//            same text form (SerializeValue / ParseValue in serialize.h).
//
// Threading: Launch is called from the thread running the fly statement and must not block on
// the instances. FlyJob methods are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace volo::fly {

// Runs instances of one job on the calling thread (one runner per thread; not thread-safe).
class InstanceRunner {
 public:
  virtual ~InstanceRunner() = default;
  // Runs instance `index` to completion and reports it to its job.
  virtual void Run(size_t index) = 0;
};

class FlyJob {
 public:
  virtual ~FlyJob() = default;
  virtual size_t instance_count() const = 0;
  virtual const std::string& function_name() const = 0;
  virtual const std::string& program_source() const = 0;
  virtual uint64_t seed() const = 0;
  // The argument of instance `index` as SerializeValue text ("" when the function takes none;
  // several arguments as kArgsTag and a list, remote.h). InvalidArgument when an argument
  // cannot leave this process (a channel, a random object).
  virtual Result<std::string> SerializedArgument(size_t index) const = 0;

  // In-process execution: a runner bound to the calling thread.
  virtual std::unique_ptr<InstanceRunner> NewRunner() = 0;
  // Remote execution: instance `index` ended with its serialized return value, or an error.
  virtual void Complete(size_t index, Result<std::string> result) = 0;

  // Remote execution: everything a RemoteProgram needs besides the source and the arguments,
  // as one JSON object (its fields are documented in remote.h). "" when not supported.
  virtual std::string RemoteSpec() const { return ""; }
  // Remote execution: a message an instance sent on the channel numbered `channel` (the number
  // RemoteSpec() gave it), as SerializeValue text. Call before that instance's Complete, so a
  // receiver never sees the fly end before its messages arrive.
  virtual Status Deliver(int channel, std::string_view value) {
    return FailedPrecondition("this job does not take remote messages");
  }
  // Remote execution: what instances printed.
  virtual void Print(std::string_view text) {}
};

class Environment {
 public:
  virtual ~Environment() = default;
  // "smp:4", "cluster:http://host:3000".
  virtual std::string Describe() const = 0;
  // How many instances can run at once: the binding's threads, or the fleet's fly slots.
  virtual int parallelism() const = 0;
  // The program's decomposition: how many portions a fly over an array, matrix, dataframe or
  // file is split into, and what `env.nthread` reads. It is the thread count the program
  // declared (`nthread=4`), wherever --env or a cluster binds the environment, so the number of
  // instances and messages, and the answer, do not depend on the placement. An environment
  // declared without a thread count reads its parallelism() at each fly.
  virtual int nthread() const { return parallelism(); }
  // Starts every instance of `job`; returns without waiting for them.
  virtual void Launch(std::shared_ptr<FlyJob> job) = 0;
  // Runs one instance that was launched here and has not started, on the calling thread;
  // false when there is none. Only an environment without threads of its own (smp in the
  // browser playground, a single-threaded WebAssembly build) holds such instances: the Runtime
  // runs them while the code that launched them waits for a fly or a message.
  virtual bool RunPending() { return false; }
};

// Makes the environments src/fly does not implement (cluster, k8s). `kind` is the part of a
// binding before the first ':' ("cluster"), `address` the rest ("http://host:3000"); for a
// declared `[type="cluster", url="..."]` kind is the type and address the url. `name` is the
// environment's variable name. Errors (an unreachable planner) fail the declaration with their
// message. Called from the thread running the program.
using EnvironmentFactory = std::function<Result<std::unique_ptr<Environment>>(
    const std::string& name, const std::string& kind, const std::string& address)>;

// The most threads an smp environment may ask for; more is a clear error, not an abort.
inline constexpr int kMaxSmpThreads = 4096;
// Whether this build has threads. Without them (WebAssembly without SharedArrayBuffer), an smp
// environment queues the instances it is given and the Runtime runs them one at a time on the
// program's own thread whenever that thread would wait (a fly's end, a receive); the answer
// for a seed is the same, since the decomposition follows the declared thread count.
#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
inline constexpr bool kOneThread = true;
#else
inline constexpr bool kOneThread = false;
#endif

// Threads in this process (kOneThread: the queue described above). The pool starts at once and
// stops when destroyed (after the instances already launched have run). InvalidArgument for a count
// outside 1..kMaxSmpThreads; Unavailable when the machine will not start that many threads.
Result<std::unique_ptr<Environment>> MakeSmpEnvironment(int threads);

}  // namespace volo::fly
