#include "wire/function_messages.h"

#include <boost/json.hpp>
#include <cmath>

#include "wire/messages.h"

namespace volo::wire {
namespace json = boost::json;

namespace {

const json::value* At(const json::object& o, std::string_view key) { return o.if_contains(key); }

bool GetU64(const json::object& o, std::string_view key, uint64_t* out) {
  const json::value* v = At(o, key);
  if (!v) return false;
  if (v->is_uint64()) {
    *out = v->get_uint64();
    return true;
  }
  if (v->is_int64() && v->get_int64() >= 0) {
    *out = static_cast<uint64_t>(v->get_int64());
    return true;
  }
  return false;
}

// An optional number (absent leaves *out alone); false for a value of another type.
bool GetDouble(const json::object& o, std::string_view key, double* out) {
  const json::value* v = At(o, key);
  if (!v || v->is_null()) return true;
  if (v->is_double()) {
    *out = v->get_double();
  } else if (v->is_int64()) {
    *out = static_cast<double>(v->get_int64());
  } else if (v->is_uint64()) {
    *out = static_cast<double>(v->get_uint64());
  } else {
    return false;
  }
  return std::isfinite(*out);
}

bool GetString(const json::object& o, std::string_view key, std::string* out) {
  const json::value* v = At(o, key);
  if (!v) return true;
  if (!v->is_string()) return false;
  *out = std::string(v->get_string());
  return true;
}

bool GetBody(const json::object& o, std::string_view key, std::string* out) {
  const json::value* v = At(o, key);
  if (!v) return true;
  if (!v->is_string()) return false;
  const json::string& s = v->get_string();
  return Base64Decode(std::string_view(s.data(), s.size()), out);
}

void AppendInstance(std::string& out, std::string_view t, uint64_t instance) {
  out += "{\"t\":\"";
  out += t;
  out += "\",\"instance\":";
  out += std::to_string(instance);
}

void AppendHeaders(std::string& out, const std::vector<std::pair<std::string, std::string>>& h) {
  out += ",\"headers\":[";
  for (size_t i = 0; i < h.size(); ++i) {
    if (i) out += ',';
    out += '[';
    AppendJsonString(out, h[i].first);
    out += ',';
    AppendJsonString(out, h[i].second);
    out += ']';
  }
  out += ']';
}

// An optional "headers": [[name, value], ...] into *out; false for another shape.
bool GetHeaders(const json::object& o, std::vector<std::pair<std::string, std::string>>* out) {
  const json::value* h = At(o, "headers");
  if (!h || h->is_null()) return true;
  const json::array* ha = h->if_array();
  if (!ha) return false;
  for (const json::value& pair : *ha) {
    const json::array* p = pair.if_array();
    if (!p || p->size() != 2 || !(*p)[0].is_string() || !(*p)[1].is_string()) return false;
    out->emplace_back(std::string((*p)[0].get_string()), std::string((*p)[1].get_string()));
  }
  return true;
}

}  // namespace

std::string EncodeFnStart(const FnStart& m) {
  std::string out;
  AppendInstance(out, "fn_start", m.instance);
  out += ",\"function\":";
  AppendJsonString(out, m.function);
  out += ",\"revision\":";
  AppendJsonString(out, m.revision);
  out += ",\"runner\":";
  AppendJsonString(out, m.runner);
  out += ",\"argv\":[";
  for (size_t i = 0; i < m.argv.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(out, m.argv[i]);
  }
  out += "],\"bundle\":";
  AppendJsonString(out, m.bundle);
  out += ",\"env\":{";
  for (size_t i = 0; i < m.env.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(out, m.env[i].first);
    out += ':';
    AppendJsonString(out, m.env[i].second);
  }
  out += "},\"timeout\":";
  AppendJsonNumber(out, m.timeout);
  out += ",\"memory\":" + std::to_string(m.memory_mib) + ",\"cpus\":";
  AppendJsonNumber(out, m.cpus);
  if (m.runner == "http") {
    out += ",\"ready\":";
    AppendJsonString(out, m.ready);
    out += ",\"ready_timeout\":";
    AppendJsonNumber(out, m.ready_timeout);
  }
  if (m.runner == "fly") {
    out += ",\"fly\":{\"file\":";
    AppendJsonString(out, m.fly_file);
    out += ",\"source\":";
    AppendJsonString(out, m.fly_source);
    out += ",\"function\":";
    AppendJsonString(out, m.fly_function);
    out += ",\"concurrency\":" + std::to_string(m.concurrency) + "}";
  }
  out += '}';
  return out;
}

std::string EncodeFnCall(const FnCall& m) {
  std::string out;
  AppendInstance(out, "fn_call", m.instance);
  out += ",\"call\":" + std::to_string(m.call) + ",\"body\":\"";
  out += Base64Encode(m.body);
  out += "\",\"method\":";
  AppendJsonString(out, m.method);
  out += ",\"path\":";
  AppendJsonString(out, m.path);
  out += ",\"query\":";
  AppendJsonString(out, m.query);
  AppendHeaders(out, m.headers);
  out += '}';
  return out;
}

std::string EncodeFnStop(const FnStop& m) {
  std::string out;
  AppendInstance(out, "fn_stop", m.instance);
  out += '}';
  return out;
}

std::string EncodeFnReady(const FnReady& m) {
  std::string out;
  AppendInstance(out, "fn_ready", m.instance);
  out += ",\"start_ms\":";
  AppendJsonNumber(out, m.start_ms);
  out += '}';
  return out;
}

std::string EncodeFnAnswer(const FnAnswer& m) {
  std::string out;
  AppendInstance(out, "fn_answer", m.instance);
  out += ",\"call\":" + std::to_string(m.call);
  out += m.ok ? ",\"ok\":true" : ",\"ok\":false";
  out += ",\"status\":" + std::to_string(m.status) + ",\"body\":\"";
  out += Base64Encode(m.body);
  out += "\",\"error\":";
  AppendJsonString(out, m.error);
  if (m.crashed) out += ",\"crashed\":true";
  out += ",\"wall\":";
  AppendJsonNumber(out, m.wall);
  out += ",\"cpu\":";
  AppendJsonNumber(out, m.cpu);
  out += ",\"max_rss\":" + std::to_string(m.max_rss);
  if (!m.headers.empty()) AppendHeaders(out, m.headers);
  out += '}';
  return out;
}

std::string EncodeFnExited(const FnExited& m) {
  std::string out;
  AppendInstance(out, "fn_exited", m.instance);
  out += ",\"error\":";
  AppendJsonString(out, m.error);
  out += '}';
  return out;
}

std::string EncodeFnLog(const FnLog& m) {
  std::string out;
  AppendInstance(out, "fn_log", m.instance);
  out += ",\"function\":";
  AppendJsonString(out, m.function);
  out += ",\"revision\":";
  AppendJsonString(out, m.revision);
  out += ",\"text\":";
  AppendJsonString(out, m.text);
  out += '}';
  return out;
}

Result<FnPlannerMessage> ParseFnPlannerMessage(std::string_view t, const json::object& o) {
  uint64_t instance = 0;
  if (!GetU64(o, "instance", &instance)) {
    return InvalidArgument(std::string(t) + ": instance must be a non-negative integer");
  }
  if (t == "fn_start") {
    FnStart m;
    m.instance = instance;
    if (!GetString(o, "function", &m.function) || !ValidName(m.function)) {
      return InvalidArgument("fn_start: function must be a valid name");
    }
    if (!GetString(o, "revision", &m.revision) || !GetString(o, "runner", &m.runner) ||
        !GetString(o, "bundle", &m.bundle)) {
      return InvalidArgument("fn_start: revision, runner and bundle are strings");
    }
    if (m.runner != "cmd" && m.runner != "http" && m.runner != "fly") {
      return InvalidArgument("fn_start: runner '" + m.runner + "' is not known to this worker");
    }
    const json::value* argv = At(o, "argv");
    const json::array* a = argv ? argv->if_array() : nullptr;
    if (!a || (a->empty() && m.runner != "fly")) {
      return InvalidArgument("fn_start: argv must be a non-empty array");
    }
    if (m.runner == "fly") {
      const json::value* fv = At(o, "fly");
      const json::object* fo = fv ? fv->if_object() : nullptr;
      uint64_t concurrency = 0;
      if (!fo || !GetString(*fo, "file", &m.fly_file) || !GetString(*fo, "source", &m.fly_source) ||
          !GetString(*fo, "function", &m.fly_function) || m.fly_function.empty() ||
          !GetU64(*fo, "concurrency", &concurrency) || concurrency < 1 || concurrency > 1000) {
        return InvalidArgument(
            "fn_start: fly must be {file, source, function, concurrency from 1 to 1000}");
      }
      m.concurrency = static_cast<int>(concurrency);
    }
    for (const json::value& e : *a) {
      if (!e.is_string()) return InvalidArgument("fn_start: argv holds strings");
      m.argv.emplace_back(e.get_string());
    }
    if (const json::value* env = At(o, "env")) {
      const json::object* eo = env->if_object();
      if (!eo) return InvalidArgument("fn_start: env must be an object");
      for (const auto& [k, v] : *eo) {
        if (!v.is_string()) return InvalidArgument("fn_start: env values are strings");
        m.env.emplace_back(std::string(k), std::string(v.get_string()));
      }
    }
    double memory = 0;
    if (!GetDouble(o, "timeout", &m.timeout) || m.timeout < 0 || !GetDouble(o, "memory", &memory) ||
        memory < 0 || !GetDouble(o, "cpus", &m.cpus) || m.cpus < 0) {
      return InvalidArgument("fn_start: timeout, memory and cpus are non-negative numbers");
    }
    m.memory_mib = static_cast<int64_t>(memory);
    if (!GetString(o, "ready", &m.ready) || !GetDouble(o, "ready_timeout", &m.ready_timeout) ||
        m.ready_timeout <= 0 || m.ready.empty() || m.ready[0] != '/') {
      return InvalidArgument(
          "fn_start: ready is a path starting with '/', ready_timeout a number above 0");
    }
    return FnPlannerMessage(std::move(m));
  }
  if (t == "fn_call") {
    FnCall m;
    m.instance = instance;
    if (!GetU64(o, "call", &m.call)) return InvalidArgument("fn_call: call must be an integer");
    if (!GetBody(o, "body", &m.body)) return InvalidArgument("fn_call: body must be base64");
    if (!GetString(o, "method", &m.method) || !GetString(o, "path", &m.path) ||
        !GetString(o, "query", &m.query)) {
      return InvalidArgument("fn_call: method, path and query are strings");
    }
    if (!GetHeaders(o, &m.headers)) {
      return InvalidArgument("fn_call: headers must be an array of [name, value]");
    }
    return FnPlannerMessage(std::move(m));
  }
  if (t == "fn_stop") return FnPlannerMessage(FnStop{instance});
  return InvalidArgument("unknown message type '" + std::string(t) + "'");
}

Result<FnWorkerMessage> ParseFnWorkerMessage(std::string_view t, const json::object& o) {
  uint64_t instance = 0;
  if (!GetU64(o, "instance", &instance)) {
    return InvalidArgument(std::string(t) + ": instance must be a non-negative integer");
  }
  if (t == "fn_ready") {
    FnReady m{instance, 0};
    if (!GetDouble(o, "start_ms", &m.start_ms)) {
      return InvalidArgument("fn_ready: start_ms must be a number");
    }
    return FnWorkerMessage(m);
  }
  if (t == "fn_answer") {
    FnAnswer m;
    m.instance = instance;
    if (!GetU64(o, "call", &m.call)) return InvalidArgument("fn_answer: call must be an integer");
    const json::value* ok = At(o, "ok");
    if (!ok || !ok->is_bool()) return InvalidArgument("fn_answer: ok must be true or false");
    m.ok = ok->get_bool();
    double status = 200;
    if (!GetDouble(o, "status", &status) || status < 100 || status > 599) {
      return InvalidArgument("fn_answer: status must be an HTTP status");
    }
    m.status = static_cast<int>(status);
    if (!GetBody(o, "body", &m.body)) return InvalidArgument("fn_answer: body must be base64");
    if (!GetString(o, "error", &m.error)) return InvalidArgument("fn_answer: error is a string");
    if (const json::value* c = At(o, "crashed"); c && c->is_bool()) m.crashed = c->get_bool();
    double rss = 0;
    if (!GetDouble(o, "wall", &m.wall) || !GetDouble(o, "cpu", &m.cpu) ||
        !GetDouble(o, "max_rss", &rss)) {
      return InvalidArgument("fn_answer: wall, cpu and max_rss are numbers");
    }
    m.max_rss = static_cast<int64_t>(rss);
    if (!GetHeaders(o, &m.headers)) {
      return InvalidArgument("fn_answer: headers must be an array of [name, value]");
    }
    return FnWorkerMessage(std::move(m));
  }
  if (t == "fn_exited") {
    FnExited m{instance, ""};
    if (!GetString(o, "error", &m.error)) return InvalidArgument("fn_exited: error is a string");
    return FnWorkerMessage(std::move(m));
  }
  if (t == "fn_log") {
    FnLog m;
    m.instance = instance;
    if (!GetString(o, "function", &m.function) || !GetString(o, "revision", &m.revision) ||
        !GetString(o, "text", &m.text)) {
      return InvalidArgument("fn_log: function, revision and text are strings");
    }
    if (m.text.size() > 4 * kFnLogMaxText) return InvalidArgument("fn_log: text is too long");
    return FnWorkerMessage(std::move(m));
  }
  return InvalidArgument("unknown message type '" + std::string(t) + "'");
}

namespace {

// The elements of an fn_batch's `messages`, each an object with a `t` that `ok_type` accepts.
Result<std::vector<std::pair<std::string_view, const json::object*>>> BatchItems(
    const json::object& o) {
  const json::value* mv = At(o, "messages");
  const json::array* a = mv ? mv->if_array() : nullptr;
  if (!a || a->empty()) return InvalidArgument("fn_batch: messages must be a non-empty array");
  std::vector<std::pair<std::string_view, const json::object*>> out;
  out.reserve(a->size());
  for (const json::value& e : *a) {
    const json::object* m = e.if_object();
    const json::value* t = m ? m->if_contains("t") : nullptr;
    if (!t || !t->is_string()) {
      return InvalidArgument("fn_batch: each message is an object with a string t");
    }
    std::string_view type(t->get_string().data(), t->get_string().size());
    if (type == "fn_batch" || !type.starts_with("fn_")) {
      return InvalidArgument("fn_batch: '" + std::string(type) + "' cannot be in a batch");
    }
    out.emplace_back(type, m);
  }
  return out;
}

}  // namespace

Result<FnPlannerBatch> ParseFnPlannerBatch(const json::object& o) {
  VOLO_ASSIGN_OR_RETURN(auto items, BatchItems(o));
  FnPlannerBatch out;
  out.messages.reserve(items.size());
  for (const auto& [t, m] : items) {
    VOLO_ASSIGN_OR_RETURN(FnPlannerMessage pm, ParseFnPlannerMessage(t, *m));
    out.messages.push_back(std::move(pm));
  }
  return out;
}

Result<FnWorkerBatch> ParseFnWorkerBatch(const json::object& o) {
  VOLO_ASSIGN_OR_RETURN(auto items, BatchItems(o));
  FnWorkerBatch out;
  out.messages.reserve(items.size());
  for (const auto& [t, m] : items) {
    VOLO_ASSIGN_OR_RETURN(FnWorkerMessage wm, ParseFnWorkerMessage(t, *m));
    out.messages.push_back(std::move(wm));
  }
  return out;
}

void FnBatcher::Add(std::string message) { pending_.push_back(std::move(message)); }

std::vector<std::string> FnBatcher::Finish() {
  std::vector<std::string> out;
  const size_t n = pending_.size();
  for (size_t i = 0; i < n;) {
    // pending_[i, j) go together: as many as fit in kFnBatchBytes (at least one).
    size_t j = i + 1, bytes = pending_[i].size();
    while (j < n && bytes + pending_[j].size() + 1 <= kFnBatchBytes) {
      bytes += pending_[j++].size() + 1;
    }
    if (j - i == 1) {
      out.push_back(std::move(pending_[i]));
    } else {
      constexpr std::string_view kHead = "{\"t\":\"fn_batch\",\"messages\":[";
      std::string batch;
      batch.reserve(kHead.size() + bytes + 2);
      batch += kHead;
      for (size_t k = i; k < j; ++k) {
        if (k > i) batch += ',';
        batch += pending_[k];
      }
      batch += "]}";
      out.push_back(std::move(batch));
    }
    i = j;
  }
  pending_.clear();
  return out;
}

}  // namespace volo::wire
