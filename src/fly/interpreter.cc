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
  err << FormatDiagnostics(program.file, program.source, diags);
  int errors = 0;
  for (const auto& d : diags) errors += d.warning ? 0 : 1;
  if (errors > 1) err << errors << " errors\n";
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

// ---- REPL ----

struct ReplSession::State {
  State(const RunOptions& options, std::ostream& o, std::ostream& e)
      : out(o), err(e), resolver(program, /*repl=*/true), rt(program, options, o, e), vm(rt) {
    program.file = "<repl>";
  }
  std::ostream& out;
  std::ostream& err;
  Program program;
  Resolver resolver;
  Runtime rt;
  Vm vm;
};

ReplSession::ReplSession(const RunOptions& options, std::ostream& out, std::ostream& err)
    : state_(std::make_unique<State>(options, out, err)) {}

ReplSession::~ReplSession() {
  if (state_) state_->rt.RemoveActive();
}

ReplSession::Outcome ReplSession::Eval(const std::string& input) {
  State& s = *state_;
  Parser parser(input);
  ParsedProgram parsed = parser.ParseProgram();
  if (parser.hit_eof()) return Outcome::kIncomplete;
  std::vector<Diagnostic> diags = parser.diagnostics();
  s.program.source = input;
  if (HasErrors(diags)) {
    Report(s.program, diags, s.err);
    return Outcome::kError;
  }
  size_t functions_before = s.program.functions.size();
  size_t globals_before = s.program.globals.size();
  int main_index = static_cast<int>(s.program.functions.size());
  s.resolver.Resolve(parsed, diags);
  if (HasErrors(diags)) {
    Report(s.program, diags, s.err);
    // Forget the definitions of the failed input.
    s.program.functions.resize(functions_before);
    s.program.globals.resize(globals_before);
    s.resolver.Rollback(globals_before);
    return Outcome::kError;
  }
  Compiler compiler(s.program);
  compiler.Compile(parsed, main_index, diags);
  if (HasErrors(diags)) {
    Report(s.program, diags, s.err);
    return Outcome::kError;
  }
  Value result;
  if (!s.vm.Call(main_index, nullptr, 0, &result) || !FinishAsyncJobs(s.vm)) {
    s.out.flush();
    s.err << s.vm.error();
    return Outcome::kError;
  }
  Release(result);
  s.out.flush();
  return Outcome::kOk;
}

}  // namespace volo::fly
