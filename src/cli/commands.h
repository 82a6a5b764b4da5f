// Each group of `volo` subcommands registers itself on the CLI11 app. main.cc calls these.
// A subcommand's callback runs the command and records the process exit code in *exit_code.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

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
// lite build (src/cli/lite.cc).
void AddLiteCommands(CLI::App& app, int* exit_code);
// fn deploy | invoke | ls | show | rm | rollback | usage (src/cli/fn_commands.cc).
void AddFunctionCommands(CLI::App& app, int* exit_code);
// bundle push | ls | rm (src/cli/bundle_commands.cc).
void AddBundleCommands(CLI::App& app, int* exit_code);
// Packs `dir` (deterministically), uploads it unless the planner has it, and returns its id.
// On failure prints one line to stderr, sets *exit_code to 1 and returns empty.
std::string PushBundle(const std::string& planner, const std::string& dir, int* exit_code);

// logs, resubmit, and the command and array parts of submit and wait
// (src/cli/command_commands.cc).
void AddCommandCommands(CLI::App& app, int* exit_code);
// The submit flags that make a command task (--cmd, --shell, --env, --stdin, --cwd) and an
// array (--each, --each-line, --each-json).
struct CommandFlags {
  bool cmd = false;
  std::string shell;
  std::vector<std::string> env;
  std::string stdin_arg;
  std::string cwd;
  std::string each, each_line, each_json;
  std::string bundle;  // a pushed bundle's id (from submit's --bundle), or empty
};
void AddCommandFlags(CLI::App& submit, CommandFlags* flags);
bool IsCommandSubmit(const CommandFlags& flags);
// Submits the command (argv from the positionals, for --cmd) or array the flags describe and,
// with `wait`, waits: a task prints its stdout and stderr and returns its exit code; an array
// shows its progress and a summary. Returns the process exit code.
int SubmitCommand(const std::string& planner, const CommandFlags& flags,
                  const std::vector<std::string>& argv, int retries, double timeout, int priority,
                  const std::vector<std::pair<std::string, std::string>>& labels, bool wait);
// `volo wait --array A`: progress (a bar on a terminal, a line per change when piped), then a
// summary; 0 when every task is done, 1 when some failed, 3 on timeout.
int WaitArray(const std::string& planner, uint64_t array, double timeout);

}  // namespace volo::cli
