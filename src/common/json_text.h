// Writing JSON text by hand on hot paths (protocol frames, API answers, FLY values) without
// building a tree. One escaper for all of volo, so every layer quotes strings the same way.
#pragma once

#include <string>
#include <string_view>

namespace volo {

// Appends `s` as a JSON string literal: quotes, and escapes for ", \, control characters.
// Bytes >= 0x80 pass through (UTF-8 stays UTF-8).
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace volo
