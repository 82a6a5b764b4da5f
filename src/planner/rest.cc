#include "planner/rest.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cstdlib>
#include <memory>

#include "net/client.h"
#include "planner/arrays.h"
#include "planner/dashboard.h"
#include "planner/functions.h"
#include "planner/functions_rest.h"
#include "planner/metrics.h"
#include "planner/workflows.h"
#include "wire/json_limits.h"
#include "wire/messages.h"

namespace volo::planner {
namespace json = boost::json;
using net::HttpRequest;
using net::HttpResponse;

namespace {

constexpr size_t kMaxWaitIds = 10000;

template <typename View>
HttpResponse Ok(const View& view, int status = 200) {
  return HttpResponse::Json(status, api::Encode(view));
}

bool ParseU64(std::string_view s, uint64_t* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

double ParseSeconds(const std::string& s, double fallback, double max) {
  if (s.empty()) return fallback;
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0' || !(d >= 0)) return -1;
  return std::min(d, max);
}

// JSON text held by a task (validated when it arrived) as a tree; text that somehow is not
// JSON is shown as a string rather than breaking the answer.
json::value TreeOf(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return json::value(json::string(text.data(), text.size()));
  return v;
}

Nanos SecondsToNanos(double s) {
  return std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(s));
}

// A task as the API shows it, looked up again by id: one that was pruned meanwhile shows as
// such.
api::TaskView ViewById(const Core& core, uint64_t id) {
  if (const Task* t = core.Find(TaskId(id))) return TaskViewOf(core, *t);
  api::TaskView v;
  v.id = id;
  v.state = api::TaskStatus::kPruned;
  return v;
}

HttpResponse MethodNotAllowed(const std::string& allowed, const std::string& path) {
  return HttpResponse::Error(405, "use " + allowed + " on " + path);
}

Status CheckBody(const HttpRequest& req) { return wire::CheckJson(req.body); }

}  // namespace

api::TaskView TaskViewOf(const Core& core, const Task& t) {
  api::TaskView v;
  v.id = t.id.value();
  v.op = std::string(core.op_name(t.op));
  v.args = TreeOf(t.args);
  switch (t.state) {
    case TaskState::kQueued:
      v.state = api::TaskStatus::kQueued;
      break;
    case TaskState::kRunning:
      v.state = api::TaskStatus::kRunning;
      break;
    case TaskState::kDone:
      v.state = api::TaskStatus::kDone;
      break;
    case TaskState::kFailed:
      v.state = api::TaskStatus::kFailed;
      break;
    case TaskState::kCancelled:
      v.state = api::TaskStatus::kCancelled;
      break;
    case TaskState::kPruned:
      v.state = api::TaskStatus::kPruned;
      break;
  }
  if (t.state == TaskState::kDone) {
    v.result = TreeOf(t.result);
  } else if (!t.result.empty()) {
    v.error = t.result;  // failed, cancelled, or the last failed attempt's error
  }
  if (t.worker != kNoWorker) v.worker = core.worker(t.worker).id.value();
  v.attempts = t.attempts;
  v.retries = t.retries;
  v.priority = t.priority;
  if (t.timeout != 0) v.timeout = t.timeout;
  if (t.labels) v.labels = *t.labels;
  if (t.submitted != 0) v.submitted = t.submitted;
  if (t.started != 0) v.started = t.started;
  if (Finished(t.state) && t.finished != 0) v.finished = t.finished;
  if (t.request) {
    std::string res;
    wire::AppendResources(res, t.request->spec);
    v.resources = TreeOf(res);
    if (std::string why = core.WhyWaiting(t); !why.empty()) v.waiting = std::move(why);
  }
  return v;
}

api::WorkerView WorkerViewOf(const Core& core, const WorkerInfo& w) {
  api::WorkerView v;
  v.id = w.id.value();
  v.kind = w.kind == WorkerKind::kNative ? api::WorkerKind::kNative : api::WorkerKind::kHttp;
  for (uint32_t op : w.ops) v.ops.emplace_back(core.op_name(op));
  v.slots = w.slots;
  v.running = w.inflight.size();
  v.done = w.done;
  v.busy_seconds = w.busy_seconds;
  std::string res;
  wire::AppendResources(res, w.advertised);
  v.resources = TreeOf(res);
  wire::Resources used;
  used.millicpus = w.used.millicpus;
  used.memory_mib = w.used.memory_mib;
  for (const auto& [name, n] : w.advertised.named) {
    (void)n;
    if (auto i = core.ResourceIndex(name); i && w.used.Named(*i) > 0) {
      used.named.emplace_back(name, w.used.Named(*i));
    }
  }
  res.clear();
  wire::AppendResources(res, used);
  v.resources_used = TreeOf(res);
  v.state = !w.alive     ? api::WorkerState::kGone
            : w.draining ? api::WorkerState::kDraining
                         : api::WorkerState::kLive;
  return v;
}

api::StatusView StatusViewOf(const Core& core) {
  Counts c = core.counts();
  api::StatusView s;
  s.workers = core.live_workers();
  s.queued = c.queued;
  s.running = c.running;
  s.done = c.done;
  s.failed = c.failed;
  s.cancelled = c.cancelled;
  for (auto& w : core.Waiting()) s.waiting.push_back({w.op, w.queued, w.reason});
  return s;
}

void HandleRequest(RestContext& ctx, const HttpRequest& req, const Reply& reply) {
  const std::string& p = req.path;
  const std::string& m = req.method;
  if (p == "/healthz") return reply(HttpResponse::Json(200, "{\"ok\":true}"));
  if (p == "/readyz") {
    return reply(ctx.env.stopping() ? HttpResponse::Error(503, "stopping")
                                    : HttpResponse::Json(200, "{\"ready\":true}"));
  }
  // Function calls are the user's own HTTP API, which any page may call (docs/functions.md).
  if (!IsFunctionPath(p)) {
    if (auto refused = RefuseForeignBrowser(req, ctx.api_token, false)) {
      return reply(std::move(*refused));
    }
  }
  // The web pages take GETs but the API's and function calls' (`GET /fn/NAME` calls NAME).
  if (ctx.pages && *ctx.pages && (m == "GET" || m == "HEAD") && p.rfind("/api/", 0) != 0 &&
      p.rfind("/fn/", 0) != 0) {
    if (auto page = (*ctx.pages)(req)) return reply(std::move(*page));
  }
  if (ctx.dashboard && ctx.dashboard->HandlePublic(ctx, req, reply)) return;
  const bool blob = p.rfind("/api/v1/blobs/", 0) == 0;
  // Workers fetch bundles with their join token too; only clients list, upload or remove them.
  const bool bundle_fetch = p.rfind("/api/v1/bundles/", 0) == 0 && (m == "GET" || m == "HEAD");
  if (p == "/register" || (p == "/api/v1/workers/http" && m == "POST")) {
    // Enrolling a worker takes the join token only: a worker receives other users' arguments
    // and reports results, which an API client must not be able to arrange.
    if (!BearerMatches(req, ctx.join_token)) return reply(Unauthorized("workers"));
    if (m != "POST") return reply(MethodNotAllowed("POST", p));
    return RegisterHttpWorker(ctx, req, reply);
  }
  if (IsFunctionPath(p)) {
    // A public function is called without a token; the handler checks the rest.
    return HandleFunctionRequest(ctx, req, BearerMatches(req, ctx.api_token), reply);
  }
  if ((blob && m != "PUT") || bundle_fetch) {
    // Workers fetch the programs they run with their join token; clients upload them.
    if (!BearerMatches(req, ctx.join_token) && !BearerMatches(req, ctx.api_token)) {
      return reply(Unauthorized(blob ? "blobs" : "bundles"));
    }
  } else if (!BearerMatches(req, ctx.api_token)) {
    // The dashboard's session cookie stands in for the token (with CSRF checks).
    if (!ctx.dashboard) return reply(Unauthorized("the API"));
    if (auto denied = ctx.dashboard->Authorize(ctx, req)) return reply(std::move(*denied));
  }
  if (blob) return Blob(ctx, req, reply);
  if (p == "/api/v1/bundles" || p.rfind("/api/v1/bundles/", 0) == 0) {
    return Bundles(ctx, req, reply);
  }
  if (ctx.dashboard && ctx.dashboard->HandleApi(ctx, req, reply)) return;
  if (p == "/metrics") {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = RenderMetrics(ctx.core);
    if (ctx.functions) r.body += ctx.functions->MetricsText();
    if (ctx.provision_metrics) r.body += ctx.provision_metrics();
    return reply(std::move(r));
  }
  if (p == "/api/v1/tasks") {
    if (m == "POST" && IsArrayBody(req.body)) return SubmitArray(ctx, req, reply);
    if (m == "POST") return SubmitTasks(ctx, req, reply);
    if (m == "GET") return ListTasks(ctx, req, reply);
    return reply(MethodNotAllowed("GET or POST", p));
  }
  if (p.rfind("/api/v1/tasks/", 0) == 0) {
    std::string_view rest = std::string_view(p).substr(14);
    std::string_view action;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
      action = rest.substr(slash + 1);
      rest = rest.substr(0, slash);
    }
    uint64_t id;
    if (!ParseU64(rest, &id)) {
      return reply(HttpResponse::Error(
          400, "task id must be a positive integer, not '" + std::string(rest) + "'"));
    }
    if (!ctx.core.Find(TaskId(id))) {
      return reply(HttpResponse::Error(404, "no task " + std::to_string(id)));
    }
    if (action.empty()) {
      if (m != "GET") return reply(MethodNotAllowed("GET", p));
      return GetTask(ctx, TaskId(id), reply);
    }
    if (action == "wait") {
      if (m != "GET") return reply(MethodNotAllowed("GET", p));
      return WaitOne(ctx, TaskId(id), req, reply);
    }
    if (action == "cancel") {
      if (m != "POST") return reply(MethodNotAllowed("POST", p));
      return CancelTask(ctx, TaskId(id), reply);
    }
    if (action == "logs") {
      if (m != "GET") return reply(MethodNotAllowed("GET", p));
      return GetLogs(ctx, TaskId(id), req, reply);
    }
    return reply(HttpResponse::Error(
        404, "unknown action '" + std::string(action) + "' (known: wait, cancel, logs)"));
  }
  if (p.rfind("/api/v1/arrays/", 0) == 0) return HandleArrays(ctx, req, reply);
  if (p == "/api/v1/wait") {
    if (m != "POST") return reply(MethodNotAllowed("POST", p));
    return WaitMany(ctx, req, reply);
  }
  if (p == "/api/v1/workers") {
    if (m != "GET") return reply(MethodNotAllowed("GET", p));
    return ListWorkers(ctx, reply);
  }
  if (p.rfind("/api/v1/workers/", 0) == 0) {
    if (m != "GET") return reply(MethodNotAllowed("GET", p));
    return GetWorker(ctx, p.substr(16), reply);
  }
  if (p == "/api/v1/status") {
    if (m != "GET") return reply(MethodNotAllowed("GET", p));
    return GetStatus(ctx, reply);
  }
  if (p.starts_with("/api/v1/runs/") && p.ends_with("/wait") && ctx.workflows) {
    if (m != "GET") return reply(MethodNotAllowed("GET", p));
    return WaitRun(ctx, p.substr(13, p.size() - 13 - 5), req, reply);
  }
  if (p == "/api/v1/workflows" || p.starts_with("/api/v1/workflows/") || p == "/api/v1/runs" ||
      p.starts_with("/api/v1/runs/") || p == "/api/v1/schedules" || p == "/api/workflows") {
    HttpResponse r = HandleWorkflowRequest(ctx.workflows, req);
    if (m == "GET" || r.status >= 400) return reply(std::move(r));
    // What the answer reveals (a run started, a definition applied) is durable first.
    return ctx.env.Durable([reply, r = std::move(r)](const Status& s) mutable {
      if (!s.ok()) {
        return reply(HttpResponse::Error(503, "the journal could not record it: " + s.message()));
      }
      reply(std::move(r));
    });
  }
  reply(HttpResponse::Error(404, "no such endpoint: " + m + " " + p + " (see docs/rest-api.md)"));
}

void SubmitTasks(RestContext& ctx, const HttpRequest& req, const Reply& reply) {
  if (Status s = CheckBody(req); !s.ok()) return reply(HttpResponse::Error(400, s.message()));
  bool batch = false;
  auto specs = wire::ParseSubmitBody(req.body, &batch);
  if (!specs.ok()) return reply(HttpResponse::Error(400, specs.status().message()));
  size_t n = specs->size();
  for (size_t i = 0; i < n; ++i) {
    // A task naming a bundle the planner lacks could never run; say so now, not on a worker.
    std::string bundle = BundleOf((*specs)[i].op, (*specs)[i].args);
    if (!bundle.empty() && !(ctx.bundles && ctx.bundles->Has(bundle))) {
      std::string where = batch ? "tasks[" + std::to_string(i) + "].args.bundle" : "args.bundle";
      return reply(HttpResponse::Error(400, where + ": the planner has no bundle " + bundle +
                                                " (upload it with `volo bundle push DIR`)"));
    }
  }
  std::string key(req.Header("Idempotency-Key"));
  if (key.size() > 256) {
    return reply(HttpResponse::Error(400, "Idempotency-Key: at most 256 characters"));
  }
  auto first = ctx.core.Submit(std::move(specs).value(), ClientId(), key);
  if (!first.ok()) {
    StatusCode c = first.status().code();
    int code = c == StatusCode::kFailedPrecondition ? 429
               : c == StatusCode::kAlreadyExists    ? 409
                                                    : 400;
    return reply(HttpResponse::Error(code, first.status().message()));
  }
  api::SubmittedView submitted{batch, {}};
  submitted.ids.reserve(n);
  for (size_t i = 0; i < n; ++i) submitted.ids.push_back(first->value() + i);
  ctx.env.Durable([reply, out = api::Encode(submitted)](const Status& s) {
    if (!s.ok()) {
      reply(HttpResponse::Error(503, "the journal could not record the tasks: " + s.message()));
      return;
    }
    reply(HttpResponse::Json(201, out));
  });
}

void ListTasks(RestContext& ctx, const HttpRequest& req, const Reply& reply) {
  std::optional<TaskState> state;
  std::string s = req.Query("state");
  if (!s.empty()) {
    state = ParseTaskState(s);
    if (!state) {
      return reply(HttpResponse::Error(
          400, "state must be one of queued, running, done, failed, cancelled; not '" + s + "'"));
    }
  }
  uint64_t after = 0, limit = 100;
  if (std::string a = req.Query("after"); !a.empty() && !ParseU64(a, &after)) {
    return reply(HttpResponse::Error(400, "after must be a task id"));
  }
  if (std::string l = req.Query("limit"); !l.empty() && (!ParseU64(l, &limit) || limit == 0)) {
    return reply(HttpResponse::Error(400, "limit must be a positive integer"));
  }
  limit = std::min<uint64_t>(limit, 10000);
  api::TaskListView list;
  for (const Task* t : ctx.core.List(state, req.Query("op"), after, limit)) {
    list.tasks.push_back(TaskViewOf(ctx.core, *t));
  }
  reply(Ok(list));
}

void GetTask(RestContext& ctx, TaskId id, const Reply& reply) {
  reply(Ok(ViewById(ctx.core, id.value())));
}

void CancelTask(RestContext& ctx, TaskId id, const Reply& reply) {
  Status s = ctx.core.Cancel(id);
  if (!s.ok()) {
    return reply(HttpResponse::Error(s.code() == StatusCode::kNotFound ? 404 : 409, s.message()));
  }
  reply(Ok(ViewById(ctx.core, id.value())));
}

void WaitOne(RestContext& ctx, TaskId id, const HttpRequest& req, const Reply& reply) {
  double timeout = ParseSeconds(req.Query("timeout"), 30, 300);
  if (timeout < 0) return reply(HttpResponse::Error(400, "timeout must be a number of seconds"));
  struct State {
    bool done = false;
    std::function<void()> cancel_timer;
  };
  auto st = std::make_shared<State>();
  Core& core = ctx.core;
  st->cancel_timer = ctx.env.After(SecondsToNanos(timeout), [&core, st, reply, id] {
    if (st->done) return;
    st->done = true;
    reply(Ok(ViewById(core, id.value())));
  });
  core.WhenFinished(id, [&core, st, reply](const Task& t) {
    if (st->done) return;
    st->done = true;
    st->cancel_timer();
    reply(Ok(TaskViewOf(core, t)));
  });
}

void WaitRun(RestContext& ctx, std::string_view id_text, const HttpRequest& req,
             const Reply& reply) {
  uint64_t id = 0;
  if (!ParseU64(id_text, &id) || id == 0) {
    return reply(HttpResponse::Error(
        400, "run id must be a positive integer, not '" + std::string(id_text) + "'"));
  }
  double timeout = ParseSeconds(req.Query("timeout"), 30, 300);
  if (timeout < 0) return reply(HttpResponse::Error(400, "timeout must be a number of seconds"));
  WorkflowService& wf = *ctx.workflows;
  workflow::RunId run(id);
  struct State {
    bool done = false;
    uint64_t handle = 0;
    std::function<void()> cancel_timer;
  };
  auto st = std::make_shared<State>();
  auto view = [&wf](const workflow::Run& r) {
    return HttpResponse::Json(200, api::Encode(wf.RunViewOf(r, true, false)));
  };
  bool known = false;
  st->handle = wf.WhenSettled(
      run,
      [st, reply, view](const workflow::Run& r) {
        if (st->done) return;
        st->done = true;
        if (st->cancel_timer) st->cancel_timer();
        reply(view(r));
      },
      &known);
  if (!known) return reply(HttpResponse::Error(404, "no run " + std::to_string(id)));
  if (st->done) return;
  st->cancel_timer = ctx.env.After(SecondsToNanos(timeout), [&wf, st, reply, view, run] {
    if (st->done) return;
    st->done = true;
    wf.Unwatch(run, st->handle);
    const workflow::Run* r = wf.engine().FindRun(run);
    if (!r) return reply(HttpResponse::Error(404, "no run " + std::to_string(run.value())));
    reply(view(*r));
  });
}

void WaitMany(RestContext& ctx, const HttpRequest& req, const Reply& reply) {
  if (Status s = CheckBody(req); !s.ok()) return reply(HttpResponse::Error(400, s.message()));
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  const json::array* ids = o && o->contains("ids") ? o->at("ids").if_array() : nullptr;
  if (!ids) {
    return reply(
        HttpResponse::Error(400, "body must be {\"ids\": [task ids], \"timeout\": seconds}"));
  }
  if (ids->size() > kMaxWaitIds) {
    return reply(HttpResponse::Error(
        400, "ids: at most " + std::to_string(kMaxWaitIds) + " task ids in one wait"));
  }
  double timeout = 30;
  if (const json::value* tv = o->if_contains("timeout")) {
    if (!tv->is_number()) {
      return reply(HttpResponse::Error(400, "timeout must be a number of seconds"));
    }
    timeout = std::clamp(tv->to_number<double>(), 0.0, 300.0);
  }
  Core& core = ctx.core;
  std::vector<uint64_t> want;
  want.reserve(ids->size());
  for (const json::value& e : *ids) {
    uint64_t id = 0;
    if (e.is_int64() && e.get_int64() > 0) {
      id = static_cast<uint64_t>(e.get_int64());
    } else if (e.is_uint64()) {
      id = e.get_uint64();
    } else {
      return reply(HttpResponse::Error(
          400, "ids: each must be a positive integer task id, not " + json::serialize(e)));
    }
    if (!core.Find(TaskId(id))) {
      return reply(HttpResponse::Error(404, "ids: " + std::to_string(id) + " is not a known task"));
    }
    want.push_back(id);
  }
  struct State {
    bool done = false;
    size_t left = 0;
    std::vector<uint64_t> ids;
    // A task's view, taken when it finished (pruning may drop it while we wait).
    std::vector<std::optional<api::TaskView>> finished;
    std::function<void()> cancel_timer = [] {};
  };
  auto st = std::make_shared<State>();
  st->ids = want;
  st->finished.resize(want.size());
  auto answer = [&core, st, reply]() {
    st->done = true;
    st->cancel_timer();
    api::WaitView out;
    out.complete = true;
    out.tasks.reserve(st->ids.size());
    for (size_t i = 0; i < st->ids.size(); ++i) {
      if (st->finished[i]) {
        out.tasks.push_back(std::move(*st->finished[i]));
        continue;
      }
      const Task* t = core.Find(TaskId(st->ids[i]));
      out.complete &= t && Finished(t->state);
      out.tasks.push_back(ViewById(core, st->ids[i]));
    }
    reply(Ok(out));
  };
  for (size_t i = 0; i < want.size(); ++i) {
    const Task* t = core.Find(TaskId(want[i]));
    if (Finished(t->state)) {
      st->finished[i] = TaskViewOf(core, *t);
    } else {
      ++st->left;
    }
  }
  if (st->left == 0) return answer();
  st->cancel_timer = ctx.env.After(SecondsToNanos(timeout), [st, answer] {
    if (!st->done) answer();
  });
  for (size_t i = 0; i < want.size(); ++i) {
    if (st->finished[i]) continue;
    core.WhenFinished(TaskId(want[i]), [&core, st, i, answer](const Task& t) {
      if (st->done) return;
      st->finished[i] = TaskViewOf(core, t);
      if (--st->left == 0) answer();
    });
  }
}

void ListWorkers(RestContext& ctx, const Reply& reply) {
  api::WorkerListView list;
  for (const WorkerInfo& w : ctx.core.workers()) {
    list.workers.push_back(WorkerViewOf(ctx.core, w));
    list.workers.back().provisioned = ctx.provisioned && ctx.provisioned(w.id.value());
  }
  reply(Ok(list));
}

void GetWorker(RestContext& ctx, const std::string& id, const Reply& reply) {
  // The live worker with that id, else the most recent record of a gone one.
  const WorkerInfo* found = nullptr;
  if (auto live = ctx.core.FindWorker(WorkerId(id))) {
    found = &ctx.core.worker(*live);
  } else {
    for (const WorkerInfo& w : ctx.core.workers()) {
      if (w.id.value() == id) found = &w;
    }
  }
  if (!found) return reply(HttpResponse::Error(404, "no worker '" + id + "'"));
  api::WorkerView v = WorkerViewOf(ctx.core, *found);
  v.provisioned = ctx.provisioned && ctx.provisioned(id);
  reply(Ok(v));
}

void GetStatus(RestContext& ctx, const Reply& reply) { reply(Ok(StatusViewOf(ctx.core))); }

void RegisterHttpWorker(RestContext& ctx, const HttpRequest& req, const Reply& reply) {
  if (Status s = CheckBody(req); !s.ok()) return reply(HttpResponse::Error(400, s.message()));
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  if (!o) {
    return reply(
        HttpResponse::Error(400, "body must be a JSON object {\"url\": ..., \"id\": ...}"));
  }
  const json::value* url = o->if_contains("url");
  if (!url || !url->is_string()) {
    return reply(HttpResponse::Error(400, "url: required, like \"http://host:8080\""));
  }
  std::string u(url->get_string());
  net::Url parsed;
  if (!net::ParseUrl(u, &parsed) || parsed.scheme != "http") {
    return reply(HttpResponse::Error(400, "url: must be an http:// URL, not '" + u + "'"));
  }
  std::string id = u;
  if (const json::value* iv = o->if_contains("id")) {
    if (iv->is_string()) {
      id = std::string(iv->get_string());
    } else if (iv->is_number()) {
      id = json::serialize(*iv);
    } else {
      return reply(HttpResponse::Error(400, "id: must be a string"));
    }
  }
  std::vector<std::string> ops{"add", "mult"};
  if (const json::value* ov = o->if_contains("ops")) {
    const json::array* a = ov->if_array();
    if (!a || a->empty()) {
      return reply(HttpResponse::Error(400, "ops: must be a non-empty array of operation names"));
    }
    ops.clear();
    for (const json::value& e : *a) {
      if (!e.is_string() || !wire::ValidName(std::string_view(e.get_string()))) {
        return reply(HttpResponse::Error(400, "ops: each must be an operation name"));
      }
      ops.emplace_back(e.get_string());
    }
  }
  Status s = ctx.env.EnrolHttpWorker(id, u, std::move(ops));
  if (!s.ok()) {
    return reply(
        HttpResponse::Error(s.code() == StatusCode::kAlreadyExists ? 409 : 400, s.message()));
  }
  ctx.env.Durable([reply](const Status&) { reply(HttpResponse::Json(200, "{\"ok\":true}")); });
}

void Blob(RestContext& ctx, const HttpRequest& req, const Reply& reply) {
  std::string hash = req.path.substr(14);
  if (!BlobStore::ValidName(hash)) {
    return reply(
        HttpResponse::Error(400, "a blob is named by its SHA-256: 64 lowercase hex digits"));
  }
  if (req.method == "GET") {
    const std::string* bytes = ctx.blobs.Get(hash);
    if (!bytes) return reply(HttpResponse::Error(404, "no blob " + hash));
    HttpResponse r;
    r.content_type = "application/octet-stream";
    r.body = *bytes;
    return reply(std::move(r));
  }
  if (req.method == "PUT") {
    Status s = ctx.blobs.Put(hash, req.body);
    if (!s.ok()) {
      return reply(HttpResponse::Error(s.code() == StatusCode::kFailedPrecondition ? 413 : 400,
                                       s.message()));
    }
    return reply(HttpResponse::Json(200, "{\"ok\":true}"));
  }
  if (req.method == "HEAD") {
    return reply(ctx.blobs.Get(hash) ? HttpResponse::Json(200, "")
                                     : HttpResponse::Error(404, "no blob " + hash));
  }
  reply(HttpResponse::Error(405, "use GET, HEAD or PUT on a blob"));
}

namespace {

constexpr size_t kMaxLogSlice = 16 << 20;
constexpr auto kFollowPoll = std::chrono::milliseconds(500);
constexpr int kFollowPolls = 50;  // a follow answers after at most 25 s without news

void ServeLogs(RestContext& ctx, uint64_t id, int stream, uint64_t offset, bool follow,
               int polls_left, const Reply& reply) {
  const Task* t = ctx.core.Find(TaskId(id));
  LogStore::Slice slice =
      ctx.logs ? ctx.logs->Read(id, stream, offset, kMaxLogSlice) : LogStore::Slice{};
  const bool finished = !t || Finished(t->state);
  if (follow && slice.data.empty() && !finished && polls_left > 0 && ctx.logs) {
    // Wait for the next output or the next look at the task's state, whichever comes first.
    struct Wait {
      bool done = false;
      std::function<void()> forget, cancel_timer;
    };
    auto w = std::make_shared<Wait>();
    auto again = [&ctx, id, stream, offset, polls_left, reply, w] {
      if (w->done) return;
      w->done = true;
      ServeLogs(ctx, id, stream, offset, true, polls_left - 1, reply);
    };
    w->forget = ctx.logs->WatchOnce(id, [again, w] {
      if (w->cancel_timer) w->cancel_timer();
      again();
    });
    w->cancel_timer = ctx.env.After(kFollowPoll, [again, w] {
      if (w->forget) w->forget();
      again();
    });
    return;
  }
  HttpResponse r;
  r.status = 200;
  r.content_type = "application/octet-stream";
  r.headers.emplace_back("X-Volo-Log-Size", std::to_string(slice.size));
  r.headers.emplace_back("X-Volo-Log-Next", std::to_string(offset + slice.data.size()));
  r.headers.emplace_back("X-Volo-Log-Truncated", slice.truncated ? "true" : "false");
  r.headers.emplace_back("X-Volo-Task-State",
                         std::string(t ? TaskStateName(t->state) : std::string_view("pruned")));
  r.body = std::move(slice.data);
  reply(std::move(r));
}

}  // namespace

void GetLogs(RestContext& ctx, TaskId id, const HttpRequest& req, const Reply& reply) {
  const std::string stream = req.Query("stream", "stdout");
  if (stream != "stdout" && stream != "stderr") {
    return reply(HttpResponse::Error(400, "stream: stdout or stderr, not '" + stream + "'"));
  }
  uint64_t offset = 0;
  const std::string off = req.Query("offset", "0");
  if (!ParseU64(off, &offset)) {
    return reply(HttpResponse::Error(400, "offset: a byte offset (0 or more), not '" + off + "'"));
  }
  const std::string follow = req.Query("follow", "0");
  if (follow != "0" && follow != "1" && follow != "true" && follow != "false") {
    return reply(HttpResponse::Error(400, "follow: 1 or 0, not '" + follow + "'"));
  }
  ServeLogs(ctx, id.value(), stream == "stdout" ? 1 : 2, offset, follow == "1" || follow == "true",
            kFollowPolls, reply);
}

std::string BundleOf(std::string_view op, std::string_view args) {
  if (op != "exec" || args.find("\"bundle\"") == std::string_view::npos) return {};
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(args.data(), args.size()), ec);
  if (ec || !v.is_object()) return {};
  const json::value* b = v.get_object().if_contains("bundle");
  if (!b || !b->is_string()) return {};
  return std::string(b->get_string());
}

std::map<std::string, uint64_t> BundleReferences(const Core& core) {
  std::map<std::string, uint64_t> refs;
  for (const Task* t : core.List(std::nullopt, "", 0, SIZE_MAX)) {
    std::string id = BundleOf(core.op_name(t->op), t->args);
    if (!id.empty()) ++refs[id];
  }
  return refs;
}

void Bundles(RestContext& ctx, const HttpRequest& req, const Reply& reply) {
  if (!ctx.bundles) return reply(HttpResponse::Error(503, "this planner keeps no bundles"));
  BundleStore& store = *ctx.bundles;
  const std::string& m = req.method;
  if (req.path == "/api/v1/bundles") {
    if (m != "GET") return reply(MethodNotAllowed("GET", req.path));
    auto refs = BundleReferences(ctx.core);
    api::BundleListView list;
    list.bytes = store.bytes();
    list.max_bytes = store.max_bytes();
    for (const BundleEntry& b : store.List()) {
      auto it = refs.find(b.id);
      list.bundles.push_back({b.id, b.bytes, b.created, it == refs.end() ? 0 : it->second});
    }
    return reply(Ok(list));
  }
  std::string id = req.path.substr(16);
  if (!BundleStore::ValidId(id)) {
    return reply(HttpResponse::Error(
        400, "a bundle is named by its SHA-256: 64 lowercase hex digits, not '" + id + "'"));
  }
  auto missing = [&] {
    return HttpResponse::Error(
        404, "the planner has no bundle " + id + " (upload it with `volo bundle push DIR`)");
  };
  if (m == "HEAD") return reply(store.Has(id) ? HttpResponse::Json(200, "") : missing());
  if (m == "GET") {
    if (!store.Has(id)) return reply(missing());
    auto bytes = store.Read(id);
    if (!bytes.ok()) return reply(HttpResponse::Error(500, bytes.status().message()));
    HttpResponse r;
    r.content_type = "application/x-tar";
    r.body = std::move(bytes).value();
    return reply(std::move(r));
  }
  if (m == "PUT") {
    Status s = store.Put(id, req.body, ctx.core.WallNow());
    if (!s.ok()) {
      int code = s.code() == StatusCode::kFailedPrecondition ? 413
                 : s.code() == StatusCode::kInvalidArgument  ? 400
                                                             : 500;
      return reply(HttpResponse::Error(code, s.message()));
    }
    api::BundleView v{id, req.body.size(), ctx.core.WallNow(), 0};
    for (const BundleEntry& b : store.List()) {
      if (b.id == id) v.created = b.created;
    }
    return reply(Ok(v));
  }
  if (m == "DELETE") {
    if (!store.Has(id)) return reply(missing());
    // A task waiting to run would fail on every worker without its bundle.
    for (const Task* t : ctx.core.List(std::nullopt, "", 0, SIZE_MAX)) {
      if (!Finished(t->state) && BundleOf(ctx.core.op_name(t->op), t->args) == id) {
        return reply(HttpResponse::Error(
            409, "task " + std::to_string(t->id.value()) + " (" +
                     std::string(api::TaskStatusName(TaskViewOf(ctx.core, *t).state)) +
                     ") uses bundle " + id + "; cancel it or wait for it to finish first"));
      }
    }
    Status s = store.Remove(id);
    if (!s.ok()) return reply(HttpResponse::Error(500, s.message()));
    return reply(HttpResponse::Json(200, "{\"ok\":true}"));
  }
  reply(MethodNotAllowed("GET, HEAD, PUT or DELETE", req.path));
}

}  // namespace volo::planner
