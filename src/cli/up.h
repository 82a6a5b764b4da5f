// `volo up`: a planner and workers as local processes, one command.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wire/messages.h"

namespace CLI {
class App;
}

namespace volo::cli {

void AddUpCommand(CLI::App& app, int* exit_code);
// N random add/mult tasks with small integer arguments, as the seed's planner made them. With
// duration_scale >= 0 each task carries its own duration (seed ranges times the scale);
// otherwise the worker draws one.
std::vector<wire::TaskSpec> RandomSeedTasks(int n, uint64_t seed, double duration_scale);

}  // namespace volo::cli
