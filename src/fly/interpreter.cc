#include "fly/interpreter.h"

#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "fly/compiler.h"
#include "fly/memory.h"
#include "fly/ops.h"
#include "fly/parser.h"
#include "fly/resolver.h"
#include "fly/runtime.h"
#include "fly/vm.h"

namespace volo::fly {

namespace {

bool ReadFile(const std::string& file, std::string* text, std::ostream& err) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    err << "volo: cannot read " << file << "\n";
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  *text = ss.str();
  return true;
}

void Report(const Program& program, const std::vector<Diagnostic>& diags, std::ostream& err) {
  err << FormatReport(program.file, program.source, diags);
}

}  // namespace

bool ParseDuration(std::string_view text, int64_t* ms) {
  double v;
  std::string_view unit;
  if (!SplitNumberAndUnit(text, &v, &unit)) return false;
  double scale;
  if (unit.empty() || unit == "s") {
    scale = 1000;
  } else if (unit == "ms") {
    scale = 1;
  } else if (unit == "m" || unit == "min") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else {
    return false;
  }
  double total = v * scale;
  if (total > 1e15) return false;
  *ms = static_cast<int64_t>(std::llround(total));
  return true;
}

std::string FormatDuration(int64_t ms) {
  if (ms % 3'600'000 == 0 && ms > 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0 && ms > 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  if (ms < 1000) return std::to_string(ms) + "ms";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", static_cast<double>(ms) / 1000);
  return std::string(buf) + "s";
}

namespace {

// Applies --max-memory for one run and puts the previous limit back.
class ScopedMemoryLimit {
 public:
  explicit ScopedMemoryLimit(uint64_t bytes) : previous_(MemoryLimit()), set_(bytes != 0) {
    if (set_) SetMemoryLimit(bytes);
  }
  ~ScopedMemoryLimit() {
    if (set_) SetMemoryLimit(previous_);
  }

 private:
  uint64_t previous_;
  bool set_;
};

// Stops the Runtime when --timeout passes (Runtime::Stop: running code fails at its next loop
// turn or call, blocked receives at once).
class Watchdog {
 public:
  Watchdog(Runtime& rt, int64_t timeout_ms) {
    if (timeout_ms <= 0) return;
    thread_ = std::thread([this, &rt, timeout_ms] {
      std::unique_lock<std::mutex> lock(mu_);
      if (!cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return done_; })) {
        rt.Stop("timeout: the program ran longer than " + FormatDuration(timeout_ms) +
                " (--timeout)");
      }
    });
  }
  ~Watchdog() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

int RunCompiled(const RunOptions& options, const Program& program, std::ostream& out,
                std::ostream& err) {
  Runtime rt(program, options, out, err);
  HeapScope heap(&rt.heap());
  Status envs = rt.CheckEnvironments();
  if (!envs.ok()) {
    err << "error: " << envs.message() << "\n";
    return 2;
  }
  int code = 0;
  {
    Watchdog watchdog(rt, options.timeout_ms);
    Vm vm(rt);
    Value result;
    if (!vm.Call(0, nullptr, 0, &result) || !FinishAsyncJobs(vm)) {
      rt.Cancel();
      out.flush();
      // An async fly nobody waited for fails after the top-level code returned, outside any
      // call: its message has no FLY stack to trace.
      err << (vm.error().empty() ? options.file + ": runtime error: " + vm.error_message() + "\n"
                                 : vm.error());
      code = rt.stopped() ? kExitTimeout : 1;
    } else {
      Release(result);
    }
    // The top-level code is done: blocked receivers can no longer be satisfied by it.
    rt.RemoveActive();
  }
  out.flush();
  return code;
}

}  // namespace

int RunSource(const RunOptions& options, const std::string& source, std::ostream& out,
              std::ostream& err) {
  ScopedMemoryLimit limit(options.max_memory);
  try {
    std::vector<Diagnostic> diags;
    auto program = CompileSource(options.file, source, diags);
    if (!diags.empty()) Report(*program, diags, err);
    if (HasErrors(diags)) return 1;
    if (options.disasm) {
      out << Disassemble(*program);
      return 0;
    }
    return RunCompiled(options, *program, out, err);
  } catch (const std::bad_alloc&) {
    // The last resort: Vm::Call catches what FLY code allocates; this is the compiler or the
    // runtime itself running out.
    MemoryLimitScope no_limit(false);
    out.flush();
    err << options.file << ": " << OutOfMemoryMessage() << "\n";
    return 1;
  }
}

int RunFile(const RunOptions& options, std::ostream& out, std::ostream& err) {
  std::string source;
  if (!ReadFile(options.file, &source, err)) return 2;
  return RunSource(options, source, out, err);
}

int CheckSource(const std::string& file, const std::string& source, std::ostream& out,
                std::ostream& err) {
  std::vector<Diagnostic> diags;
  auto program = CompileSource(file, source, diags);
  if (!diags.empty()) Report(*program, diags, err);
  if (HasErrors(diags)) return 1;
  out << file << ": ok\n";
  return 0;
}

int CheckFile(const std::string& file, std::ostream& out, std::ostream& err) {
  std::string source;
  if (!ReadFile(file, &source, err)) return 2;
  return CheckSource(file, source, out, err);
}

int DisasmFile(const std::string& file, std::ostream& out, std::ostream& err) {
  RunOptions options;
  options.file = file;
  options.disasm = true;
  return RunFile(options, out, err);
}

}  // namespace volo::fly
