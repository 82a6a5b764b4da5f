// Diagnostics: compile-time errors and warnings with their position, and their rendering as
// `file:line:col: message` followed by the source line and a caret.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "fly/ast.h"

namespace volo::fly {

struct Diagnostic {
  Pos pos;
  std::string message;
  bool warning = false;
};

// "prog.fly:3:7: message\n    var x = = 1\n          ^\n"
std::string FormatDiagnostic(std::string_view file, std::string_view source, const Diagnostic& d);
std::string FormatDiagnostics(std::string_view file, std::string_view source,
                              const std::vector<Diagnostic>& ds);
// FormatDiagnostics followed by "N errors" when there is more than one error.
std::string FormatReport(std::string_view file, std::string_view source,
                         const std::vector<Diagnostic>& ds);

// The candidate closest to `name` by edit distance (an adjacent swap counts as one edit), or ""
// when none is close enough to be a likely typo (at most a third of the name's letters
// differ). Ties go to the earliest candidate. For "did you mean 'hit'?".
std::string ClosestName(std::string_view name, const std::vector<std::string>& candidates);
// " (did you mean 'x'?)" for ClosestName's answer, or "".
std::string DidYouMean(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace volo::fly
