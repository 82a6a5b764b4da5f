// volo: one binary, many subcommands. Each group registers itself (commands.h).
//
// Exit codes, the same for every command: 0 success, 1 the work failed (a task failed, the
// planner could not be reached, a program had a runtime error), 2 the command line was wrong
// (an unknown command or flag, a bad flag value). Commands may document others (130 after
// Ctrl-C, 3 when `volo wait` times out).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/text.h"
#include "net/client.h"
#include "worker/fly_runner.h"
#include "worker/fn_fly.h"
#include "worker/limits.h"
#include "worker/zygote.h"

namespace {

std::vector<std::string> CommandNames(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
  }
  return names;
}

// Says so and returns 2 when `word` is not a command; 0 when it is.
int CheckCommand(const CLI::App& app, const std::string& word) {
  auto names = CommandNames(app);
  for (const auto& n : names) {
    if (n == word) return 0;
  }
  std::string hint = volo::cli::Closest(word, names);
  std::cerr << "volo: unknown command '" << word << "'";
  if (!hint.empty()) std::cerr << "; did you mean '" << hint << "'?";
  std::cerr << "\n`volo help` lists the commands.\n";
  return 2;
}

// The first word on the command line that is not a top-level flag or its value: the command.
std::string FirstCommandWord(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") return "";
    if (a == "--ca-file") {
      ++i;
      continue;
    }
    if (!a.empty() && a[0] == '-') continue;
    return a;
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  // A worker's fly runner (src/worker/fly_runner.h): not a user command, so not in --help.
  if (argc >= 2 && argv[1] == volo::worker::kFlyRunnerCommand) {
    return volo::worker::FlyRunnerMain(argc, argv);
  }
  // A fly function's instance on a worker (src/worker/fn_fly.h).
  if (argc >= 2 && argv[1] == volo::worker::kFnFlyCommand) {
    return volo::worker::FnFlyMain(argc, argv);
  }
  // The shim that puts a command under its task's limits before running it (limits.h).
  if (argc >= 2 && argv[1] == volo::worker::kLimitShimCommand) {
    return volo::worker::LimitShimMain(argc, argv);
  }
  // The warm sandbox's init, run by bubblewrap inside it (zygote.h).
  if (argc >= 2 && argv[1] == volo::worker::kZygoteCommand) {
    // A fly function's instance starts there in a fork of the zygote rather than by exec.
    return volo::worker::ZygoteMain(argc, argv,
                                    {{volo::worker::kFnFlyCommand, volo::worker::FnFlyMain}});
  }
  // Output as it happens: piped or redirected, stdout is still flushed line by line (a
  // terminal already is), so `volo up | cat`, CI logs and `tee` see each line when it is made.
  std::setvbuf(stdout, nullptr, _IOLBF, 1 << 16);
  CLI::App app{
      "volo runs work on a fleet of workers: a planner holds tasks, workers run them, and FLY "
      "programs fan functions out over local threads or the fleet.\n"
      "`volo help COMMAND` (or `volo COMMAND --help`) describes a command's flags.\n"
      "Exit codes: 0 success, 1 the work failed, 2 a usage error (unknown command, bad flag)."};
  app.name("volo");
  app.require_subcommand(1);
  app.set_version_flag("--version", "volo 0.1.0");
  int exit_code = 0;

  // TLS trust for every client in this process (workers, CLI commands, cluster runs).
  volo::net::TlsClientOptions tls;
  if (const char* ca = std::getenv("VOLO_CA_FILE"); ca && *ca) tls.ca_file = ca;
  app.add_option("--ca-file", tls.ca_file,
                 "PEM certificate(s) to trust for https:// and wss:// planners, besides the "
                 "system's (env VOLO_CA_FILE); goes before the subcommand");
  app.add_flag("--insecure-skip-verify", tls.insecure_skip_verify,
               "Do not verify planners' TLS certificates (testing only)");
  app.parse_complete_callback([&] {
    if (tls.ca_file.empty() && !tls.insecure_skip_verify) return;
    volo::Status s = volo::net::SetDefaultTlsClientOptions(tls);
    if (!s.ok()) throw CLI::ValidationError("--ca-file", s.message());
  });

  volo::cli::AddFleetCommands(app, &exit_code);
  volo::cli::AddTaskCommands(app, &exit_code);
  volo::cli::AddCommandCommands(app, &exit_code);
  volo::cli::AddWorkflowCommands(app, &exit_code);
  volo::cli::AddBundleCommands(app, &exit_code);
  volo::cli::AddFunctionCommands(app, &exit_code);
  volo::cli::AddFlyCommands(app, &exit_code);
  volo::cli::AddLiteCommands(app, &exit_code);

  // ---- help ----
  CLI::App* help = app.add_subcommand("help", "Describe volo, or one command and its flags");
  auto topic = std::make_shared<std::vector<std::string>>();
  help->add_option("command", *topic, "The command to describe");
  help->callback([&app, topic, &exit_code] {
    if (topic->empty()) {
      // app.help() would describe the selected subcommand, which is `help` itself.
      std::cout << app.get_formatter()->make_help(&app, "volo", CLI::AppFormatMode::Normal);
      return;
    }
    const std::string& name = topic->front();
    if (int code = CheckCommand(app, name); code != 0) {
      exit_code = code;
      return;
    }
    std::cout << app.get_subcommand(name)->help("volo");
  });

  if (argc == 1) {
    std::cerr << app.help() << "\nvolo: give a command\n";
    return 2;
  }
  if (std::string word = FirstCommandWord(argc, argv); !word.empty()) {
    if (int code = CheckCommand(app, word); code != 0) return code;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version land here too, with exit code 0.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::string where = "volo";
    for (const CLI::App* sub : app.get_subcommands()) where += " " + sub->get_name();
    std::cerr << where << ": " << e.what() << "\n"
              << "`" << (where == "volo" ? "volo help" : "volo help " + where.substr(5))
              << "` describes the flags.\n";
    return 2;
  } catch (const std::exception& e) {
    // A failure no command caught: report it as the work failing, never as a crash.
    std::cerr << "volo: " << e.what() << "\n";
    return 1;
  }
  std::cout.flush();
  return exit_code;
}
