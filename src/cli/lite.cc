// `volo lite build OUT/`: writes the FLY playground (FLY compiled to WebAssembly, an editor, the
// examples) as a static site that any static web server can serve: the seeds' "build once,
// deploy anywhere". The files come from the binary itself (playground_assets.h); nothing is
// downloaded. The planner serves the same site at /playground.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <system_error>

#include "cli/commands.h"
#include "cli/playground_assets.h"
#include "net/http.h"
#include "web/web.h"

namespace volo::cli {

namespace {

namespace fs = std::filesystem;

std::string MiB(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// Writes every file of the site under `out`, creating directories; files already there are
// replaced, others left alone. Returns the exit code.
int Build(const std::string& out) {
  std::vector<PlaygroundFile> files = PlaygroundFiles();
  if (files.empty()) {
    std::cerr << "volo: this volo was built without the playground (Emscripten's emcmake was "
                 "not found at build time; scripts/install-deps installs it)\n";
    return 1;
  }
  std::error_code ec;
  fs::path root(out);
  if (fs::exists(root, ec) && !fs::is_directory(root, ec)) {
    std::cerr << "volo: " << out << " exists and is not a directory\n";
    return 1;
  }
  uint64_t bytes = 0;
  for (const PlaygroundFile& f : files) {
    fs::path path = root / std::string(f.path);
    fs::create_directories(path.parent_path(), ec);
    if (ec) {
      std::cerr << "volo: cannot create " << path.parent_path().string() << ": " << ec.message()
                << "\n";
      return 1;
    }
    std::ofstream o(path, std::ios::binary | std::ios::trunc);
    o.write(f.data.data(), static_cast<std::streamsize>(f.data.size()));
    o.close();
    if (!o) {
      std::cerr << "volo: cannot write " << path.string() << "\n";
      return 1;
    }
    bytes += f.data.size();
  }
  std::cout << "wrote the FLY playground to " << out << " (" << files.size() << " files, "
            << MiB(bytes) << ")\n"
            << "serve it with any static web server, for example:\n"
            << "  python3 -m http.server --directory " << out << " 8000\n"
            << "and open http://localhost:8000/\n";
  return 0;
}

constexpr std::string_view kPrefix = "/playground/";

}  // namespace

std::vector<PlaygroundFile> PlaygroundFiles() {
  std::vector<PlaygroundFile> files;
  for (const web::Asset* a : web::All()) {
    std::string_view path = a->path;
    if (path.starts_with(kPrefix)) files.push_back({path.substr(kPrefix.size()), a->body()});
  }
  return files;
}

std::optional<net::HttpResponse> PlaygroundPage(const net::HttpRequest& req) {
  std::string_view path = req.path;
  if (path == "/playground") {
    net::HttpResponse r;
    r.status = 301;
    r.content_type = "text/plain; charset=utf-8";
    r.headers.emplace_back("Location", std::string(kPrefix));
    return r;
  }
  if (!path.starts_with(kPrefix)) return std::nullopt;
  const web::Asset* asset = web::Find(path);  // "/playground/" is its index.html
  if (!asset) return std::nullopt;
  net::HttpResponse r = web::Serve(*asset, req);
  // Cross-origin isolated (every file, the Web Workers' scripts included): the page may use
  // SharedArrayBuffer, so smp runs on Web Workers (the threaded build, fly-mt.js).
  r.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
  r.headers.emplace_back("Cross-Origin-Embedder-Policy", "require-corp");
  r.headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
  // The page offers "Run on this fleet" only where this says a planner's API is beside it.
  r.headers.emplace_back("X-Volo-Planner", "1");
  if (std::string_view(asset->content_type).starts_with("text/html")) {
    // The page runs only its own scripts (and WebAssembly, which its worker inherits the
    // policy for) and talks only to this planner.
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
                           "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                           "frame-ancestors 'none'");
    r.headers.emplace_back("X-Frame-Options", "DENY");
  }
  return r;
}

void AddLiteCommands(CLI::App& app, int* exit_code) {
  CLI::App* lite = app.add_subcommand(
      "lite",
      "The FLY playground as a static site: FLY programs run in the browser tab (the "
      "interpreter compiled to WebAssembly), with an editor, the examples and shareable links");
  lite->require_subcommand(1);
  lite->footer(
      "A planner serves the same playground at /playground/, cross-origin isolated (smp runs on "
      "Web Workers there), with a \"Run on this fleet\" switch that runs the program's flies on "
      "the planner's fly workers.");
  CLI::App* build = lite->add_subcommand(
      "build",
      "Write the playground to OUT (index.html, JavaScript, WebAssembly, examples) for any "
      "static web server; files already in OUT are replaced, others are left alone");
  auto out = std::make_shared<std::string>();
  build->add_option("OUT", *out, "The directory to write (created if missing)")->required();
  build->callback([out, exit_code] { *exit_code = Build(*out); });
}

}  // namespace volo::cli
