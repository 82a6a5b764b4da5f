// FLY's standard library: methods on values (strings, arrays, maps, random, files, dataframes,
// fly handles), Math.* functions, casts. Method and Math names are numbered at compile time so
// the VM dispatches with a switch, never by string.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fly/ast.h"
#include "fly/value.h"

namespace volo::fly {

// clang-format off
#define FLY_METHODS(X) \
  X(length) \
  X(size) \
  X(rowCount) \
  X(colCount) \
  X(columnCount) \
  X(deepToString) \
  X(setType) \
  X(getPortionIndex) \
  X(getPortionDisplacement) \
  X(nextInt) \
  X(nextDouble) \
  X(nextBoolean) \
  X(nextGaussian) \
  X(replace) \
  X(replaceAll) \
  X(indexOf) \
  X(lastIndexOf) \
  X(substring) \
  X(split) \
  X(concat) \
  X(toLowerCase) \
  X(toUpperCase) \
  X(charAt) \
  X(contains) \
  X(trim) \
  X(startsWith) \
  X(endsWith) \
  X(equals) \
  X(isEmpty) \
  X(wait) \
  X(isDone) \
  X(status) \
  X(close) \
  X(keys) \
  X(values) \
  X(containsKey) \
  X(remove) \
  X(get) \
  X(put) \
  X(getAbsolutePath) \
  X(getName) \
  X(exists) \
  X(lines) \
  X(columnNames) \
  X(getRow) \
  X(toString) \
  X(clear) \
  X(add) \
  X(compareTo) \
  X(count) \
  X(results) \
  X(strip) \
  X(stripLeading) \
  X(stripTrailing) \
  X(isBlank) \
  X(equalsIgnoreCase) \
  X(compareToIgnoreCase) \
  X(matches) \
  X(repeat) \
  X(chars) \
  X(toCharArray)
// clang-format on

enum class MethodId : uint8_t {
  kUnknown,
#define FLY_METHOD_ENUM(name) k_##name,
  FLY_METHODS(FLY_METHOD_ENUM)
#undef FLY_METHOD_ENUM
};

MethodId LookupMethod(std::string_view name);
// Every method name (for "did you mean").
const std::vector<std::string>& MethodNames();

// X(name, min args, max args); a Math "function" with max -1 is a constant (Math.PI).
// clang-format off
#define FLY_MATH(X) \
  X(abs, 1, 1) \
  X(sqrt, 1, 1) \
  X(pow, 2, 2) \
  X(floor, 1, 1) \
  X(ceil, 1, 1) \
  X(round, 1, 1) \
  X(max, 2, 2) \
  X(min, 2, 2) \
  X(log, 1, 1) \
  X(log10, 1, 1) \
  X(exp, 1, 1) \
  X(sin, 1, 1) \
  X(cos, 1, 1) \
  X(tan, 1, 1) \
  X(asin, 1, 1) \
  X(acos, 1, 1) \
  X(atan, 1, 1) \
  X(atan2, 2, 2) \
  X(random, 0, 0) \
  X(signum, 1, 1) \
  X(hypot, 2, 2) \
  X(cbrt, 1, 1) \
  X(toRadians, 1, 1) \
  X(toDegrees, 1, 1) \
  X(floorDiv, 2, 2) \
  X(floorMod, 2, 2) \
  X(PI, -1, -1) \
  X(E, -1, -1)
// clang-format on

enum class MathId : uint8_t {
#define FLY_MATH_ENUM(name, lo, hi) k_##name,
  FLY_MATH(FLY_MATH_ENUM)
#undef FLY_MATH_ENUM
};

// Returns false when `name` is not a Math function; fills its argument range.
bool LookupMath(std::string_view name, MathId* id, int* min_args, int* max_args);
const char* MathName(MathId id);
const char* CastName(CastType t);

}  // namespace volo::fly
