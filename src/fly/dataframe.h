// Dataframes: CSV files loaded into an immutable Table (value.h) whose cells are typed per
// column (Integer if every non-empty cell is an integer, else Double if every one is a number,
// else String). Fly instances receive contiguous row blocks that share the Table.
#pragma once

#include <memory>
#include <string>

#include "fly/value.h"

namespace volo::fly {

// Returns null (with *error) when the file cannot be read or a row has the wrong width.
std::shared_ptr<const Table> LoadCsv(const std::string& path, char separator, bool header,
                                     std::string* error);
// Parses CSV text (for tests and for tables that arrive as text).
std::shared_ptr<const Table> ParseCsv(const std::string& text, char separator, bool header,
                                      std::string* error);

}  // namespace volo::fly
