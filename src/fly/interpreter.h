// The FLY interpreter's entry points: what `volo run`, `volo check`, `volo disasm` and
// `volo repl` call. Output of the program goes to `out`; diagnostics and runtime errors go to
// `err` as `file:line:col: message` with the source line and a caret (compile errors) or a FLY
// stack trace (runtime errors). Every function returns the process exit code: 0 success,
// 1 a compile or runtime error (out of memory included), 2 a usage error (bad flags, unreadable
// file), kExitTimeout when --timeout stopped the program.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "fly/environment.h"

namespace volo::fly {

// The exit code of a program stopped by --timeout (as timeout(1)).
constexpr int kExitTimeout = 124;

struct RunOptions {
  std::string file;
  // NAME=smp:N: rebinds the environment NAME declared in the program (repeatable).
  std::vector<std::string> env_bindings;
  bool has_seed = false;
  uint64_t seed = 0;    // --seed: every random stream derives from it (FLY.md Part A 8)
  bool disasm = false;  // print the bytecode instead of running
  // Makes cluster/k8s environments (bindings cluster:URL, declarations type="cluster"); unset:
  // those are refused with a message. src/cluster provides one (cluster/cluster_env.h).
  EnvironmentFactory make_environment;
  // When set (a binding spec like "cluster:http://host:3000"), every environment the program
  // declares that no --env binds is bound to it (`volo up -- run`).
  std::string bind_all;
  // --max-memory: the heap the program may use, in bytes; 0 leaves the process's limit as it
  // is (none unless SetMemoryLimit was called). Process-wide while the program runs (memory.h).
  uint64_t max_memory = 0;
  // --timeout: stop the program after this many milliseconds; 0: never.
  int64_t timeout_ms = 0;
};

// "10s", "500ms", "2m", "1h", "1.5s"; a bare number is seconds. False when malformed.
bool ParseDuration(std::string_view text, int64_t* ms);
// "10s", "1.5s", "250ms", "2m", "1h".
std::string FormatDuration(int64_t ms);

int RunFile(const RunOptions& options, std::ostream& out, std::ostream& err);
// As RunFile, with the program text given (options.file names it in messages).
int RunSource(const RunOptions& options, const std::string& source, std::ostream& out,
              std::ostream& err);
// Syntax and resolution only; reports every error found.
int CheckFile(const std::string& file, std::ostream& out, std::ostream& err);
int CheckSource(const std::string& file, const std::string& source, std::ostream& out,
                std::ostream& err);
int DisasmFile(const std::string& file, std::ostream& out, std::ostream& err);

}  // namespace volo::fly
