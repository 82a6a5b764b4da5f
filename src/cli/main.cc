// volo: one binary, many subcommands. Each group registers itself (commands.h).
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "volo runs work on a fleet of workers: a planner holds tasks, workers run them.\n"
      "Docs: README.md, docs/rest-api.md, docs/protocol.md"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "volo 0.1.0");
  int exit_code = 0;
  volo::cli::AddFleetCommands(app, &exit_code);
  volo::cli::AddFlyCommands(app, &exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
