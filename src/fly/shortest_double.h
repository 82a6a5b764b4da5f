// The shortest decimal text that reads back as the same double (std::to_chars' shortest form),
// in scientific notation ("1.5e+00"). Native builds use std::to_chars; Emscripten's libc++ (14)
// has no floating-point to_chars, so there the digits come from the fewest-digit "%.*e" that
// round-trips, which is the same text: both give the correctly rounded shortest digits.
#pragma once

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace volo::fly {

inline std::string ShortestScientific(double d) {
  char buf[64];
#ifdef __EMSCRIPTEN__
  for (int digits = 0; digits <= 16; ++digits) {
    int n = std::snprintf(buf, sizeof buf, "%.*e", digits, d);
    if (std::strtod(buf, nullptr) == d || digits == 16) return std::string(buf, n);
  }
  return std::string(buf);
#else
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  return std::string(buf, res.ptr);
#endif
}

}  // namespace volo::fly
