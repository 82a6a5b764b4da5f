#include "planner/arrays.h"

#include <boost/json.hpp>
#include <charconv>
#include <map>

#include "wire/json_limits.h"
#include "wire/messages.h"

namespace volo::planner {
namespace json = boost::json;
using net::HttpResponse;

namespace {

constexpr size_t kMaxFailedIds = 1000;

// `{name}` -> value in every string of `v`.
void Substitute(json::value& v, const std::vector<std::pair<std::string, std::string>>& vars) {
  if (json::string* s = v.if_string()) {
    if (s->find('{') == json::string::npos) return;
    std::string text(s->data(), s->size());
    std::string out;
    size_t i = 0;
    while (i < text.size()) {
      size_t open = text.find('{', i);
      if (open == std::string::npos) break;
      size_t close = text.find('}', open + 1);
      if (close == std::string::npos) break;
      std::string_view name(text.data() + open + 1, close - open - 1);
      out.append(text, i, open - i);
      bool found = false;
      for (const auto& [k, val] : vars) {
        if (k == name) {
          out += val;
          found = true;
          break;
        }
      }
      if (!found) out.append(text, open, close + 1 - open);
      i = close + 1;
    }
    out.append(text, std::min(i, text.size()), std::string::npos);
    *s = out;
  } else if (json::array* a = v.if_array()) {
    for (auto& e : *a) Substitute(e, vars);
  } else if (json::object* o = v.if_object()) {
    for (auto& kv : *o) Substitute(kv.value(), vars);
  }
}

std::string TextOf(const json::value& v) {
  if (const json::string* s = v.if_string()) return std::string(s->data(), s->size());
  return wire::ToJson(v);
}

bool GetInt(const json::value* v, int64_t* out) {
  if (!v) return false;
  if (v->is_int64()) {
    *out = v->get_int64();
    return true;
  }
  if (v->is_uint64() && v->get_uint64() <= INT64_MAX) {
    *out = static_cast<int64_t>(v->get_uint64());
    return true;
  }
  return false;
}

bool ValidVar(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// The elements of `each`: one variable list per task.
Result<std::vector<std::vector<std::pair<std::string, std::string>>>> Elements(
    const json::value& each) {
  using Vars = std::vector<std::pair<std::string, std::string>>;
  std::vector<Vars> out;
  const json::object* e = each.if_object();
  if (!e)
    return InvalidArgument(
        "each: must be an object ({\"var\", \"from\", \"to\"}, "
        "{\"var\", \"values\"} or {\"objects\"})");
  if (const json::value* objects = e->if_contains("objects")) {
    if (e->size() != 1) return InvalidArgument("each: objects comes alone");
    const json::array* a = objects->if_array();
    if (!a) return InvalidArgument("each.objects: must be an array of objects");
    for (size_t i = 0; i < a->size(); ++i) {
      const json::object* o = (*a)[i].if_object();
      if (!o) {
        return InvalidArgument("each.objects[" + std::to_string(i) + "]: must be an object");
      }
      Vars vars;
      for (const auto& kv : *o) vars.emplace_back(std::string(kv.key()), TextOf(kv.value()));
      out.push_back(std::move(vars));
      if (out.size() > wire::kMaxBatch) break;
    }
  } else {
    const json::value* var = e->if_contains("var");
    if (!var || !var->is_string() || !ValidVar(std::string_view(var->get_string()))) {
      return InvalidArgument("each.var: the placeholder's name (letters, digits, _)");
    }
    std::string name(var->get_string());
    if (const json::value* values = e->if_contains("values")) {
      if (e->size() != 2) return InvalidArgument("each: values comes with var only");
      const json::array* a = values->if_array();
      if (!a) return InvalidArgument("each.values: must be an array");
      for (const auto& v : *a) {
        out.push_back({{name, TextOf(v)}});
        if (out.size() > wire::kMaxBatch) break;
      }
    } else {
      int64_t from = 0, to = 0, step = 1;
      if (!GetInt(e->if_contains("from"), &from) || !GetInt(e->if_contains("to"), &to)) {
        return InvalidArgument("each: give from and to (integers), values, or objects");
      }
      if (e->contains("step") && (!GetInt(e->if_contains("step"), &step) || step <= 0)) {
        return InvalidArgument("each.step: must be a positive integer");
      }
      for (const auto& kv : *e) {
        if (kv.key() != "var" && kv.key() != "from" && kv.key() != "to" && kv.key() != "step") {
          return InvalidArgument("each: unknown field '" + std::string(kv.key()) + "'");
        }
      }
      if (to < from) return InvalidArgument("each: to must not be below from");
      if ((to - from) / step >= static_cast<int64_t>(wire::kMaxBatch)) {
        return InvalidArgument("each: at most " + std::to_string(wire::kMaxBatch) +
                               " tasks in one array");
      }
      for (int64_t i = from; i <= to; i += step) out.push_back({{name, std::to_string(i)}});
    }
  }
  if (out.empty()) return InvalidArgument("each: gives no tasks");
  if (out.size() > wire::kMaxBatch) {
    return InvalidArgument("each: at most " + std::to_string(wire::kMaxBatch) +
                           " tasks in one array");
  }
  return out;
}

std::string ArrayAnswer(uint64_t first, size_t n) {
  return "{\"array\":" + std::to_string(first) + ",\"first\":" + std::to_string(first) +
         ",\"last\":" + std::to_string(first + n - 1) + ",\"size\":" + std::to_string(n) + "}";
}

// Queues `specs` as array `first` (= core.next_id()) and answers.
void QueueArray(RestContext& ctx, std::vector<wire::TaskSpec> specs, const Reply& reply) {
  const uint64_t first = ctx.core.next_id();
  const size_t n = specs.size();
  for (size_t i = 0; i < n; ++i) {
    auto& labels = specs[i].labels;
    std::erase_if(labels,
                  [](const auto& l) { return l.first == "array" || l.first == "array_index"; });
    labels.emplace_back("array", std::to_string(first));
    labels.emplace_back("array_index", std::to_string(i));
  }
  auto r = ctx.core.Submit(std::move(specs));
  if (!r.ok()) {
    int code = r.status().code() == StatusCode::kFailedPrecondition ? 429 : 400;
    return reply(HttpResponse::Error(code, r.status().message()));
  }
  ctx.env.Durable([reply, out = ArrayAnswer(r->value(), n)](const Status& s) {
    if (!s.ok()) {
      return reply(
          HttpResponse::Error(503, "the journal could not record the tasks: " + s.message()));
    }
    reply(HttpResponse::Json(201, out));
  });
}

std::string LabelOf(const Task& t, std::string_view key) {
  if (!t.labels) return "";
  for (const auto& [k, v] : *t.labels) {
    if (k == key) return v;
  }
  return "";
}

// The tasks of array `first`, in order (stops at the first id that is not one of them).
std::vector<const Task*> Members(const Core& core, uint64_t first) {
  std::vector<const Task*> out;
  const std::string label = std::to_string(first);
  for (uint64_t id = first;; ++id) {
    const Task* t = core.Find(TaskId(id));
    if (!t || LabelOf(*t, "array") != label) break;
    out.push_back(t);
  }
  return out;
}

}  // namespace

std::string ExitCodeOf(const Task& t) {
  if (t.state == TaskState::kDone) return "0";
  if (t.state != TaskState::kFailed) return "";
  const std::string& e = t.result;
  if (e.rfind("exited with status ", 0) == 0) {
    size_t end = 19;
    while (end < e.size() && std::isdigit(static_cast<unsigned char>(e[end]))) ++end;
    if (end > 19) return e.substr(19, end - 19);
  }
  if (e.rfind("killed by ", 0) == 0) {
    size_t end = e.find_first_of(":; ", 10);
    return e.substr(10, end == std::string::npos ? std::string::npos : end - 10);
  }
  if (e.rfind("timed out", 0) == 0) return "timeout";
  return "error";
}

bool IsArrayBody(std::string_view body) {
  // Cheap pre-check; the parse below decides.
  if (body.find("\"array\"") == std::string_view::npos) return false;
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(body.data(), body.size()), ec);
  return !ec && v.is_object() && v.get_object().contains("array");
}

void SubmitArray(RestContext& ctx, const net::HttpRequest& req, const Reply& reply) {
  if (Status s = wire::CheckJson(req.body); !s.ok()) {
    return reply(HttpResponse::Error(400, s.message()));
  }
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  if (ec || !v.is_object()) return reply(HttpResponse::Error(400, "body: must be a JSON object"));
  const json::object& o = v.get_object();
  for (const auto& kv : o) {
    if (kv.key() != "array" && kv.key() != "each") {
      return reply(HttpResponse::Error(400,
                                       "an array request has only the fields array and each, "
                                       "not '" +
                                           std::string(kv.key()) + "'"));
    }
  }
  const json::value* each = o.if_contains("each");
  if (!each) return reply(HttpResponse::Error(400, "each: required with array"));
  if (!o.at("array").is_object()) {
    return reply(HttpResponse::Error(400, "array: must be a task object (the template)"));
  }
  auto elements = Elements(*each);
  if (!elements.ok()) return reply(HttpResponse::Error(400, elements.status().message()));
  std::vector<wire::TaskSpec> specs;
  specs.reserve(elements->size());
  for (size_t i = 0; i < elements->size(); ++i) {
    json::value task = o.at("array");
    if (json::value* args = task.get_object().if_contains("args")) {
      Substitute(*args, (*elements)[i]);
    }
    auto spec = wire::ParseTaskSpec(task, "array (element " + std::to_string(i) + ")");
    if (!spec.ok()) return reply(HttpResponse::Error(400, spec.status().message()));
    specs.push_back(std::move(spec).value());
  }
  QueueArray(ctx, std::move(specs), reply);
}

void HandleArrays(RestContext& ctx, const net::HttpRequest& req, const Reply& reply) {
  std::string_view rest =
      std::string_view(req.path).substr(std::string_view("/api/v1/arrays/").size());
  std::string_view action;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    action = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  uint64_t id = 0;
  auto [ptr, err] = std::from_chars(rest.data(), rest.data() + rest.size(), id);
  if (err != std::errc() || ptr != rest.data() + rest.size() || id == 0) {
    return reply(HttpResponse::Error(
        400, "array id must be a positive integer, not '" + std::string(rest) + "'"));
  }
  std::vector<const Task*> members = Members(ctx.core, id);
  if (members.empty()) {
    return reply(HttpResponse::Error(
        404, "no array " + std::to_string(id) + " (an array's id is its first task's id)"));
  }
  if (action.empty()) {
    if (req.method != "GET") return reply(HttpResponse::Error(405, "use GET on " + req.path));
    Counts c;
    std::map<std::string, size_t> codes;
    std::vector<uint64_t> failed;
    for (const Task* t : members) {
      switch (t->state) {
        case TaskState::kQueued:
          ++c.queued;
          break;
        case TaskState::kRunning:
          ++c.running;
          break;
        case TaskState::kDone:
          ++c.done;
          break;
        case TaskState::kFailed:
          ++c.failed;
          if (failed.size() < kMaxFailedIds) failed.push_back(t->id.value());
          break;
        default:
          ++c.cancelled;
          break;
      }
      if (std::string code = ExitCodeOf(*t); !code.empty()) ++codes[code];
    }
    std::string out =
        "{\"array\":" + std::to_string(id) + ",\"size\":" + std::to_string(members.size()) +
        ",\"queued\":" + std::to_string(c.queued) + ",\"running\":" + std::to_string(c.running) +
        ",\"done\":" + std::to_string(c.done) + ",\"failed\":" + std::to_string(c.failed) +
        ",\"cancelled\":" + std::to_string(c.cancelled) +
        ",\"finished\":" + (c.queued + c.running == 0 ? "true" : "false") + ",\"exit_codes\":{";
    bool first = true;
    for (const auto& [code, n] : codes) {
      if (!first) out += ',';
      first = false;
      wire::AppendJsonString(out, code);
      out += ":" + std::to_string(n);
    }
    out += "},\"failed_ids\":[";
    for (size_t i = 0; i < failed.size(); ++i) {
      out += (i ? "," : "") + std::to_string(failed[i]);
    }
    out += "]}";
    return reply(HttpResponse::Json(200, out));
  }
  if (action == "resubmit") {
    if (req.method != "POST") return reply(HttpResponse::Error(405, "use POST on " + req.path));
    std::string state = "failed";
    if (!req.body.empty()) {
      boost::system::error_code ec;
      json::value b = json::parse(req.body, ec);
      const json::value* s = !ec && b.is_object() ? b.get_object().if_contains("state") : nullptr;
      if (ec || !b.is_object() || (s && !s->is_string())) {
        return reply(HttpResponse::Error(400, "body: {\"state\": \"failed\"} or \"cancelled\""));
      }
      if (s) state = std::string(s->get_string());
    }
    if (state != "failed" && state != "cancelled") {
      return reply(HttpResponse::Error(400, "state: failed or cancelled, not '" + state + "'"));
    }
    const TaskState want = state == "failed" ? TaskState::kFailed : TaskState::kCancelled;
    std::vector<wire::TaskSpec> specs;
    for (const Task* t : members) {
      if (t->state != want) continue;
      wire::TaskSpec s;
      s.op = std::string(ctx.core.op_name(t->op));
      s.args = t->args;
      s.retries = t->retries;
      s.timeout = t->timeout;
      s.priority = t->priority;
      if (t->labels) s.labels = *t->labels;
      specs.push_back(std::move(s));
    }
    if (specs.empty()) {
      return reply(HttpResponse::Error(
          409, "array " + std::to_string(id) + " has no " + state + " task to run again"));
    }
    return QueueArray(ctx, std::move(specs), reply);
  }
  reply(HttpResponse::Error(404, "unknown action '" + std::string(action) + "' (known: resubmit)"));
}

}  // namespace volo::planner
