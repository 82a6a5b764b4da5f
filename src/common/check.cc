#include "common/check.h"

#include <cstdio>
#include <cstdlib>

namespace volo::internal {

void CheckFailed(const char* file, int line, const char* cond, const char* msg) {
  std::fprintf(stderr, "%s:%d: check failed: %s: %s\n", file, line, cond, msg);
  std::fflush(stderr);
  std::abort();
}

}  // namespace volo::internal
