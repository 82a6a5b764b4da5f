#include "api/views.h"

#include <boost/json.hpp>
#include <cmath>

#include "wire/messages.h"

namespace volo::api {
namespace json = boost::json;

namespace {

// Reads the fields of one JSON object; the first problem wins and names its field.
class Reader {
 public:
  Reader(const json::value& v, std::string where) : where_(std::move(where)) {
    o_ = v.if_object();
    if (!o_) Fail("", "must be a JSON object");
  }
  bool ok() const { return error_.empty(); }
  Status status() const { return ok() ? Status::Ok() : InvalidArgument(error_); }
  std::string Path(std::string_view field) const {
    if (where_.empty()) return field.empty() ? std::string("the answer") : std::string(field);
    return field.empty() ? where_ : where_ + "." + std::string(field);
  }

  const json::value* Field(std::string_view key) {
    if (!o_ || !ok()) return nullptr;
    const json::value* v = o_->if_contains(key);
    if (!v) Fail(key, "missing");
    return v;
  }
  std::string String(std::string_view key) {
    const json::value* v = Field(key);
    if (!v) return {};
    if (!v->is_string()) return Fail(key, "must be a string"), std::string();
    return std::string(v->get_string());
  }
  std::optional<std::string> StringOrNull(std::string_view key) {
    const json::value* v = Field(key);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_string()) return Fail(key, "must be a string or null"), std::nullopt;
    return std::string(v->get_string());
  }
  double Number(std::string_view key) {
    const json::value* v = Field(key);
    if (!v) return 0;
    if (!v->is_number()) return Fail(key, "must be a number"), 0.0;
    return v->to_number<double>();
  }
  std::optional<double> NumberOrNull(std::string_view key) {
    const json::value* v = Field(key);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_number()) return Fail(key, "must be a number or null"), std::nullopt;
    return v->to_number<double>();
  }
  uint64_t Count(std::string_view key) {
    double d = Number(key);
    if (ok() && (d < 0 || std::trunc(d) != d)) Fail(key, "must be a whole number, at least 0");
    return ok() ? static_cast<uint64_t>(d) : 0;
  }
  int Int(std::string_view key) {
    double d = Number(key);
    if (ok() && (std::trunc(d) != d || std::abs(d) > 2e9)) Fail(key, "must be an integer");
    return ok() ? static_cast<int>(d) : 0;
  }
  bool Bool(std::string_view key) {
    const json::value* v = Field(key);
    if (!v) return false;
    if (!v->is_bool()) return Fail(key, "must be true or false"), false;
    return v->get_bool();
  }
  const json::array* Array(std::string_view key) {
    const json::value* v = Field(key);
    if (!v) return nullptr;
    if (!v->is_array()) return Fail(key, "must be an array"), nullptr;
    return &v->get_array();
  }
  const json::value* Any(std::string_view key) { return Field(key); }

  void Fail(std::string_view field, std::string_view what) {
    if (error_.empty()) error_ = Path(field) + ": " + std::string(what);
  }
  // Adopts the error of a nested parse.
  void Take(const Status& s) {
    if (error_.empty() && !s.ok()) error_ = s.message();
  }

 private:
  const json::object* o_ = nullptr;
  std::string where_;
  std::string error_;
};

json::value NumberOrNull(std::optional<double> d) {
  return d ? json::value(*d) : json::value(nullptr);
}

json::value StringOrNull(const std::optional<std::string>& s) {
  return s ? json::value(*s) : json::value(nullptr);
}

template <typename View, typename ParseOne>
std::vector<View> ParseArray(Reader& r, std::string_view key, ParseOne parse_one) {
  std::vector<View> out;
  const json::array* a = r.Array(key);
  if (!a) return out;
  out.reserve(a->size());
  for (size_t i = 0; i < a->size() && r.ok(); ++i) {
    auto v = parse_one((*a)[i], r.Path(key) + "[" + std::to_string(i) + "]");
    r.Take(v.status());
    if (v.ok()) out.push_back(std::move(v).value());
  }
  return out;
}

json::object StringObject(const std::vector<std::pair<std::string, std::string>>& pairs) {
  json::object o;
  for (const auto& [k, v] : pairs) o[k] = v;
  return o;
}

// An object of strings (labels, a workflow's task queues), in its order.
std::vector<std::pair<std::string, std::string>> StringPairs(Reader& r, std::string_view key) {
  std::vector<std::pair<std::string, std::string>> out;
  const json::value* v = r.Any(key);
  if (!v) return out;
  const json::object* o = v->if_object();
  if (!o) {
    r.Fail(key, "must be an object");
    return out;
  }
  for (const auto& kv : *o) {
    if (!kv.value().is_string()) {
      r.Fail(key, "values must be strings");
      break;
    }
    out.emplace_back(std::string(kv.key()), std::string(kv.value().get_string()));
  }
  return out;
}

Result<TaskView> ParseTaskAt(const json::value& v, std::string where) {
  Reader r(v, std::move(where));
  TaskView t;
  t.id = r.Count("id");
  std::string state = r.String("state");
  if (r.ok()) {
    auto s = ParseTaskStatus(state);
    if (!s) r.Fail("state", "not a task state: '" + state + "'");
    if (s) t.state = *s;
  }
  // A pruned task's answer carries only its id and state.
  if (r.ok() && t.state == TaskStatus::kPruned) return t;
  t.op = r.String("op");
  if (const json::value* a = r.Any("args")) t.args = *a;
  if (const json::value* res = r.Any("result")) t.result = *res;
  t.error = r.StringOrNull("error");
  t.worker = r.StringOrNull("worker");
  t.attempts = r.Int("attempts");
  t.retries = r.Int("retries");
  t.priority = r.Int("priority");
  t.timeout = r.NumberOrNull("timeout");
  t.labels = StringPairs(r, "labels");
  t.submitted = r.NumberOrNull("submitted");
  t.started = r.NumberOrNull("started");
  t.finished = r.NumberOrNull("finished");
  if (const json::value* res = r.Any("resources")) {
    if (res->is_object()) {
      t.resources = *res;
    } else {
      r.Fail("resources", "must be an object");
    }
  }
  t.waiting = r.StringOrNull("waiting");
  if (!r.ok()) return r.status();
  return t;
}

Result<WorkerView> ParseWorkerAt(const json::value& v, std::string where) {
  Reader r(v, std::move(where));
  WorkerView w;
  w.id = r.String("id");
  std::string kind = r.String("kind");
  if (r.ok()) {
    if (kind == "native") {
      w.kind = WorkerKind::kNative;
    } else if (kind == "http") {
      w.kind = WorkerKind::kHttp;
    } else {
      r.Fail("kind", "not one of native, http: '" + kind + "'");
    }
  }
  if (const json::array* ops = r.Array("ops")) {
    for (const json::value& op : *ops) {
      if (!op.is_string()) {
        r.Fail("ops", "must be an array of operation names");
        break;
      }
      w.ops.emplace_back(op.get_string());
    }
  }
  w.slots = r.Int("slots");
  w.running = r.Count("running");
  w.done = r.Count("done");
  w.busy_seconds = r.Number("busy_seconds");
  // Optional: planners before resource requests did not send them.
  if (const json::object* o = v.if_object()) {
    if (const json::value* res = o->if_contains("resources"); res && res->is_object()) {
      w.resources = *res;
    }
    if (const json::value* res = o->if_contains("resources_used"); res && res->is_object()) {
      w.resources_used = *res;
    }
    if (const json::value* p = o->if_contains("provisioned"); p && p->is_bool()) {
      w.provisioned = p->get_bool();
    }
  }
  std::string state = r.String("state");
  if (r.ok()) {
    if (state == "live") {
      w.state = WorkerState::kLive;
    } else if (state == "draining") {
      w.state = WorkerState::kDraining;
    } else if (state == "gone") {
      w.state = WorkerState::kGone;
    } else {
      r.Fail("state", "not one of live, draining, gone: '" + state + "'");
    }
  }
  if (!r.ok()) return r.status();
  return w;
}

}  // namespace

std::string_view TaskStatusName(TaskStatus s) {
  switch (s) {
    case TaskStatus::kQueued:
      return "queued";
    case TaskStatus::kRunning:
      return "running";
    case TaskStatus::kDone:
      return "done";
    case TaskStatus::kFailed:
      return "failed";
    case TaskStatus::kCancelled:
      return "cancelled";
    case TaskStatus::kPruned:
      return "pruned";
  }
  return "unknown";
}

std::optional<TaskStatus> ParseTaskStatus(std::string_view s) {
  for (auto st : {TaskStatus::kQueued, TaskStatus::kRunning, TaskStatus::kDone, TaskStatus::kFailed,
                  TaskStatus::kCancelled, TaskStatus::kPruned}) {
    if (TaskStatusName(st) == s) return st;
  }
  return std::nullopt;
}

std::string_view WorkerKindName(WorkerKind k) {
  return k == WorkerKind::kNative ? "native" : "http";
}

std::string_view WorkerStateName(WorkerState s) {
  switch (s) {
    case WorkerState::kLive:
      return "live";
    case WorkerState::kDraining:
      return "draining";
    case WorkerState::kGone:
      return "gone";
  }
  return "unknown";
}

json::value ToValue(const TaskView& t) {
  json::object o;
  o.reserve(16);
  o["id"] = t.id;
  if (t.state == TaskStatus::kPruned) {
    o["state"] = TaskStatusName(t.state);
    return o;
  }
  o["op"] = t.op;
  o["args"] = t.args;
  o["state"] = TaskStatusName(t.state);
  o["result"] = t.result;
  o["error"] = StringOrNull(t.error);
  o["worker"] = StringOrNull(t.worker);
  o["attempts"] = t.attempts;
  o["retries"] = t.retries;
  o["priority"] = t.priority;
  o["timeout"] = NumberOrNull(t.timeout);
  o["labels"] = StringObject(t.labels);
  o["submitted"] = NumberOrNull(t.submitted);
  o["started"] = NumberOrNull(t.started);
  o["finished"] = NumberOrNull(t.finished);
  o["resources"] = t.resources;
  o["waiting"] = StringOrNull(t.waiting);
  return o;
}

Result<TaskView> ParseTask(const json::value& v) { return ParseTaskAt(v, ""); }

json::value ToValue(const TaskListView& l) {
  json::array tasks;
  tasks.reserve(l.tasks.size());
  for (const TaskView& t : l.tasks) tasks.push_back(ToValue(t));
  return json::object{{"tasks", std::move(tasks)}};
}

Result<TaskListView> ParseTaskList(const json::value& v) {
  Reader r(v, "");
  TaskListView l;
  l.tasks = ParseArray<TaskView>(r, "tasks", ParseTaskAt);
  if (!r.ok()) return r.status();
  return l;
}

json::value ToValue(const WaitView& w) {
  json::value out = ToValue(TaskListView{w.tasks});
  out.as_object()["complete"] = w.complete;
  return out;
}

Result<WaitView> ParseWait(const json::value& v) {
  Reader r(v, "");
  WaitView w;
  w.tasks = ParseArray<TaskView>(r, "tasks", ParseTaskAt);
  w.complete = r.Bool("complete");
  if (!r.ok()) return r.status();
  return w;
}

json::value ToValue(const SubmittedView& s) {
  if (!s.batch && s.ids.size() == 1) return json::object{{"id", s.ids[0]}};
  json::array ids;
  ids.reserve(s.ids.size());
  for (uint64_t id : s.ids) ids.push_back(id);
  return json::object{{"ids", std::move(ids)}};
}

Result<SubmittedView> ParseSubmitted(const json::value& v) {
  SubmittedView s;
  const json::object* o = v.if_object();
  if (o && o->contains("id")) {
    Reader r(v, "");
    s.ids.push_back(r.Count("id"));
    if (!r.ok()) return r.status();
    return s;
  }
  Reader r(v, "");
  s.batch = true;
  if (const json::array* ids = r.Array("ids")) {
    for (const json::value& id : *ids) {
      if (id.is_uint64()) {
        s.ids.push_back(id.get_uint64());
      } else if (id.is_int64() && id.get_int64() >= 1) {
        s.ids.push_back(static_cast<uint64_t>(id.get_int64()));
      } else {
        r.Fail("ids", "must be task ids");
        break;
      }
    }
  }
  if (!r.ok()) return r.status();
  return s;
}

json::value ToValue(const WorkerView& w) {
  json::array ops;
  for (const auto& op : w.ops) ops.emplace_back(op);
  return json::object{{"id", w.id},
                      {"kind", WorkerKindName(w.kind)},
                      {"ops", std::move(ops)},
                      {"slots", w.slots},
                      {"running", w.running},
                      {"done", w.done},
                      {"busy_seconds", w.busy_seconds},
                      {"state", WorkerStateName(w.state)},
                      {"resources", w.resources},
                      {"resources_used", w.resources_used},
                      {"provisioned", w.provisioned}};
}

Result<WorkerView> ParseWorker(const json::value& v) { return ParseWorkerAt(v, ""); }

json::value ToValue(const WorkerListView& l) {
  json::array workers;
  workers.reserve(l.workers.size());
  for (const WorkerView& w : l.workers) workers.push_back(ToValue(w));
  return json::object{{"workers", std::move(workers)}};
}

Result<WorkerListView> ParseWorkerList(const json::value& v) {
  Reader r(v, "");
  WorkerListView l;
  l.workers = ParseArray<WorkerView>(r, "workers", ParseWorkerAt);
  if (!r.ok()) return r.status();
  return l;
}

json::value ToValue(const StatusView& s) {
  json::array waiting;
  for (const WaitingView& w : s.waiting) {
    waiting.push_back(json::object{{"op", w.op}, {"queued", w.queued}, {"reason", w.reason}});
  }
  return json::object{{"workers", s.workers},         {"queued", s.queued},
                      {"running", s.running},         {"done", s.done},
                      {"failed", s.failed},           {"cancelled", s.cancelled},
                      {"waiting", std::move(waiting)}};
}

Result<StatusView> ParseStatus(const json::value& v) {
  Reader r(v, "");
  StatusView s;
  s.workers = r.Count("workers");
  s.queued = r.Count("queued");
  s.running = r.Count("running");
  s.done = r.Count("done");
  s.failed = r.Count("failed");
  s.cancelled = r.Count("cancelled");
  s.waiting = ParseArray<WaitingView>(
      r, "waiting", [](const json::value& wv, std::string where) -> Result<WaitingView> {
        Reader wr(wv, std::move(where));
        WaitingView w;
        w.op = wr.String("op");
        w.queued = wr.Count("queued");
        w.reason = wr.String("reason");
        if (!wr.ok()) return wr.status();
        return w;
      });
  if (!r.ok()) return r.status();
  return s;
}

namespace {

Result<BundleView> ParseBundleAt(const json::value& v, std::string where) {
  Reader r(v, std::move(where));
  BundleView b;
  b.id = r.String("id");
  b.bytes = r.Count("bytes");
  b.created = r.Number("created");
  b.tasks = r.Count("tasks");
  if (!r.ok()) return r.status();
  return b;
}

}  // namespace

json::value ToValue(const BundleView& b) {
  return json::object{{"id", b.id}, {"bytes", b.bytes}, {"created", b.created}, {"tasks", b.tasks}};
}

Result<BundleView> ParseBundle(const json::value& v) { return ParseBundleAt(v, ""); }

json::value ToValue(const BundleListView& l) {
  json::array bundles;
  for (const BundleView& b : l.bundles) bundles.push_back(ToValue(b));
  return json::object{
      {"bundles", std::move(bundles)}, {"bytes", l.bytes}, {"max_bytes", l.max_bytes}};
}

Result<BundleListView> ParseBundleList(const json::value& v) {
  Reader r(v, "");
  BundleListView l;
  l.bundles = ParseArray<BundleView>(r, "bundles", ParseBundleAt);
  l.bytes = r.Count("bytes");
  l.max_bytes = r.Count("max_bytes");
  if (!r.ok()) return r.status();
  return l;
}

json::value ToValue(const ErrorView& e) { return json::object{{"error", e.error}}; }

Result<ErrorView> ParseError(const json::value& v) {
  Reader r(v, "");
  ErrorView e{r.String("error")};
  if (!r.ok()) return r.status();
  return e;
}

// ---- workflows ----

namespace {

const char* const kStepStates[] = {"pending", "running", "succeeded", "failed", "cancelled"};
const char* const kRunStates[] = {"queued", "running", "succeeded", "failed", "cancelled"};
const char* const kStepKinds[] = {"task", "group", "chain", "map", "hook"};

template <size_t N>
void OneOf(Reader& r, std::string_view key, const std::string& v, const char* const (&names)[N]) {
  if (!r.ok()) return;
  for (const char* n : names) {
    if (v == n) return;
  }
  std::string list;
  for (const char* n : names) list += (list.empty() ? "" : ", ") + std::string(n);
  r.Fail(key, "not one of " + list + ": '" + v + "'");
}

json::value ToValue(const StepView& s) {
  json::object o{{"path", s.path},
                 {"name", s.name},
                 {"kind", s.kind},
                 {"state", s.state},
                 {"depth", s.depth},
                 {"task", s.task ? json::value(*s.task) : json::value(nullptr)},
                 {"result", s.result},
                 {"error", StringOrNull(s.error)},
                 {"started", NumberOrNull(s.started)},
                 {"finished", NumberOrNull(s.finished)}};
  if (s.kind == "map") {
    o["elements"] = s.elements;
    o["succeeded"] = s.succeeded;
    o["failed"] = s.failed;
  }
  return o;
}

Result<StepView> ParseStepAt(const json::value& v, std::string where) {
  Reader r(v, std::move(where));
  StepView s;
  s.path = r.String("path");
  s.name = r.String("name");
  s.kind = r.String("kind");
  OneOf(r, "kind", s.kind, kStepKinds);
  s.state = r.String("state");
  OneOf(r, "state", s.state, kStepStates);
  s.depth = r.Int("depth");
  if (auto t = r.NumberOrNull("task")) s.task = static_cast<uint64_t>(*t);
  if (const json::value* res = r.Any("result")) s.result = *res;
  s.error = r.StringOrNull("error");
  s.started = r.NumberOrNull("started");
  s.finished = r.NumberOrNull("finished");
  if (r.ok() && s.kind == "map") {
    s.elements = r.Count("elements");
    s.succeeded = r.Count("succeeded");
    s.failed = r.Count("failed");
  }
  if (!r.ok()) return r.status();
  return s;
}

Result<RunView> ParseRunAt(const json::value& v, std::string where) {
  Reader r(v, std::move(where));
  RunView run;
  run.id = r.Count("id");
  run.workflow = r.String("workflow");
  run.state = r.String("state");
  OneOf(r, "state", run.state, kRunStates);
  run.trigger = r.String("trigger");
  if (const json::value* p = r.Any("payload")) run.payload = *p;
  run.created = r.NumberOrNull("created");
  run.started = r.NumberOrNull("started");
  run.finished = r.NumberOrNull("finished");
  run.failed_step = r.StringOrNull("failed_step");
  run.error = r.StringOrNull("error");
  run.steps = ParseArray<StepView>(r, "steps", ParseStepAt);
  if (!r.ok()) return r.status();
  return run;
}

Result<WorkflowView> ParseWorkflowAt(const json::value& v, std::string where) {
  Reader r(v, std::move(where));
  WorkflowView w;
  w.name = r.String("name");
  if (const json::value* t = r.Any("tasks")) w.tasks = *t;
  w.schedule = r.StringOrNull("schedule");
  w.next_run = r.NumberOrNull("next_run");
  w.concurrency = r.Int("concurrency");
  w.queue = r.String("queue");
  w.task_queues = StringPairs(r, "task_queues");
  w.on_success = r.StringOrNull("on_success");
  w.on_failure = r.StringOrNull("on_failure");
  w.schema = r.Bool("schema");
  if (!r.ok()) return r.status();
  return w;
}

}  // namespace

json::value ToValue(const RunView& run) {
  json::array steps;
  steps.reserve(run.steps.size());
  for (const StepView& s : run.steps) steps.push_back(ToValue(s));
  return json::object{{"id", run.id},
                      {"workflow", run.workflow},
                      {"state", run.state},
                      {"trigger", run.trigger},
                      {"payload", run.payload},
                      {"created", NumberOrNull(run.created)},
                      {"started", NumberOrNull(run.started)},
                      {"finished", NumberOrNull(run.finished)},
                      {"failed_step", StringOrNull(run.failed_step)},
                      {"error", StringOrNull(run.error)},
                      {"steps", std::move(steps)}};
}

Result<RunView> ParseRun(const json::value& v) { return ParseRunAt(v, ""); }

json::value ToValue(const RunListView& l) {
  json::array runs;
  for (const RunView& r : l.runs) runs.push_back(ToValue(r));
  return json::object{{"runs", std::move(runs)}};
}

Result<RunListView> ParseRunList(const json::value& v) {
  Reader r(v, "");
  RunListView l;
  l.runs = ParseArray<RunView>(r, "runs", ParseRunAt);
  if (!r.ok()) return r.status();
  return l;
}

json::value ToValue(const WorkflowView& w) {
  return json::object{{"name", w.name},
                      {"tasks", w.tasks},
                      {"schedule", StringOrNull(w.schedule)},
                      {"next_run", NumberOrNull(w.next_run)},
                      {"concurrency", w.concurrency},
                      {"queue", w.queue},
                      {"task_queues", StringObject(w.task_queues)},
                      {"on_success", StringOrNull(w.on_success)},
                      {"on_failure", StringOrNull(w.on_failure)},
                      {"schema", w.schema}};
}

Result<WorkflowView> ParseWorkflow(const json::value& v) { return ParseWorkflowAt(v, ""); }

json::value ToValue(const WorkflowListView& l) {
  json::array ws;
  for (const WorkflowView& w : l.workflows) ws.push_back(ToValue(w));
  return json::object{{"workflows", std::move(ws)}};
}

Result<WorkflowListView> ParseWorkflowList(const json::value& v) {
  Reader r(v, "");
  WorkflowListView l;
  l.workflows = ParseArray<WorkflowView>(r, "workflows", ParseWorkflowAt);
  if (!r.ok()) return r.status();
  return l;
}

std::string Serialize(const json::value& v) { return wire::ToJson(v); }

Result<json::value> ParseText(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return InvalidArgument("malformed JSON: " + ec.message());
  return v;
}

}  // namespace volo::api
