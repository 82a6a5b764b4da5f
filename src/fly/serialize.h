// FLY values as JSON-like text, for channel messages and fly arguments that leave the process
// (cluster, k8s) and for casts of received strings (`ch? as Object`).
//
// The text is JSON with two liberties: doubles always carry a '.' or an exponent (so 4.0 stays a
// Double), and map keys may be any scalar (`{0: "a", "n": 1}`), since FLY maps mix integer and
// string keys. Parsing accepts plain JSON too. Channels, environments, random objects and
// handles cannot be serialized.
#pragma once

#include <string>
#include <string_view>

#include "fly/value.h"

namespace volo::fly {

bool SerializeValue(Value v, std::string* out, std::string* error);
// *out receives a new reference.
bool ParseValue(std::string_view text, Value* out, std::string* error);

}  // namespace volo::fly
