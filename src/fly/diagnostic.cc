#include "fly/diagnostic.h"

namespace volo::fly {

std::string FormatDiagnostic(std::string_view file, std::string_view source, const Diagnostic& d) {
  std::string out = std::string(file) + ":" + std::to_string(d.pos.line) + ":" +
                    std::to_string(d.pos.col) + ": " + (d.warning ? "warning: " : "") + d.message +
                    "\n";
  // Find the source line.
  size_t start = 0;
  for (int l = 1; l < d.pos.line && start != std::string_view::npos; ++l) {
    start = source.find('\n', start);
    if (start != std::string_view::npos) ++start;
  }
  if (start == std::string_view::npos || start > source.size() || d.pos.line <= 0) return out;
  size_t end = source.find('\n', start);
  std::string_view line = source.substr(start, end == std::string_view::npos ? end : end - start);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  out += "    ";
  out += line;
  out += "\n    ";
  for (int c = 1; c < d.pos.col && c <= static_cast<int>(line.size()); ++c)
    out += line[c - 1] == '\t' ? '\t' : ' ';
  out += "^\n";
  return out;
}

std::string FormatDiagnostics(std::string_view file, std::string_view source,
                              const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const auto& d : ds) out += FormatDiagnostic(file, source, d);
  return out;
}

}  // namespace volo::fly
