#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <string>

namespace volo {

void InitLogging(std::string_view process, std::string_view level) {
  auto logger = spdlog::stderr_color_mt(std::string(process));
  logger->set_pattern("%H:%M:%S.%e %n %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

}  // namespace volo
