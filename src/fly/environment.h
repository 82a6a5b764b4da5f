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
//            src/fly by code that talks to the planner: such an environment ships
//            program_source(), function_name(), SerializedArgument(i), SerializedConsts() and
//            seed() to a remote executor (which compiles the source and runs the function in
//            a Vm whose consts come from the snapshot), and calls Complete(i, ...) with the
//            serialized return value or the error text. Channel messages cross machines in the same
//            text form (SerializeValue / ParseValue in serialize.h).
//
// Threading: Launch is called from the thread running the fly statement and must not block on
// the instances. FlyJob methods are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

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
  // The argument of instance `index` as JSON-like text ("" when the function takes none).
  virtual std::string SerializedArgument(size_t index) const = 0;
  // The consts snapshot as a JSON-like object {name: value, ...}.
  virtual std::string SerializedConsts() const = 0;

  // In-process execution: a runner bound to the calling thread.
  virtual std::unique_ptr<InstanceRunner> NewRunner() = 0;
  // Remote execution: instance `index` ended with its serialized return value, or an error.
  virtual void Complete(size_t index, Result<std::string> result) = 0;
};

class Environment {
 public:
  virtual ~Environment() = default;
  // "smp:4", "cluster:http://host:3000".
  virtual std::string Describe() const = 0;
  // How many instances can run at once (array/matrix/dataframe splits use it).
  virtual int parallelism() const = 0;
  // Starts every instance of `job`; returns without waiting for them.
  virtual void Launch(std::shared_ptr<FlyJob> job) = 0;
};

// Threads in this process. The pool starts on the first Launch and stops when destroyed
// (after the instances already launched have run).
std::unique_ptr<Environment> MakeSmpEnvironment(int threads);

}  // namespace volo::fly
