#include "planner/provisioning.h"

#include <spdlog/spdlog.h>

#include "planner/core.h"
#include "planner/functions.h"

namespace volo::planner {

bool ProvisionableOp(std::string_view op) {
  static const std::set<std::string_view> kOps = {"add",  "mult", "sleep", "echo",
                                                  "noop", "fly",  "exec"};
  return kOps.count(op) != 0;
}

ProvisionDriver::ProvisionDriver(Core& core, FunctionService& functions, const Clock& clock,
                                 const provision::ProvisionOptions& options,
                                 std::unique_ptr<provision::Provisioner> backend)
    : core_(core),
      functions_(functions),
      options_(options),
      policy_(clock, options),
      backend_(std::move(backend)) {}

ProvisionDriver::~ProvisionDriver() { Shutdown(std::chrono::seconds(5)); }

provision::Demand ProvisionDriver::CurrentDemand() const {
  provision::Demand d;
  for (auto& [op, n] : core_.QueuedByOp()) {
    if (n > 0 && ProvisionableOp(op)) d.tasks[op] = n;
  }
  // A provisioned worker idle beside queued tasks of an operation it offers cannot take them.
  for (const std::string& id : policy_.ids()) {
    auto w = core_.FindWorker(WorkerId(id));
    if (!w) continue;
    const WorkerInfo& info = core_.worker(*w);
    if (!info.inflight.empty()) continue;
    for (uint32_t op : info.ops) d.tasks.erase(std::string(core_.op_name(op)));
  }
  d.instances = functions_.UnhostedInstances();
  return d;
}

bool ProvisionDriver::Registered(const std::string& id, bool live) const {
  // The row of an earlier worker of the same id was last seen before this one started.
  std::optional<TimePoint> started = policy_.started(id);
  if (!started) return false;
  if (live) {
    auto w = core_.FindWorker(WorkerId(id));
    return w && core_.worker(*w).last_seen >= *started;
  }
  for (const WorkerInfo& w : core_.workers()) {
    if (w.id.value() == id && w.last_seen >= *started) return true;
  }
  return false;
}

void ProvisionDriver::Tick() {
  if (shut_) return;
  for (const provision::Ended& e : backend_->Poll()) {
    // Registered since it was started (Core keeps a gone worker's row), perhaps since the last
    // round: then its end is no failure to start.
    std::string why = policy_.Exited(e.id, Registered(e.id, /*live=*/false));
    if (why == "stopped") {
      spdlog::info("provision: worker {} stopped ({})", e.id, e.how);
    } else {
      ++ended_;
      spdlog::warn("provision: worker {} {}: {}", e.id, why, e.how);
    }
  }
  auto observe = [this](const std::string& id) {
    provision::Observed o;
    auto w = core_.FindWorker(WorkerId(id));
    if (!w || !Registered(id, /*live=*/true)) return o;
    o.registered = true;
    o.busy = !core_.worker(*w).inflight.empty() || functions_.HostedOn(*w) > 0;
    return o;
  };
  for (provision::Action& a : policy_.Decide(CurrentDemand(), observe)) {
    const std::string& id = a.request.id;
    if (a.kind == provision::Action::Kind::kStop) {
      if (a.reason.rfind("idle", 0) == 0) {
        ++stopped_idle_;
      } else {
        ++stopped_unregistered_;
      }
      spdlog::info("provision: stopping worker {}: {}", id, a.reason);
      backend_->Stop(id, options_.stop_grace);
      continue;
    }
    std::string ops;
    for (const auto& op : a.request.ops) ops += (ops.empty() ? "" : ",") + op;
    Status s = backend_->Start(a.request);
    if (!s.ok()) {
      ++start_failures_;
      policy_.StartFailed(id);
      spdlog::error("provision: cannot start worker {}: {}", id, s.message());
      continue;
    }
    ++started_;
    ever_.insert(id);
    spdlog::info("provision: starting worker {} ({} {}, ops {}): {}", id, backend_->name(),
                 options_.max, ops, a.reason);
  }
}

void ProvisionDriver::Shutdown(Nanos grace) {
  if (shut_) return;
  shut_ = true;
  if (policy_.count() > 0) {
    spdlog::info("provision: stopping {} provisioned worker(s): the planner stops",
                 policy_.count());
  }
  backend_->StopAll(grace);
}

std::string ProvisionDriver::MetricsText() const {
  std::string out;
  auto line = [&](const std::string& s) { out += s + "\n"; };
  line("# HELP volo_provision_workers Workers started by --provision that have not ended.");
  line("# TYPE volo_provision_workers gauge");
  int starting = policy_.starting();
  line("volo_provision_workers{state=\"starting\"} " + std::to_string(starting));
  line("volo_provision_workers{state=\"started\"} " + std::to_string(policy_.count() - starting));
  line("# HELP volo_provision_workers_started_total Workers started by --provision.");
  line("# TYPE volo_provision_workers_started_total counter");
  line("volo_provision_workers_started_total " + std::to_string(started_));
  line("# HELP volo_provision_workers_stopped_total Provisioned workers stopped, by reason.");
  line("# TYPE volo_provision_workers_stopped_total counter");
  line("volo_provision_workers_stopped_total{reason=\"idle\"} " + std::to_string(stopped_idle_));
  line("volo_provision_workers_stopped_total{reason=\"unregistered\"} " +
       std::to_string(stopped_unregistered_));
  line(
      "# HELP volo_provision_workers_ended_total Provisioned workers that ended without being "
      "stopped.");
  line("# TYPE volo_provision_workers_ended_total counter");
  line("volo_provision_workers_ended_total " + std::to_string(ended_));
  line(
      "# HELP volo_provision_start_failures_total Provisioned workers that could not be "
      "started.");
  line("# TYPE volo_provision_start_failures_total counter");
  line("volo_provision_start_failures_total " + std::to_string(start_failures_));
  return out;
}

}  // namespace volo::planner
