// Each group of `volo` subcommands registers itself on the CLI11 app. main.cc calls these.
// A subcommand's callback runs the command and records the process exit code in *exit_code.
#pragma once

namespace CLI {
class App;
}

namespace volo::cli {

// run, check, disasm, repl (src/cli/fly_commands.cc).
void AddFlyCommands(CLI::App& app, int* exit_code);
// planner, worker, up, submit, status, wait, cancel (src/cli/fleet_commands.cc).
void AddFleetCommands(CLI::App& app, int* exit_code);

}  // namespace volo::cli
