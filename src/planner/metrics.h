// The planner's Prometheus metrics (GET /metrics), rendered from Core's counters.
#pragma once

#include <string>

#include "planner/core.h"

namespace volo::planner {

// Prometheus text format 0.0.4: queue depth per operation, running and finished tasks,
// live workers, and the dispatch latency histogram.
std::string RenderMetrics(const Core& core);

}  // namespace volo::planner
