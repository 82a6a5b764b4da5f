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

}  // namespace volo::fly
