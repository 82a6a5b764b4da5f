// FLY values as JSON-like text, for channel messages and fly arguments that leave the process
// (cluster, k8s) and for casts of received strings (`ch? as Object`).
//
// The text is JSON with three liberties:
//   - doubles always carry a '.' or an exponent (so 4.0 stays a Double);
//   - map keys may be any scalar (`{0: "a", "n": 1}`), since FLY maps mix integer and string keys;
//   - values JSON has no form for are tagged: '@' and a word before a JSON payload, so they come
//     back as the same type on the other machine:
//       @range[lo,hi]                 a range
//       @portion[index,displacement,[...]]   an array (or matrix) portion a fly split handed out
//       @file{"path":..,"dir":false,"index":k,"lines":[..] or null}   a file (a portion carries
//                                     its lines; a whole file only its path)
//       @dataframe{"index":k,"columns":[..],"rows":[[..],..]}   the rows a frame shows
//       @row{"columns":[..],"cells":[..],"number":n}            one dataframe row
//       @double"NaN" / "Infinity" / "-Infinity"                 non-finite doubles
// Parsing accepts plain JSON too. Channels, environments, random objects and handles cannot be
// serialized.
#pragma once

#include <string>
#include <string_view>

#include "fly/value.h"

namespace volo::fly {

bool SerializeValue(Value v, std::string* out, std::string* error);
// Parses SerializeValue text, tags included. *out receives a new reference.
bool ParseValue(std::string_view text, Value* out, std::string* error);
// Parses plain JSON (with the liberties above, but no tags): for casts of strings a program
// received (`ch? as Object`), which must not conjure files or frames out of text.
bool ParseJson(std::string_view text, Value* out, std::string* error);

}  // namespace volo::fly
