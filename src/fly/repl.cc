#include "fly/repl.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "fly/compiler.h"
#include "fly/ops.h"
#include "fly/parser.h"
#include "fly/resolver.h"
#include "fly/runtime.h"
#include "fly/vm.h"

namespace volo::fly {

namespace {
constexpr const char* kPromptFile = "<repl>";

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}
}  // namespace

struct ReplSession::State {
  State(const RunOptions& options, std::ostream& o, std::ostream& e)
      : out(o), err(e), resolver(program, /*repl=*/true), rt(program, options, o, e), vm(rt) {
    program.file = kPromptFile;
  }
  std::ostream& out;
  std::ostream& err;
  Program program;
  Resolver resolver;
  Runtime rt;
  Vm vm;
  std::atomic<bool> running{false};
};

ReplSession::ReplSession(const RunOptions& options, std::ostream& out, std::ostream& err)
    : state_(std::make_unique<State>(options, out, err)) {}

ReplSession::~ReplSession() {
  State& s = *state_;
  s.rt.Interrupt();
  DrainAsyncJobs(s.vm);
  s.rt.RemoveActive();
}

const char* ReplSession::Help() {
  return "FLY at the prompt: each input runs as soon as it is complete. What it declares at its\n"
         "top level (var, const, func, channels, environments) stays for the session, and\n"
         "functions see it; declaring a name again replaces it. An expression alone prints its\n"
         "value (1 + 2 prints 3). An input continues on the next line while a brace or\n"
         "parenthesis is open.\n"
         "  :help        this text\n"
         "  :load FILE   run FILE in the session (its definitions stay)\n"
         "  :env         the environments declared so far and what runs them\n"
         "  :quit        leave (Ctrl-D does too)\n"
         "Ctrl-C cancels the line being typed, or stops the running input and its fly "
         "instances.\n";
}

ReplSession::Outcome ReplSession::Input(const std::string& text) {
  std::string line = Trim(text);
  if (line.empty() || line[0] != ':') return Eval(text);
  State& s = *state_;
  size_t space = line.find_first_of(" \t");
  std::string cmd = line.substr(0, space);
  std::string arg = space == std::string::npos ? "" : Trim(line.substr(space));
  if (cmd == ":help" || cmd == ":h" || cmd == ":?") {
    s.out << Help();
  } else if (cmd == ":quit" || cmd == ":q" || cmd == ":exit") {
    return Outcome::kQuit;
  } else if (cmd == ":env") {
    s.out << DescribeEnvironments();
  } else if (cmd == ":load" || cmd == ":l") {
    if (arg.empty()) {
      s.err << "usage: :load FILE\n";
      return Outcome::kError;
    }
    return Load(arg);
  } else {
    s.err << "unknown command '" << cmd << "' (:help lists the commands)\n";
    return Outcome::kError;
  }
  s.out.flush();
  return Outcome::kOk;
}

ReplSession::Outcome ReplSession::Eval(const std::string& text, bool at_end) {
  return Run(text, kPromptFile, at_end);
}

ReplSession::Outcome ReplSession::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    state_->err << "cannot read " << path << "\n";
    return Outcome::kError;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  State& s = *state_;
  std::string dir = s.program.dir;
  s.program.dir = std::filesystem::path(path).parent_path().string();
  Outcome o = Run(ss.str(), path, /*whole=*/true);
  s.program.dir = dir;
  s.program.file = kPromptFile;
  return o;
}

ReplSession::Outcome ReplSession::Run(const std::string& text, const std::string& file,
                                      bool whole) {
  State& s = *state_;
  Parser parser(text, /*repl=*/true);
  ParsedProgram parsed = parser.ParseProgram();
  if (parser.hit_eof() && !whole) return Outcome::kIncomplete;
  std::vector<Diagnostic> diags = parser.diagnostics();
  s.program.file = file;
  s.program.source = text;
  auto fail = [&](bool rollback) {
    s.out.flush();
    s.err << FormatReport(file, text, diags);
    if (rollback) s.resolver.Rollback();
    return Outcome::kError;
  };
  if (HasErrors(diags)) return fail(false);
  int main_index = static_cast<int>(s.program.functions.size());
  s.resolver.Resolve(parsed, diags);
  if (HasErrors(diags)) return fail(true);
  Compiler compiler(s.program);
  compiler.Compile(parsed, main_index, diags);
  if (HasErrors(diags)) return fail(true);
  if (!diags.empty()) s.err << FormatReport(file, text, diags);  // warnings
  for (const auto& name : s.resolver.redeclared_envs()) s.rt.ForgetEnvironment(name);

  s.rt.ClearInterrupt();
  s.running = true;
  Value result;
  bool ok = s.vm.Call(main_index, nullptr, 0, &result) && FinishAsyncJobs(s.vm);
  Outcome outcome = Outcome::kOk;
  if (ok) {
    Release(result);
  } else {
    bool interrupted = s.rt.interrupted();
    // What the input started stops with it.
    s.rt.Interrupt();
    DrainAsyncJobs(s.vm);
    s.out.flush();
    if (interrupted) {
      s.err << "interrupted\n";
      outcome = Outcome::kInterrupted;
    } else {
      s.err << s.vm.error();
      outcome = Outcome::kError;
    }
  }
  s.running = false;
  s.rt.ClearInterrupt();
  s.program.file = kPromptFile;
  s.out.flush();
  return outcome;
}

std::string ReplSession::DescribeEnvironments() {
  State& s = *state_;
  std::map<std::string, std::string> made;
  for (auto& [name, desc] : s.rt.Environments()) made[name] = desc;
  // The last declaration of each name, in the order the names first appeared.
  std::vector<const EnvDecl*> decls;
  for (const auto& e : s.program.envs) {
    bool seen = false;
    for (auto& d : decls) {
      if (d->name == e.name) {
        d = &e;
        seen = true;
      }
    }
    if (!seen) decls.push_back(&e);
  }
  if (decls.empty()) {
    return "no environments yet (declare one: var local = [type=\"smp\", nthread=4])\n";
  }
  std::string out;
  for (const EnvDecl* e : decls) {
    out += e->name + "  ";
    auto m = made.find(e->name);
    out += m != made.end() ? m->second : "not made yet";
    std::string binding = s.rt.BindingOf(e->name);
    out += binding.empty() ? "  (declared type \"" + e->type + "\")"
                           : "  (--env " + e->name + "=" + binding + ")";
    out += "\n";
  }
  return out;
}

bool ReplSession::Interrupt() {
  if (!state_->running.load()) return false;
  state_->rt.Interrupt();
  return true;
}

}  // namespace volo::fly
