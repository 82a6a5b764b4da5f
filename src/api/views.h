// The REST API's JSON shapes (docs/rest-api.md), each with its encoder and its parser side by
// side, so that the planner that writes them and every client that reads them (the CLI, the
// cluster FLY environment, tests) cannot drift apart.
//
// Encoding builds a Boost.JSON tree and serializes it with doubles in their shortest form.
// Parsing checks the shape and types and returns InvalidArgument naming the field
// ("workers[2].state: not one of live, draining, gone"). Optional fields the planner always
// sends are still required when parsing: a missing one means a different program answered.
// Thread-compatible: plain values and pure functions.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace volo::api {

// ---- tasks ----

// A task's state as the API names it. kPruned appears only in a long-poll's answer for a task
// that was finished and then forgotten (--keep-results) while the poll waited.
enum class TaskStatus : uint8_t { kQueued, kRunning, kDone, kFailed, kCancelled, kPruned };
std::string_view TaskStatusName(TaskStatus s);
std::optional<TaskStatus> ParseTaskStatus(std::string_view s);

struct TaskView {
  uint64_t id = 0;
  std::string op;
  boost::json::value args;  // an object
  TaskStatus state = TaskStatus::kQueued;
  boost::json::value result;          // the operation's answer when done, else null
  std::optional<std::string> error;   // failed / cancelled: why
  std::optional<std::string> worker;  // the worker that ran it (or runs it)
  int attempts = 0;
  int retries = 0;
  int priority = 0;
  std::optional<double> timeout;  // seconds
  std::vector<std::pair<std::string, std::string>> labels;
  std::optional<double> submitted, started, finished;  // Unix seconds
  // {"cpus": 2, "memory": 512, "gpus": 1} as asked for; an empty object when none.
  boost::json::value resources = boost::json::object();
  // A queued task with a request: what stands in its way ("needs 64 GiB memory; the largest
  // worker that runs 'exec' has 16 GiB memory"). Null otherwise.
  std::optional<std::string> waiting;
};
boost::json::value ToValue(const TaskView& t);
Result<TaskView> ParseTask(const boost::json::value& v);

// GET /api/v1/tasks
struct TaskListView {
  std::vector<TaskView> tasks;
};
boost::json::value ToValue(const TaskListView& l);
Result<TaskListView> ParseTaskList(const boost::json::value& v);

// POST /api/v1/wait
struct WaitView {
  std::vector<TaskView> tasks;
  bool complete = false;
};
boost::json::value ToValue(const WaitView& w);
Result<WaitView> ParseWait(const boost::json::value& v);

// POST /api/v1/tasks: {"id": N} for one task, {"ids": [...]} for a batch.
struct SubmittedView {
  bool batch = false;
  std::vector<uint64_t> ids;
};
boost::json::value ToValue(const SubmittedView& s);
Result<SubmittedView> ParseSubmitted(const boost::json::value& v);

// ---- workers ----

enum class WorkerKind : uint8_t { kNative, kHttp };
enum class WorkerState : uint8_t { kLive, kDraining, kGone };
std::string_view WorkerKindName(WorkerKind k);
std::string_view WorkerStateName(WorkerState s);

struct WorkerView {
  std::string id;
  WorkerKind kind = WorkerKind::kNative;
  std::vector<std::string> ops;
  int slots = 1;
  uint64_t running = 0;
  uint64_t done = 0;
  double busy_seconds = 0;
  WorkerState state = WorkerState::kLive;
  // What it advertised for tasks with resource requests, and how much of that is in use
  // (objects of the task field's shape; empty when none).
  boost::json::value resources = boost::json::object();
  boost::json::value resources_used = boost::json::object();
  // Started by the planner on demand (`volo planner --provision`); absent in JSON: false.
  bool provisioned = false;
};
boost::json::value ToValue(const WorkerView& w);
Result<WorkerView> ParseWorker(const boost::json::value& v);

// GET /api/v1/workers
struct WorkerListView {
  std::vector<WorkerView> workers;
};
boost::json::value ToValue(const WorkerListView& l);
Result<WorkerListView> ParseWorkerList(const boost::json::value& v);

// ---- the planner ----

struct WaitingView {
  std::string op;
  uint64_t queued = 0;
  std::string reason;
};

// GET /api/v1/status
struct StatusView {
  uint64_t workers = 0;
  uint64_t queued = 0, running = 0, done = 0, failed = 0, cancelled = 0;
  std::vector<WaitingView> waiting;
};
boost::json::value ToValue(const StatusView& s);
Result<StatusView> ParseStatus(const boost::json::value& v);

// ---- bundles ----

// One bundle the planner holds (GET /api/v1/bundles, PUT /api/v1/bundles/{id}).
struct BundleView {
  std::string id;      // the SHA-256 of the archive, 64 lowercase hex digits
  uint64_t bytes = 0;  // the archive's size
  double created = 0;  // Unix seconds when it was uploaded
  uint64_t tasks = 0;  // tasks the planner knows that name it (kept while any does)
};
boost::json::value ToValue(const BundleView& b);
Result<BundleView> ParseBundle(const boost::json::value& v);

// GET /api/v1/bundles
struct BundleListView {
  std::vector<BundleView> bundles;
  uint64_t bytes = 0;      // all bundles together
  uint64_t max_bytes = 0;  // the store's limit
};
boost::json::value ToValue(const BundleListView& l);
Result<BundleListView> ParseBundleList(const boost::json::value& v);

// Every 4xx/5xx body: {"error": "what to fix"}.
struct ErrorView {
  std::string error;
};
boost::json::value ToValue(const ErrorView& e);
Result<ErrorView> ParseError(const boost::json::value& v);

// ---- workflows (docs/workflows.md) ----

// One node of a run: a task, group, chain, map, or the run's hook.
struct StepView {
  std::string path;              // "FAN/T1", "EACH[3]"
  std::string name;              // the step's name
  std::string kind;              // task, group, chain, map, hook
  std::string state;             // pending, running, succeeded, failed, cancelled
  int depth = 0;                 // 0 for the workflow's own steps
  std::optional<uint64_t> task;  // the task that runs (ran) it
  boost::json::value result;     // when succeeded
  std::optional<std::string> error;
  std::optional<double> started, finished;
  // A map: how many elements, and how many have ended each way.
  uint64_t elements = 0, succeeded = 0, failed = 0;
};

struct RunView {
  uint64_t id = 0;
  std::string workflow;
  std::string state;    // queued, running, succeeded, failed, cancelled
  std::string trigger;  // api, schedule, relaunch of N
  boost::json::value payload;
  std::optional<double> created, started, finished;
  std::optional<std::string> failed_step, error;
  std::vector<StepView> steps;  // empty in lists
};
boost::json::value ToValue(const RunView& r);
Result<RunView> ParseRun(const boost::json::value& v);

// GET /api/v1/runs
struct RunListView {
  std::vector<RunView> runs;
};
boost::json::value ToValue(const RunListView& l);
Result<RunListView> ParseRunList(const boost::json::value& v);

struct WorkflowView {
  std::string name;
  boost::json::value tasks;             // the steps as written: names, and {NAME: {type, ...}}
  std::optional<std::string> schedule;  // "every 60 s", "cron 0 * * * *"
  std::optional<double> next_run;       // Unix seconds
  int concurrency = 0;
  std::string queue;  // "": any worker
  // Director's per-task routing: a step of one of these tasks goes to its queue instead.
  std::vector<std::pair<std::string, std::string>> task_queues;
  std::optional<std::string> on_success, on_failure;
  bool schema = false;  // the payload is checked against a schema
};
boost::json::value ToValue(const WorkflowView& w);
Result<WorkflowView> ParseWorkflow(const boost::json::value& v);

// GET /api/v1/workflows
struct WorkflowListView {
  std::vector<WorkflowView> workflows;
};
boost::json::value ToValue(const WorkflowListView& l);
Result<WorkflowListView> ParseWorkflowList(const boost::json::value& v);

// ---- text ----

// Compact JSON text (doubles in their shortest form, always valid UTF-8).
std::string Serialize(const boost::json::value& v);
template <typename View>
std::string Encode(const View& view) {
  return Serialize(ToValue(view));
}
// JSON text to a tree; InvalidArgument("malformed JSON: ...") when it is not JSON.
Result<boost::json::value> ParseText(std::string_view text);

}  // namespace volo::api
