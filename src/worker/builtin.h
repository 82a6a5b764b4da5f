// The built-in operations every volo worker runs: add, mult (with the seed's simulated
// durations), sleep, echo, noop. Pure functions: the caller decides how to wait the duration.
#pragma once

#include <random>
#include <string>
#include <string_view>

#include "common/status.h"

namespace volo::worker {

struct BuiltinPlan {
  std::string result;  // JSON text of the result
  double seconds = 0;  // how long the task must appear to take before it returns
};

// Computes a built-in operation over its JSON arguments. `duration_scale` scales the seed's
// simulated durations (add 3-7 s, mult 3-12 s); 0 makes them instant. InvalidArgument names
// the bad argument; NotFound if `op` is not built in. add/mult take an optional "duration"
// (seconds) that replaces the random one.
Result<BuiltinPlan> PlanBuiltin(std::string_view op, std::string_view args, double duration_scale,
                                std::mt19937_64& rng);

bool IsInstant(std::string_view op);  // noop, echo: run inline, no timer

}  // namespace volo::worker
