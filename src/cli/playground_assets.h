// The playground's static site (web/playground), built into the binary: what `volo lite build`
// writes. Empty when this volo was built without Emscripten (no playground).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "net/http.h"

namespace volo::cli {

struct PlaygroundFile {
  std::string_view path;  // relative to the site's root: "index.html", "examples/pi.fly"
  std::string_view data;
};

// Every file of the site, in path order. Static storage; no I/O.
std::vector<PlaygroundFile> PlaygroundFiles();

// The planner's /playground/ pages (PlannerOptions::pages, src/cli/lite.cc): "/playground"
// redirects to "/playground/", which is index.html; "/playground/F" is file F. nullopt for any
// other path or a file the site does not have.
std::optional<net::HttpResponse> PlaygroundPage(const net::HttpRequest& req);

}  // namespace volo::cli
