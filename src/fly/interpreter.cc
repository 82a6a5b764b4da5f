#include "fly/interpreter.h"

#include <fstream>
#include <sstream>

#include "fly/compiler.h"
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

int RunSource(const RunOptions& options, const std::string& source, std::ostream& out,
              std::ostream& err) {
  std::vector<Diagnostic> diags;
  auto program = CompileSource(options.file, source, diags);
  if (!diags.empty()) Report(*program, diags, err);
  if (HasErrors(diags)) return 1;
  if (options.disasm) {
    out << Disassemble(*program);
    return 0;
  }
  Runtime rt(*program, options, out, err);
  Status envs = rt.CheckEnvironments();
  if (!envs.ok()) {
    err << "error: " << envs.message() << "\n";
    return 2;
  }
  int code = 0;
  {
    Vm vm(rt);
    Value result;
    if (!vm.Call(0, nullptr, 0, &result) || !FinishAsyncJobs(vm)) {
      rt.Cancel();
      out.flush();
      err << vm.error();
      code = 1;
    } else {
      Release(result);
    }
    // The top-level code is done: blocked receivers can no longer be satisfied by it.
    rt.RemoveActive();
  }
  out.flush();
  return code;
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
