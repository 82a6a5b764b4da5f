// VOLO_CHECK: abort with a message when an invariant of the program itself is broken.
// Never use it for bad input from a user or a peer: that is a Status.
#pragma once

namespace volo::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond, const char* msg);
}

#define VOLO_CHECK(cond, msg)                                                   \
  do {                                                                          \
    if (!(cond)) ::volo::internal::CheckFailed(__FILE__, __LINE__, #cond, msg); \
  } while (0)
