#include "planner/workflows.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/sha256.h"
#include "fly/remote.h"
#include "wire/json_limits.h"
#include "wire/messages.h"

namespace volo::planner {
namespace json = boost::json;
using net::HttpRequest;
using net::HttpResponse;
using workflow::Node;
using workflow::Run;
using workflow::Step;

// Core on the engine's side: each step is one task of the workflow client.
class WorkflowService::Sink final : public workflow::StepSink {
 public:
  Sink(Core& core, WorkflowService& service) : core_(core), service_(service) {}

  Result<TaskId> Submit(const workflow::StepCall& call) override {
    // The step's key ties it to its task in the journal; without one there is nothing to tie.
    std::string key;
    if (service_.replaying_ || service_.recording()) {
      const Run* run = service_.engine_.FindRun(call.run);
      if (run) key = workflow::Engine::Key(*run, call.node);
    }
    if (service_.replaying_) {
      auto it = service_.replay_steps_.find({call.run.value(), key});
      if (it != service_.replay_steps_.end()) return TaskId(it->second);
    }
    auto id = Start(call);
    if (id.ok() && service_.recording()) {
      json::object body{{"key", key}, {"task", id->value()}};
      service_.Record("step", call.run.value(), json::serialize(body));
    }
    return id;
  }
  void Cancel(TaskId task) override { (void)core_.Cancel(task); }

 private:
  Result<TaskId> Start(const workflow::StepCall& call) {
    wire::TaskSpec spec;
    spec.op = call.op;
    spec.args = call.args;
    if (call.def && call.def->kind == workflow::TaskKind::kFly) {
      VOLO_ASSIGN_OR_RETURN(spec.args, FlyArgs(*call.def, call.args));
    }
    spec.retries = call.retries;
    spec.timeout = call.timeout;
    spec.priority = call.priority;
    spec.labels = call.labels;
    if (spec.op == "exec") {
      // A command step's cpus, memory and resources count for placement, as a submitted exec
      // task's do (wire::ParseTaskSpec); the definition's parser checked them.
      boost::system::error_code ec;
      json::value args = json::parse(spec.args, ec);
      if (!ec && args.is_object()) {
        VOLO_RETURN_IF_ERROR(wire::AddExecRequest(args.as_object(), "args", spec.resources));
      }
    }
    if (!call.queue.empty()) {
      // Director's queue as a resource only workers serving the queue offer (--queue).
      spec.resources.named.emplace_back(std::string(workflow::kQueueResourcePrefix) + call.queue,
                                        1);
      std::sort(spec.resources.named.begin(), spec.resources.named.end());
      spec.labels.emplace_back("queue", call.queue);
    }
    std::vector<wire::TaskSpec> specs;
    specs.push_back(std::move(spec));
    return core_.Submit(std::move(specs), kClientId);
  }

  // A FLY step is one instance of a `fly` task (src/worker/fly_executor.h): the program goes to
  // the blob store, the function gets the step's inputs as its one argument, and the chunk's
  // spec asks the runner to run the program's top level first (its consts).
  Result<std::string> FlyArgs(const workflow::TaskDef& def, const std::string& inputs) {
    if (!service_.put_blob_) return FailedPrecondition("this planner cannot run FLY steps");
    std::string hash = Sha256Hex(def.fly_source);
    VOLO_RETURN_IF_ERROR(service_.put_blob_(hash, def.fly_source));
    json::object spec{{"file", def.fly_file},
                      {"function", def.fly_func},
                      {"then", nullptr},
                      {"keep_results", true},
                      {"seed", 0},
                      {"seed_forced", false},
                      {"range_lo", nullptr},
                      {"globals", json::object()},
                      {"randoms", json::object()},
                      {"channels", json::object()},
                      {"envs", json::object()},
                      {"init", true}};
    json::object args{
        {"program", hash}, {"file", def.fly_file}, {"spec", json::serialize(spec)},
        {"first", 0},      {"count", 1},           {"args", json::array{json::string(inputs)}}};
    return json::serialize(args);
  }

  Core& core_;
  WorkflowService& service_;
};

WorkflowService::WorkflowService(Core& core, const Clock& clock, Post post)
    : core_(core),
      clock_(clock),
      post_(std::move(post)),
      sink_(std::make_unique<Sink>(core, *this)),
      engine_(*sink_, clock) {
  core_.AddClient(kClientId, this);
  engine_.SetObserver(this);
}

void WorkflowService::Record(std::string kind, uint64_t run, std::string body) {
  if (record_ && !replaying_) record_({std::move(kind), run, clock_.Wall(), std::move(body)});
}

void WorkflowService::OnRunCreated(const Run& run) {
  json::object reuse;
  for (const auto& [k, v] : run.reuse) reuse[k] = v;
  json::object body{{"workflow", run.workflow},
                    {"payload", run.payload},
                    {"trigger", run.trigger},
                    {"created", run.created},
                    {"reuse", std::move(reuse)}};
  Record("run", run.id.value(), json::serialize(body));
}

void WorkflowService::OnRunEnded(const Run& run) {
  Record("end", run.id.value(),
         json::serialize(json::object{{"state", workflow::RunStateName(run.state)}}));
}

void WorkflowService::OnRunSettled(const Run& run) {
  auto it = settle_waiters_.find(run.id.value());
  if (it == settle_waiters_.end()) return;
  auto waiters = std::move(it->second);
  settle_waiters_.erase(it);
  for (auto& [handle, fn] : waiters) fn(run);
}

uint64_t WorkflowService::WhenSettled(workflow::RunId id, std::function<void(const Run&)> fn,
                                      bool* known) {
  const Run* run = engine_.FindRun(id);
  *known = run != nullptr;
  if (!run) return 0;
  if (workflow::Settled(*run)) {
    fn(*run);
    return 0;
  }
  uint64_t handle = next_waiter_++;
  settle_waiters_[id.value()].emplace(handle, std::move(fn));
  return handle;
}

void WorkflowService::Unwatch(workflow::RunId id, uint64_t handle) {
  auto it = settle_waiters_.find(id.value());
  if (it == settle_waiters_.end()) return;
  it->second.erase(handle);
  if (it->second.empty()) settle_waiters_.erase(it);
}

void WorkflowService::OnFired(const std::string& workflow, double at) {
  Record("fired", 0, json::serialize(json::object{{"workflow", workflow}, {"at", at}}));
}

void WorkflowService::Finished(TaskId id, bool ok, std::string text) {
  if (recording())
    Record("done", 0,
           json::serialize(json::object{{"task", id.value()}, {"ok", ok}, {"result", text}}));
  engine_.OnTaskFinished(id, ok, text);
}

Status WorkflowService::Replay(std::vector<journal::WorkflowRecord> log) {
  replaying_ = true;
  for (const auto& r : log) {
    if (r.kind != "step") continue;
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    if (ec || !v.is_object()) continue;
    const json::object& o = v.as_object();
    if (o.contains("key") && o.contains("task") && o.at("task").is_number()) {
      replay_steps_[{r.run, std::string(o.at("key").as_string())}] =
          o.at("task").to_number<uint64_t>();
    }
  }
  size_t runs = 0;
  for (const auto& r : log) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    if (ec || !v.is_object()) {
      spdlog::warn("workflow log: a {} record that is not JSON; skipped", r.kind);
      continue;
    }
    const json::object& o = v.as_object();
    auto str = [&](const char* k) {
      const json::value* f = o.if_contains(k);
      return f && f->is_string() ? std::string(f->as_string()) : std::string();
    };
    if (r.kind == "define") {
      std::map<std::string, std::string> files;
      if (const json::value* f = o.if_contains("files"); f && f->is_object()) {
        for (const auto& [k, text] : f->as_object()) {
          if (text.is_string()) files[std::string(k)] = std::string(text.as_string());
        }
      }
      workflow::FileReader read = [&files](const std::string& path) -> Result<std::string> {
        auto it = files.find(path);
        if (it == files.end()) return NotFound("not in the journal");
        return it->second;
      };
      auto names = Apply(str("filename"), str("text"), read);
      if (!names.ok()) {
        spdlog::warn("workflow log: a definition no longer applies: {}", names.status().message());
        continue;
      }
      // Its schedules count from when it was applied, not from this start: a planner that was
      // down past a start time of a schedule that had not fired yet starts one run at once.
      for (const std::string& name : *names) engine_.SetLastFired(name, r.at);
    } else if (r.kind == "run") {
      std::unordered_map<std::string, std::string> reuse;
      if (const json::value* f = o.if_contains("reuse"); f && f->is_object()) {
        for (const auto& [k, res] : f->as_object()) {
          if (res.is_string()) reuse[std::string(k)] = std::string(res.as_string());
        }
      }
      const json::value* created = o.if_contains("created");
      engine_.Restore(workflow::RunId(r.run), str("workflow"), str("payload"), str("trigger"),
                      created && created->is_number() ? created->to_number<double>() : r.at,
                      std::move(reuse));
      ++runs;
    } else if (r.kind == "done") {
      const json::value* task = o.if_contains("task");
      const json::value* ok = o.if_contains("ok");
      if (task && task->is_number() && ok && ok->is_bool()) {
        engine_.OnTaskFinished(TaskId(task->to_number<uint64_t>()), ok->as_bool(), str("result"));
      }
    } else if (r.kind == "end") {
      if (str("state") == "cancelled") (void)engine_.Cancel(workflow::RunId(r.run));
    } else if (r.kind == "fired") {
      const json::value* at = o.if_contains("at");
      if (at && at->is_number()) engine_.SetLastFired(str("workflow"), at->to_number<double>());
    }
  }
  replaying_ = false;
  replay_steps_.clear();
  // Steps still waiting: their tasks finished while the planner was down (Core has their
  // outcome from its own journal) or are queued again; either way Core tells us, now or later.
  size_t waiting = 0;
  for (const Run* run : engine_.Runs("", SIZE_MAX)) {
    if (run->state != workflow::RunState::kRunning) continue;
    for (const Node& node : run->nodes) {
      if (!node.task || node.state != workflow::StepState::kRunning) continue;
      ++waiting;
      TaskId id = *node.task;
      bool known = core_.WhenFinished(id, [this, id](const Task& t) {
        bool ok = t.state == TaskState::kDone;
        std::string text = ok ? ResultText(t) : t.result;
        post_([this, id, ok, text = std::move(text)] { Finished(id, ok, text); });
      });
      if (!known) {
        post_([this, id] { Finished(id, false, "its task was lost while the planner was down"); });
      }
    }
  }
  spdlog::info("workflow log: {} record(s), {} run(s), {} step(s) waiting on their tasks",
               log.size(), runs, waiting);
  return Status::Ok();
}

WorkflowService::~WorkflowService() { core_.RemoveClient(kClientId); }

namespace {

Result<std::string> ReadWholeFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return IoError("cannot read " + path.string());
  return s.str();
}

}  // namespace

Result<std::vector<std::string>> WorkflowService::ApplyFile(const std::string& path) {
  VOLO_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  workflow::FileReader read = [dir](const std::string& rel) { return ReadWholeFile(dir / rel); };
  return Apply(path, text, read);
}

Result<std::vector<std::string>> WorkflowService::Apply(const std::string& filename,
                                                        std::string_view text,
                                                        const workflow::FileReader& read) {
  // What the file refers to is kept with it in the journal, so a replay reads the same.
  read_files_.clear();
  workflow::FileReader recording = [&](const std::string& path) {
    auto content = read(path);
    if (content.ok()) read_files_[path] = *content;
    return content;
  };
  workflow::ParseResult parsed =
      workflow::ParseWorkflowFile(text, recording, fly::CheckStepFunction, replaying_);
  if (!parsed.ok()) {
    std::string all;
    for (const auto& d : parsed.errors) all += (all.empty() ? "" : "\n") + d.Format(filename);
    return InvalidArgument(all);
  }
  std::vector<std::string> names;
  for (const auto& w : parsed.file.workflows) names.push_back(w.name);
  engine_.Define(std::make_shared<const workflow::WorkflowFile>(std::move(parsed.file)));
  if (record_ && !replaying_) {
    json::object fo;
    for (const auto& [path, content] : read_files_) fo[path] = content;
    Record("define", 0,
           json::serialize(
               json::object{{"filename", filename}, {"text", text}, {"files", std::move(fo)}}));
  }
  return names;
}

std::string WorkflowService::ResultText(const Task& task) const {
  std::string text = task.result;
  if (core_.op_name(task.op) == "fly" && task.client == kClientId) {
    // A FLY step's result is its function's return value: JSON as it is; a value JSON has no
    // form for (a map with integer keys, a range) is handed on as its FLY text, a string.
    boost::system::error_code ec;
    json::value r = json::parse(text, ec);
    const json::value* returns =
        !ec && r.is_object() ? r.as_object().if_contains("returns") : nullptr;
    if (!returns || !returns->is_array() || returns->as_array().empty() ||
        !returns->as_array()[0].is_string()) {
      return "null";
    }
    std::string_view value = returns->as_array()[0].as_string();
    json::value parsed = json::parse(value, ec);
    return ec ? json::serialize(json::string(value)) : json::serialize(parsed);
  }
  if (core_.op_name(task.op) == "exec") {
    // A command step's result is what it printed: JSON when stdout is JSON, else the text.
    boost::system::error_code ec;
    json::value r = json::parse(text, ec);
    const json::value* out = !ec && r.is_object() ? r.as_object().if_contains("stdout") : nullptr;
    if (out && out->is_string()) {
      json::value parsed = json::parse(out->as_string(), ec);
      text = ec ? json::serialize(*out) : json::serialize(parsed);
    }
  }
  return text;
}

void WorkflowService::OnFinished(const Task& task, std::string_view) {
  // Not inside Core's finish path: the engine's next steps submit tasks.
  bool ok = task.state == TaskState::kDone;
  std::string text = ok ? ResultText(task) : task.result;
  post_([this, id = task.id, ok, text = std::move(text)] { Finished(id, ok, text); });
}

namespace {

json::value Outline(const std::vector<Step>& steps);

json::value OutlineOne(const Step& s) {
  json::object body;
  switch (s.kind) {
    case Step::Kind::kTask: {
      bool options = s.retries || s.timeout || s.priority || s.continue_on_failure;
      if (!options) return json::value(s.name);
      break;
    }
    case Step::Kind::kGroup:
    case Step::Kind::kChain:
      body["type"] = s.kind == Step::Kind::kGroup ? "group" : "chain";
      body["tasks"] = Outline(s.steps);
      break;
    case Step::Kind::kMap:
      body["type"] = "map";
      body["over"] = s.over;
      body["task"] = s.task;
      break;
  }
  if (s.retries) body["retries"] = *s.retries;
  if (s.timeout) body["timeout"] = *s.timeout;
  if (s.priority) body["priority"] = *s.priority;
  if (s.continue_on_failure) body["continue_on_failure"] = true;
  return json::object{{s.name, std::move(body)}};
}

json::value Outline(const std::vector<Step>& steps) {
  json::array out;
  for (const Step& s : steps) out.push_back(OutlineOne(s));
  return out;
}

std::string KindName(const Node& n) {
  if (n.hook) return "hook";
  switch (n.kind) {
    case Step::Kind::kTask:
      return "task";
    case Step::Kind::kGroup:
      return "group";
    case Step::Kind::kChain:
      return "chain";
    case Step::Kind::kMap:
      return "map";
  }
  return "task";
}

json::value ParseOrString(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return json::value(text);
  return v;
}

}  // namespace

api::WorkflowView WorkflowService::WorkflowViewOf(const workflow::Workflow& w) const {
  api::WorkflowView v;
  v.name = w.name;
  v.tasks = Outline(w.root.steps);
  if (w.periodic.kind != workflow::Schedule::Kind::kNone) v.schedule = w.periodic.Describe();
  for (const auto& [name, when] : engine_.NextScheduled()) {
    if (name == w.name) v.next_run = when;
  }
  v.concurrency = w.concurrency;
  v.queue = w.queue;
  v.task_queues.assign(w.task_queues.begin(), w.task_queues.end());
  if (!w.on_success.empty()) v.on_success = w.on_success;
  if (!w.on_failure.empty()) v.on_failure = w.on_failure;
  v.schema = !w.schema.empty();
  return v;
}

api::RunView WorkflowService::RunViewOf(const Run& run, bool steps, bool elements) const {
  api::RunView v;
  v.id = run.id.value();
  v.workflow = run.workflow;
  v.state = std::string(workflow::RunStateName(run.state));
  v.trigger = run.trigger;
  v.payload = ParseOrString(run.payload);
  if (run.created) v.created = run.created;
  if (run.started) v.started = run.started;
  if (run.finished) v.finished = run.finished;
  if (!run.failed_step.empty()) {
    v.failed_step = run.failed_step;
    v.error = run.error;
  }
  if (!steps || run.nodes.empty()) return v;
  // Depth-first from the root's children, in the order the steps are written.
  std::vector<std::pair<uint32_t, int>> stack;
  const auto& root = run.nodes[0].children;
  for (auto it = root.rbegin(); it != root.rend(); ++it) stack.emplace_back(*it, 0);
  if (run.hook_node) stack.insert(stack.begin(), {*run.hook_node, 0});
  while (!stack.empty()) {
    auto [n, depth] = stack.back();
    stack.pop_back();
    const Node& node = run.nodes[n];
    api::StepView s;
    s.path = node.hook ? node.name : workflow::Engine::Path(run, n);
    s.name = node.name;
    s.kind = KindName(node);
    s.state = std::string(workflow::StepStateName(node.state));
    s.depth = depth;
    if (node.task) s.task = node.task->value();
    if (node.state == workflow::StepState::kSucceeded) s.result = ParseOrString(node.result);
    if (node.state == workflow::StepState::kFailed) s.error = node.result;
    if (node.started) s.started = node.started;
    if (node.finished) s.finished = node.finished;
    bool map = node.kind == Step::Kind::kMap;
    if (map) {
      s.elements = node.children.size();
      s.succeeded = node.succeeded_children;
      s.failed = node.failed_children;
    }
    v.steps.push_back(std::move(s));
    if (!map || elements) {
      for (auto it = node.children.rbegin(); it != node.children.rend(); ++it) {
        stack.emplace_back(*it, depth + 1);
      }
    }
  }
  return v;
}

namespace {

HttpResponse MethodNotAllowed(std::string_view allowed, const std::string& path) {
  return HttpResponse::Error(405, "use " + std::string(allowed) + " on " + path);
}

bool ParseId(std::string_view s, uint64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out > 0;
}

// A request's JSON object. A field outside `known` is an error, as in a task's body: a
// misspelt `paylod` would otherwise start a run with an empty payload.
Result<json::object> Body(const HttpRequest& req, bool empty_ok,
                          std::initializer_list<std::string_view> known) {
  if (req.body.empty() && empty_ok) return json::object();
  VOLO_RETURN_IF_ERROR(wire::CheckJson(req.body));
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  if (ec) return InvalidArgument("body: malformed JSON: " + ec.message());
  if (!v.is_object()) return InvalidArgument("body: must be a JSON object");
  for (const auto& kv : v.as_object()) {
    if (std::find(known.begin(), known.end(), kv.key()) != known.end()) continue;
    std::string list;
    for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    return InvalidArgument("body: unknown field '" + std::string(kv.key()) + "' (known: " + list +
                           ")");
  }
  return std::move(v.as_object());
}

HttpResponse StartRun(WorkflowService& s, const std::string& name, const json::object& body,
                      const std::string& trigger) {
  std::string payload = "{}";
  if (const json::value* p = body.if_contains("payload")) {
    if (!p->is_object()) return HttpResponse::Error(400, "payload: must be a JSON object");
    payload = json::serialize(*p);
  }
  auto run = s.engine().Start(name, payload, trigger);
  if (!run.ok()) {
    int code = run.status().code() == StatusCode::kNotFound ? 404 : 400;
    return HttpResponse::Error(code, run.status().message());
  }
  return HttpResponse::Json(
      201, api::Encode(s.RunViewOf(*s.engine().FindRun(*run), /*steps=*/true, false)));
}

HttpResponse Workflows(WorkflowService& s, const HttpRequest& req) {
  const std::string& p = req.path;
  const std::string& m = req.method;
  if (p == "/api/v1/workflows") {
    if (m == "GET") {
      api::WorkflowListView l;
      for (const auto* w : s.engine().Workflows()) l.workflows.push_back(s.WorkflowViewOf(*w));
      return HttpResponse::Json(200, api::Encode(l));
    }
    if (m != "POST") return MethodNotAllowed("GET or POST", p);
    auto body = Body(req, false, {"text", "filename", "files"});
    if (!body.ok()) return HttpResponse::Error(400, body.status().message());
    const json::value* text = body->if_contains("text");
    if (!text || !text->is_string()) {
      return HttpResponse::Error(400, "text: the workflow file's YAML, as a string");
    }
    std::string filename = "workflows.yml";
    if (const json::value* f = body->if_contains("filename")) {
      if (!f->is_string()) return HttpResponse::Error(400, "filename: must be a string");
      filename = std::string(f->as_string());
    }
    std::map<std::string, std::string> files;
    if (const json::value* f = body->if_contains("files")) {
      if (!f->is_object()) {
        return HttpResponse::Error(400, "files: must be an object of path to text");
      }
      for (const auto& [k, v] : f->as_object()) {
        if (!v.is_string()) {
          return HttpResponse::Error(400, "files." + std::string(k) + ": must be a string");
        }
        files[std::string(k)] = std::string(v.as_string());
      }
    }
    workflow::FileReader read = [&files](const std::string& path) -> Result<std::string> {
      auto it = files.find(path);
      if (it == files.end()) return NotFound("not sent with the workflow file");
      return it->second;
    };
    auto names = s.Apply(filename, std::string(text->as_string()), read);
    if (!names.ok()) return HttpResponse::Error(400, names.status().message());
    api::WorkflowListView l;
    for (const std::string& n : *names)
      l.workflows.push_back(s.WorkflowViewOf(*s.engine().Find(n)));
    return HttpResponse::Json(200, api::Encode(l));
  }
  // /api/v1/workflows/NAME and /api/v1/workflows/NAME/runs
  std::string rest = p.substr(std::string_view("/api/v1/workflows/").size());
  std::string action;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    action = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  const workflow::Workflow* w = s.engine().Find(rest);
  if (!w) return HttpResponse::Error(404, "no workflow named '" + rest + "'");
  if (action.empty()) {
    if (m != "GET") return MethodNotAllowed("GET", p);
    return HttpResponse::Json(200, api::Encode(s.WorkflowViewOf(*w)));
  }
  if (action == "runs") {
    if (m == "POST") {
      auto body = Body(req, true, {"payload"});
      if (!body.ok()) return HttpResponse::Error(400, body.status().message());
      return StartRun(s, rest, *body, "api");
    }
    if (m != "GET") return MethodNotAllowed("GET or POST", p);
    api::RunListView l;
    for (const Run* r : s.engine().Runs(rest, 100)) l.runs.push_back(s.RunViewOf(*r, false, false));
    return HttpResponse::Json(200, api::Encode(l));
  }
  return HttpResponse::Error(404, "unknown action '" + action + "' (known: runs)");
}

HttpResponse Runs(WorkflowService& s, const HttpRequest& req) {
  const std::string& p = req.path;
  const std::string& m = req.method;
  if (p == "/api/v1/runs") {
    if (m != "GET") return MethodNotAllowed("GET", p);
    uint64_t limit = 100;
    std::string l = req.Query("limit", "100");
    if (!ParseId(l, &limit)) return HttpResponse::Error(400, "limit must be a positive integer");
    std::string wf = req.Query("workflow");
    if (!wf.empty() && !s.engine().Find(wf)) {
      return HttpResponse::Error(404, "no workflow named '" + wf + "'");
    }
    api::RunListView list;
    for (const Run* r : s.engine().Runs(wf, limit)) {
      list.runs.push_back(s.RunViewOf(*r, false, false));
    }
    return HttpResponse::Json(200, api::Encode(list));
  }
  std::string rest = p.substr(std::string_view("/api/v1/runs/").size());
  std::string action;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    action = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  uint64_t id = 0;
  if (!ParseId(rest, &id)) {
    return HttpResponse::Error(400, "run id must be a positive integer, not '" + rest + "'");
  }
  const Run* run = s.engine().FindRun(workflow::RunId(id));
  if (!run) return HttpResponse::Error(404, "no run " + rest);
  if (action.empty()) {
    if (m != "GET") return MethodNotAllowed("GET", p);
    bool elements = req.Query("elements") == "1" || req.Query("elements") == "true";
    return HttpResponse::Json(200, api::Encode(s.RunViewOf(*run, true, elements)));
  }
  if (action == "cancel") {
    if (m != "POST") return MethodNotAllowed("POST", p);
    Status st = s.engine().Cancel(run->id);
    if (!st.ok()) return HttpResponse::Error(409, st.message());
    return HttpResponse::Json(200, api::Encode(s.RunViewOf(*run, true, false)));
  }
  if (action == "relaunch") {
    if (m != "POST") return MethodNotAllowed("POST", p);
    auto body = Body(req, true, {"from_failed"});
    if (!body.ok()) return HttpResponse::Error(400, body.status().message());
    bool from_failed = false;
    if (const json::value* f = body->if_contains("from_failed")) {
      if (!f->is_bool()) return HttpResponse::Error(400, "from_failed: must be true or false");
      from_failed = f->as_bool();
    }
    auto again = s.engine().Relaunch(run->id, from_failed);
    if (!again.ok()) {
      int code = again.status().code() == StatusCode::kNotFound ? 404 : 409;
      return HttpResponse::Error(code, again.status().message());
    }
    return HttpResponse::Json(201,
                              api::Encode(s.RunViewOf(*s.engine().FindRun(*again), true, false)));
  }
  return HttpResponse::Error(404, "unknown action '" + action + "' (known: cancel, relaunch)");
}

}  // namespace

HttpResponse HandleWorkflowRequest(WorkflowService* s, const HttpRequest& req) {
  if (!s) return HttpResponse::Error(404, "this planner runs no workflows");
  const std::string& p = req.path;
  if (p == "/api/v1/schedules") {
    if (req.method != "GET") return MethodNotAllowed("GET", p);
    json::array out;
    for (const auto& [name, when] : s->engine().NextScheduled()) {
      const workflow::Workflow* w = s->engine().Find(name);
      out.push_back(json::object{
          {"workflow", name}, {"schedule", w ? w->periodic.Describe() : ""}, {"next_run", when}});
    }
    return HttpResponse::Json(200, api::Serialize(json::object{{"schedules", std::move(out)}}));
  }
  if (p == "/api/workflows") {
    // Director's own API: {"project": "ovh", "name": "ETL", "payload": {...}}; Director 0.8's
    // optional "comment" is accepted (its clients send it) but not kept.
    if (req.method != "POST") return MethodNotAllowed("POST", p);
    auto body = Body(req, false, {"project", "name", "payload", "comment"});
    if (!body.ok()) return HttpResponse::Error(400, body.status().message());
    const json::value* project = body->if_contains("project");
    const json::value* name = body->if_contains("name");
    if (!project || !project->is_string() || !name || !name->is_string()) {
      return HttpResponse::Error(400, "project and name: strings naming PROJECT.NAME");
    }
    return StartRun(*s, std::string(project->as_string()) + "." + std::string(name->as_string()),
                    *body, "api");
  }
  if (p.starts_with("/api/v1/runs")) return Runs(*s, req);
  return Workflows(*s, req);
}

}  // namespace volo::planner
