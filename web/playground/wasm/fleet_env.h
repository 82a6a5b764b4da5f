// The playground's "run on this fleet" environment (fleet_env.cc).
#pragma once

#include <memory>

#include "common/status.h"
#include "fly/environment.h"

namespace volo::playground {

// An environment whose instances run on the fleet of the planner that served the page.
Result<std::unique_ptr<fly::Environment>> MakeFleetEnvironment();

}  // namespace volo::playground
