// `volo run`, `volo check`, `volo disasm`, `volo repl`: thin wrappers over src/fly.
#include <histedit.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "cluster/cluster_env.h"
#include "fly/interpreter.h"
#include "fly/memory.h"
#include "fly/repl.h"

namespace volo::cli {

namespace {

std::atomic<int> g_signal{0};

void OnSignal(int sig) { g_signal.store(sig); }

// The REPL's Ctrl-C while an input runs. The handler only stores: it stops the running input
// (the session's Interrupt is async-signal-safe). At a terminal's prompt Ctrl-C is a key
// (OnPromptCtrlC); piped, SIGINT makes the line being read fail with EINTR (the handler is
// installed without SA_RESTART) so the loop drops it.
fly::ReplSession* g_repl = nullptr;
bool g_repl_tty = false;
volatile std::sig_atomic_t g_repl_sigint = 0;

void OnReplSigint(int) {
  g_repl_sigint = 1;
  // The terminal echoed "^C" after the input's output: "interrupted" goes on a line of its own.
  if (g_repl != nullptr && g_repl->Interrupt() && g_repl_tty) {
    ssize_t ignored = write(STDERR_FILENO, "\n", 1);
    (void)ignored;
  }
}

// Ctrl-C typed at the prompt. The terminal does not turn it into SIGINT while a line is edited
// (see LineReader): a signal that came between el_gets printing the prompt and its first read
// would be lost, and the read would wait for another key. Read as a key, it ends el_gets.
unsigned char OnPromptCtrlC(EditLine*, int) {
  g_repl_sigint = 1;
  return CC_EOF;
}

const char* Prompt(EditLine* el) {
  void* data = nullptr;
  el_get(el, EL_CLIENTDATA, &data);
  return *static_cast<bool*>(data) ? "...> " : "fly> ";
}

// Reads the REPL's lines: with line editing and history (libedit) on a terminal, plain lines
// otherwise (piped input prints no prompts, so its output is only what the inputs print).
class LineReader {
 public:
  enum class Result { kLine, kInterrupted, kEnd };

  explicit LineReader(const bool* continuation) : tty_(isatty(STDIN_FILENO) != 0) {
    if (!tty_) return;
    el_ = el_init("volo", stdin, stdout, stderr);
    hist_ = history_init();
    HistEvent ev;
    history(hist_, &ev, H_SETSIZE, 1000);
    history(hist_, &ev, H_SETUNIQUE, 1);
    el_set(el_, EL_HIST, history, hist_);
    el_set(el_, EL_EDITOR, "emacs");
    el_set(el_, EL_CLIENTDATA, continuation);
    el_set(el_, EL_PROMPT, &Prompt);
    // While a line is edited Ctrl-C is a key (no SIGINT), bound to drop the line; while an
    // input runs the terminal is cooked again and Ctrl-C is SIGINT, which stops the input.
    el_set(el_, EL_SETTY, "-d", "-isig", nullptr);
    el_set(el_, EL_ADDFN, "volo-interrupt", "drop the line being edited", &OnPromptCtrlC);
    el_set(el_, EL_BIND, "^C", "volo-interrupt", nullptr);
    el_source(el_, nullptr);  // ~/.editrc, as other libedit programs do
    const char* home = std::getenv("HOME");
    if (home != nullptr && *home != '\0') {
      hist_file_ = std::string(home) + "/.volo_history";
      history(hist_, &ev, H_LOAD, hist_file_.c_str());
    }
  }
  ~LineReader() {
    if (!tty_) return;
    history_end(hist_);
    el_end(el_);
  }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  bool tty() const { return tty_; }

  Result Read(std::string* line) {
    g_repl_sigint = 0;
    if (!tty_) {
      if (std::getline(std::cin, *line)) return Result::kLine;
      if (g_repl_sigint != 0 && !std::cin.eof()) {
        std::cin.clear();
        return Result::kInterrupted;
      }
      return Result::kEnd;
    }
    // el_gets prints the prompt first and only then leaves cooked mode, so a key typed the
    // moment the prompt shows would reach a canonical terminal: Ctrl-D there is an end-of-file
    // mark that libedit, once raw, reads as a NUL byte, and the REPL ignored it. Raw first.
    el_set(el_, EL_PREP_TERM, 1);
    int count = 0;
    const char* text = el_gets(el_, &count);
    if (text == nullptr || count <= 0) {
      if (g_repl_sigint != 0) {
        el_reset(el_);
        return Result::kInterrupted;
      }
      return Result::kEnd;
    }
    *line = text;
    if (!line->empty() && line->back() == '\n') line->pop_back();
    return Result::kLine;
  }

  // Adds an input to the history and saves the history file (so a killed terminal keeps it).
  void Remember(const std::string& input) {
    if (!tty_ || input.empty()) return;
    HistEvent ev;
    history(hist_, &ev, H_ENTER, input.c_str());
    if (!hist_file_.empty()) history(hist_, &ev, H_SAVE, hist_file_.c_str());
  }

 private:
  bool tty_;
  EditLine* el_ = nullptr;
  History* hist_ = nullptr;
  std::string hist_file_;
};

int RunRepl(const fly::RunOptions& options) {
  // Each print reaches the terminal or pipe at once, even while an input is still running.
  std::cout << std::unitbuf;
  fly::ReplSession session(options, std::cout, std::cerr);
  bool continuation = false;
  LineReader reader(&continuation);
  struct sigaction sa {};
  struct sigaction old_sa {};
  sa.sa_handler = OnReplSigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a read at the prompt returns on Ctrl-C
  g_repl = &session;
  g_repl_tty = reader.tty();
  sigaction(SIGINT, &sa, &old_sa);
  if (reader.tty()) {
    std::cout << "volo FLY repl: :help for help, Ctrl-D to quit.\n";
  }
  std::string pending;
  bool failed = false;
  for (;;) {
    std::string line;
    auto got = reader.Read(&line);
    if (got == LineReader::Result::kEnd) break;
    if (got == LineReader::Result::kInterrupted) {
      // Ctrl-C at the prompt drops the line (and any unfinished input) and asks again.
      if (reader.tty()) std::cout << "^C\n" << std::flush;
      pending.clear();
      continuation = false;
      continue;
    }
    if (pending.empty() && line.find_first_not_of(" \t\r") == std::string::npos) continue;
    pending += line + "\n";
    auto outcome = session.Input(pending);
    continuation = outcome == fly::ReplSession::Outcome::kIncomplete;
    if (continuation) continue;
    failed = failed || outcome == fly::ReplSession::Outcome::kError ||
             outcome == fly::ReplSession::Outcome::kInterrupted;
    std::string input = pending;
    if (!input.empty() && input.back() == '\n') input.pop_back();
    reader.Remember(input);
    pending.clear();
    if (outcome == fly::ReplSession::Outcome::kQuit) break;
  }
  if (!pending.empty()) {  // the input ended inside a construct: say what is unfinished
    failed = session.Eval(pending, /*at_end=*/true) != fly::ReplSession::Outcome::kOk || failed;
  }
  if (reader.tty()) std::cout << "\n";
  std::cout.flush();
  sigaction(SIGINT, &old_sa, nullptr);
  g_repl = nullptr;
  // Piped input is a script: its exit code says whether every input succeeded.
  return !reader.tty() && failed ? 1 : 0;
}

}  // namespace

int RunProgramCancellably(const fly::RunOptions& options, std::function<void()> cleanup) {
  g_signal.store(0);
  auto old_int = std::signal(SIGINT, OnSignal);
  auto old_term = std::signal(SIGTERM, OnSignal);
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  // --timeout stops the program from inside (Runtime::Stop); should it not end within this
  // grace (a native call that never returns), the process exits anyway.
  const auto hard_deadline = options.timeout_ms > 0
                                 ? std::chrono::steady_clock::now() +
                                       std::chrono::milliseconds(options.timeout_ms) +
                                       std::chrono::seconds(5)
                                 : std::chrono::steady_clock::time_point::max();
  // A handler may only set a flag; this thread does the rest.
  std::thread watcher([&] {
    std::unique_lock<std::mutex> lock(mu);
    while (!finished) {
      cv.wait_for(lock, std::chrono::milliseconds(50));
      if (!finished && std::chrono::steady_clock::now() > hard_deadline) {
        std::cout.flush();
        std::cerr << options.file << ": runtime error: timeout: the program ran longer than "
                  << fly::FormatDuration(options.timeout_ms)
                  << " (--timeout) and did not stop; exiting\n";
        cluster::CancelOutstanding();
        if (cleanup) cleanup();
        std::_Exit(fly::kExitTimeout);
      }
      int sig = g_signal.load();
      if (finished || sig == 0) continue;
      std::cerr << "\nvolo: interrupted; cancelling the program's work on the fleet\n";
      size_t n = cluster::CancelOutstanding();
      if (n > 0)
        std::cerr << "volo: cancelled " << (n == 1 ? "1 chunk" : std::to_string(n) + " chunks")
                  << "\n";
      if (cleanup) cleanup();
      std::cout.flush();
      std::_Exit(128 + sig);
    }
  });
  int code = fly::RunFile(options, std::cout, std::cerr);
  {
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
  }
  cv.notify_all();
  watcher.join();
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);
  return code;
}

void AddFlyCommands(CLI::App& app, int* exit_code) {
  struct Args {
    fly::RunOptions options;
    uint64_t seed = 0;
    std::string max_memory;
    std::string timeout;
  };
  auto args = std::make_shared<Args>();

  CLI::App* run = app.add_subcommand("run", "Run a FLY program");
  run->add_option("file", args->options.file, "The .fly program")->required();
  run->add_option("--env", args->options.env_bindings,
                  "Bind an environment declared in the program: NAME=smp:N or NAME=cluster:URL "
                  "(URL may end in ?retries=N&wait=S&progress=P: retries of a failing chunk, "
                  "seconds to wait for a fly worker, seconds between progress lines on a "
                  "non-terminal stderr with 0 for none; repeatable). The binding decides how "
                  "many threads or workers run the instances, never how a fly splits its "
                  "input. Ctrl-C cancels the program's work on the fleet. The API token comes "
                  "from $VOLO_TOKEN");
  CLI::Option* seed = run->add_option("--seed", args->seed, "Seed for every random stream");
  run->add_flag("--disasm", args->options.disasm, "Print the bytecode instead of running");
  run->add_option("--max-memory", args->max_memory,
                  "The memory the program may use (512M, 2G; 'unlimited'); past it the program "
                  "fails with 'out of memory'. Default: 3/4 of the machine's memory (" +
                      fly::FormatByteSize(fly::DefaultMemoryLimit()) + " here)");
  run->add_option("--timeout", args->timeout,
                  "Stop the program after this long (30s, 500ms, 5m, 1h) with a 'timeout' error "
                  "and exit code 124. Default: none");
  run->callback([args, seed, exit_code] {
    uint64_t max_memory = fly::DefaultMemoryLimit();
    if (args->max_memory == "unlimited" || args->max_memory == "none") {
      max_memory = 0;
    } else if (!args->max_memory.empty() &&
               (!fly::ParseByteSize(args->max_memory, &max_memory) || max_memory == 0)) {
      std::cerr << "volo run: --max-memory " << args->max_memory
                << ": expected a size such as 512M or 2G (or 'unlimited')\n";
      *exit_code = 2;
      return;
    }
    fly::SetMemoryLimit(max_memory);
    if (!args->timeout.empty() && (!fly::ParseDuration(args->timeout, &args->options.timeout_ms) ||
                                   args->options.timeout_ms <= 0)) {
      std::cerr << "volo run: --timeout " << args->timeout
                << ": expected a duration such as 30s, 500ms or 5m\n";
      *exit_code = 2;
      return;
    }
    args->options.has_seed = seed->count() > 0;
    args->options.seed = args->seed;
    args->options.make_environment = cluster::MakeEnvironmentFactory();
    *exit_code = RunProgramCancellably(args->options);
  });

  auto check_file = std::make_shared<std::string>();
  CLI::App* check = app.add_subcommand(
      "check",
      "Check a FLY program without running it: syntax, names (with suggestions), call "
      "arities, declaration types, what fly and for loops go over");
  check->add_option("file", *check_file, "The .fly program")->required();
  check->callback(
      [check_file, exit_code] { *exit_code = fly::CheckFile(*check_file, std::cout, std::cerr); });

  auto disasm_file = std::make_shared<std::string>();
  CLI::App* disasm = app.add_subcommand("disasm", "Print a FLY program's bytecode");
  disasm->add_option("file", *disasm_file, "The .fly program")->required();
  disasm->callback([disasm_file, exit_code] {
    *exit_code = fly::DisasmFile(*disasm_file, std::cout, std::cerr);
  });

  auto repl_args = std::make_shared<Args>();
  CLI::App* repl = app.add_subcommand(
      "repl",
      "Interactive FLY session: declarations stay, an expression prints its value, Ctrl-C "
      "stops the running input, :help lists :load FILE and :env. Piped input runs as a script "
      "(no prompts; exit code 1 when an input failed)");
  repl->add_option("--env", repl_args->options.env_bindings,
                   "Bind an environment the session declares: NAME=smp:N (repeatable)");
  CLI::Option* repl_seed =
      repl->add_option("--seed", repl_args->seed, "Seed for every random stream");
  repl->callback([repl_args, repl_seed, exit_code] {
    repl_args->options.has_seed = repl_seed->count() > 0;
    repl_args->options.seed = repl_args->seed;
    repl_args->options.file = "<repl>";
    // A fleet's workers compile the program's text, and a session has no single text: the
    // prompt runs environments on this machine only.
    for (const auto& b : repl_args->options.env_bindings) {
      size_t eq = b.find('=');
      std::string spec = eq == std::string::npos ? "" : b.substr(eq + 1);
      if (spec != "smp" && spec.rfind("smp:", 0) != 0) {
        std::cerr << "volo repl: --env " << b
                  << ": the REPL runs environments on this machine only (NAME=smp:N); use "
                     "volo run for a fleet\n";
        *exit_code = 2;
        return;
      }
      std::string n = spec.size() > 4 ? spec.substr(4) : "1";
      if (n.empty() || n.size() > 4 || n.find_first_not_of("0123456789") != std::string::npos ||
          std::stoi(n) < 1 || std::stoi(n) > 4096) {
        std::cerr << "volo repl: --env " << b
                  << ": expected NAME=smp:N with N a thread count from 1 to 4096\n";
        *exit_code = 2;
        return;
      }
    }
    *exit_code = RunRepl(repl_args->options);
  });
}

}  // namespace volo::cli
