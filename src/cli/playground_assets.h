// The playground's static site (web/playground), built into the binary under /playground/ with
// volo_embed_dir (src/web/web.h): what `volo lite build` writes and the planner serves. Empty
// when this volo was built without Emscripten (no playground). Implemented in lite.cc.
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

// The planner's /playground/ pages (PlannerOptions::pages): "/playground" redirects to
// "/playground/", which is index.html; "/playground/F" is file F (web::Serve: gzip, ETag).
// nullopt for any other path or a file the site does not have.
std::optional<net::HttpResponse> PlaygroundPage(const net::HttpRequest& req);

}  // namespace volo::cli
