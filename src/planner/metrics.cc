#include "planner/metrics.h"

#include <cstdio>

#include "wire/messages.h"

namespace volo::planner {

std::string RenderMetrics(const Core& core) {
  std::string out;
  auto line = [&](const std::string& name, const std::string& labels, double v) {
    out += name;
    if (!labels.empty()) out += "{" + labels + "}";
    out += ' ';
    wire::AppendJsonNumber(out, v);
    out += '\n';
  };
  Counts c = core.counts();
  out += "# HELP volo_queue_depth Tasks waiting to run, by operation.\n";
  out += "# TYPE volo_queue_depth gauge\n";
  for (const auto& [op, n] : core.QueuedByOp()) {
    line("volo_queue_depth", "op=\"" + op + "\"", static_cast<double>(n));
  }
  out += "# HELP volo_tasks_running Tasks handed to a worker and not yet reported.\n";
  out += "# TYPE volo_tasks_running gauge\n";
  line("volo_tasks_running", "", static_cast<double>(c.running));
  out += "# HELP volo_tasks_finished Finished tasks the planner holds, by final state.\n";
  out += "# TYPE volo_tasks_finished gauge\n";
  line("volo_tasks_finished", "state=\"done\"", static_cast<double>(c.done));
  line("volo_tasks_finished", "state=\"failed\"", static_cast<double>(c.failed));
  line("volo_tasks_finished", "state=\"cancelled\"", static_cast<double>(c.cancelled));
  out += "# HELP volo_workers Live workers.\n# TYPE volo_workers gauge\n";
  line("volo_workers", "", static_cast<double>(core.live_workers()));
  out += "# HELP volo_dispatch_latency_seconds From submission to first dispatch.\n";
  out += "# TYPE volo_dispatch_latency_seconds histogram\n";
  uint64_t cum = 0;
  const auto& buckets = core.dispatch_latency();
  for (size_t i = 0; i < Core::kLatencyBounds.size(); ++i) {
    cum += buckets[i];
    char le[32];
    std::snprintf(le, sizeof le, "%g", Core::kLatencyBounds[i]);
    line("volo_dispatch_latency_seconds_bucket", std::string("le=\"") + le + "\"",
         static_cast<double>(cum));
  }
  cum += buckets.back();
  line("volo_dispatch_latency_seconds_bucket", "le=\"+Inf\"", static_cast<double>(cum));
  line("volo_dispatch_latency_seconds_sum", "", core.dispatch_latency_sum());
  line("volo_dispatch_latency_seconds_count", "", static_cast<double>(cum));
  return out;
}

}  // namespace volo::planner
