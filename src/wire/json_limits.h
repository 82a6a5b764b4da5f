// A strict, bounded first look at JSON text from the network, before any tree is built.
//
// Boost.JSON builds the whole document in memory and keeps the last of duplicate keys. A body
// or stream message is first walked here by a SAX parser that allocates nothing for values:
// it stops at the first element past a limit, so a 60 MiB message holding millions of tasks
// costs a scan of the bytes, never the tree, and it rejects an object that names a key twice
// (`{"op":"add","op":"mult"}` has no honest meaning).
#pragma once

#include <cstddef>
#include <string_view>

#include "common/status.h"

namespace volo::wire {

struct JsonLimits {
  // Elements in the top-level array or in an array that is a member of the top-level object
  // (a submission's `tasks`, a wait's `ids`).
  size_t max_batch = 100000;
  // Values of any kind in the whole document (bounds the tree the real parse then builds).
  size_t max_values = 8'000'000;
  size_t max_depth = 64;
};

// OK when `text` is one JSON value within `limits` whose objects have no duplicate key.
// InvalidArgument otherwise, naming the problem: "malformed JSON: ...", "duplicate key
// \"op\"", "tasks: more than 100000 elements", "more than 8000000 JSON values".
Status CheckJson(std::string_view text, const JsonLimits& limits = {});

}  // namespace volo::wire
