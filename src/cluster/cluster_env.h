// The `cluster` FLY environment: a fly statement's instances run on the workers of a volo
// planner that offer the `fly` operation (docs/placement.md).
//
// How a fly runs: the program source goes to the planner's blob store once (PUT
// /api/v1/blobs/{sha256}; workers fetch and compile it once per worker); the instances are cut
// into chunks (about four per worker slot, at most 10,000 instances each), each chunk one `fly`
// task (args: src/worker/fly_executor.h) submitted over the planner's streaming WebSocket. A
// chunk's result carries its instances' return values, the messages they sent (delivered to the
// program's channels in (instance, seq) order, each instance's messages once) and their output.
// A worker that dies loses its attempt, not the chunk: the planner runs it again elsewhere and
// the messages travel only with the one successful result. An instance that raises fails its
// chunk after the task's retries, and the fly with that instance's index and error.
//
// Threading: one io thread per environment talks to the planner; Launch may be called from any
// thread and returns once the chunks are submitted.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"
#include "fly/environment.h"

namespace volo::cluster {

struct ClusterOptions {
  std::string url;    // http://host:port of the planner
  int retries = 1;    // attempts of a failing chunk after the first
  std::string token;  // the planner's API bearer token (docs/security.md); empty: none
  // How long creating the environment may take to reach the planner.
  std::chrono::milliseconds connect_timeout{3000};
  // How long a Launch waits for a worker with the fly operation to register, and how long a
  // running fly goes on without any such worker before its outstanding instances fail.
  std::chrono::milliseconds worker_wait{30000};
  // How often a running fly checks that the fleet still has a worker with the fly operation
  // (and redraws its progress bar on a terminal).
  std::chrono::milliseconds watch_interval{500};
  // How often a running fly prints a progress line when stderr is not a terminal; zero: never,
  // and no bar on a terminal either (src/cluster/progress.h).
  std::chrono::milliseconds progress_interval{5000};
};

// Connects to the planner. Unavailable("cannot reach the planner at URL: ...") when it does not
// answer within connect_timeout.
Result<std::unique_ptr<fly::Environment>> MakeClusterEnvironment(const ClusterOptions& options);

// Cancels, on their planners, the chunks of every fly still running in this process's cluster
// environments (for an interrupted `volo run`); returns how many. Thread-safe.
size_t CancelOutstanding();

// For fly::RunOptions::make_environment: kind "cluster" (and "k8s" declared on a cluster) with
// the planner's URL as the address, optionally with `?retries=N&wait=S&progress=P`
// (ClusterOptions' retries, worker_wait in seconds, progress_interval in seconds with 0 for
// none). The API token comes from $VOLO_TOKEN.
fly::EnvironmentFactory MakeEnvironmentFactory();

}  // namespace volo::cluster
