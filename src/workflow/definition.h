// Workflow files: Celery Director's `workflows.yml` layout, read as it is, plus what Director
// cannot say (nesting, maps over a previous result, concurrency, per-step options) and a
// `tasks:` section that says what runs each task name (Director finds them in Python code).
//
//   tasks:                                  # what a task name runs
//     EXTRACT: {op: echo, args: {rows: 3}}  # a built-in or worker operation
//     CLEAN:   {cmd: [python3, clean.py]}   # a command (the exec operation)
//     SCORE:   {fly: score.fly, func: score}
//   ovh.ETL:                                # PROJECT.NAME, as in Director
//     tasks:
//       - EXTRACT
//       - FAN: {type: group, tasks: [CLEAN, {SIDE: {type: chain, tasks: [A, B]}}]}
//       - EACH: {type: map, over: EXTRACT, task: SCORE}
//       - LOAD: {retries: 3, continue_on_failure: true}
//     periodic: {interval: 60}             # or {crontab: "0 */3 * * *"}
//     hooks: {success: NOTIFY, failure: ALERT}
//     schema: payload.schema.json           # or the schema inline
//     concurrency: 1
//
// docs/workflows.md is the reference. Parsing never throws: every problem is a Diagnostic with
// the line and column of the YAML node at fault, and all of them are reported at once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "workflow/schedule.h"

namespace volo::workflow {

struct Position {
  int line = 0, col = 0;  // 1-based; 0 when unknown
};

struct Diagnostic {
  Position where;
  std::string message;
  // "workflows.yml:3:7: message"
  std::string Format(std::string_view file) const;
};

enum class TaskKind : uint8_t { kOp, kCommand, kFly, kWorkflow };

// What one task name runs.
struct TaskDef {
  std::string name;
  TaskKind kind = TaskKind::kOp;
  std::string op;           // kOp: the operation; kCommand: "exec"
  std::string args = "{}";  // kOp, kCommand: a JSON object (kCommand: the exec arguments)
  std::string fly_file;     // kFly: the program's path as written
  std::string fly_source;   // kFly: its text
  std::string fly_func;     // kFly
  std::string workflow;     // kWorkflow: the nested workflow's name
  int retries = 0;
  double timeout = 0;  // seconds; 0 none
  int priority = 0;
  std::vector<std::pair<std::string, std::string>> labels;
  Position where;
};

struct Step {
  enum class Kind : uint8_t { kTask, kGroup, kChain, kMap };
  Kind kind = Kind::kTask;
  std::string name;  // the task's name, or the group's, chain's or map's own name
  std::string task;  // kTask, kMap: the task name that runs
  // kMap: what it runs over: "payload" or "payload.a.b" (a payload field), or the name of a
  // step that finished before this one (its result).
  std::string over;
  std::vector<Step> steps;  // kGroup, kChain
  // Per-step options; unset: the task's own.
  std::optional<int> retries;
  std::optional<double> timeout;
  std::optional<int> priority;
  std::vector<std::pair<std::string, std::string>> labels;
  bool continue_on_failure = false;
  Position where;
};

// The named resource a step of a workflow with `queue: NAME` asks one unit of is this prefix
// and NAME; `volo worker --queue NAME` offers it.
inline constexpr std::string_view kQueueResourcePrefix = "queue:";

struct Workflow {
  std::string name;  // PROJECT.NAME
  Step root;         // a chain
  Schedule periodic;
  std::string periodic_payload = "{}";  // the payload of scheduled runs
  std::string on_success, on_failure;   // task names; empty: none
  std::string schema;                   // the payload's JSON Schema as JSON text; empty: any
  // Director's queue: every step of a run asks for one unit of the named resource
  // `queue:NAME`, which workers started with `--queue NAME` offer; empty: any worker.
  std::string queue;
  // Director's per-task routing (`queue: {default: Q, customs: {TASK: Q2}}`): a step or hook
  // running one of these task names goes to its queue instead of `queue`.
  std::map<std::string, std::string> task_queues;
  // The queue a step running `task` goes to; empty: any worker.
  const std::string& QueueOf(std::string_view task) const;
  int concurrency = 0;  // runs at once; 0: no limit
  Position where;
};

struct WorkflowFile {
  std::map<std::string, TaskDef> tasks;
  std::vector<Workflow> workflows;  // in file order
  const Workflow* Find(std::string_view name) const;
  const TaskDef* Task(std::string_view name) const;
};

// Reads a file the workflow file refers to (a schema, a FLY program), by the path as written;
// NotFound or IoError otherwise.
using FileReader = std::function<Result<std::string>(const std::string& path)>;

struct ParseResult {
  WorkflowFile file;
  std::vector<Diagnostic> errors;  // sorted by position; empty when the file is good
  bool ok() const { return errors.empty(); }
};

// Parses and checks a workflow file: YAML syntax, the layout, unknown task names, steps that
// refer to steps that have not finished before them, maps over something that is not a list,
// nesting cycles between workflows, bad cron expressions, unreadable or invalid schemas.
//
// `check_fly`, when given, checks a FLY step's program and function (it compiles the program:
// the workflow library does not depend on the FLY compiler, its callers do) and returns what is
// wrong, or "" when nothing is.
using FlyCheck = std::function<std::string(const std::string& file, const std::string& source,
                                           const std::string& func)>;
//
// `replay`: the text is a definition the journal kept, accepted by the release that wrote it.
// What changed since is not applied to it: the checks added since (a key given twice, a
// workflow name outside 1-128 of [A-Za-z0-9_.:-], a crontab that names no date) are skipped,
// so that its workflows and runs are not lost, and `<<` stays the plain key it was then.
ParseResult ParseWorkflowFile(std::string_view text, const FileReader& read,
                              const FlyCheck& check_fly = {}, bool replay = false);

}  // namespace volo::workflow
