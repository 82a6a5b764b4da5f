#include "workflow/engine.h"

#include <algorithm>
#include <boost/json.hpp>

#include "common/json_text.h"
#include "wire/messages.h"
#include "workflow/schema.h"

namespace volo::workflow {
namespace json = boost::json;

std::string_view StepStateName(StepState s) {
  switch (s) {
    case StepState::kPending:
      return "pending";
    case StepState::kRunning:
      return "running";
    case StepState::kSucceeded:
      return "succeeded";
    case StepState::kFailed:
      return "failed";
    case StepState::kCancelled:
      return "cancelled";
  }
  return "?";
}

std::string_view RunStateName(RunState s) {
  switch (s) {
    case RunState::kQueued:
      return "queued";
    case RunState::kRunning:
      return "running";
    case RunState::kSucceeded:
      return "succeeded";
    case RunState::kFailed:
      return "failed";
    case RunState::kCancelled:
      return "cancelled";
  }
  return "?";
}

namespace {

bool Ended(StepState s) {
  return s == StepState::kSucceeded || s == StepState::kFailed || s == StepState::kCancelled;
}

// The value at "payload.a.b" (or "payload"); nullptr when a part is missing.
const json::value* AtPath(const json::value& payload, std::string_view path) {
  const json::value* v = &payload;
  path.remove_prefix(std::min<size_t>(path.size(), 7));  // "payload"
  while (!path.empty()) {
    if (path.front() == '.') path.remove_prefix(1);
    size_t dot = path.find('.');
    std::string_view key = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot);
    const json::object* o = v->if_object();
    if (!o) return nullptr;
    v = o->if_contains(key);
    if (!v) return nullptr;
  }
  return v;
}

// Merges the task's own args (a JSON object's text) with the step's inputs.
std::string Args(std::string_view own, std::string_view inputs) {
  // own is "{...}"; inputs is `"payload":...,"parents":[...]`.
  std::string out(own);
  while (!out.empty() && out.back() != '}') out.pop_back();
  if (out.size() < 2) out = "{}";
  out.pop_back();
  if (out.size() > 1) out += ',';
  out += inputs;
  out += '}';
  return out;
}

}  // namespace

bool Settled(const Run& run) {
  if (run.state == RunState::kQueued || run.state == RunState::kRunning) return false;
  return !run.hook_node || Ended(run.nodes[*run.hook_node].state);
}

Engine::Engine(StepSink& sink, const Clock& clock, EngineOptions options)
    : sink_(sink), clock_(clock), options_(options) {}

void Engine::Define(std::shared_ptr<const WorkflowFile> file) {
  double now = clock_.Wall();
  for (const Workflow& w : file->workflows) {
    defs_[w.name] = file;
    next_fire_.erase(w.name);
    if (w.periodic.kind != Schedule::Kind::kNone) {
      auto next = w.periodic.Next(SysSeconds(std::chrono::seconds(static_cast<int64_t>(now))));
      if (next) next_fire_[w.name] = static_cast<double>(next->time_since_epoch().count());
    }
  }
}

const Workflow* Engine::Find(std::string_view name) const {
  auto it = defs_.find(name);
  return it == defs_.end() ? nullptr : it->second->Find(name);
}

std::vector<const Workflow*> Engine::Workflows() const {
  std::vector<const Workflow*> out;
  for (const auto& [name, file] : defs_) out.push_back(file->Find(name));
  return out;
}

Result<RunId> Engine::Start(std::string_view workflow, std::string_view payload_json,
                            std::string trigger) {
  auto it = defs_.find(workflow);
  if (it == defs_.end()) return NotFound("no workflow named '" + std::string(workflow) + "'");
  const Workflow* def = it->second->Find(workflow);
  if (payload_json.empty()) payload_json = "{}";
  boost::system::error_code ec;
  json::value payload = json::parse(payload_json, ec);
  if (ec || !payload.is_object()) return InvalidArgument("payload: must be a JSON object");
  if (!def->schema.empty()) {
    auto schema = PayloadSchema::Compile(def->schema);
    if (schema.ok()) VOLO_RETURN_IF_ERROR(schema->Check(payload_json));
  }
  auto run = std::make_unique<Run>();
  run->id = RunId(next_run_++);
  run->workflow = def->name;
  run->file = it->second;
  run->def = def;
  run->payload = json::serialize(payload);
  run->trigger = std::move(trigger);
  run->created = clock_.Wall();
  Run& r = *run;
  runs_.emplace(r.id.value(), std::move(run));
  if (observer_) observer_->OnRunCreated(r);
  RunId id = r.id;
  Enqueue(r);
  Forget();
  return id;
}

void Engine::Enqueue(Run& r) {
  if (r.def->concurrency > 0 && running_[r.workflow] >= r.def->concurrency) {
    queued_[r.workflow].push_back(r.id.value());
  } else {
    Begin(r);
  }
}

void Engine::Restore(RunId id, const std::string& workflow, std::string payload,
                     std::string trigger, double created,
                     std::unordered_map<std::string, std::string> reuse) {
  auto it = defs_.find(workflow);
  if (it == defs_.end() || runs_.contains(id.value())) return;
  auto run = std::make_unique<Run>();
  run->id = id;
  run->workflow = workflow;
  run->file = it->second;
  run->def = it->second->Find(workflow);
  run->payload = std::move(payload);
  run->trigger = std::move(trigger);
  run->created = created;
  run->reuse = std::move(reuse);
  next_run_ = std::max(next_run_, id.value() + 1);
  Run& r = *run;
  runs_.emplace(id.value(), std::move(run));
  Enqueue(r);
}

void Engine::SetLastFired(const std::string& workflow, double at) {
  const Workflow* w = Find(workflow);
  if (!w || w->periodic.kind == Schedule::Kind::kNone) return;
  auto next = w->periodic.Next(SysSeconds(std::chrono::seconds(static_cast<int64_t>(at))));
  if (next) next_fire_[workflow] = static_cast<double>(next->time_since_epoch().count());
}

std::string Engine::Key(const Run& run, uint32_t node) {
  const Node& n = run.nodes[node];
  return n.hook ? "hook:" + n.name : Path(run, node);
}

void Engine::Begin(Run& run) {
  run.state = RunState::kRunning;
  run.started = clock_.Wall();
  ++running_[run.workflow];
  run.nodes.clear();
  AddNode(run, UINT32_MAX, &run.def->root, run.def->name);
  StartNode(run, 0);
}

uint32_t Engine::AddNode(Run& run, uint32_t parent, const Step* step, std::string name) {
  uint32_t n = static_cast<uint32_t>(run.nodes.size());
  Node node;
  node.parent = parent;
  node.step = step;
  node.name = std::move(name);
  if (step) {
    node.kind = step->kind;
    node.continue_on_failure = step->continue_on_failure;
  }
  if (parent != UINT32_MAX) {
    node.index = static_cast<uint32_t>(run.nodes[parent].children.size());
  }
  run.nodes.push_back(std::move(node));
  if (parent != UINT32_MAX) run.nodes[parent].children.push_back(n);
  if (step && (step->kind == Step::Kind::kChain || step->kind == Step::Kind::kGroup)) {
    for (const Step& c : step->steps) AddNode(run, n, &c, c.name);
  }
  return n;
}

std::string Engine::Path(const Run& run, uint32_t n) {
  // Parts from the step up to the root, joined in reverse: prepending to the path at each
  // level would cost the square of the depth (nested workflows nest without a limit).
  std::vector<std::string> parts;
  while (n != 0 && n != UINT32_MAX) {
    const Node& node = run.nodes[n];
    const Node* parent = node.parent == UINT32_MAX ? nullptr : &run.nodes[node.parent];
    if (parent && parent->kind == Step::Kind::kMap) {
      // "EACH[3]": the element's place joins its map's name.
      parts.push_back("[" + std::to_string(node.index) + "]");
      n = node.parent;
      continue;
    }
    std::string part = node.name;
    if (parent) {
      // Two steps of one name under one parent are told apart by their place.
      for (uint32_t sibling : parent->children) {
        if (sibling != n && run.nodes[sibling].name == node.name) {
          part += "#" + std::to_string(node.index + 1);
          break;
        }
      }
    }
    parts.push_back(std::move(part));
    n = node.parent;
  }
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (!path.empty() && it->front() != '[') path += '/';
    path += *it;
  }
  return path;
}

void Engine::StartNode(Run& run, uint32_t n) {
  if (run.state != RunState::kRunning) return;
  if (!run.reuse.empty() && n != 0) {
    auto it = run.reuse.find(Path(run, n));
    if (it != run.reuse.end()) {
      run.nodes[n].started = clock_.Wall();
      Finish(run, n, StepState::kSucceeded, it->second);
      return;
    }
  }
  Node& node = run.nodes[n];
  node.state = StepState::kRunning;
  node.started = clock_.Wall();
  switch (node.kind) {
    case Step::Kind::kTask: {
      // A task name that is a workflow of the run's file expands into a chain of its steps.
      const Step* step = node.step ? node.step : run.nodes[node.parent].step;  // map element
      const std::string& task = step->task;
      if (!run.file->Task(task) && !wire::IsBuiltinOp(task)) {
        if (const Workflow* nested = run.file->Find(task)) {
          ExpandWorkflow(run, n, *nested);
          return;
        }
      }
      StartTask(run, n);
      return;
    }
    case Step::Kind::kChain:
      if (node.children.empty()) {
        Finish(run, n, StepState::kSucceeded, "null");
      } else {
        StartNode(run, node.children[0]);
      }
      return;
    case Step::Kind::kGroup: {
      if (node.children.empty()) {
        Finish(run, n, StepState::kSucceeded, "[]");
        return;
      }
      std::vector<uint32_t> children = node.children;  // StartNode may grow run.nodes
      for (uint32_t c : children) {
        if (run.state != RunState::kRunning || Ended(run.nodes[n].state)) return;
        StartNode(run, c);
      }
      return;
    }
    case Step::Kind::kMap:
      ExpandMap(run, n);
      return;
  }
}

void Engine::ExpandWorkflow(Run& run, uint32_t n, const Workflow& nested) {
  Node& node = run.nodes[n];
  node.kind = Step::Kind::kChain;
  for (const Step& c : nested.root.steps) AddNode(run, n, &c, c.name);
  if (run.nodes[n].children.empty()) {
    Finish(run, n, StepState::kSucceeded, "null");
  } else {
    StartNode(run, run.nodes[n].children[0]);
  }
}

void Engine::ExpandMap(Run& run, uint32_t n) {
  const Step& step = *run.nodes[n].step;
  std::string source;
  if (step.over == "payload" || step.over.starts_with("payload.")) {
    json::value payload = json::parse(run.payload);
    const json::value* v = AtPath(payload, step.over);
    source = v ? json::serialize(*v) : "null";
  } else if (const Node* from = Named(run, step.over)) {
    source = from->result;
  } else {
    Finish(run, n, StepState::kFailed,
           "map '" + step.name + "': no finished step named '" + step.over + "'");
    return;
  }
  boost::system::error_code ec;
  json::value list = json::parse(source, ec);
  if (ec || !list.is_array()) {
    std::string shown = source.size() > 200 ? source.substr(0, 200) + "..." : source;
    Finish(run, n, StepState::kFailed,
           "map '" + step.name + "' runs over " + step.over + ", which is not a list: " + shown);
    return;
  }
  const json::array& items = list.as_array();
  if (items.size() > options_.max_map_elements) {
    Finish(run, n, StepState::kFailed,
           "map '" + step.name + "' over " + std::to_string(items.size()) +
               " elements: more than the limit of " + std::to_string(options_.max_map_elements));
    return;
  }
  if (items.empty()) {
    Finish(run, n, StepState::kSucceeded, "[]");
    return;
  }
  run.nodes.reserve(run.nodes.size() + items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    uint32_t c = AddNode(run, n, nullptr, step.task);
    Node& e = run.nodes[c];
    e.kind = Step::Kind::kTask;
    e.continue_on_failure = step.continue_on_failure;
    // The element's item is its result until it runs; StartTask reads it from there.
    e.result = json::serialize(items[i]);
  }
  FillMap(run, n);
}

// Starts a map's next elements until map_window of them are running. A child that ends at once
// (a failed submit, a reused result) comes back through ChildFinished, which leaves the filling
// to this loop instead of recursing once per element.
void Engine::FillMap(Run& run, uint32_t n) {
  if (run.nodes[n].filling) return;
  run.nodes[n].filling = true;
  while (run.state == RunState::kRunning && !Ended(run.nodes[n].state)) {
    Node& map = run.nodes[n];  // StartNode may grow run.nodes: look it up each time
    if (map.started_children >= map.children.size()) break;
    if (map.started_children - map.ended_children >= options_.map_window) break;
    uint32_t c = map.children[map.started_children++];
    StartNode(run, c);
  }
  run.nodes[n].filling = false;
}

void Engine::StartTask(Run& run, uint32_t n) {
  Node& node = run.nodes[n];
  const Node* parent = node.parent == UINT32_MAX ? nullptr : &run.nodes[node.parent];
  bool element = parent && parent->kind == Step::Kind::kMap;
  const Step* step = element ? parent->step : node.step;
  const std::string& task = element ? step->task : (node.hook ? node.name : step->task);
  StepCall call;
  call.run = run.id;
  call.node = n;
  call.def = run.file->Task(task);
  std::string own = "{}";
  if (call.def) {
    // A FLY step (kFly) runs on the `fly` operation; the sink turns its inputs into the
    // function's argument.
    call.op = call.def->kind == TaskKind::kFly ? "fly" : call.def->op;
    own = call.def->kind == TaskKind::kFly ? "{}" : call.def->args;
    call.retries = call.def->retries;
    call.timeout = call.def->timeout;
    call.priority = call.def->priority;
    call.labels = call.def->labels;
  } else {
    call.op = task;
  }
  if (step && !node.hook) {
    if (step->retries) call.retries = *step->retries;
    if (step->timeout) call.timeout = *step->timeout;
    if (step->priority) call.priority = *step->priority;
    for (const auto& l : step->labels) call.labels.push_back(l);
  }
  call.labels.emplace_back("workflow", run.workflow);
  call.labels.emplace_back("run", std::to_string(run.id.value()));
  // Director's queue holds for the whole run: nested workflows' steps and hooks too, each
  // task name to its own queue where `queue.customs` names one.
  call.queue = run.def->QueueOf(task);
  std::string inputs;
  if (element) {
    // Not the payload: a map over a long payload list would copy it into every element.
    inputs = "\"item\":" + node.result + ",\"index\":" + std::to_string(node.index);
    node.result.clear();
  } else if (node.hook) {
    inputs = "\"payload\":" + run.payload;
    inputs += ",\"run\":" + std::to_string(run.id.value()) + ",\"workflow\":";
    AppendJsonString(inputs, run.workflow);
    inputs += ",\"status\":";
    AppendJsonString(inputs, RunStateName(run.state));
    if (!run.failed_step.empty()) {
      inputs += ",\"failed_step\":";
      AppendJsonString(inputs, run.failed_step);
      inputs += ",\"error\":";
      AppendJsonString(inputs, run.error);
    }
  } else {
    inputs = "\"payload\":" + run.payload + ",\"parents\":" + ParentsOf(run, n);
  }
  if (call.def && call.def->kind == TaskKind::kCommand &&
      own.find("\"stdin\"") == std::string::npos) {
    // A command reads its inputs as JSON on stdin, as a Director task reads its arguments.
    std::string text = "{" + inputs + "}";
    inputs.clear();
    inputs = "\"stdin\":";
    AppendJsonString(inputs, text);
  }
  call.args = Args(own, inputs);
  auto id = sink_.Submit(call);
  if (!id.ok()) {
    Finish(run, n, StepState::kFailed, "task '" + task + "': " + id.status().message());
    return;
  }
  run.nodes[n].task = *id;
  ++run.running_tasks;
  by_task_[id->value()] = {run.id.value(), n};
}

void Engine::OnTaskFinished(TaskId task, bool ok, std::string_view result_or_error) {
  auto it = by_task_.find(task.value());
  if (it == by_task_.end()) return;
  auto [run_id, n] = it->second;
  by_task_.erase(it);
  Run* run = Mutable(RunId(run_id));
  if (!run) return;
  --run->running_tasks;
  if (run->nodes[n].state != StepState::kRunning) return;  // cancelled meanwhile
  std::string text(result_or_error);
  if (ok && text.empty()) text = "null";
  Finish(*run, n, ok ? StepState::kSucceeded : StepState::kFailed, std::move(text));
  Forget();
}

void Engine::Finish(Run& run, uint32_t n, StepState state, std::string result) {
  Node& node = run.nodes[n];
  if (Ended(node.state)) return;
  node.state = state;
  node.result = std::move(result);
  node.finished = clock_.Wall();
  if (node.hook) {
    if (observer_) observer_->OnRunSettled(run);
    return;
  }
  // The first failure that is not tolerated is where the run's failure comes from; parents
  // that fail because of it come later.
  if (state == StepState::kFailed && run.failed_step.empty() && !node.continue_on_failure) {
    run.failed_step = Path(run, n);
    run.error = node.result;
  }
  if (node.parent == UINT32_MAX) {
    EndRun(run, state == StepState::kSucceeded   ? RunState::kSucceeded
                : state == StepState::kCancelled ? RunState::kCancelled
                                                 : RunState::kFailed);
    return;
  }
  ChildFinished(run, node.parent, n);
}

void Engine::ChildFinished(Run& run, uint32_t p, uint32_t child) {
  Node& parent = run.nodes[p];
  const Node& c = run.nodes[child];
  ++parent.ended_children;
  if (c.state == StepState::kSucceeded) ++parent.succeeded_children;
  if (c.state == StepState::kFailed) ++parent.failed_children;
  if (Ended(parent.state)) return;
  bool tolerated = c.state == StepState::kSucceeded || c.continue_on_failure;
  if (!tolerated) {
    std::string why = c.state == StepState::kCancelled ? "cancelled" : c.result;
    Finish(run, p, c.state == StepState::kCancelled ? StepState::kCancelled : StepState::kFailed,
           Path(run, child) + ": " + why);
    return;
  }
  if (parent.kind == Step::Kind::kChain) {
    if (c.index + 1 < parent.children.size()) {
      StartNode(run, parent.children[c.index + 1]);
    } else {
      Finish(run, p, StepState::kSucceeded, ResultOf(run, child));
    }
    return;
  }
  // Group or map: done when every member has ended.
  if (parent.ended_children < parent.children.size()) {
    if (parent.kind == Step::Kind::kMap) FillMap(run, p);
    return;
  }
  std::string list = "[";
  for (size_t i = 0; i < parent.children.size(); ++i) {
    if (i) list += ',';
    list += ResultOf(run, parent.children[i]);
  }
  list += ']';
  Finish(run, p, StepState::kSucceeded, std::move(list));
}

// What later steps see as a node's result: a failed step that was allowed to fail is null.
std::string Engine::ResultOf(const Run& run, uint32_t n) const {
  const Node& node = run.nodes[n];
  return node.state == StepState::kSucceeded ? node.result : "null";
}

// The results handed to a step: those of the step before it in its chain (each member's for a
// group or a map), or, for the first step of a chain or a member of a group, its parent's.
std::string Engine::ParentsOf(const Run& run, uint32_t n) const {
  uint32_t cur = n;
  while (true) {
    const Node& node = run.nodes[cur];
    if (node.parent == UINT32_MAX) return "[]";
    const Node& parent = run.nodes[node.parent];
    // Inside a map element that expanded into a nested workflow: the element's item.
    if (parent.kind == Step::Kind::kMap) return "[" + node.result + "]";
    if (parent.kind == Step::Kind::kChain && node.index > 0) {
      std::string out = "[";
      bool first = true;
      AppendOutputs(run, parent.children[node.index - 1], out, first);
      return out + "]";
    }
    cur = node.parent;
  }
}

void Engine::AppendOutputs(const Run& run, uint32_t n, std::string& out, bool& first) const {
  const Node& node = run.nodes[n];
  if (node.kind == Step::Kind::kGroup) {
    for (uint32_t c : node.children) AppendOutputs(run, c, out, first);
    return;
  }
  if (node.kind == Step::Kind::kMap) {
    for (uint32_t c : node.children) {
      if (!first) out += ',';
      first = false;
      out += ResultOf(run, c);
    }
    return;
  }
  if (node.kind == Step::Kind::kChain && !node.children.empty()) {
    AppendOutputs(run, node.children.back(), out, first);
    return;
  }
  if (!first) out += ',';
  first = false;
  out += ResultOf(run, n);
}

// The latest step of that name that has succeeded.
const Node* Engine::Named(const Run& run, std::string_view name) const {
  const Node* found = nullptr;
  double when = -1;
  for (const Node& node : run.nodes) {
    if (node.name == name && node.state == StepState::kSucceeded && node.step &&
        node.finished >= when) {
      found = &node;
      when = node.finished;
    }
  }
  return found;
}

void Engine::EndRun(Run& run, RunState state) {
  if (run.state != RunState::kRunning) return;
  run.state = state;
  run.finished = clock_.Wall();
  CancelRunning(run);
  if (observer_) observer_->OnRunEnded(run);
  if (--running_[run.workflow] <= 0) running_.erase(run.workflow);
  // Hooks see the outcome; a cancelled run runs neither.
  const std::string& hook = state == RunState::kSucceeded ? run.def->on_success
                            : state == RunState::kFailed  ? run.def->on_failure
                                                          : std::string();
  if (!hook.empty()) {
    uint32_t h = static_cast<uint32_t>(run.nodes.size());
    Node node;
    node.hook = true;
    node.name = hook;
    node.state = StepState::kRunning;
    node.started = clock_.Wall();
    run.nodes.push_back(std::move(node));
    run.hook_node = h;
    // StartTask checks nothing about the run's state, so the hook starts although it ended.
    StartTask(run, h);
  } else if (observer_) {
    observer_->OnRunSettled(run);
  }
  StartNextQueued(run.workflow);
}

void Engine::CancelRunning(Run& run) {
  for (uint32_t n = 0; n < run.nodes.size(); ++n) {
    Node& node = run.nodes[n];
    if (node.hook || Ended(node.state)) continue;
    node.state = StepState::kCancelled;
    node.finished = clock_.Wall();
    if (node.task && by_task_.erase(node.task->value()) > 0) {
      --run.running_tasks;
      sink_.Cancel(*node.task);
    }
  }
}

Status Engine::Cancel(RunId id) {
  Run* run = Mutable(id);
  if (!run) return NotFound("no run " + std::to_string(id.value()));
  if (run->state == RunState::kQueued) {
    auto& q = queued_[run->workflow];
    q.erase(std::remove(q.begin(), q.end(), id.value()), q.end());
    run->state = RunState::kCancelled;
    run->finished = clock_.Wall();
    if (observer_) {
      observer_->OnRunEnded(*run);
      observer_->OnRunSettled(*run);
    }
    return Status::Ok();
  }
  if (run->state != RunState::kRunning) {
    return FailedPrecondition("run " + std::to_string(id.value()) + " has already ended (" +
                              std::string(RunStateName(run->state)) + ")");
  }
  EndRun(*run, RunState::kCancelled);
  Forget();
  return Status::Ok();
}

Result<RunId> Engine::Relaunch(RunId id, bool from_failed) {
  const Run* old = FindRun(id);
  if (!old) return NotFound("no run " + std::to_string(id.value()));
  if (old->state == RunState::kRunning || old->state == RunState::kQueued) {
    return FailedPrecondition("run " + std::to_string(id.value()) + " is still " +
                              std::string(RunStateName(old->state)) + "; cancel it first");
  }
  std::unordered_map<std::string, std::string> reuse;
  if (from_failed) {
    for (uint32_t n = 1; n < old->nodes.size(); ++n) {
      const Node& node = old->nodes[n];
      if (!node.hook && node.state == StepState::kSucceeded) reuse[Path(*old, n)] = node.result;
    }
  }
  std::string workflow = old->workflow, payload = old->payload;
  auto it = defs_.find(workflow);
  if (it == defs_.end()) return NotFound("workflow '" + workflow + "' is no longer defined");
  // Start with the reuse table in place before the first step starts.
  auto run = std::make_unique<Run>();
  run->id = RunId(next_run_++);
  run->workflow = workflow;
  run->file = it->second;
  run->def = it->second->Find(workflow);
  run->payload = payload;
  run->trigger =
      (from_failed ? "relaunch from failed of " : "relaunch of ") + std::to_string(id.value());
  run->created = clock_.Wall();
  run->reuse = std::move(reuse);
  Run& r = *run;
  runs_.emplace(r.id.value(), std::move(run));
  if (observer_) observer_->OnRunCreated(r);
  Enqueue(r);
  return r.id;
}

void Engine::StartNextQueued(const std::string& workflow) {
  auto it = queued_.find(workflow);
  if (it == queued_.end()) return;
  while (!it->second.empty()) {
    const Workflow* def = Find(workflow);
    if (def && def->concurrency > 0 && running_[workflow] >= def->concurrency) return;
    uint64_t id = it->second.front();
    it->second.pop_front();
    if (Run* run = Mutable(RunId(id)); run && run->state == RunState::kQueued) Begin(*run);
  }
}

void Engine::Tick() {
  double now = clock_.Wall();
  std::vector<std::string> due;
  for (auto& [name, when] : next_fire_) {
    if (when <= now) due.push_back(name);
  }
  for (const std::string& name : due) {
    const Workflow* w = Find(name);
    if (!w) {
      next_fire_.erase(name);
      continue;
    }
    // The next time counts from now, so a long downtime starts one run, not a burst.
    auto next = w->periodic.Next(SysSeconds(std::chrono::seconds(static_cast<int64_t>(now))));
    if (next) {
      next_fire_[name] = static_cast<double>(next->time_since_epoch().count());
    } else {
      next_fire_.erase(name);
    }
    if (observer_) observer_->OnFired(name, now);
    (void)Start(name, w->periodic_payload, "schedule");
  }
}

std::vector<std::pair<std::string, double>> Engine::NextScheduled() const {
  return {next_fire_.begin(), next_fire_.end()};
}

const Run* Engine::FindRun(RunId id) const {
  auto it = runs_.find(id.value());
  return it == runs_.end() ? nullptr : it->second.get();
}

Run* Engine::Mutable(RunId id) {
  auto it = runs_.find(id.value());
  return it == runs_.end() ? nullptr : it->second.get();
}

std::vector<const Run*> Engine::Runs(std::string_view workflow, size_t limit) const {
  std::vector<const Run*> out;
  for (auto it = runs_.rbegin(); it != runs_.rend() && out.size() < limit; ++it) {
    if (workflow.empty() || it->second->workflow == workflow) out.push_back(it->second.get());
  }
  return out;
}

// Drops the oldest finished runs beyond the limit (their hooks done).
void Engine::Forget() {
  if (runs_.size() <= options_.keep_finished_runs) return;
  size_t excess = runs_.size() - options_.keep_finished_runs;
  for (auto it = runs_.begin(); it != runs_.end() && excess > 0;) {
    const Run& r = *it->second;
    bool hook_running = r.hook_node && !Ended(r.nodes[*r.hook_node].state);
    if ((r.state == RunState::kSucceeded || r.state == RunState::kFailed ||
         r.state == RunState::kCancelled) &&
        !hook_running) {
      it = runs_.erase(it);
      --excess;
    } else {
      ++it;
    }
  }
}

}  // namespace volo::workflow
