// The workflow engine: runs of workflows as trees of steps, driven by task completions.
//
// A run is a tree: chains run their steps one after another, groups side by side, a map runs one
// task per element of a list (a payload field or an earlier step's result) and nested workflows
// expand into a chain when they start. Every step receives the run's payload and its parents'
// results (the results of the step, group or map before it), as Director hands them on. A map
// element receives only its item and index: the payload of a map over a 100,000-element payload
// list would otherwise be copied into every element. A step's result is kept once, in its node;
// later steps, `over:` and the REST views refer to it there.
//
// The engine does no I/O. It asks a StepSink to start tasks and is told when they finish
// (OnTaskFinished), so it is unit-tested with a fake sink and a FakeClock, like Core. Failure: a
// failed step fails its chain, group or map, and so the run, unless the step (or its map) says
// continue_on_failure; a failing run cancels what it still has running. Hooks run once the run
// has its outcome; the failure hook learns which step failed and why.
//
// Threading: one thread (the planner's event loop), like Core.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "workflow/definition.h"

namespace volo::workflow {

using RunId = StrongId<struct RunIdTag, uint64_t>;

enum class StepState : uint8_t { kPending, kRunning, kSucceeded, kFailed, kCancelled };
enum class RunState : uint8_t { kQueued, kRunning, kSucceeded, kFailed, kCancelled };
std::string_view StepStateName(StepState s);
std::string_view RunStateName(RunState s);

// A task the engine wants run.
struct StepCall {
  RunId run;
  uint32_t node = 0;
  const TaskDef* def = nullptr;  // nullptr: a built-in operation named directly
  std::string op;
  std::string args;  // JSON object: the task's own args plus payload and parents (or item, index)
  int retries = 0;
  double timeout = 0;
  int priority = 0;
  std::vector<std::pair<std::string, std::string>> labels;
  std::string queue;  // the run's workflow's queue (Workflow::queue); empty: none
};

class StepSink {
 public:
  virtual ~StepSink() = default;
  // Starts a task; the id comes back through Engine::OnTaskFinished. An error fails the step.
  virtual Result<TaskId> Submit(const StepCall& call) = 0;
  virtual void Cancel(TaskId task) = 0;
};

struct Node {
  Step::Kind kind = Step::Kind::kTask;
  StepState state = StepState::kPending;
  bool continue_on_failure = false;
  bool hook = false;
  uint32_t parent = UINT32_MAX;
  uint32_t index = 0;            // place among its parent's children
  const Step* step = nullptr;    // nullptr for map elements and hooks
  const TaskDef* def = nullptr;  // what a task node runs (nullptr: a built-in op)
  std::string name;              // the step's name; "EACH[3]" for a map element
  std::vector<uint32_t> children;
  uint32_t ended_children = 0;    // a group or map is done when all of them have ended
  uint32_t started_children = 0;  // a map: elements started (they start in order)
  // Of the ended children: how many succeeded and failed (a run's view counts a map's elements
  // without visiting them).
  uint32_t succeeded_children = 0, failed_children = 0;
  bool filling = false;  // a map: FillMap is on the stack for it
  std::optional<TaskId> task;
  std::string result;                // JSON text once succeeded; the error once failed
  double started = 0, finished = 0;  // wall seconds
};

struct Run {
  RunId id;
  std::string workflow;
  std::shared_ptr<const WorkflowFile> file;  // the definition the run started with
  const Workflow* def = nullptr;
  std::string payload = "{}";
  std::string trigger;  // "api", "schedule", "relaunch of 3"
  RunState state = RunState::kQueued;
  double created = 0, started = 0, finished = 0;
  std::vector<Node> nodes;  // nodes[0] is the root chain
  std::string failed_step;  // the first step that failed the run, and why
  std::string error;
  std::optional<uint32_t> hook_node;
  // Relaunch --from-failed: results of the earlier run's succeeded steps, by path.
  std::unordered_map<std::string, std::string> reuse;
  uint32_t running_tasks = 0;
};

// The run has ended and so has its hook, if it has one.
bool Settled(const Run& run);

// Told of what the journal must keep (src/planner/workflows.cc writes it): runs created (also
// by schedules and relaunches), runs ended, schedules fired.
class EngineObserver {
 public:
  virtual ~EngineObserver() = default;
  virtual void OnRunCreated(const Run& run) = 0;
  virtual void OnRunEnded(const Run& run) = 0;
  virtual void OnFired(const std::string& workflow, double at) = 0;
  // The run has ended and so has its hook, if it has one: nothing about it changes any more
  // (the long-poll GET /api/v1/runs/{id}/wait answers then).
  virtual void OnRunSettled(const Run& /*run*/) {}
};

struct EngineOptions {
  size_t max_map_elements = 1'000'000;
  // Elements of one map running (or queued in Core) at once; the rest wait as nodes in the
  // engine, where a pending element costs its node and its item, not a task. The next element
  // starts as one ends, so the order of starts depends only on the order of finishes (a replay
  // after a restart starts the same elements).
  size_t map_window = 4096;
  size_t keep_finished_runs = 10'000;  // older finished runs are forgotten first
};

class Engine {
 public:
  Engine(StepSink& sink, const Clock& clock, EngineOptions options = {});
  void SetObserver(EngineObserver* observer) { observer_ = observer; }

  // ---- replay (after a restart) ----
  // Creates run `id` again as it was created, and starts it: the sink is asked for its steps
  // again and answers with the tasks it had started (the planner's journal).
  void Restore(RunId id, const std::string& workflow, std::string payload, std::string trigger,
               double created, std::unordered_map<std::string, std::string> reuse);
  // The schedule of `workflow` last fired at `at`: the next start counts from there (so a
  // planner that was down past it starts one run at once).
  void SetLastFired(const std::string& workflow, double at);

  // Adds the file's workflows, replacing ones of the same name; runs already started keep the
  // definition they started with. Schedules start counting from now.
  void Define(std::shared_ptr<const WorkflowFile> file);
  const Workflow* Find(std::string_view name) const;
  std::vector<const Workflow*> Workflows() const;  // by name

  // Starts a run (or queues it behind the workflow's concurrency limit). NotFound for an
  // unknown workflow; InvalidArgument when the payload is not a JSON object or fails the
  // workflow's schema (the message names the failing path).
  Result<RunId> Start(std::string_view workflow, std::string_view payload_json,
                      std::string trigger = "api");
  // A task the engine started has finished. Unknown ids are ignored (another client's task).
  void OnTaskFinished(TaskId task, bool ok, std::string_view result_or_error);
  // Cancels a queued or running run: running tasks are cancelled, nothing more starts.
  // FailedPrecondition when it has already ended.
  Status Cancel(RunId run);
  // A new run with the same workflow and payload; with `from_failed`, steps that succeeded in
  // the earlier run are not run again (their results are reused).
  Result<RunId> Relaunch(RunId run, bool from_failed);
  // Starts the scheduled runs that are due. After downtime, a schedule that missed several
  // times starts once, not once per miss.
  void Tick();
  // When each scheduled workflow runs next (wall seconds).
  std::vector<std::pair<std::string, double>> NextScheduled() const;

  const Run* FindRun(RunId id) const;
  // Runs newest first, of one workflow or all; at most `limit`.
  std::vector<const Run*> Runs(std::string_view workflow, size_t limit) const;
  // "EXTRACT" or "FAN/INNER/B" or "EACH[3]": where a node sits, for people and for relaunch.
  static std::string Path(const Run& run, uint32_t node);
  // Path, or "hook:NAME" for the run's hook: unique within a run, stable across a replay.
  static std::string Key(const Run& run, uint32_t node);

 private:
  Run* Mutable(RunId id);
  void Begin(Run& run);
  void StartNode(Run& run, uint32_t n);
  void StartTask(Run& run, uint32_t n);
  void ExpandMap(Run& run, uint32_t n);
  void FillMap(Run& run, uint32_t n);
  void ExpandWorkflow(Run& run, uint32_t n, const Workflow& nested);
  uint32_t AddNode(Run& run, uint32_t parent, const Step* step, std::string name);
  void Finish(Run& run, uint32_t n, StepState state, std::string result);
  void ChildFinished(Run& run, uint32_t parent, uint32_t child);
  void EndRun(Run& run, RunState state);
  void CancelRunning(Run& run);
  void StartNextQueued(const std::string& workflow);
  std::string ResultOf(const Run& run, uint32_t n) const;
  std::string ParentsOf(const Run& run, uint32_t n) const;
  void AppendOutputs(const Run& run, uint32_t n, std::string& out, bool& first) const;
  const Node* Named(const Run& run, std::string_view name) const;
  void Forget();

  void Enqueue(Run& run);
  StepSink& sink_;
  const Clock& clock_;
  EngineObserver* observer_ = nullptr;
  EngineOptions options_;
  std::map<std::string, std::shared_ptr<const WorkflowFile>, std::less<>> defs_;
  std::map<std::string, double, std::less<>> next_fire_;
  std::map<uint64_t, std::unique_ptr<Run>> runs_;
  std::unordered_map<uint64_t, std::pair<uint64_t, uint32_t>> by_task_;  // task -> run, node
  std::map<std::string, std::deque<uint64_t>, std::less<>> queued_;      // per workflow
  std::map<std::string, int, std::less<>> running_;
  uint64_t next_run_ = 1;
};

}  // namespace volo::workflow
