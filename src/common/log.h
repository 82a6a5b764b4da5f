// Logging through spdlog. Call InitLogging once in main(); then use spdlog::info(...) etc.
#pragma once

#include <string_view>

namespace volo {

// level: trace, debug, info, warn, error, off. Logs go to stderr with the process name.
void InitLogging(std::string_view process, std::string_view level);

}  // namespace volo
