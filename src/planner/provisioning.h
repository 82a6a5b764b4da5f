// `volo planner --provision` (docs/functions.md, "Workers on demand"): the planner's side of
// provisioning. Each tick it reaps ended workers through the Provisioner, reads what waits
// from Core (queued tasks of operations a `volo worker` runs) and from FunctionService
// (instances it has no worker to host), lets the Policy decide (src/provision/policy.h), and
// carries out the starts and stops, logging each with its reason.
//
// Queued tasks of an operation that a provisioned worker offers while it sits idle do not count
// (it could not take them: they ask for more than this machine's workers have), so they do not
// start worker after worker.
//
// Threading: the planner's io thread only.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "common/clock.h"
#include "provision/policy.h"
#include "provision/provisioner.h"

namespace volo::planner {

class Core;
class FunctionService;

// The operations a provisioned `volo worker` can offer.
bool ProvisionableOp(std::string_view op);

class ProvisionDriver {
 public:
  ProvisionDriver(Core& core, FunctionService& functions, const Clock& clock,
                  const provision::ProvisionOptions& options,
                  std::unique_ptr<provision::Provisioner> backend);
  ~ProvisionDriver();

  void Tick();
  // The planner stops: every provisioned worker gets SIGTERM, and SIGKILL after `grace`.
  void Shutdown(Nanos grace);
  // Whether the worker with this id was started by provisioning (in this planner's life).
  bool IsProvisioned(const std::string& id) const { return ever_.count(id) != 0; }
  // Prometheus text for /metrics.
  std::string MetricsText() const;
  // What waits now that provisioning counts.
  provision::Demand CurrentDemand() const;

 private:
  // Whether worker `id` has registered since it was started (`live`: and is still there).
  bool Registered(const std::string& id, bool live) const;

  Core& core_;
  FunctionService& functions_;
  provision::ProvisionOptions options_;
  provision::Policy policy_;
  std::unique_ptr<provision::Provisioner> backend_;
  std::set<std::string> ever_;
  uint64_t started_ = 0, start_failures_ = 0, stopped_idle_ = 0, stopped_unregistered_ = 0,
           ended_ = 0;
  bool shut_ = false;
};

}  // namespace volo::planner
