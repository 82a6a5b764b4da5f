// The planner's state and scheduler: tasks, workers, queues, retries, timeouts, waiters.
//
// Core does no I/O. It talks to workers through WorkerLink and to submitting clients through
// ClientSink, both implemented by the server (net) and by fakes in tests. Time comes from a
// Clock. Every method must be called from one thread (the planner's event loop); Core holds no
// locks, like Redis.
//
// Each public event method (Submit, OnResults, ...) leaves the state consistent and runs the
// scheduler before returning, so callers never have to remember to.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "journal/journal.h"
#include "wire/messages.h"

namespace volo::planner {

// kPruned: a finished task whose record was dropped after --keep-results; Find() no longer
// returns it.
enum class TaskState : uint8_t { kQueued, kRunning, kDone, kFailed, kCancelled, kPruned };
std::string_view TaskStateName(TaskState s);
std::optional<TaskState> ParseTaskState(std::string_view s);
inline bool Finished(TaskState s) { return s >= TaskState::kDone; }

inline constexpr WorkerIndex kNoWorker{UINT32_MAX};

// A task's resource request as Core counts it: the request as submitted, with its named
// resources as indices into Core's resource names.
struct Request {
  wire::Resources spec;
  std::vector<std::pair<uint32_t, int64_t>> named;  // (resource index, amount)
};

// Amounts of every kind a worker has or has in use; `named` is indexed by resource index and
// may be shorter than the number of names (missing means 0).
struct ResourceAmounts {
  int64_t millicpus = 0;
  int64_t memory_mib = 0;
  std::vector<int64_t> named;
  int64_t Named(uint32_t i) const { return i < named.size() ? named[i] : 0; }
};

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Task {
  TaskId id;
  uint32_t op = 0;  // index into Core::op_name()
  TaskState state = TaskState::kQueued;
  int16_t retries = 0;
  int16_t attempts = 0;  // attempts started (a lost worker's attempt is not counted)
  // Attempts that crashed (their process died) or lost their worker; at
  // CoreOptions::max_crashes the task fails with `history` instead of running again.
  uint16_t incidents = 0;
  int32_t priority = 0;
  float timeout = 0;               // seconds, 0 = none
  WorkerIndex worker = kNoWorker;  // the worker running it, or that ran it last
  ClientId client;                 // the streaming client that submitted it, 0 = none
  std::string args;                // JSON object text
  std::string result;              // done: JSON text; failed/cancelled: the error text
  double submitted = 0, started = 0, finished = 0;  // Unix seconds, 0 = not yet
  // Shared by the tasks of one submission (or consecutive ones) that carry the same labels,
  // as a workflow's map elements do: a label set costs once, not per task.
  std::shared_ptr<const Labels> labels;
  // What the incidents were ("killed by SIGFPE on w1; worker w2 lost"); null without any.
  std::unique_ptr<std::string> history;
  // What it needs of a worker besides a slot; null for most tasks (the fast path).
  std::unique_ptr<Request> request;
};

// How Core reaches one worker. Calls are buffered by the implementation and sent when the
// current event-loop turn ends.
class WorkerLink {
 public:
  virtual ~WorkerLink() = default;
  virtual void Assign(const Task& task, std::string_view op) = 0;
  virtual void Cancel(TaskId id) = 0;
  // Core has dropped the worker (dead, refused, protocol error); the link should close.
  virtual void Drop(std::string_view reason) = 0;
};

// How Core tells a streaming client that one of its tasks finished.
class ClientSink {
 public:
  virtual ~ClientSink() = default;
  virtual void OnFinished(const Task& task, std::string_view worker) = 0;
  // Live output of a running task (wire::TaskOutput); always before the task's OnFinished.
  virtual void OnOutput(const Task& task, uint64_t offset, std::string_view text) {}
};

// Where Core records what must survive a restart (the journal). Called on Core's thread.
class JournalSink {
 public:
  virtual ~JournalSink() = default;
  // `key`/`key_count` are set on the first task of a submission that had an idempotency key.
  virtual void OnSubmitted(const Task& task, std::string_view op, std::string_view key,
                           size_t key_count) = 0;
  virtual void OnFinished(const Task& task, std::string_view worker) = 0;
};

// The journal's records of a task: as submitted, and in its final state. Restore() reads the
// first back; both the server's journal and the tests build records only through these.
journal::TaskRecord SubmittedRecord(const Task& t, std::string_view op, std::string_view key,
                                    size_t key_count);
journal::FinishRecord FinishedRecord(const Task& t, std::string_view worker);

enum class WorkerKind : uint8_t { kNative, kHttp };

struct WorkerInfo {
  WorkerId id;
  WorkerKind kind = WorkerKind::kNative;
  std::vector<uint32_t> ops;  // op indices
  int slots = 1;
  bool alive = true;
  bool draining = false;
  WorkerLink* link = nullptr;  // not owned; null once dead
  std::vector<TaskId> inflight;
  uint64_t done = 0;
  double busy_seconds = 0;
  TimePoint last_seen;
  // HTTP workers: an operation the worker answered 403 (busy) for rests until `until`; each
  // busy answer in a row doubles the rest (with jitter), a result resets it.
  struct Busy {
    uint32_t op = 0;
    TimePoint until;
    int streak = 0;
  };
  std::vector<Busy> busy;
  // What the worker advertised, and how much of it the tasks it holds have asked for. Tasks
  // with a request go only where it fits in what is left.
  wire::Resources advertised;
  ResourceAmounts capacity, used;
};

struct CoreOptions {
  Nanos heartbeat_timeout = std::chrono::seconds(5);
  // Tasks a worker may hold beyond its slots, for operations that finish quicker than
  // `short_task` (so a fast worker never waits a round trip for its next task): about
  // short_task/2 of work per slot, at least one task per slot, at most max_prefetch in all.
  int max_prefetch = 256;
  Nanos short_task = std::chrono::milliseconds(2);
  // An HTTP worker that answers 403 gets no task of that operation for busy_backoff, doubled
  // for each further 403 in a row up to max_busy_backoff, each rest scaled by a random 0.5-1.5.
  Nanos busy_backoff = std::chrono::milliseconds(20);
  Nanos max_busy_backoff = std::chrono::seconds(1);
  size_t max_queued = 10'000'000;
  // A task whose attempts crashed or lost their worker this many times fails (a poison task
  // must not take down one worker after another). 0: no limit.
  int max_crashes = 2;
};

struct Counts {
  size_t queued = 0, running = 0, done = 0, failed = 0, cancelled = 0;
};

struct WaitingReason {
  std::string op;
  size_t queued = 0;
  std::string reason;
};

class Core {
 public:
  Core(const Clock& clock, CoreOptions options = {});
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  // ---- clients ----
  // Validates and queues tasks; all or none. Returns the first id (ids are consecutive).
  // InvalidArgument names the task and field; FailedPrecondition when the queue is full.
  // With an idempotency `key` seen before, nothing is queued and the earlier first id is
  // returned (AlreadyExists if that submission had a different number of tasks).
  Result<TaskId> Submit(std::vector<wire::TaskSpec> specs, ClientId client = ClientId(),
                        std::string_view key = "");
  void SetJournal(JournalSink* journal) { journal_ = journal; }
  // Rebuilds state from the journal, records in id order, before any other call. Tasks that
  // were queued or running are queued again (a running attempt is not counted).
  void Restore(journal::TaskRecord&& r);
  // Drops finished tasks that ended before `finished_before` (Unix seconds); returns how many.
  size_t Prune(double finished_before);
  // Cancels a queued or running task. FailedPrecondition if it already finished.
  Status Cancel(TaskId id);
  const Task* Find(TaskId id) const;
  // Tasks with id > after, in id order, optionally filtered by state and op.
  std::vector<const Task*> List(std::optional<TaskState> state, std::string_view op, uint64_t after,
                                size_t limit) const;
  // Runs `fn` once when the task finishes (at once if it has). Returns false for unknown ids.
  bool WhenFinished(TaskId id, std::function<void(const Task&)> fn);
  void AddClient(ClientId client, ClientSink* sink);
  void RemoveClient(ClientId client);
  // Called for every finished task (demo progress, `volo up`).
  void SetFinishedHook(std::function<void(const Task&)> hook) { finished_hook_ = std::move(hook); }
  // A second observer of every finished task, for the dashboard's feed (dashboard.h), so it
  // and `volo up`'s hook do not displace each other. Null: none.
  void SetFinishedTap(std::function<void(const Task&)> tap) { finished_tap_ = std::move(tap); }
  bool has_finished_tap() const { return static_cast<bool>(finished_tap_); }

  // ---- workers ----
  // AlreadyExists when a live worker has that id.
  // `resources`: what the worker has for tasks that request resources (none: it runs only
  // tasks without a request).
  Result<WorkerIndex> AddWorker(const WorkerId& id, WorkerKind kind,
                                const std::vector<std::string>& ops, int slots, WorkerLink* link,
                                const wire::Resources& resources = {});
  // The worker is gone: its unreported tasks go back to the queue. The link is not used again.
  void RemoveWorker(WorkerIndex worker, std::string_view reason);
  void OnHeartbeat(WorkerIndex worker);
  void OnResults(WorkerIndex worker, std::span<const wire::TaskResult> results);
  // Live output: passed to the task's streaming client when the task is running on `worker`
  // (output of an attempt the planner has given up, or of a finished task, is dropped).
  void OnOutput(WorkerIndex worker, std::span<const wire::TaskOutput> output);
  // The worker would not run these now (full, draining, HTTP 403): requeue, no failure.
  void OnRefused(WorkerIndex worker, std::span<const uint64_t> ids, bool busy_backoff);
  // The worker does not run the task's operation at all (HTTP 404): forget the operation for
  // that worker and requeue. Returns the operation's name when this is news (it was still on
  // the worker's list), else empty.
  std::string OnUnsupported(WorkerIndex worker, TaskId id);
  void OnLeaving(WorkerIndex worker);
  std::optional<WorkerIndex> FindWorker(const WorkerId& id) const;
  const std::vector<WorkerInfo>& workers() const { return workers_; }
  const WorkerInfo& worker(WorkerIndex w) const { return workers_[w.value()]; }

  // ---- time ----
  // Heartbeat and task timeouts, retry backoff. Call periodically (the server: every 50 ms).
  void Tick();
  // Wall time in Unix seconds from Core's clock: the timestamps of tasks come from here.
  double WallNow() const { return clock_.Wall(); }

  // ---- introspection ----
  Counts counts() const { return counts_; }
  size_t live_workers() const;
  std::vector<WaitingReason> Waiting() const;
  // Why a queued task with a resource request is not running ("needs 64 GiB memory; the
  // largest worker that runs 'exec' has 16 GiB memory"); empty when nothing stands in its way
  // but its turn.
  std::string WhyWaiting(const Task& t) const;
  // The index Core counts a named resource under, if any task or worker has named it.
  std::optional<uint32_t> ResourceIndex(std::string_view name) const {
    auto it = resource_index_.find(std::string(name));
    if (it == resource_index_.end()) return std::nullopt;
    return it->second;
  }
  std::string_view op_name(uint32_t op) const { return op_names_[op]; }
  uint32_t op_count() const { return static_cast<uint32_t>(op_names_.size()); }
  // Mean learned duration of `op` in seconds, or nullopt before it has run.
  std::optional<double> ExpectedSeconds(std::string_view op) const;
  size_t task_count() const { return tasks_.size(); }
  uint64_t next_id() const { return first_id_ + tasks_.size(); }
  uint64_t first_id() const { return first_id_; }  // the oldest id Core may still hold
  // Time from submission to first dispatch, as a histogram: counts per upper bound in seconds
  // (the last bucket open-ended). Bounds about 2.5x apart, so a quantile estimated inside a
  // bucket is off by less than that (the dashboard's latency chart, /metrics).
  static constexpr std::array<double, 19> kLatencyBounds = {
      50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3,
      0.1,   0.25,   0.5,    1,      2.5,  5,      10,   30,    60};
  using LatencyHistogram = std::array<uint64_t, kLatencyBounds.size() + 1>;
  const LatencyHistogram& dispatch_latency() const { return latency_buckets_; }
  double dispatch_latency_sum() const { return latency_sum_; }
  // The longest time from submission to first dispatch since the previous call (0 when no
  // task was dispatched): the dashboard's sampler caps its quantiles with it.
  double TakeDispatchLatencyMax() { return std::exchange(latency_max_, 0.0); }
  // Queued tasks per operation name.
  std::vector<std::pair<std::string, size_t>> QueuedByOp() const;

 private:
  struct OpStats {
    double mean_seconds = 0;
    uint64_t samples = 0;
    bool known_short = false;  // built-ins that never block (noop, echo)
    // Relative length before anything has run: the seed's mean durations for add (5 s) and
    // mult (7.5 s), so the first dispatch already orders mult before add. Any learned sample
    // replaces it.
    double prior = 0;
  };
  using Queue = std::map<int32_t, std::deque<TaskId>, std::greater<>>;  // priority -> FIFO
  // How far down a queue a worker looks for a task whose request fits when the head's does
  // not (backfilling, bounded so that a queue of large requests costs little per dispatch).
  static constexpr size_t kBackfillDepth = 64;

  Task* Lookup(TaskId id);
  uint32_t InternOp(std::string_view op);
  void Enqueue(Task& t, bool front);
  void Schedule();
  bool DispatchOne(uint32_t w);
  int Window(const WorkerInfo& w, uint32_t op) const;
  void Finish(Task& t, TaskState state, std::string result);
  void FailAttempt(Task& t, std::string error);
  // An attempt crashed or lost its worker (`what` says how and where): the task runs again
  // elsewhere, not counted against its retries, or fails with its history at max_crashes.
  // The caller has taken it off its worker.
  void OnIncident(Task& t, std::string what, bool lost_worker);
  void Unassign(WorkerInfo& w, TaskId id);
  void LearnDuration(uint32_t op, double seconds);
  // The counter of tasks in final state `s`.
  size_t& FinishedCount(TaskState s);
  // A running task goes back to the front of its queue; the attempt does not count.
  void Requeue(WorkerInfo& w, Task& t);
  void SortWorkerOrder();
  // HTTP workers run one task per operation at a time, and none of an operation that is
  // resting after a busy answer.
  bool HttpWorkerCanTake(const WorkerInfo& w, uint32_t op) const;
  // Resource accounting: a request fits a worker when every amount fits in what is free.
  uint32_t InternResource(std::string_view name);
  static bool Fits(const ResourceAmounts& have, const ResourceAmounts* used, const Request& r);
  void Take(WorkerInfo& w, const Request& r);
  void Release(WorkerInfo& w, const Request& r);
  // The position in `fifo` (at most kBackfillDepth deep) of the first queued task that fits
  // worker `w` now, or fifo.size() when none does.
  size_t FindFitting(const WorkerInfo& w, const std::deque<TaskId>& fifo);
  // Why `r` cannot start on the live workers that run `op`: empty if it could start now;
  // with `ever` only whether it could ever fit their whole capacity.
  std::string NoFitReason(const Request& r, uint32_t op, bool ever) const;

  const Clock& clock_;
  CoreOptions options_;
  std::deque<Task> tasks_;  // tasks_[i] has id first_id_ + i
  uint64_t first_id_ = 1;
  JournalSink* journal_ = nullptr;
  // Idempotency keys: key -> (first id, task count) of the submission that used it.
  std::unordered_map<std::string, std::pair<uint64_t, size_t>> keys_;
  LatencyHistogram latency_buckets_{};
  double latency_max_ = 0;  // since the last TakeDispatchLatencyMax
  double latency_sum_ = 0;
  std::vector<std::string> op_names_;
  std::unordered_map<std::string, uint32_t> op_index_;
  std::vector<std::string> resource_names_;
  std::unordered_map<std::string, uint32_t> resource_index_;
  std::vector<bool> op_offered_;  // some worker has ever offered it (or it is built in)
  std::vector<OpStats> op_stats_;
  // The label set given to the last task that had labels, for the next to share.
  std::shared_ptr<const Labels> last_labels_;
  std::shared_ptr<const Labels> InternLabels(Labels&& labels);
  std::vector<Queue> queues_;  // per op
  std::vector<WorkerInfo> workers_;
  std::vector<uint32_t> worker_order_;        // live workers, most specialised first
  std::multimap<TimePoint, TaskId> delayed_;  // retries waiting for their backoff
  std::multimap<TimePoint, std::pair<TaskId, int16_t>> deadlines_;  // (task, attempt)
  std::unordered_map<uint64_t, std::vector<std::function<void(const Task&)>>> waiters_;
  std::unordered_map<ClientId, ClientSink*> clients_;
  std::function<void(const Task&)> finished_hook_;
  std::function<void(const Task&)> finished_tap_;
  Counts counts_;
  size_t queued_now_ = 0;            // tasks in queues_ (not the delayed ones)
  std::minstd_rand jitter_{0x5eed};  // busy backoff jitter; seeded so tests are reproducible
};

}  // namespace volo::planner
