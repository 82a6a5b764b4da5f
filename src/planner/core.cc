#include "planner/core.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"

namespace volo::planner {

std::string_view TaskStateName(TaskState s) {
  switch (s) {
    case TaskState::kQueued:
      return "queued";
    case TaskState::kRunning:
      return "running";
    case TaskState::kDone:
      return "done";
    case TaskState::kFailed:
      return "failed";
    case TaskState::kCancelled:
      return "cancelled";
    case TaskState::kPruned:
      return "pruned";
  }
  return "unknown";
}

std::optional<TaskState> ParseTaskState(std::string_view s) {
  for (auto st : {TaskState::kQueued, TaskState::kRunning, TaskState::kDone, TaskState::kFailed,
                  TaskState::kCancelled}) {
    if (TaskStateName(st) == s) return st;
  }
  return std::nullopt;
}

journal::TaskRecord SubmittedRecord(const Task& t, std::string_view op, std::string_view key,
                                    size_t key_count) {
  journal::TaskRecord r;
  r.id = t.id.value();
  r.op = std::string(op);
  r.args = t.args;
  r.retries = t.retries;
  r.timeout = t.timeout;
  r.priority = t.priority;
  r.labels = "{";
  if (t.labels) {
    for (size_t i = 0; i < t.labels->size(); ++i) {
      if (i) r.labels += ',';
      wire::AppendJsonString(r.labels, (*t.labels)[i].first);
      r.labels += ':';
      wire::AppendJsonString(r.labels, (*t.labels)[i].second);
    }
  }
  r.labels += '}';
  if (t.request) wire::AppendResources(r.resources, t.request->spec);
  r.submitted = t.submitted;
  r.key = std::string(key);
  r.key_count = static_cast<int>(key_count);
  return r;
}

namespace {

journal::StoredState Stored(TaskState s) {
  switch (s) {
    case TaskState::kQueued:
      return journal::StoredState::kQueued;
    case TaskState::kRunning:
      return journal::StoredState::kRunning;
    case TaskState::kDone:
      return journal::StoredState::kDone;
    case TaskState::kFailed:
      return journal::StoredState::kFailed;
    case TaskState::kCancelled:
    case TaskState::kPruned:
      break;
  }
  return journal::StoredState::kCancelled;
}

TaskState FromStored(journal::StoredState s) {
  switch (s) {
    case journal::StoredState::kDone:
      return TaskState::kDone;
    case journal::StoredState::kFailed:
      return TaskState::kFailed;
    case journal::StoredState::kCancelled:
      return TaskState::kCancelled;
    case journal::StoredState::kRunning:
      return TaskState::kRunning;
    case journal::StoredState::kQueued:
      break;
  }
  return TaskState::kQueued;
}

}  // namespace

journal::FinishRecord FinishedRecord(const Task& t, std::string_view worker) {
  return {t.id.value(), Stored(t.state), t.result,  std::string(worker),
          t.attempts,   t.started,       t.finished};
}

size_t& Core::FinishedCount(TaskState s) {
  switch (s) {
    case TaskState::kDone:
      return counts_.done;
    case TaskState::kFailed:
      return counts_.failed;
    case TaskState::kCancelled:
      return counts_.cancelled;
    default:
      VOLO_CHECK(false, "not a final state");
  }
  return counts_.done;  // unreachable
}

Core::Core(const Clock& clock, CoreOptions options) : clock_(clock), options_(options) {
  for (const char* op : {"add", "mult", "sleep", "echo", "noop"}) {
    uint32_t i = InternOp(op);
    op_offered_[i] = true;
  }
  op_stats_[op_index_["echo"]].known_short = true;
  op_stats_[op_index_["noop"]].known_short = true;
  op_stats_[op_index_["add"]].prior = 5.0;
  op_stats_[op_index_["mult"]].prior = 7.5;
}

Core::~Core() = default;

uint32_t Core::InternOp(std::string_view op) {
  auto it = op_index_.find(std::string(op));
  if (it != op_index_.end()) return it->second;
  uint32_t i = static_cast<uint32_t>(op_names_.size());
  op_names_.emplace_back(op);
  op_index_.emplace(std::string(op), i);
  op_offered_.push_back(false);
  op_stats_.emplace_back();
  queues_.emplace_back();
  return i;
}

Task* Core::Lookup(TaskId id) {
  uint64_t v = id.value();
  if (v < first_id_ || v - first_id_ >= tasks_.size()) return nullptr;
  Task* t = &tasks_[v - first_id_];
  return t->state == TaskState::kPruned ? nullptr : t;
}

const Task* Core::Find(TaskId id) const { return const_cast<Core*>(this)->Lookup(id); }

Result<TaskId> Core::Submit(std::vector<wire::TaskSpec> specs, ClientId client,
                            std::string_view key) {
  if (specs.empty()) return InvalidArgument("no tasks to submit");
  if (!key.empty()) {
    auto it = keys_.find(std::string(key));
    if (it != keys_.end()) {
      if (it->second.second != specs.size()) {
        return AlreadyExists("idempotency key '" + std::string(key) + "' was used for " +
                             std::to_string(it->second.second) + " task(s), not " +
                             std::to_string(specs.size()));
      }
      return TaskId(it->second.first);
    }
  }
  if (counts_.queued + specs.size() > options_.max_queued) {
    return FailedPrecondition("the queue is full (" + std::to_string(options_.max_queued) +
                              " tasks); try again when some have run");
  }
  // Validate everything before changing anything: a batch is accepted whole or not at all.
  for (size_t i = 0; i < specs.size(); ++i) {
    auto it = op_index_.find(specs[i].op);
    if (it == op_index_.end() || !op_offered_[it->second]) {
      std::string where = specs.size() > 1 ? "tasks[" + std::to_string(i) + "].op: " : "op: ";
      return InvalidArgument(where + "unknown operation '" + specs[i].op +
                             "': no worker offers it (built in: add, mult, sleep, echo, noop)");
    }
  }
  // A request that no live worker fits is accepted: workers come and go (docs/architecture.md,
  // "Placement"), and `volo status` says what the task waits for.
  double now = clock_.Wall();
  TaskId first(next_id());
  size_t count = specs.size();
  if (!key.empty()) keys_.emplace(std::string(key), std::make_pair(first.value(), count));
  for (auto& spec : specs) {
    Task& t = tasks_.emplace_back();
    t.id = TaskId(first_id_ + tasks_.size() - 1);
    t.op = op_index_.find(spec.op)->second;
    t.retries = static_cast<int16_t>(spec.retries);
    t.priority = spec.priority;
    t.timeout = static_cast<float>(spec.timeout);
    t.client = client;
    t.args = std::move(spec.args);
    t.submitted = now;
    if (!spec.labels.empty()) t.labels = InternLabels(std::move(spec.labels));
    if (!spec.resources.empty()) {
      t.request = std::make_unique<Request>();
      for (const auto& [name, n] : spec.resources.named) {
        t.request->named.emplace_back(InternResource(name), n);
      }
      t.request->spec = std::move(spec.resources);
    }
    ++counts_.queued;
    if (journal_) {
      bool first_of_batch = t.id == first;
      journal_->OnSubmitted(t, op_names_[t.op], first_of_batch ? key : "",
                            first_of_batch && !key.empty() ? count : 0);
    }
    Enqueue(t, false);
  }
  Schedule();
  return first;
}

void Core::Restore(journal::TaskRecord&& r) {
  if (tasks_.empty()) first_id_ = r.id;
  if (r.id < next_id()) return;  // duplicate or out of order: keep the first
  while (next_id() < r.id) tasks_.emplace_back().state = TaskState::kPruned;  // pruned gap
  Task& t = tasks_.emplace_back();
  t.id = TaskId(r.id);
  t.op = InternOp(r.op);
  op_offered_[t.op] = true;  // it was accepted once; keep accepting the same operation
  t.retries = static_cast<int16_t>(r.retries);
  t.priority = r.priority;
  t.timeout = static_cast<float>(r.timeout);
  t.args = std::move(r.args);
  t.submitted = r.submitted;
  if (!r.labels.empty() && r.labels != "{}") {
    auto labels = wire::ParseSubmitBody("{\"op\":\"x\",\"labels\":" + r.labels + "}", nullptr);
    if (labels.ok() && !labels->empty() && !(*labels)[0].labels.empty()) {
      t.labels = InternLabels(std::move((*labels)[0].labels));
    }
  }
  if (!r.resources.empty() && r.resources != "{}") {
    auto parsed =
        wire::ParseSubmitBody("{\"op\":\"x\",\"resources\":" + r.resources + "}", nullptr);
    if (parsed.ok() && !parsed->empty() && !(*parsed)[0].resources.empty()) {
      t.request = std::make_unique<Request>();
      for (const auto& [name, n] : (*parsed)[0].resources.named) {
        t.request->named.emplace_back(InternResource(name), n);
      }
      t.request->spec = std::move((*parsed)[0].resources);
    }
  }
  if (!r.key.empty()) keys_.emplace(std::move(r.key), std::make_pair(r.id, size_t(r.key_count)));
  t.attempts = static_cast<int16_t>(r.attempts);
  if (journal::IsFinal(r.state)) {
    t.state = FromStored(r.state);
    t.result = std::move(r.result);
    t.started = r.started;
    t.finished = r.finished;
    // The worker that ran it may not exist in this run; keep its name for the API.
    if (!r.worker.empty()) {
      WorkerId wid(r.worker);
      WorkerIndex w = kNoWorker;
      for (uint32_t i = 0; i < workers_.size(); ++i) {
        if (workers_[i].id == wid) w = WorkerIndex(i);
      }
      if (w == kNoWorker) {
        WorkerInfo info;
        info.id = wid;
        info.alive = false;
        workers_.push_back(std::move(info));
        w = WorkerIndex(static_cast<uint32_t>(workers_.size() - 1));
      }
      t.worker = w;
    }
    ++FinishedCount(t.state);
    return;
  }
  ++counts_.queued;
  Enqueue(t, false);
}

size_t Core::Prune(double finished_before) {
  size_t n = 0;
  for (Task& t : tasks_) {
    if (!Finished(t.state) || t.state == TaskState::kPruned || t.finished == 0 ||
        t.finished >= finished_before) {
      continue;
    }
    --FinishedCount(t.state);
    t.state = TaskState::kPruned;
    std::string().swap(t.args);
    std::string().swap(t.result);
    t.labels.reset();
    t.request.reset();
    ++n;
  }
  // Release the front of the deque; interior pruned tasks keep a small placeholder.
  while (!tasks_.empty() && tasks_.front().state == TaskState::kPruned) {
    tasks_.pop_front();
    ++first_id_;
  }
  for (auto it = keys_.begin(); it != keys_.end();) {
    if (!Find(TaskId(it->second.first))) {
      it = keys_.erase(it);
    } else {
      ++it;
    }
  }
  return n;
}

std::vector<std::pair<std::string, size_t>> Core::QueuedByOp() const {
  std::vector<std::pair<std::string, size_t>> out;
  for (uint32_t op = 0; op < queues_.size(); ++op) {
    size_t n = 0;
    for (const auto& [prio, fifo] : queues_[op]) n += fifo.size();
    out.emplace_back(op_names_[op], n);
  }
  return out;
}

void Core::Enqueue(Task& t, bool front) {
  t.state = TaskState::kQueued;
  auto& q = queues_[t.op][t.priority];
  if (front) {
    q.push_front(t.id);
  } else {
    q.push_back(t.id);
  }
  ++queued_now_;
}

Status Core::Cancel(TaskId id) {
  Task* t = Lookup(id);
  if (!t) return NotFound("no task " + std::to_string(id.value()));
  if (Finished(t->state)) {
    return FailedPrecondition("task " + std::to_string(id.value()) + " already " +
                              std::string(TaskStateName(t->state)));
  }
  if (t->state == TaskState::kRunning && t->worker != kNoWorker) {
    WorkerInfo& w = workers_[t->worker.value()];
    Unassign(w, id);
    if (w.link) w.link->Cancel(id);
  }
  // A queued task stays in its queue; the scheduler skips finished tasks lazily. Any pending
  // retry entry in delayed_ is skipped the same way.
  Finish(*t, TaskState::kCancelled, "cancelled");
  Schedule();
  return Status::Ok();
}

std::vector<const Task*> Core::List(std::optional<TaskState> state, std::string_view op,
                                    uint64_t after, size_t limit) const {
  std::vector<const Task*> out;
  std::optional<uint32_t> op_filter;
  if (!op.empty()) {
    auto it = op_index_.find(std::string(op));
    if (it == op_index_.end()) return out;
    op_filter = it->second;
  }
  uint64_t start = after >= first_id_ ? after - first_id_ + 1 : 0;
  for (uint64_t i = start; i < tasks_.size() && out.size() < limit; ++i) {
    const Task& t = tasks_[i];
    if (t.state == TaskState::kPruned) continue;
    if (state && t.state != *state) continue;
    if (op_filter && t.op != *op_filter) continue;
    out.push_back(&t);
  }
  return out;
}

bool Core::WhenFinished(TaskId id, std::function<void(const Task&)> fn) {
  Task* t = Lookup(id);
  if (!t) return false;
  if (Finished(t->state)) {
    fn(*t);
  } else {
    waiters_[id.value()].push_back(std::move(fn));
  }
  return true;
}

void Core::AddClient(ClientId client, ClientSink* sink) { clients_[client] = sink; }
void Core::RemoveClient(ClientId client) { clients_.erase(client); }

Result<WorkerIndex> Core::AddWorker(const WorkerId& id, WorkerKind kind,
                                    const std::vector<std::string>& ops, int slots,
                                    WorkerLink* link, const wire::Resources& resources) {
  if (FindWorker(id)) {
    return AlreadyExists("a live worker is already registered as '" + id.value() + "'");
  }
  if (ops.empty()) return InvalidArgument("a worker must offer at least one operation");
  if (slots < 1) return InvalidArgument("slots must be at least 1");
  WorkerInfo w;
  w.id = id;
  w.kind = kind;
  w.slots = slots;
  w.link = link;
  w.last_seen = clock_.Now();
  w.advertised = resources;
  w.capacity.millicpus = resources.millicpus;
  w.capacity.memory_mib = resources.memory_mib;
  for (const auto& [name, n] : resources.named) {
    uint32_t r = InternResource(name);
    if (w.capacity.named.size() <= r) w.capacity.named.resize(r + 1, 0);
    w.capacity.named[r] = n;
  }
  for (const auto& op : ops) {
    uint32_t i = InternOp(op);
    op_offered_[i] = true;
    if (std::find(w.ops.begin(), w.ops.end(), i) == w.ops.end()) w.ops.push_back(i);
  }
  // Reuse the slot of a dead worker with the same id so its history stays in one row.
  uint32_t index = static_cast<uint32_t>(workers_.size());
  for (uint32_t i = 0; i < workers_.size(); ++i) {
    if (!workers_[i].alive && workers_[i].id == id) {
      w.done = workers_[i].done;
      w.busy_seconds = workers_[i].busy_seconds;
      index = i;
      break;
    }
  }
  if (index == workers_.size()) {
    workers_.push_back(std::move(w));
  } else {
    workers_[index] = std::move(w);
  }
  SortWorkerOrder();
  Schedule();
  return WorkerIndex(index);
}

std::optional<WorkerIndex> Core::FindWorker(const WorkerId& id) const {
  for (uint32_t i = 0; i < workers_.size(); ++i) {
    if (workers_[i].alive && workers_[i].id == id) return WorkerIndex(i);
  }
  return std::nullopt;
}

size_t Core::live_workers() const {
  return static_cast<size_t>(
      std::count_if(workers_.begin(), workers_.end(), [](const WorkerInfo& w) { return w.alive; }));
}

void Core::SortWorkerOrder() {
  worker_order_.clear();
  for (uint32_t i = 0; i < workers_.size(); ++i) {
    if (workers_[i].alive) worker_order_.push_back(i);
  }
  // Specialised workers choose first, so general workers take what only they can take.
  std::stable_sort(worker_order_.begin(), worker_order_.end(), [&](uint32_t a, uint32_t b) {
    return workers_[a].ops.size() < workers_[b].ops.size();
  });
}

void Core::RemoveWorker(WorkerIndex worker, std::string_view reason) {
  const uint32_t index = worker.value();
  if (index >= workers_.size() || !workers_[index].alive) return;
  WorkerInfo& w = workers_[index];
  w.alive = false;
  w.link = nullptr;
  // Hand its unreported tasks back, oldest first, to the front of their queues: they were
  // next in line before and should stay so. The lost attempt does not count.
  std::vector<TaskId> held;
  held.swap(w.inflight);
  w.used = {};
  for (auto it = held.rbegin(); it != held.rend(); ++it) {
    Task* t = Lookup(*it);
    if (t && t->state == TaskState::kRunning)
      OnIncident(*t, "worker " + w.id.value() + " lost", true);
  }
  (void)reason;
  SortWorkerOrder();
  Schedule();
}

void Core::Requeue(WorkerInfo& w, Task& t) {
  Unassign(w, t.id);
  --counts_.running;
  ++counts_.queued;
  --t.attempts;
  t.started = 0;
  Enqueue(t, true);
}

void Core::OnHeartbeat(WorkerIndex worker) {
  if (worker.value() < workers_.size()) workers_[worker.value()].last_seen = clock_.Now();
}

void Core::Unassign(WorkerInfo& w, TaskId id) {
  auto it = std::find(w.inflight.begin(), w.inflight.end(), id);
  if (it != w.inflight.end()) {
    *it = w.inflight.back();
    w.inflight.pop_back();
    if (const Task* t = Find(id); t && t->request) Release(w, *t->request);
  }
}

std::shared_ptr<const Labels> Core::InternLabels(Labels&& labels) {
  if (!last_labels_ || *last_labels_ != labels) {
    last_labels_ = std::make_shared<const Labels>(std::move(labels));
  }
  return last_labels_;
}

void Core::LearnDuration(uint32_t op, double seconds) {
  OpStats& s = op_stats_[op];
  if (!(seconds >= 0)) return;
  ++s.samples;
  // A moving mean that settles quickly and still follows drift.
  double alpha = s.samples < 20 ? 1.0 / static_cast<double>(s.samples) : 0.05;
  s.mean_seconds += alpha * (seconds - s.mean_seconds);
}

std::optional<double> Core::ExpectedSeconds(std::string_view op) const {
  auto it = op_index_.find(std::string(op));
  if (it == op_index_.end() || op_stats_[it->second].samples == 0) return std::nullopt;
  return op_stats_[it->second].mean_seconds;
}

void Core::OnResults(WorkerIndex worker, std::span<const wire::TaskResult> results) {
  if (worker.value() >= workers_.size()) return;
  WorkerInfo& w = workers_[worker.value()];
  w.last_seen = clock_.Now();
  for (const auto& r : results) {
    Task* t = Lookup(TaskId(r.id));
    // Only the worker that holds a running task may finish it: a late result from a worker
    // that lost the task (timed out, declared dead, cancelled) is dropped, so every task's
    // result is recorded once.
    if (!t || t->state != TaskState::kRunning || t->worker != worker) continue;
    Unassign(w, t->id);
    if (r.started > 0) t->started = r.started;
    double end = r.finished > 0 ? r.finished : clock_.Wall();
    double took = end - t->started;
    if (took >= 0) {
      w.busy_seconds += took;
      LearnDuration(t->op, took);
    }
    t->finished = end;
    if (w.kind == WorkerKind::kHttp) {
      for (WorkerInfo::Busy& b : w.busy) {
        if (b.op == t->op) b.streak = 0;
      }
    }
    if (r.ok) {
      ++w.done;
      Finish(*t, TaskState::kDone, r.value);
    } else if (r.crashed) {
      OnIncident(*t, r.value + " on " + w.id.value(), false);
    } else {
      FailAttempt(*t, r.value);
    }
  }
  Schedule();
}

void Core::OnIncident(Task& t, std::string what, bool lost_worker) {
  if (!t.history) {
    t.history = std::make_unique<std::string>(std::move(what));
  } else {
    *t.history += "; " + what;
  }
  if (t.incidents < UINT16_MAX) ++t.incidents;
  if (options_.max_crashes > 0 && t.incidents >= options_.max_crashes) {
    t.finished = clock_.Wall();
    Finish(t, TaskState::kFailed,
           "crashed " + std::to_string(t.incidents) + (t.incidents == 1 ? " time: " : " times: ") +
               *t.history);
    return;
  }
  // Like a lost worker's attempt, a crashed one does not count against retries.
  --counts_.running;
  ++counts_.queued;
  --t.attempts;
  t.started = 0;
  if (lost_worker) {
    // It was next in line and did nothing wrong that we know of.
    Enqueue(t, true);
    return;
  }
  // A crash may well happen again: the same backoff as a retry, so a crashing task cannot
  // take worker after worker in a tight loop.
  t.state = TaskState::kQueued;
  t.finished = 0;
  double backoff = std::min(10.0, 0.1 * std::pow(2.0, t.incidents - 1));
  delayed_.emplace(
      clock_.Now() + std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(backoff)),
      t.id);
}

void Core::FailAttempt(Task& t, std::string error) {
  if (t.attempts <= t.retries) {
    // Exponential backoff from 100 ms, capped at 10 s.
    double backoff = std::min(10.0, 0.1 * std::pow(2.0, std::max(0, t.attempts - 1)));
    t.result = std::move(error);
    if (t.state == TaskState::kRunning) --counts_.running;
    t.state = TaskState::kQueued;
    ++counts_.queued;
    delayed_.emplace(
        clock_.Now() + std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(backoff)),
        t.id);
    return;
  }
  Finish(t, TaskState::kFailed, std::move(error));
}

void Core::Finish(Task& t, TaskState state, std::string result) {
  if (t.state == TaskState::kQueued) {
    --counts_.queued;
  } else if (t.state == TaskState::kRunning) {
    --counts_.running;
  }
  t.state = state;
  t.result = std::move(result);
  // An error after earlier crashes says what they were (a poison failure already does).
  if (state == TaskState::kFailed && t.history && t.result.rfind("crashed ", 0) != 0) {
    t.result += " (earlier: " + *t.history + ")";
  }
  t.history.reset();
  if (t.finished == 0) t.finished = clock_.Wall();
  ++FinishedCount(state);
  // Both arms views: a std::string arm would make the view dangle (STYLE.md, lessons).
  std::string_view worker = t.worker != kNoWorker
                                ? std::string_view(workers_[t.worker.value()].id.value())
                                : std::string_view();
  if (journal_) journal_->OnFinished(t, worker);
  if (t.client != ClientId()) {
    auto it = clients_.find(t.client);
    if (it != clients_.end()) it->second->OnFinished(t, worker);
  }
  if (auto it = waiters_.find(t.id.value()); it != waiters_.end()) {
    auto fns = std::move(it->second);
    waiters_.erase(it);
    for (auto& fn : fns) fn(t);
  }
  if (finished_hook_) finished_hook_(t);
  if (finished_tap_) finished_tap_(t);
}

void Core::OnOutput(WorkerIndex worker, std::span<const wire::TaskOutput> output) {
  if (worker.value() >= workers_.size()) return;
  workers_[worker.value()].last_seen = clock_.Now();
  for (const auto& piece : output) {
    const Task* t = Lookup(TaskId(piece.id));
    if (!t || t->state != TaskState::kRunning || t->worker != worker) continue;
    if (t->client == ClientId()) continue;
    auto it = clients_.find(t->client);
    if (it != clients_.end()) it->second->OnOutput(*t, piece.offset, piece.text);
  }
}

void Core::OnRefused(WorkerIndex worker, std::span<const uint64_t> ids, bool busy_backoff) {
  if (worker.value() >= workers_.size()) return;
  WorkerInfo& w = workers_[worker.value()];
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
    Task* t = Lookup(TaskId(*it));
    if (!t || t->state != TaskState::kRunning || t->worker != worker) continue;
    if (busy_backoff) {
      // Exponential backoff with jitter per (worker, operation): a seed worker busy for
      // seconds is asked a handful of times, not every few milliseconds, and workers freed
      // at the same moment are not all asked again in the same instant.
      auto b = std::find_if(w.busy.begin(), w.busy.end(),
                            [&](const WorkerInfo::Busy& x) { return x.op == t->op; });
      if (b == w.busy.end()) b = w.busy.insert(w.busy.end(), WorkerInfo::Busy{t->op, {}, 0});
      double rest = std::chrono::duration<double>(options_.busy_backoff).count() *
                    std::pow(2.0, std::min(b->streak, 30));
      rest = std::min(rest, std::chrono::duration<double>(options_.max_busy_backoff).count());
      rest *= std::uniform_real_distribution<double>(0.5, 1.5)(jitter_);
      b->until =
          clock_.Now() + std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(rest));
      ++b->streak;
    }
    Requeue(w, *t);
  }
  Schedule();
}

std::string Core::OnUnsupported(WorkerIndex worker, TaskId id) {
  if (worker.value() >= workers_.size()) return "";
  WorkerInfo& w = workers_[worker.value()];
  Task* t = Lookup(id);
  std::string learned;
  if (t && std::find(w.ops.begin(), w.ops.end(), t->op) != w.ops.end()) {
    learned = op_names_[t->op];
    std::erase(w.ops, t->op);
  }
  uint64_t raw = id.value();
  OnRefused(worker, std::span<const uint64_t>(&raw, 1), false);
  if (w.ops.empty()) RemoveWorker(worker, "it runs none of the operations it was given");
  return learned;
}

bool Core::HttpWorkerCanTake(const WorkerInfo& w, uint32_t op) const {
  for (const WorkerInfo::Busy& b : w.busy) {
    if (b.op == op && b.until > clock_.Now()) return false;
  }
  for (TaskId id : w.inflight) {
    const Task* t = Find(id);
    if (t && t->op == op) return false;
  }
  return true;
}

void Core::OnLeaving(WorkerIndex worker) {
  if (worker.value() < workers_.size()) workers_[worker.value()].draining = true;
}

int Core::Window(const WorkerInfo& w, uint32_t op) const {
  if (w.kind == WorkerKind::kHttp) return w.slots;  // the seed protocol has no queue
  const OpStats& s = op_stats_[op];
  double short_seconds = std::chrono::duration<double>(options_.short_task).count();
  bool learned = s.samples > 0 && s.mean_seconds < short_seconds;
  if (!s.known_short && !learned) return w.slots;
  // Beyond the task each slot runs, about half of short_task's worth of work per slot waits
  // on the worker: one more task for tasks near short_task, hundreds for tasks of a few
  // microseconds, so a worker never waits a round trip for its next task and its results and
  // assignments travel many to a message.
  int per_slot = 1;
  if (learned && s.mean_seconds > 0) {
    per_slot = static_cast<int>(std::clamp(std::round(short_seconds / 2 / s.mean_seconds), 1.0,
                                           static_cast<double>(options_.max_prefetch)));
  }
  return w.slots + std::min(w.slots * per_slot, options_.max_prefetch);
}

// Picks the best queued task this worker may run and sends it. The best is the highest
// priority; among equals the operation expected to take longest (longest-processing-time-first
// keeps the makespan short when operations differ in length); then the oldest.
bool Core::DispatchOne(uint32_t wi) {
  WorkerInfo& w = workers_[wi];
  if (!w.alive || w.draining || !w.link) return false;
  int best_prio = 0;
  double best_len = -1;
  uint64_t best_id = 0;
  uint32_t best_op = 0;
  size_t best_pos = 0;
  bool found = false;
  for (uint32_t op : w.ops) {
    Queue& q = queues_[op];
    // Drop heads that were cancelled while queued.
    while (!q.empty()) {
      auto& fifo = q.begin()->second;
      while (!fifo.empty() &&
             (!Lookup(fifo.front()) || Lookup(fifo.front())->state != TaskState::kQueued)) {
        fifo.pop_front();
        --queued_now_;
      }
      if (!fifo.empty()) break;
      q.erase(q.begin());
    }
    if (q.empty()) continue;
    if (static_cast<int>(w.inflight.size()) >= Window(w, op)) continue;
    if (w.kind == WorkerKind::kHttp && !HttpWorkerCanTake(w, op)) continue;
    int prio = q.begin()->first;
    const auto& fifo = q.begin()->second;
    size_t pos = 0;
    if (Lookup(fifo.front())->request) {
      pos = FindFitting(w, fifo);
      if (pos == fifo.size()) continue;
    }
    uint64_t id = fifo[pos].value();
    double len = op_stats_[op].samples ? op_stats_[op].mean_seconds : op_stats_[op].prior;
    bool better = !found || prio > best_prio ||
                  (prio == best_prio && (len > best_len || (len == best_len && id < best_id)));
    if (better) {
      found = true;
      best_prio = prio;
      best_len = len;
      best_id = id;
      best_op = op;
      best_pos = pos;
    }
  }
  if (!found) return false;
  auto& fifo = queues_[best_op].begin()->second;
  fifo.erase(fifo.begin() + static_cast<std::ptrdiff_t>(best_pos));
  --queued_now_;
  if (fifo.empty()) queues_[best_op].erase(queues_[best_op].begin());
  Task& t = *Lookup(TaskId(best_id));
  t.state = TaskState::kRunning;
  t.worker = WorkerIndex(wi);
  ++t.attempts;
  t.started = clock_.Wall();
  if (t.attempts == 1) {
    double waited = std::max(0.0, t.started - t.submitted);
    size_t b = 0;
    while (b < kLatencyBounds.size() && waited > kLatencyBounds[b]) ++b;
    ++latency_buckets_[b];
    latency_sum_ += waited;
    latency_max_ = std::max(latency_max_, waited);
  }
  --counts_.queued;
  ++counts_.running;
  w.inflight.push_back(t.id);
  if (t.request) Take(w, *t.request);
  if (t.timeout > 0) {
    deadlines_.emplace(
        clock_.Now() + std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(t.timeout)),
        std::make_pair(t.id, t.attempts));
  }
  w.link->Assign(t, op_names_[t.op]);
  return true;
}

void Core::Schedule() {
  // Rounds of one task per worker, so that short tasks spread over every free worker
  // instead of filling the first one's prefetch window.
  bool progress = true;
  while (progress && queued_now_ > 0) {
    progress = false;
    for (uint32_t wi : worker_order_) {
      if (queued_now_ == 0) break;
      progress |= DispatchOne(wi);
    }
  }
}

void Core::Tick() {
  TimePoint now = clock_.Now();
  // Workers that went silent.
  for (uint32_t i = 0; i < workers_.size(); ++i) {
    WorkerInfo& w = workers_[i];
    if (w.alive && w.kind == WorkerKind::kNative &&
        now - w.last_seen > options_.heartbeat_timeout) {
      WorkerLink* link = w.link;
      RemoveWorker(WorkerIndex(i), "missed heartbeats");
      if (link) link->Drop("no heartbeat within the timeout");
    }
  }
  // Attempts that ran past their timeout.
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    auto [id, attempt] = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    Task* t = Lookup(id);
    if (!t || t->state != TaskState::kRunning || t->attempts != attempt) continue;
    WorkerInfo& w = workers_[t->worker.value()];
    Unassign(w, id);
    if (w.link) w.link->Cancel(id);
    t->finished = clock_.Wall();
    char buf[64];
    std::snprintf(buf, sizeof buf, "timed out after %g s", static_cast<double>(t->timeout));
    FailAttempt(*t, buf);
    if (!Finished(t->state)) t->finished = 0;
  }
  // Retries whose backoff has passed.
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    TaskId id = delayed_.begin()->second;
    delayed_.erase(delayed_.begin());
    Task* t = Lookup(id);
    if (!t || t->state != TaskState::kQueued) continue;
    t->started = 0;
    t->finished = 0;
    Enqueue(*t, false);
  }
  Schedule();
}

uint32_t Core::InternResource(std::string_view name) {
  auto it = resource_index_.find(std::string(name));
  if (it != resource_index_.end()) return it->second;
  uint32_t i = static_cast<uint32_t>(resource_names_.size());
  resource_names_.emplace_back(name);
  resource_index_.emplace(std::string(name), i);
  return i;
}

bool Core::Fits(const ResourceAmounts& have, const ResourceAmounts* used, const Request& r) {
  auto in_use = [&](auto get) { return used ? get(*used) : int64_t{0}; };
  if (r.spec.millicpus >
      have.millicpus - in_use([](const ResourceAmounts& a) { return a.millicpus; })) {
    return false;
  }
  if (r.spec.memory_mib >
      have.memory_mib - in_use([](const ResourceAmounts& a) { return a.memory_mib; })) {
    return false;
  }
  for (const auto& [i, n] : r.named) {
    if (n > have.Named(i) - (used ? used->Named(i) : 0)) return false;
  }
  return true;
}

void Core::Take(WorkerInfo& w, const Request& r) {
  w.used.millicpus += r.spec.millicpus;
  w.used.memory_mib += r.spec.memory_mib;
  for (const auto& [i, n] : r.named) {
    if (w.used.named.size() <= i) w.used.named.resize(i + 1, 0);
    w.used.named[i] += n;
  }
}

void Core::Release(WorkerInfo& w, const Request& r) {
  w.used.millicpus -= r.spec.millicpus;
  w.used.memory_mib -= r.spec.memory_mib;
  for (const auto& [i, n] : r.named) {
    if (i < w.used.named.size()) w.used.named[i] -= n;
  }
  VOLO_CHECK(w.used.millicpus >= 0 && w.used.memory_mib >= 0, "resources released twice");
}

size_t Core::FindFitting(const WorkerInfo& w, const std::deque<TaskId>& fifo) {
  size_t depth = std::min(fifo.size(), kBackfillDepth);
  for (size_t i = 0; i < depth; ++i) {
    const Task* t = Lookup(fifo[i]);
    if (!t || t->state != TaskState::kQueued) continue;
    if (!t->request || Fits(w.capacity, &w.used, *t->request)) return i;
  }
  return fifo.size();
}

std::string Core::NoFitReason(const Request& r, uint32_t op, bool ever) const {
  // The most of each kind that any one worker has (free, unless `ever`): a dimension the
  // request exceeds on every worker is the reason; otherwise no single worker has all of it.
  ResourceAmounts most;
  bool any_worker = false;
  for (const WorkerInfo& w : workers_) {
    if (!w.alive || w.draining) continue;
    if (std::find(w.ops.begin(), w.ops.end(), op) == w.ops.end()) continue;
    any_worker = true;
    const ResourceAmounts* used = ever ? nullptr : &w.used;
    if (Fits(w.capacity, used, r)) return "";
    most.millicpus = std::max(most.millicpus, w.capacity.millicpus - (used ? used->millicpus : 0));
    most.memory_mib =
        std::max(most.memory_mib, w.capacity.memory_mib - (used ? used->memory_mib : 0));
    for (const auto& [i, n] : r.named) {
      if (most.named.size() <= i) most.named.resize(i + 1, 0);
      most.named[i] = std::max(most.named[i], w.capacity.Named(i) - (used ? used->Named(i) : 0));
    }
  }
  if (!any_worker) return "no live worker runs '" + op_names_[op] + "'";
  std::string largest = ever ? "the largest worker that runs '" + op_names_[op] + "' has "
                             : "the most free on a worker that runs '" + op_names_[op] + "' is ";
  std::vector<std::string> parts;
  if (r.spec.millicpus > most.millicpus) {
    parts.push_back("needs " + wire::DescribeCpus(r.spec.millicpus) + "; " + largest +
                    wire::DescribeCpus(most.millicpus));
  }
  if (r.spec.memory_mib > most.memory_mib) {
    parts.push_back("needs " + wire::DescribeMemory(r.spec.memory_mib) + "; " + largest +
                    wire::DescribeMemory(most.memory_mib));
  }
  for (const auto& [i, n] : r.named) {
    if (n > most.Named(i)) {
      parts.push_back("needs " + wire::DescribeNamed(resource_names_[i], n) + "; " + largest +
                      wire::DescribeNamed(resource_names_[i], most.Named(i)));
    }
  }
  if (parts.empty()) {
    return "needs " + wire::DescribeResources(r.spec) + " on one worker; no worker that runs '" +
           op_names_[op] + "' has all of it" + (ever ? "" : " free");
  }
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += "; and ";
    out += p;
  }
  return out;
}

std::string Core::WhyWaiting(const Task& t) const {
  if (t.state != TaskState::kQueued || !t.request) return "";
  std::string never = NoFitReason(*t.request, t.op, true);
  if (!never.empty()) return never;
  std::string busy = NoFitReason(*t.request, t.op, false);
  return busy.empty() ? "" : "waiting for resources in use: " + busy;
}

std::vector<WaitingReason> Core::Waiting() const {
  std::vector<WaitingReason> out;
  std::vector<size_t> per_op(op_names_.size(), 0);
  // Per operation: the first queued task with a request that no live worker could ever fit,
  // and how many such; the same for requests that fit but wait for resources in use.
  struct Unfit {
    size_t never = 0, busy = 0;
    const Task* first_never = nullptr;
    const Task* first_busy = nullptr;
  };
  std::vector<Unfit> unfit(op_names_.size());
  for (uint32_t op = 0; op < queues_.size(); ++op) {
    for (const auto& [prio, fifo] : queues_[op]) {
      for (TaskId id : fifo) {
        const Task* t = Find(id);
        if (!t || t->state != TaskState::kQueued) continue;
        ++per_op[op];
        if (!t->request) continue;
        Unfit& u = unfit[op];
        if (!NoFitReason(*t->request, op, true).empty()) {
          if (u.never++ == 0) u.first_never = t;
        } else if (!NoFitReason(*t->request, op, false).empty()) {
          if (u.busy++ == 0) u.first_busy = t;
        }
      }
    }
  }
  for (uint32_t op = 0; op < per_op.size(); ++op) {
    if (per_op[op] == 0) continue;
    size_t runners = 0, free = 0;
    for (const auto& w : workers_) {
      if (!w.alive || w.draining) continue;
      if (std::find(w.ops.begin(), w.ops.end(), op) == w.ops.end()) continue;
      ++runners;
      if (static_cast<int>(w.inflight.size()) < Window(w, op)) ++free;
    }
    WaitingReason r;
    r.op = op_names_[op];
    r.queued = per_op[op];
    const Unfit& u = unfit[op];
    auto count = [](size_t n) {
      return n == 1 ? std::string("1 task") : std::to_string(n) + " tasks";
    };
    if (runners == 0) {
      r.reason = "no live worker runs '" + r.op + "'; start one with: volo worker --ops " + r.op;
    } else if (u.never > 0) {
      r.reason = count(u.never) + " can never fit a live worker (task " +
                 std::to_string(u.first_never->id.value()) + " " +
                 NoFitReason(*u.first_never->request, op, true) +
                 "); start a larger worker with: volo worker --ops " + r.op +
                 " --cpus N --memory MiB --resource NAME=N";
    } else if (free == 0) {
      r.reason = runners == 1 ? "the one worker that runs '" + r.op + "' is busy"
                              : "all " + std::to_string(runners) + " workers that run '" + r.op +
                                    "' are busy";
    } else if (u.busy > 0) {
      r.reason = count(u.busy) + " wait for resources in use (task " +
                 std::to_string(u.first_busy->id.value()) + " " +
                 NoFitReason(*u.first_busy->request, op, false) + ")";
    } else {
      r.reason = "being dispatched";
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace volo::planner
