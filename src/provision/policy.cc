#include "provision/policy.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace volo::provision {
namespace {

std::string Secs(Nanos d) {
  double s = std::chrono::duration<double>(d).count();
  char buf[32];
  std::snprintf(buf, sizeof buf, s == std::floor(s) ? "%.0f s" : "%.3g s", s);
  return buf;
}

Action StopAction(const std::string& id, std::string reason) {
  Action a;
  a.kind = Action::Kind::kStop;
  a.request.id = id;
  a.reason = std::move(reason);
  return a;
}

int CeilDiv(size_t n, int per) { return static_cast<int>((n + per - 1) / std::max(1, per)); }

}  // namespace

bool Demand::empty() const {
  if (instances > 0) return false;
  for (const auto& [op, n] : tasks) {
    if (n > 0) return false;
  }
  return true;
}

std::string Demand::Describe() const {
  std::string out;
  for (const auto& [op, n] : tasks) {
    if (n == 0) continue;
    out += (out.empty() ? "" : ", ") + std::to_string(n) + " queued task(s) of " + op;
  }
  if (instances > 0) {
    out += (out.empty() ? "" : ", ") + std::to_string(instances) +
           " function instance(s) with no worker to host them";
  }
  return out.empty() ? "nothing waits" : out;
}

Policy::Policy(const Clock& clock, const ProvisionOptions& options)
    : clock_(clock), options_(options) {}

std::vector<std::string> Policy::ids() const {
  std::vector<std::string> out;
  for (const auto& [id, w] : workers_) out.push_back(id);
  return out;
}

int Policy::starting() const {
  int n = 0;
  for (const auto& [id, w] : workers_) n += w.state == State::kStarting;
  return n;
}

std::optional<TimePoint> Policy::started(const std::string& id) const {
  auto it = workers_.find(id);
  if (it == workers_.end()) return std::nullopt;
  return it->second.started;
}

std::optional<Policy::State> Policy::state(const std::string& id) const {
  auto it = workers_.find(id);
  if (it == workers_.end()) return std::nullopt;
  return it->second.state;
}

void Policy::Fail() {
  ++failures_;
  Nanos wait = options_.backoff;
  for (int i = 1; i < failures_ && wait < options_.max_backoff; ++i) wait *= 2;
  retry_at_ = clock_.Now() + std::min(wait, options_.max_backoff);
}

std::vector<Action> Policy::Decide(const Demand& demand,
                                   const std::function<Observed(const std::string&)>& observe) {
  const TimePoint now = clock_.Now();
  std::vector<Action> out;
  for (auto& [id, w] : workers_) {
    if (w.state == State::kStopping) continue;
    const Observed o = observe(id);
    if (w.state == State::kStarting) {
      if (o.registered) {
        w.state = State::kRunning;
        w.idle_since = now;
        failures_ = 0;
        retry_at_ = {};
      } else if (now - w.started >= options_.register_deadline) {
        w.state = State::kStopping;
        Fail();
        out.push_back(
            StopAction(id, "it did not register within " + Secs(options_.register_deadline)));
      }
      continue;
    }
    // Running: busy keeps it; so does a registration lost for a moment (it counts as idle,
    // so a worker that never comes back still goes).
    if (o.busy) {
      w.idle_since = now;
    } else if (now - w.idle_since >= options_.idle) {
      w.state = State::kStopping;
      out.push_back(StopAction(id, "idle for " + Secs(options_.idle)));
    }
  }
  if (demand.empty() || now < retry_at_) return out;
  const int in_all = count();
  if (in_all >= options_.max) return out;
  size_t tasks = 0;
  std::set<std::string> ops;
  for (const auto& [op, n] : demand.tasks) {
    if (n == 0) continue;
    tasks += n;
    ops.insert(op);
  }
  if (demand.instances > 0) ops.insert("exec");
  int wanted = CeilDiv(tasks, options_.slots);
  if (demand.instances > 0 && options_.functions > 0) {
    wanted = std::max(wanted, CeilDiv(static_cast<size_t>(demand.instances), options_.functions));
  }
  const int n = std::min(wanted - starting(), options_.max - in_all);
  for (int i = 0; i < n; ++i) {
    WorkerRequest r;
    // The lowest free number: ids are reused, so the planner's list of workers (which keeps
    // one row per id) stays as long as MAX, not as long as the planner's life.
    for (int k = 1; r.id.empty() || workers_.count(r.id); ++k) r.id = "prov-" + std::to_string(k);
    r.ops.assign(ops.begin(), ops.end());
    r.slots = options_.slots;
    r.functions = ops.count("exec") ? options_.functions : 0;
    Worker w;
    w.started = now;
    w.request = r;
    workers_[r.id] = std::move(w);
    Action a;
    a.request = std::move(r);
    a.reason = demand.Describe();
    out.push_back(std::move(a));
  }
  return out;
}

void Policy::StartFailed(const std::string& id) {
  if (workers_.erase(id)) Fail();
}

std::string Policy::Exited(const std::string& id, bool registered) {
  auto it = workers_.find(id);
  if (it == workers_.end()) return "not ours";
  State s = it->second.state;
  workers_.erase(it);
  switch (s) {
    case State::kStopping:
      return "stopped";
    case State::kStarting:
      if (registered) break;
      Fail();
      return "ended before registering";
    case State::kRunning:
      break;
  }
  return "ended on its own";
}

}  // namespace volo::provision
