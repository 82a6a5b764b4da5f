// `volo run`, `volo check`, `volo disasm`, `volo repl`: thin wrappers over src/fly.
#include <histedit.h>
#include <signal.h>

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

namespace volo::cli {

namespace {

std::atomic<int> g_signal{0};

void OnSignal(int sig) { g_signal.store(sig); }

const char* Prompt(EditLine* el) {
  void* data = nullptr;
  el_get(el, EL_CLIENTDATA, &data);
  return *static_cast<bool*>(data) ? "...> " : "fly> ";
}

// Line editing and history through libedit; multi-line input continues while the parser says
// the text so far is incomplete (an open brace, a dangling operator).
int RunRepl(const fly::RunOptions& options) {
  fly::ReplSession session(options, std::cout, std::cerr);
  bool continuation = false;
  EditLine* el = el_init("volo", stdin, stdout, stderr);
  History* hist = history_init();
  HistEvent ev;
  history(hist, &ev, H_SETSIZE, 1000);
  el_set(el, EL_HIST, history, hist);
  el_set(el, EL_EDITOR, "emacs");
  el_set(el, EL_CLIENTDATA, &continuation);
  el_set(el, EL_PROMPT, &Prompt);
  std::string home = std::getenv("HOME") ? std::getenv("HOME") : "";
  std::string hist_file = home.empty() ? "" : home + "/.volo_history";
  if (!hist_file.empty()) history(hist, &ev, H_LOAD, hist_file.c_str());
  std::cout << "volo FLY repl: statements run as you enter them; Ctrl-D quits.\n";
  std::string pending;
  for (;;) {
    int count = 0;
    const char* line = el_gets(el, &count);
    if (!line || count <= 0) break;
    std::string text(line);
    if (!text.empty() && text.back() == '\n') text.pop_back();
    if (text.empty() && pending.empty()) continue;
    history(hist, &ev, H_ENTER, line);
    pending += text + "\n";
    auto outcome = session.Eval(pending);
    continuation = outcome == fly::ReplSession::Outcome::kIncomplete;
    if (!continuation) pending.clear();
  }
  std::cout << "\n";
  if (!hist_file.empty()) history(hist, &ev, H_SAVE, hist_file.c_str());
  history_end(hist);
  el_end(el);
  return 0;
}

}  // namespace

int RunProgramCancellably(const fly::RunOptions& options, std::function<void()> cleanup) {
  g_signal.store(0);
  auto old_int = std::signal(SIGINT, OnSignal);
  auto old_term = std::signal(SIGTERM, OnSignal);
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  // A handler may only set a flag; this thread does the rest.
  std::thread watcher([&] {
    std::unique_lock<std::mutex> lock(mu);
    while (!finished) {
      cv.wait_for(lock, std::chrono::milliseconds(50));
      int sig = g_signal.load();
      if (finished || sig == 0) continue;
      std::cerr << "\nvolo: interrupted; cancelling the program's work on the fleet\n";
      size_t n = cluster::CancelOutstanding();
      if (n > 0) std::cerr << "volo: cancelled " << n << " chunks\n";
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
  run->callback([args, seed, exit_code] {
    args->options.has_seed = seed->count() > 0;
    args->options.seed = args->seed;
    args->options.make_environment = cluster::MakeEnvironmentFactory();
    *exit_code = RunProgramCancellably(args->options);
  });

  auto check_file = std::make_shared<std::string>();
  CLI::App* check = app.add_subcommand("check", "Check a FLY program's syntax and names");
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
  CLI::App* repl = app.add_subcommand("repl", "Interactive FLY session");
  repl->add_option("--env", repl_args->options.env_bindings, "NAME=smp:N or NAME=cluster:URL");
  CLI::Option* repl_seed = repl->add_option("--seed", repl_args->seed, "Seed");
  repl->callback([repl_args, repl_seed, exit_code] {
    repl_args->options.has_seed = repl_seed->count() > 0;
    repl_args->options.seed = repl_args->seed;
    repl_args->options.file = "<repl>";
    repl_args->options.make_environment = cluster::MakeEnvironmentFactory();
    *exit_code = RunRepl(repl_args->options);
  });
}

}  // namespace volo::cli
