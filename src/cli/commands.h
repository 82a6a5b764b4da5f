// Each group of `volo` subcommands registers itself on the CLI11 app. main.cc calls these.
// A subcommand's callback runs the command and records the process exit code in *exit_code.
#pragma once

#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace volo::fly {
struct RunOptions;
}

namespace volo::cli {

// run, check, disasm, repl (src/cli/fly_commands.cc).
void AddFlyCommands(CLI::App& app, int* exit_code);
// Runs a FLY program (fly::RunFile to stdout/stderr). While it runs, a SIGINT or SIGTERM
// cancels the work its cluster environments have on the fleet, runs `cleanup` (when set) and
// ends the process with 128 + the signal.
int RunProgramCancellably(const fly::RunOptions& options, std::function<void()> cleanup = {});

// planner, worker, up, submit, wait, cancel (src/cli/fleet_commands.cc).
void AddFleetCommands(CLI::App& app, int* exit_code);
// status, tasks, task (src/cli/task_commands.cc).
void AddTaskCommands(CLI::App& app, int* exit_code);
// workflow validate|apply|list|run|runs|show|cancel|relaunch|schedules
// (src/cli/workflow_commands.cc).
void AddWorkflowCommands(CLI::App& app, int* exit_code);
// bundle push | ls | rm (src/cli/bundle_commands.cc).
void AddBundleCommands(CLI::App& app, int* exit_code);
// Packs `dir` (deterministically), uploads it unless the planner has it, and returns its id.
// On failure prints one line to stderr, sets *exit_code to 1 and returns empty.
std::string PushBundle(const std::string& planner, const std::string& dir, int* exit_code);

}  // namespace volo::cli
