// Workers started on demand (docs/functions.md, "Workers on demand"): the narrow interface a
// backend implements to start and stop `volo worker` processes for the planner, and the
// options of `volo planner --provision`.
//
// The planner decides (policy.h) and a Provisioner carries the decisions out: Start one
// worker for a request, Stop one, report which have ended. The local backend (local.h) runs
// them as child processes of the planner; a Slurm or Kubernetes backend would submit a job or
// create a pod running the same `volo worker` command line.
//
// Threading: the planner's io thread only.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace volo::provision {

// One worker to start: the id it registers under and what it offers.
struct WorkerRequest {
  std::string id;
  std::vector<std::string> ops;  // sorted, never empty
  int slots = 1;
  int functions = 0;  // function instances it hosts (with exec among ops); 0: none
};

// A started worker whose process (or job, or pod) has ended.
struct Ended {
  std::string id;
  std::string how;  // "exited with status 1", "killed by SIGKILL"
};

class Provisioner {
 public:
  virtual ~Provisioner() = default;
  // Starts a worker. An error (the program cannot be started) means nothing runs for `id`.
  virtual Status Start(const WorkerRequest& request) = 0;
  // Asks the worker to leave (it finishes what it holds), and forces it after `grace`.
  virtual void Stop(const std::string& id, Nanos grace) = 0;
  // Workers that ended since the last call (the local backend reaps them here); also carries
  // out the forced stops whose grace has passed. Called every planner tick.
  virtual std::vector<Ended> Poll() = 0;
  // Stops every worker it started at once (the planner is going): asks them to leave without
  // finishing what they hold, waits up to `grace`, then forces. Blocks.
  virtual void StopAll(Nanos grace) = 0;
  // "local" (for logs and metrics).
  virtual std::string_view name() const = 0;
};

// `volo planner --provision BACKEND:MAX [--provision-idle D] ...`.
struct ProvisionOptions {
  std::string backend;  // "local"; empty: no provisioning (the planner behaves as without it)
  int max = 0;          // provisioned workers at most, of every state together
  Nanos idle = std::chrono::seconds(60);  // a provisioned worker idle this long is stopped
  // A started worker that has not registered by then is stopped and counts as a failure:
  // starting waits `backoff`, doubled per failure in a row up to `max_backoff`.
  Nanos register_deadline = std::chrono::seconds(30);
  Nanos backoff = std::chrono::seconds(1);
  Nanos max_backoff = std::chrono::seconds(60);
  // What every provisioned worker is started with.
  int slots = 1;
  int functions = 64;                           // instances hosted, when it offers exec
  std::string sandbox = "bwrap";                // its --sandbox (exec and functions)
  Nanos stop_grace = std::chrono::seconds(10);  // SIGTERM, then SIGKILL after this
  bool enabled() const { return !backend.empty(); }
};

// Parses `--provision`'s value: `local:MAX`, MAX a whole number from 1 to 1000. The error
// names the flag and says what is expected.
Status ParseProvisionSpec(std::string_view text, ProvisionOptions& out);
// A duration: a number of seconds, or a number with a unit: 500ms, 90s, 2m, 1h (above 0).
Result<Nanos> ParseDuration(std::string_view text);

}  // namespace volo::provision
