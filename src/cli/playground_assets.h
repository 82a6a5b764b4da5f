// The playground's static site (web/playground), built into the binary: what `volo lite build`
// writes. Empty when this volo was built without Emscripten (no playground).
#pragma once

#include <string_view>
#include <vector>

namespace volo::cli {

struct PlaygroundFile {
  std::string_view path;  // relative to the site's root: "index.html", "examples/pi.fly"
  std::string_view data;
};

// Every file of the site, in path order. Static storage; no I/O.
std::vector<PlaygroundFile> PlaygroundFiles();

}  // namespace volo::cli
