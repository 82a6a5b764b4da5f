#include "fly/diagnostic.h"

#include <algorithm>

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

std::string FormatReport(std::string_view file, std::string_view source,
                         const std::vector<Diagnostic>& ds) {
  std::string out = FormatDiagnostics(file, source, ds);
  int errors = 0;
  for (const auto& d : ds) errors += d.warning ? 0 : 1;
  if (errors > 1) out += std::to_string(errors) + " errors\n";
  return out;
}

namespace {

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
// adjacent characters each cost one.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string ClosestName(std::string_view name, const std::vector<std::string>& candidates) {
  size_t limit = std::max<size_t>(1, name.size() / 3);
  std::string best;
  size_t best_distance = limit + 1;
  for (const auto& c : candidates) {
    if (c == name || c.empty()) continue;
    // Names far apart in length cannot be within the limit: skip the table.
    size_t gap = c.size() > name.size() ? c.size() - name.size() : name.size() - c.size();
    if (gap >= best_distance || c.size() > 256 || name.size() > 256) continue;
    size_t d = EditDistance(name, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

std::string DidYouMean(std::string_view name, const std::vector<std::string>& candidates) {
  std::string best = ClosestName(name, candidates);
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

}  // namespace volo::fly
