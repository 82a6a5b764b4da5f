// The provisioning decisions (docs/functions.md, "Workers on demand"): pure state changes over
// a Clock, beside Core's, unit-tested with a fake clock (policy_test.cc). The planner's
// driver (src/planner/provisioning.h) feeds in what waits and what it sees of each provisioned
// worker, carries out the actions through a Provisioner, and reports back which workers ended.
//
// The rules:
// - Start when work waits that no live worker can take: enough workers for the queued tasks at
//   `slots` each and for the unplaced function instances at `functions` each, counting the
//   workers still starting as already there (so nothing starts again for the same wait while
//   one is starting), never more than `max` in all (starting, running and stopping together).
// - A started worker that has not registered within `register_deadline` is stopped, and a
//   failure: no start for `backoff`, doubled per failure in a row (up to `max_backoff`); one
//   that registers resets the count. One whose process ends before registering fails the same.
// - A running worker idle (no task, no function instance) for `idle` is stopped.
// - A running worker that ends without being stopped is forgotten; it is replaced only if
//   work still waits (by the first rule).
// Only the workers started here are ever stopped here. Ids are prov-1, prov-2, ...: the lowest
// number not in use, so a replacement takes the id of the worker it replaces.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "provision/provisioner.h"

namespace volo::provision {

// What waits that no live worker can take now.
struct Demand {
  std::map<std::string, size_t> tasks;  // queued tasks per operation
  int instances = 0;                    // function instances wanted with no worker to host them
  bool empty() const;
  // "3 queued task(s) of sleep, 1 function instance(s) with no worker to host them".
  std::string Describe() const;
};

// What the planner shows of one provisioned worker.
struct Observed {
  bool registered = false;  // a live worker with its id
  bool busy = false;        // it holds a task or hosts a function instance
};

struct Action {
  enum class Kind : uint8_t { kStart, kStop } kind = Kind::kStart;
  WorkerRequest request;  // kStart: the worker; kStop: its id
  std::string reason;     // for the log
};

class Policy {
 public:
  Policy(const Clock& clock, const ProvisionOptions& options);

  // One round: updates each worker from what is observed and returns what to start and stop.
  std::vector<Action> Decide(const Demand& demand,
                             const std::function<Observed(const std::string& id)>& observe);
  // The backend could not start `id` (Start returned an error): forgotten, a failure.
  void StartFailed(const std::string& id);
  // The process of `id` ended (Provisioner::Poll); `registered`: the planner had seen it
  // register (perhaps since the last Decide). Returns why, for the log: "stopped" when it was
  // asked to, else what happened ("ended before registering", "ended on its own").
  std::string Exited(const std::string& id, bool registered = false);

  enum class State : uint8_t { kStarting, kRunning, kStopping };
  std::optional<State> state(const std::string& id) const;
  // When `id` was started (by this policy's clock), if it is one of the workers here.
  std::optional<TimePoint> started(const std::string& id) const;
  bool Has(const std::string& id) const { return workers_.count(id) != 0; }
  std::vector<std::string> ids() const;
  int count() const { return static_cast<int>(workers_.size()); }
  int starting() const;
  int failures() const { return failures_; }
  // Monotonic time before which no worker is started (a backoff), or the epoch.
  TimePoint retry_at() const { return retry_at_; }

 private:
  struct Worker {
    State state = State::kStarting;
    TimePoint started;
    TimePoint idle_since;  // kRunning: last seen busy (or registered)
    WorkerRequest request;
  };
  void Fail();

  const Clock& clock_;
  ProvisionOptions options_;
  std::map<std::string, Worker> workers_;
  int failures_ = 0;  // in a row
  TimePoint retry_at_{};
};

}  // namespace volo::provision
