// PlaygroundFiles() of a volo built without Emscripten, which has no playground. With it, the
// build generates the real one from the site (web/playground/embed.cmake) and defines
// VOLO_PLAYGROUND_EMBEDDED (src/cli/CMakeLists.txt).
#include "cli/playground_assets.h"

#ifndef VOLO_PLAYGROUND_EMBEDDED

namespace volo::cli {

std::vector<PlaygroundFile> PlaygroundFiles() { return {}; }

}  // namespace volo::cli

#endif
