#include "provision/provisioner.h"

#include <cctype>
#include <charconv>
#include <cmath>

namespace volo::provision {

Status ParseProvisionSpec(std::string_view text, ProvisionOptions& out) {
  const std::string shown(text);
  auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return InvalidArgument("--provision " + shown + ": expected BACKEND:MAX, like local:4");
  }
  std::string_view backend = text.substr(0, colon);
  std::string_view max = text.substr(colon + 1);
  if (backend != "local") {
    return InvalidArgument("--provision " + shown + ": unknown backend '" + std::string(backend) +
                           "' (the one there is: local, as in local:4)");
  }
  int n = 0;
  auto [end, ec] = std::from_chars(max.data(), max.data() + max.size(), n);
  if (max.empty() || ec != std::errc() || end != max.data() + max.size() || n < 1 || n > 1000) {
    return InvalidArgument("--provision " + shown +
                           ": MAX must be a whole number from 1 to 1000 (the most workers "
                           "started at once)");
  }
  out.backend = std::string(backend);
  out.max = n;
  return Status::Ok();
}

Result<Nanos> ParseDuration(std::string_view text) {
  const std::string shown(text);
  size_t unit = text.size();
  while (unit > 0 && std::isalpha(static_cast<unsigned char>(text[unit - 1]))) --unit;
  std::string_view number = text.substr(0, unit), suffix = text.substr(unit);
  double scale = 0;
  if (suffix.empty() || suffix == "s") {
    scale = 1;
  } else if (suffix == "ms") {
    scale = 1e-3;
  } else if (suffix == "m") {
    scale = 60;
  } else if (suffix == "h") {
    scale = 3600;
  }
  double v = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
  if (scale == 0 || number.empty() || ec != std::errc() || end != number.data() + number.size() ||
      !std::isfinite(v) || v <= 0 || v * scale > 1e7) {
    return InvalidArgument("'" + shown +
                           "' is not a duration: give seconds (90) or a number with a unit "
                           "(500ms, 90s, 2m, 1h), above 0");
  }
  return std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(v * scale));
}

}  // namespace volo::provision
