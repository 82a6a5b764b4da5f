#include "planner/functions.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/algorithm/string/predicate.hpp>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <random>

#include "common/json_text.h"
#include "common/sha256.h"
#include "fly/compiler.h"
#include "fly/diagnostic.h"
#include "wire/messages.h"

namespace volo::planner {
namespace json = boost::json;

namespace {

constexpr int kMaxInstances = 1000;
constexpr int kMaxConcurrency = 1000;
constexpr int kMaxQueue = 100000;
constexpr double kMaxSeconds = 7 * 24 * 3600;
// An instance that has not said it is ready after this long is given up.
constexpr double kStartDeadline = 60;
// Calls kept per function for usage queries; older ones drop out of it (the counters keep
// counting).
constexpr size_t kMaxRecords = 1'000'000;
// The duration histogram's upper bounds (seconds), as Prometheus buckets.
constexpr double kBounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                              0.25,  0.5,    1,     2.5,  5,     10};
constexpr size_t kBuckets = std::size(kBounds) + 1;

double Seconds(Nanos d) { return std::chrono::duration<double>(d).count(); }

void AppendNumber(std::string& out, double d) { wire::AppendJsonNumber(out, d); }

}  // namespace

bool ValidFunctionName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

std::string FunctionSpec::ToJson() const {
  std::string out = "{\"name\":";
  AppendJsonString(out, name);
  out += ",\"runner\":";
  AppendJsonString(out, runner);
  out += ",\"cmd\":[";
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(out, argv[i]);
  }
  out += "],\"bundle\":";
  if (bundle.empty()) {
    out += "null";
  } else {
    AppendJsonString(out, bundle);
  }
  out += ",\"env\":{";
  for (size_t i = 0; i < env.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(out, env[i].first);
    out += ':';
    AppendJsonString(out, env[i].second);
  }
  out += "},\"min\":" + std::to_string(min) + ",\"max\":" + std::to_string(max) +
         ",\"concurrency\":" + std::to_string(concurrency) + ",\"idle\":";
  AppendNumber(out, idle);
  out += ",\"timeout\":";
  AppendNumber(out, timeout);
  out += ",\"memory\":" + std::to_string(memory_mib) + ",\"cpus\":";
  AppendNumber(out, cpus);
  out += is_public ? ",\"public\":true" : ",\"public\":false";
  out += ",\"queue\":" + std::to_string(queue);
  if (runner == "fly") {
    out += ",\"fly\":{\"file\":";
    AppendJsonString(out, fly_file);
    out += ",\"source\":";
    AppendJsonString(out, fly_source);
    out += ",\"function\":";
    AppendJsonString(out, fly_function);
    out += "}";
  }
  if (runner == "http") {
    // Only for http functions, so that a cmd function's revision id stays what it was.
    out += ",\"ready\":";
    AppendJsonString(out, ready);
    out += ",\"ready_timeout\":";
    AppendNumber(out, ready_timeout);
  }
  out += "}";
  return out;
}

std::string RevisionOf(const FunctionSpec& spec) { return Sha256Hex(spec.ToJson()); }

std::string CheckFlyFunction(const std::string& file, const std::string& source,
                             const std::string& function) {
  std::vector<fly::Diagnostic> diags;
  auto program = fly::CompileSource(file, source, diags);
  if (fly::HasErrors(diags)) {
    std::string text = fly::FormatDiagnostics(file, source, diags);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }
  int fn = program->FindFunction(function);
  if (fn <= 0) return file + " has no function '" + function + "'";
  int arity = program->functions[static_cast<size_t>(fn)]->arity;
  if (arity > 2) {
    return "function '" + function + "' of " + file + " takes " + std::to_string(arity) +
           " parameters; a call passes at most two (the body and the request)";
  }
  return "";
}

Result<FunctionSpec> ParseFunctionSpec(std::string_view name, std::string_view body) {
  if (!ValidFunctionName(name)) {
    return InvalidArgument("function name '" + std::string(name) +
                           "': 1-64 of a-z, 0-9 and '-', not starting with '-'");
  }
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(body.data(), body.size()), ec);
  if (ec) return InvalidArgument("malformed JSON: " + ec.message());
  const json::object* o = v.if_object();
  if (!o) return InvalidArgument("the body must be a JSON object");
  FunctionSpec s;
  s.name = std::string(name);
  static const char* kKnown[] = {
      "runner", "cmd",  "bundle", "env",   "min",  "max",   "concurrency",   "idle", "timeout",
      "memory", "cpus", "public", "queue", "name", "ready", "ready_timeout", "fly"};
  for (const auto& [k, val] : *o) {
    (void)val;
    if (std::none_of(std::begin(kKnown), std::end(kKnown),
                     [&](const char* known) { return k == known; })) {
      return InvalidArgument("unknown field '" + std::string(k) + "'");
    }
  }
  auto integer = [&](const char* key, int lo, int hi, int* out) -> Status {
    const json::value* f = o->if_contains(key);
    if (!f) return Status::Ok();
    int64_t n = 0;
    if (f->is_int64()) {
      n = f->get_int64();
    } else if (f->is_uint64() && f->get_uint64() < 1u << 31) {
      n = static_cast<int64_t>(f->get_uint64());
    } else if (f->is_double() && std::trunc(f->get_double()) == f->get_double() &&
               std::abs(f->get_double()) < 1e9) {
      n = static_cast<int64_t>(f->get_double());
    } else {
      n = int64_t{lo} - 1;
    }
    if (n < lo || n > hi) {
      return InvalidArgument(std::string(key) + ": must be an integer from " + std::to_string(lo) +
                             " to " + std::to_string(hi));
    }
    *out = static_cast<int>(n);
    return Status::Ok();
  };
  auto seconds = [&](const char* key, double lo, double* out) -> Status {
    const json::value* f = o->if_contains(key);
    if (!f) return Status::Ok();
    double d = f->is_double()   ? f->get_double()
               : f->is_int64()  ? static_cast<double>(f->get_int64())
               : f->is_uint64() ? static_cast<double>(f->get_uint64())
                                : std::nan("");
    if (!(d >= lo) || d > kMaxSeconds) {
      return InvalidArgument(std::string(key) + ": must be a number of seconds from " +
                             (lo > 0 ? "above 0" : "0") + " to " +
                             std::to_string(static_cast<int>(kMaxSeconds)));
    }
    if (lo > 0 && d == 0) return InvalidArgument(std::string(key) + ": must be above 0");
    *out = d;
    return Status::Ok();
  };
  if (const json::value* r = o->if_contains("runner")) {
    if (!r->is_string() ||
        (r->get_string() != "cmd" && r->get_string() != "http" && r->get_string() != "fly")) {
      return InvalidArgument("runner: must be \"cmd\", \"http\" or \"fly\"");
    }
    s.runner = std::string(r->get_string());
  }
  if (const json::value* r = o->if_contains("ready")) {
    const json::string* p = r->if_string();
    if (!p || p->empty() || (*p)[0] != '/' || std::any_of(p->begin(), p->end(), [](char c) {
          return static_cast<unsigned char>(c) <= ' ' || c == 127;
        })) {
      return InvalidArgument(
          "ready: must be a path starting with '/', without spaces or control characters");
    }
    s.ready = std::string(*p);
  }
  if (s.runner == "fly") {
    if (const json::value* c = o->if_contains("cmd");
        c && !(c->is_array() && c->get_array().empty())) {
      return InvalidArgument("cmd: not for the fly runner (its program is fly.source)");
    }
    const json::value* fv = o->if_contains("fly");
    const json::object* fo = fv ? fv->if_object() : nullptr;
    if (!fo) {
      return InvalidArgument(
          "fly: required for the fly runner, {\"file\", \"source\", \"function\"}");
    }
    for (const auto& [k, val] : *fo) {
      (void)val;
      if (k != "file" && k != "source" && k != "function") {
        return InvalidArgument("fly: unknown field '" + std::string(k) + "'");
      }
    }
    auto text = [&](const char* key, std::string* out) -> Status {
      const json::value* f = fo->if_contains(key);
      if (!f || !f->is_string() || f->get_string().empty()) {
        return InvalidArgument(std::string("fly.") + key + ": required, a non-empty string");
      }
      *out = std::string(f->get_string());
      return Status::Ok();
    };
    VOLO_RETURN_IF_ERROR(text("file", &s.fly_file));
    VOLO_RETURN_IF_ERROR(text("source", &s.fly_source));
    VOLO_RETURN_IF_ERROR(text("function", &s.fly_function));
    if (s.fly_source.size() > kMaxFlySource) {
      return InvalidArgument("fly.source: larger than " + std::to_string(kMaxFlySource >> 20) +
                             " MiB");
    }
    if (std::string why = CheckFlyFunction(s.fly_file, s.fly_source, s.fly_function);
        !why.empty()) {
      return InvalidArgument(why);
    }
  } else if (o->contains("fly")) {
    return InvalidArgument("fly: only for the fly runner");
  }
  const json::value* cmd = o->if_contains("cmd");
  const json::array* argv = cmd ? cmd->if_array() : nullptr;
  if (s.runner == "fly") {
    // No program of its own: the worker runs the fly program.
  } else if (!argv || argv->empty()) {
    return InvalidArgument(
        "cmd: required, a non-empty array of strings (the program and its arguments)");
  }
  for (size_t i = 0; argv && s.runner != "fly" && i < argv->size(); ++i) {
    const json::value& a = (*argv)[i];
    if (!a.is_string()) return InvalidArgument("cmd: each argument is a string");
    if (a.get_string().find('\0') != json::string::npos) {
      return InvalidArgument("cmd: an argument holds a NUL character");
    }
    s.argv.emplace_back(a.get_string());
  }
  if (s.runner != "fly" && s.argv[0].empty()) {
    return InvalidArgument("cmd: the program's name is empty");
  }
  if (const json::value* b = o->if_contains("bundle"); b && !b->is_null()) {
    std::string id = b->is_string() ? std::string(b->get_string()) : "";
    bool hex = id.size() == 64 && std::all_of(id.begin(), id.end(), [](char c) {
                 return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
               });
    if (!hex) return InvalidArgument("bundle: must be a bundle id (64 hex digits)");
    s.bundle = std::move(id);
  }
  if (const json::value* e = o->if_contains("env")) {
    const json::object* eo = e->if_object();
    if (!eo) return InvalidArgument("env: must be an object of strings");
    for (const auto& [k, val] : *eo) {
      std::string key(k);
      if (key.empty() || key.find('=') != std::string::npos ||
          key.find('\0') != std::string::npos) {
        return InvalidArgument("env: '" + key + "' is not a variable name");
      }
      if (!val.is_string()) return InvalidArgument("env." + key + ": must be a string");
      s.env.emplace_back(key, std::string(val.get_string()));
    }
    std::sort(s.env.begin(), s.env.end());
  }
  VOLO_RETURN_IF_ERROR(integer("min", 0, kMaxInstances, &s.min));
  VOLO_RETURN_IF_ERROR(integer("max", 1, kMaxInstances, &s.max));
  VOLO_RETURN_IF_ERROR(integer("concurrency", 1, kMaxConcurrency, &s.concurrency));
  VOLO_RETURN_IF_ERROR(integer("queue", 0, kMaxQueue, &s.queue));
  if (s.min > s.max) {
    return InvalidArgument("min (" + std::to_string(s.min) + ") is above max (" +
                           std::to_string(s.max) + ")");
  }
  VOLO_RETURN_IF_ERROR(seconds("idle", 0, &s.idle));
  VOLO_RETURN_IF_ERROR(seconds("timeout", 1e-9, &s.timeout));
  VOLO_RETURN_IF_ERROR(seconds("ready_timeout", 1e-9, &s.ready_timeout));
  if (s.runner != "http" && (o->contains("ready") || o->contains("ready_timeout"))) {
    return InvalidArgument("ready, ready_timeout: only for the http runner");
  }
  int memory = 0;
  VOLO_RETURN_IF_ERROR(integer("memory", 0, 1 << 30, &memory));
  s.memory_mib = memory;
  if (const json::value* c = o->if_contains("cpus")) {
    double d = c->is_double()  ? c->get_double()
               : c->is_int64() ? static_cast<double>(c->get_int64())
                               : -1;
    if (!(d >= 0) || d > 1e6) return InvalidArgument("cpus: must be a number from 0");
    s.cpus = d;
  }
  if (const json::value* p = o->if_contains("public")) {
    if (!p->is_bool()) return InvalidArgument("public: must be true or false");
    s.is_public = p->get_bool();
  }
  return s;
}

// ---- scaling ----

int InstancesToStart(const ScaleInput& in) {
  const int concurrency = std::max(1, in.concurrency);
  const int demand = in.inflight + in.queued;
  int want = (demand + concurrency - 1) / concurrency;
  want = std::clamp(want, in.min, std::max(in.min, in.max));
  return std::max(0, want - in.ready - in.starting);
}

bool StopWhenIdle(double idle_for, double idle_limit, int instances, int min) {
  return idle_for >= idle_limit && instances - 1 >= min;
}

int PrefetchCalls(const std::string& runner, int concurrency, double recent_call_seconds,
                  uint64_t answered) {
  if (runner != "fly" || answered < kPrefetchAfterCalls) return 0;
  return recent_call_seconds < kPrefetchBelowSeconds ? concurrency : 0;
}

int RetryAfterSeconds(int queued, int capacity, double mean_call_seconds) {
  double mean = mean_call_seconds > 0 ? mean_call_seconds : 1;
  double s = std::ceil(queued * mean / std::max(1, capacity));
  return static_cast<int>(std::clamp(s, 1.0, 60.0));
}

// ---- the service ----

struct FunctionService::Held {
  uint64_t id = 0;
  wire::FnCall request;  // the body and the HTTP request's parts
  std::string caller;
  Reply reply;
  TimePoint arrived;
  double arrived_wall = 0;
  bool cold = false;
};

struct FunctionService::Running {
  Held call;
  std::string function;
  uint64_t instance = 0;
  std::string revision;
};

struct FunctionService::Instance {
  uint64_t id = 0;
  std::string function;
  size_t revision = 0;  // index into Function::revisions
  WorkerIndex worker;
  enum class State { kStarting, kReady, kStopping } state = State::kStarting;
  int inflight = 0;
  TimePoint started;
  TimePoint last_used;
};

struct FunctionService::Function {
  struct Revision {
    std::string id;
    FunctionSpec spec;
    double deployed = 0;
  };
  std::vector<Revision> revisions;  // in deploy order
  size_t current = 0;
  std::deque<Held> queue;
  std::vector<uint64_t> instances;
  std::deque<CallRecord> records;
  FunctionCounters counters;
  double call_seconds_sum = 0;  // answered calls' worker time, for Retry-After
  uint64_t call_seconds_n = 0;
  // Answered calls' recent worker time (a moving average), for PrefetchCalls.
  double recent_call_seconds = 0;
  // The duration histogram, warm [0] and cold [1] calls apart: counts per bucket (not
  // cumulative), sums and counts.
  std::array<uint64_t, kBuckets> buckets[2] = {};
  double duration_sum[2] = {0, 0};
  // Instances' start latency (the planner asking to its fn_ready), as the same histogram.
  std::array<uint64_t, kBuckets> start_buckets = {};
  double start_sum = 0;
  double created = 0;
  // Its instances' stderr, prefixed lines; log_begin is the offset of log[0] (bytes dropped).
  std::string log;
  uint64_t log_begin = 0;
  const FunctionSpec& spec() const { return revisions[current].spec; }
  // Records one answered call (counters, histogram, usage).
  void Meter(const Clock& clock, const Held& call, int status, const wire::FnAnswer* answer,
             const std::string& revision);
};

struct FunctionService::Worker {
  std::string id;
  int capacity = 0;
  int hosted = 0;
  bool leaving = false;
};

void FunctionService::Function::Meter(const Clock& clock, const Held& call, int status,
                                      const wire::FnAnswer* answer, const std::string& revision) {
  CallRecord rec;
  rec.at = call.arrived_wall;
  rec.wall = Seconds(clock.Now() - call.arrived);
  rec.cold = call.cold;
  rec.status = status;
  rec.caller = call.caller;
  rec.revision = revision;
  if (answer) {
    rec.run = answer->wall;
    rec.cpu = answer->cpu;
    rec.max_rss = answer->max_rss;
    recent_call_seconds =
        call_seconds_n == 0 ? answer->wall : 0.875 * recent_call_seconds + 0.125 * answer->wall;
    call_seconds_sum += answer->wall;
    ++call_seconds_n;
  }
  ++counters.calls;
  if (status >= 400) ++counters.errors;
  size_t b = 0;
  while (b < std::size(kBounds) && rec.wall > kBounds[b]) ++b;
  ++buckets[rec.cold ? 1 : 0][b];
  duration_sum[rec.cold ? 1 : 0] += rec.wall;
  records.push_back(std::move(rec));
  if (records.size() > kMaxRecords) records.pop_front();
}

FunctionService::FunctionService(const Clock& clock, FunctionTransport& transport)
    : clock_(clock), transport_(transport) {}

FunctionService::~FunctionService() = default;

FunctionService::Function* FunctionService::Find(const std::string& name) {
  auto it = functions_.find(name);
  return it == functions_.end() ? nullptr : it->second.get();
}

FunctionService::Deployed FunctionService::Deploy(FunctionSpec spec) {
  std::string rev = RevisionOf(spec);
  auto& slot = functions_[spec.name];
  if (!slot) {
    slot = std::make_unique<Function>();
    slot->created = clock_.Wall();
  }
  Function& f = *slot;
  if (!f.revisions.empty() && f.revisions[f.current].id == rev) return {rev, false};
  auto known = std::find_if(f.revisions.begin(), f.revisions.end(),
                            [&](const Function::Revision& r) { return r.id == rev; });
  if (known != f.revisions.end()) {
    // Deploying an earlier revision again makes it the newest.
    Function::Revision r = *known;
    size_t old = static_cast<size_t>(known - f.revisions.begin());
    f.revisions.erase(known);
    for (uint64_t id : f.instances) {
      Instance& inst = *instances_[id];
      if (inst.revision == old) {
        inst.revision = f.revisions.size();
      } else if (inst.revision > old) {
        --inst.revision;
      }
    }
    f.revisions.push_back(std::move(r));
  } else {
    f.revisions.push_back({rev, std::move(spec), clock_.Wall()});
  }
  f.current = f.revisions.size() - 1;
  spdlog::info("function {}: revision {} deployed", f.spec().name, rev.substr(0, 12));
  Record(f.spec().name);
  Scale(f);
  return {rev, true};
}

Result<std::string> FunctionService::Rollback(const std::string& name) {
  Function* f = Find(name);
  if (!f) return NotFound("no function " + name);
  if (f->revisions.size() < 2) {
    return FailedPrecondition("function " + name + " has no earlier revision to roll back to");
  }
  // The current revision goes before the previous one, which becomes the newest.
  size_t prev = f->revisions.size() - 2;
  std::swap(f->revisions[prev], f->revisions[prev + 1]);
  for (uint64_t id : f->instances) {
    Instance& inst = *instances_[id];
    if (inst.revision == prev) {
      inst.revision = prev + 1;
    } else if (inst.revision == prev + 1) {
      inst.revision = prev;
    }
  }
  f->current = f->revisions.size() - 1;
  spdlog::info("function {}: rolled back to revision {}", name,
               f->revisions[f->current].id.substr(0, 12));
  Record(name);
  Scale(*f);
  return f->revisions[f->current].id;
}

Status FunctionService::Remove(const std::string& name) {
  Function* f = Find(name);
  if (!f) return NotFound("no function " + name);
  for (Held& h : f->queue) {
    h.reply(net::HttpResponse::Error(503, "function " + name + " was removed"));
  }
  f->queue.clear();
  std::vector<uint64_t> ids = f->instances;
  for (uint64_t id : ids) {
    Instance& inst = *instances_[id];
    transport_.Stop(inst.worker, inst.id);
    ForgetInstance(id);
  }
  std::vector<uint64_t> orphans;
  for (auto& [id, r] : calls_) {
    if (r->function == name) orphans.push_back(id);
  }
  for (uint64_t id : orphans) {
    auto node = calls_.extract(id);
    node.mapped()->call.reply(net::HttpResponse::Error(503, "function " + name + " was removed"));
  }
  functions_.erase(name);
  Record(name);
  spdlog::info("function {} removed", name);
  return Status::Ok();
}

void FunctionService::Record(const std::string& name) {
  if (!record_) return;
  auto it = functions_.find(name);
  if (it == functions_.end()) return record_(name, "");
  const Function& f = *it->second;
  std::string out = "{\"current\":" + std::to_string(f.current) + ",\"revisions\":[";
  for (size_t i = 0; i < f.revisions.size(); ++i) {
    if (i) out += ',';
    out += "{\"id\":";
    AppendJsonString(out, f.revisions[i].id);
    out += ",\"deployed\":";
    AppendNumber(out, f.revisions[i].deployed);
    out += ",\"spec\":" + f.revisions[i].spec.ToJson() + "}";
  }
  out += "]}";
  record_(name, out);
}

Status FunctionService::Restore(const std::string& name, std::string_view state) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(state.data(), state.size()), ec);
  const json::object* o = ec ? nullptr : v.if_object();
  const json::value* revs = o ? o->if_contains("revisions") : nullptr;
  const json::value* cur = o ? o->if_contains("current") : nullptr;
  if (!revs || !revs->is_array() || revs->get_array().empty() || !cur || !cur->is_int64()) {
    return Corruption("function " + name + " in the journal is not readable");
  }
  auto f = std::make_unique<Function>();
  f->created = clock_.Wall();
  for (const json::value& r : revs->get_array()) {
    const json::object* ro = r.if_object();
    const json::value* spec = ro ? ro->if_contains("spec") : nullptr;
    if (!spec)
      return Corruption("function " + name + " in the journal has a revision without spec");
    auto parsed = ParseFunctionSpec(name, json::serialize(*spec));
    if (!parsed.ok()) {
      return Corruption("function " + name + " in the journal: " + parsed.status().message());
    }
    Function::Revision rev;
    rev.spec = std::move(*parsed);
    rev.id = RevisionOf(rev.spec);
    if (const json::value* d = ro->if_contains("deployed"); d && d->is_number()) {
      rev.deployed = d->to_number<double>();
    }
    f->revisions.push_back(std::move(rev));
  }
  int64_t current = cur->get_int64();
  if (current < 0 || current >= static_cast<int64_t>(f->revisions.size())) {
    return Corruption("function " + name + " in the journal names a revision it does not have");
  }
  f->current = static_cast<size_t>(current);
  functions_[name] = std::move(f);
  return Status::Ok();
}

void FunctionService::AddWorker(WorkerIndex w, std::string id, int capacity) {
  workers_[w] = Worker{std::move(id), capacity, 0, false};
  for (auto& [name, f] : functions_) Scale(*f);
}

void FunctionService::WorkerLeaving(WorkerIndex w) {
  auto it = workers_.find(w);
  if (it == workers_.end() || it->second.leaving) return;
  it->second.leaving = true;
  // Its instances take no new calls and stop once their calls in flight are done (the worker
  // waits for those before it leaves); replacements start on the other workers, and calls
  // meanwhile are held as for a cold function.
  std::vector<uint64_t> ids;
  for (auto& [id, inst] : instances_) {
    if (inst->worker == w) ids.push_back(id);
  }
  for (uint64_t id : ids) {
    if (auto i = instances_.find(id); i != instances_.end()) StopInstance(*i->second);
  }
  for (auto& [name, f] : functions_) Scale(*f);
}

void FunctionService::RemoveWorker(WorkerIndex w) {
  auto it = workers_.find(w);
  if (it == workers_.end()) return;
  std::string wid = it->second.id;
  workers_.erase(it);
  std::vector<uint64_t> lost;
  for (auto& [id, inst] : instances_) {
    if (inst->worker == w) lost.push_back(id);
  }
  // Out of service first, so that no call freed below is routed to another of them.
  for (uint64_t id : lost) instances_[id]->state = Instance::State::kStopping;
  for (uint64_t id : lost) {
    if (Function* f = Find(instances_[id]->function)) ++f->counters.crashes;
    std::vector<uint64_t> calls;
    for (auto& [cid, r] : calls_) {
      if (r->instance == id) calls.push_back(cid);
    }
    for (uint64_t cid : calls) {
      Finish(cid, net::HttpResponse::Error(502, "the worker " + wid + " running the call was lost"),
             nullptr);
    }
  }
  for (uint64_t id : lost) ForgetInstance(id);
  for (auto& [name, f] : functions_) Scale(*f);
}

std::optional<WorkerIndex> FunctionService::PickWorker() {
  std::optional<WorkerIndex> best;
  int best_free = 0;
  for (auto& [w, info] : workers_) {
    int free = info.capacity - info.hosted;
    if (info.leaving || free <= 0) continue;
    if (!best || free > best_free) {
      best = w;
      best_free = free;
    }
  }
  return best;
}

ScaleInput FunctionService::ScaleInputOf(const Function& f) const {
  ScaleInput in;
  const FunctionSpec& spec = f.spec();
  in.min = spec.min;
  in.max = spec.max;
  in.concurrency = spec.concurrency;
  in.queued = static_cast<int>(f.queue.size());
  // An earlier revision's instances, and those a draining worker stops, each to be replaced
  // by a current one.
  int older = 0;
  for (uint64_t id : f.instances) {
    const Instance& inst = *instances_.at(id);
    if (inst.state == Instance::State::kStopping) {
      auto w = workers_.find(inst.worker);
      if (w != workers_.end() && w->second.leaving) ++older;
      continue;
    }
    if (inst.revision != f.current) {
      ++older;
      continue;
    }
    if (inst.state == Instance::State::kReady) ++in.ready;
    if (inst.state == Instance::State::kStarting) ++in.starting;
    in.inflight += inst.inflight;
  }
  in.min = std::max(in.min, std::min(older, spec.max));
  return in;
}

void FunctionService::Scale(Function& f) {
  const FunctionSpec& spec = f.spec();
  for (int n = InstancesToStart(ScaleInputOf(f)); n > 0; --n) {
    std::optional<WorkerIndex> w = PickWorker();
    if (!w) return;  // held calls wait for a worker (or their deadline)
    auto inst = std::make_unique<Instance>();
    inst->id = next_instance_++;
    inst->function = spec.name;
    inst->revision = f.current;
    inst->worker = *w;
    inst->started = inst->last_used = clock_.Now();
    ++workers_[*w].hosted;
    f.instances.push_back(inst->id);
    ++f.counters.instances_started;
    wire::FnStart m;
    m.instance = inst->id;
    m.function = spec.name;
    m.revision = f.revisions[f.current].id;
    m.runner = spec.runner;
    m.argv = spec.argv;
    m.bundle = spec.bundle;
    m.env = spec.env;
    m.timeout = spec.timeout;
    m.memory_mib = spec.memory_mib;
    m.cpus = spec.cpus;
    m.ready = spec.ready;
    m.ready_timeout = spec.ready_timeout;
    m.fly_file = spec.fly_file;
    m.fly_source = spec.fly_source;
    m.fly_function = spec.fly_function;
    m.concurrency = spec.concurrency;
    spdlog::debug("function {}: starting instance {} on {}", spec.name, inst->id, workers_[*w].id);
    instances_[inst->id] = std::move(inst);
    transport_.Start(*w, m);
  }
}

void FunctionService::Invoke(const std::string& name, wire::FnCall request, std::string caller,
                             Reply reply) {
  Function* f = Find(name);
  if (!f) {
    return reply(net::HttpResponse::Error(
        404, "no function " + name + " (deploy it with `volo fn deploy " + name + " ...`)"));
  }
  Held h;
  h.id = next_call_++;
  h.request = std::move(request);
  h.caller = std::move(caller);
  h.reply = std::move(reply);
  h.arrived = clock_.Now();
  h.arrived_wall = clock_.Wall();
  if (static_cast<int>(f->queue.size()) >= f->spec().queue) {
    // Only when there is no room anywhere: a full queue means every instance is busy too.
    bool room = false;
    for (uint64_t id : f->instances) {
      const Instance& inst = *instances_[id];
      if (inst.state == Instance::State::kReady && inst.inflight < f->spec().concurrency) {
        room = true;
      }
    }
    if (!room) {
      ++f->counters.rejected;
      int capacity = f->spec().max * f->spec().concurrency;
      double mean = f->call_seconds_n ? f->call_seconds_sum / f->call_seconds_n : 1;
      int after = RetryAfterSeconds(static_cast<int>(f->queue.size()), capacity, mean);
      net::HttpResponse r = net::HttpResponse::Error(
          429, "function " + name + " is busy: " + std::to_string(f->queue.size()) +
                   " call(s) are already waiting; retry after " + std::to_string(after) + " s");
      r.headers.emplace_back("Retry-After", std::to_string(after));
      return h.reply(std::move(r));
    }
  }
  f->queue.push_back(std::move(h));
  Dispatch(*f);
  if (!f->queue.empty()) {
    // Held: cold when no instance of the function can take calls at all.
    bool any_ready = false;
    for (uint64_t id : f->instances) {
      if (instances_[id]->state == Instance::State::kReady) any_ready = true;
    }
    if (!any_ready) f->queue.back().cold = true;
    Scale(*f);
  }
}

void FunctionService::InvokeAsync(
    const std::string& name, wire::FnCall request, std::string caller,
    const std::function<void(Result<std::string>, net::HttpResponse)>& accepted) {
  static std::random_device device;
  std::string id;
  do {
    id.clear();
    for (int i = 0; i < 4; ++i) {
      char part[9];
      std::snprintf(part, sizeof part, "%08x", static_cast<unsigned>(device()));
      id += part;
    }
  } while (async_.contains(id));
  async_[id] = Async{name, false, {}, {}};
  Invoke(name, std::move(request), std::move(caller), [this, id](net::HttpResponse r) {
    auto it = async_.find(id);
    if (it == async_.end()) return;
    it->second.done = true;
    it->second.response = std::move(r);
    it->second.finished = clock_.Now();
    async_bytes_ += it->second.response.body.size();
    async_done_.push_back(id);
    DropOldAsync();
  });
  auto it = async_.find(id);
  if (it != async_.end() && it->second.done && it->second.response.status != 200 &&
      async_done_.back() == id) {
    // Answered without running (no such function, a full queue): the caller gets that now.
    net::HttpResponse now = std::move(it->second.response);
    async_bytes_ -= now.body.size();
    async_done_.pop_back();
    async_.erase(it);
    return accepted(FailedPrecondition("not accepted"), std::move(now));
  }
  accepted(id, {});
}

std::optional<FunctionService::AsyncState> FunctionService::AsyncResult(
    const std::string& name, const std::string& id) const {
  auto it = async_.find(id);
  if (it == async_.end() || it->second.function != name) return std::nullopt;
  return AsyncState{it->second.done, it->second.response};
}

void FunctionService::DropOldAsync() {
  const TimePoint now = clock_.Now();
  while (!async_done_.empty()) {
    auto it = async_.find(async_done_.front());
    if (it != async_.end() && async_done_.size() <= kAsyncKeepCalls &&
        async_bytes_ <= kAsyncKeepBytes && Seconds(now - it->second.finished) < kAsyncKeepSeconds) {
      break;
    }
    if (it != async_.end()) {
      async_bytes_ -= it->second.response.body.size();
      async_.erase(it);
    }
    async_done_.pop_front();
  }
}

bool FunctionService::IsPublic(const std::string& name) const {
  auto it = functions_.find(name);
  return it != functions_.end() && it->second->spec().is_public;
}

// Hands held calls to instances with room: the current revision's first, else an older
// revision's while the current one has no ready instance (so a deploy never makes a call wait).
void FunctionService::Dispatch(Function& f) {
  while (!f.queue.empty()) {
    Instance* target = nullptr;
    bool current_ready = false;
    for (uint64_t id : f.instances) {
      Instance& inst = *instances_[id];
      if (inst.state == Instance::State::kReady && inst.revision == f.current) {
        current_ready = true;
      }
    }
    for (uint64_t id : f.instances) {
      Instance& inst = *instances_[id];
      if (inst.state != Instance::State::kReady) continue;
      if (inst.revision != f.current && current_ready) continue;
      const FunctionSpec& spec = f.revisions[inst.revision].spec;
      const int limit = spec.concurrency + PrefetchCalls(spec.runner, spec.concurrency,
                                                         f.recent_call_seconds, f.call_seconds_n);
      if (inst.inflight >= limit) continue;
      // The least loaded instance, the current revision first.
      if (!target || (target->revision != f.current && inst.revision == f.current) ||
          (inst.revision == target->revision && inst.inflight < target->inflight)) {
        target = &inst;
      }
    }
    if (!target) return;
    Held h = std::move(f.queue.front());
    f.queue.pop_front();
    Send(f, *target, std::move(h));
  }
}

void FunctionService::Send(Function& f, Instance& inst, Held call) {
  ++inst.inflight;
  inst.last_used = clock_.Now();
  auto r = std::make_unique<Running>();
  r->function = f.spec().name;
  r->instance = inst.id;
  r->revision = f.revisions[inst.revision].id;
  wire::FnCall m = std::move(call.request);
  m.instance = inst.id;
  m.call = call.id;
  call.request = {};
  r->call = std::move(call);
  uint64_t id = r->call.id;
  calls_[id] = std::move(r);
  transport_.Call(inst.worker, m);
}

void FunctionService::OnReady(WorkerIndex w, const wire::FnReady& m) {
  auto it = instances_.find(m.instance);
  if (it == instances_.end() || it->second->worker != w) return;
  Instance& inst = *it->second;
  if (inst.state != Instance::State::kStarting) return;
  inst.state = Instance::State::kReady;
  inst.last_used = clock_.Now();
  Function* f = Find(inst.function);
  if (!f) return;
  ++f->counters.cold_starts;
  const double took = Seconds(clock_.Now() - inst.started);
  size_t b = 0;
  while (b < std::size(kBounds) && took > kBounds[b]) ++b;
  ++f->start_buckets[b];
  f->start_sum += took;
  spdlog::debug("function {}: instance {} ready in {:.1f} ms", inst.function, inst.id, m.start_ms);
  Dispatch(*f);
  // An older revision's idle instances stop once the current one serves.
  if (inst.revision == f->current) {
    std::vector<uint64_t> ids = f->instances;
    for (uint64_t id : ids) {
      Instance& old = *instances_[id];
      if (old.revision != f->current && old.inflight == 0) StopInstance(old);
    }
  }
}

void FunctionService::Finish(uint64_t call_id, net::HttpResponse r, const wire::FnAnswer* answer) {
  auto node = calls_.extract(call_id);
  if (node.empty()) return;
  Running& run = *node.mapped();
  Function* f = Find(run.function);
  auto it = instances_.find(run.instance);
  if (it != instances_.end()) {
    --it->second->inflight;
    it->second->last_used = clock_.Now();
  }
  if (f) f->Meter(clock_, run.call, r.status, answer, run.revision);
  r.headers.emplace_back("X-Volo-Cold", run.call.cold ? "true" : "false");
  r.headers.emplace_back("X-Volo-Revision", run.revision.substr(0, 12));
  run.call.reply(std::move(r));
  if (!f) return;
  if (it != instances_.end() && it->second->inflight == 0) {
    Instance& inst = *it->second;
    if (inst.state == Instance::State::kStopping) {
      ForgetInstance(inst.id);  // stopped while this call ran
    } else if (inst.revision != f->current) {
      // An older revision's instance with nothing left to do stops once the current one
      // serves.
      bool current_ready = std::any_of(f->instances.begin(), f->instances.end(), [&](uint64_t id) {
        const Instance& i = *instances_[id];
        return i.revision == f->current && i.state == Instance::State::kReady;
      });
      if (current_ready) StopInstance(inst);
    }
  }
  Dispatch(*f);
}

void FunctionService::OnAnswer(WorkerIndex w, const wire::FnAnswer& m) {
  auto it = calls_.find(m.call);
  if (it == calls_.end()) return;
  auto inst = instances_.find(it->second->instance);
  if (inst == instances_.end() || inst->second->worker != w) return;
  const std::string name = it->second->function;
  net::HttpResponse r;
  if (m.ok) {
    r.status = m.status;
    r.content_type = "application/octet-stream";
    r.body = m.body;
    for (const auto& [k, v] : m.headers) {
      if (boost::algorithm::iequals(k, "content-type")) {
        r.content_type = v;
      } else {
        r.headers.emplace_back(k, v);
      }
    }
  } else {
    r = net::HttpResponse::Error(502, "function " + name + ": " + m.error);
    if (m.crashed) {
      if (Function* f = Find(name)) ++f->counters.crashes;
    }
  }
  Finish(m.call, std::move(r), &m);
}

void FunctionService::OnExited(WorkerIndex w, const wire::FnExited& m) {
  auto it = instances_.find(m.instance);
  if (it == instances_.end() || it->second->worker != w) return;
  Instance& inst = *it->second;
  std::string name = inst.function;
  const bool starting = inst.state == Instance::State::kStarting;
  const bool stopping = inst.state == Instance::State::kStopping;
  std::vector<uint64_t> calls;
  for (auto& [cid, r] : calls_) {
    if (r->instance == m.instance) calls.push_back(cid);
  }
  for (uint64_t cid : calls) {
    Finish(cid,
           net::HttpResponse::Error(
               502, "function " + name + ": its instance ended mid-call: " + m.error),
           nullptr);
  }
  ForgetInstance(m.instance);
  Function* f = Find(name);
  if (!f || stopping) return;
  ++f->counters.crashes;
  spdlog::warn("function {}: instance {} {}: {}", name, m.instance,
               starting ? "could not start" : "ended", m.error);
  if (starting && !f->queue.empty()) {
    // A function that cannot start (a missing program, a bundle the worker cannot fetch) fails
    // its held calls now rather than at their deadline, and is not started again for them.
    bool others = std::any_of(f->instances.begin(), f->instances.end(), [&](uint64_t id) {
      return instances_[id]->state != Instance::State::kStopping;
    });
    if (!others) {
      for (Held& h : f->queue) {
        f->Meter(clock_, h, 502, nullptr, f->revisions[f->current].id);
        h.reply(net::HttpResponse::Error(
            502, "function " + name + ": no instance could start: " + m.error));
      }
      f->queue.clear();
      return;
    }
  }
  Scale(*f);
}

void FunctionService::StopInstance(Instance& inst) {
  if (inst.state == Instance::State::kStopping) return;
  inst.state = Instance::State::kStopping;
  transport_.Stop(inst.worker, inst.id);
  if (Function* f = Find(inst.function)) ++f->counters.instances_stopped;
  // The worker finishes calls in flight; the instance is forgotten now (the worker's answers
  // to its calls still arrive: they are matched by call).
  if (inst.inflight == 0) ForgetInstance(inst.id);
}

void FunctionService::ForgetInstance(uint64_t id) {
  auto it = instances_.find(id);
  if (it == instances_.end()) return;
  Instance& inst = *it->second;
  if (auto w = workers_.find(inst.worker); w != workers_.end()) --w->second.hosted;
  if (Function* f = Find(inst.function)) std::erase(f->instances, id);
  instances_.erase(it);
}

void FunctionService::Tick() {
  const TimePoint now = clock_.Now();
  DropOldAsync();
  for (auto& [name, fp] : functions_) {
    Function& f = *fp;
    const FunctionSpec& spec = f.spec();
    // Held calls past their deadline.
    while (!f.queue.empty() && Seconds(now - f.queue.front().arrived) >= spec.timeout) {
      Held h = std::move(f.queue.front());
      f.queue.pop_front();
      f.Meter(clock_, h, 504, nullptr, f.revisions[f.current].id);
      std::string why = workers_.empty()
                            ? "no worker hosts function instances (start `volo worker` with "
                              "exec among its --ops)"
                            : "no instance had room";
      h.reply(net::HttpResponse::Error(
          504, "function " + name + ": not answered within its timeout of " +
                   std::to_string(static_cast<int>(std::ceil(spec.timeout))) + " s: " + why));
    }
    // Calls in flight past their deadline (the worker stops the process at the timeout; this
    // catches a worker that never answers).
    std::vector<uint64_t> late;
    for (auto& [cid, r] : calls_) {
      if (r->function == name && Seconds(now - r->call.arrived) >= spec.timeout + 5) {
        late.push_back(cid);
      }
    }
    for (uint64_t cid : late) {
      Finish(
          cid,
          net::HttpResponse::Error(504, "function " + name + ": no answer within " +
                                            std::to_string(static_cast<int>(spec.timeout)) + " s"),
          nullptr);
    }
    // Slow starts and idle instances.
    std::vector<uint64_t> ids = f.instances;
    int current = 0;
    for (uint64_t id : ids) {
      const Instance& inst = *instances_[id];
      if (inst.revision == f.current && inst.state != Instance::State::kStopping) ++current;
    }
    for (uint64_t id : ids) {
      auto it = instances_.find(id);
      if (it == instances_.end()) continue;
      Instance& inst = *it->second;
      // An http instance's worker stops it after its readiness deadline and says so; this
      // catches a worker that never answers.
      const FunctionSpec& ispec = f.revisions[inst.revision].spec;
      const double deadline = kStartDeadline + (ispec.runner == "http" ? ispec.ready_timeout : 0);
      if (inst.state == Instance::State::kStarting && Seconds(now - inst.started) >= deadline) {
        transport_.Stop(inst.worker, inst.id);
        OnExited(inst.worker, {inst.id, "not ready within " +
                                            std::to_string(static_cast<int>(deadline)) + " s"});
        continue;
      }
      if (inst.state != Instance::State::kReady || inst.inflight > 0) continue;
      double idle_for = Seconds(now - inst.last_used);
      if (inst.revision != f.current) {
        if (idle_for >= spec.idle) StopInstance(inst);
        continue;
      }
      if (StopWhenIdle(idle_for, spec.idle, current, spec.min)) {
        spdlog::debug("function {}: instance {} idle for {:.1f} s, stopping", name, id, idle_for);
        StopInstance(inst);
        --current;
      }
    }
    Scale(f);
  }
}

// ---- views ----

namespace {

void AppendCounters(std::string& out, const FunctionCounters& c) {
  out += "\"calls\":" + std::to_string(c.calls) + ",\"errors\":" + std::to_string(c.errors) +
         ",\"cold_starts\":" + std::to_string(c.cold_starts) +
         ",\"rejected\":" + std::to_string(c.rejected) +
         ",\"instances_started\":" + std::to_string(c.instances_started) +
         ",\"instances_stopped\":" + std::to_string(c.instances_stopped) +
         ",\"crashes\":" + std::to_string(c.crashes);
}

}  // namespace

std::optional<std::string> FunctionService::GetJson(const std::string& name) const {
  auto it = functions_.find(name);
  if (it == functions_.end()) return std::nullopt;
  const Function& f = *it->second;
  std::string out = "{\"name\":";
  AppendJsonString(out, name);
  out += ",\"revision\":";
  AppendJsonString(out, f.revisions[f.current].id);
  out += ",\"spec\":" + f.spec().ToJson();
  int ready = 0, starting = 0, inflight = 0;
  // The revision new calls go to now (as Dispatch picks): the current one once it has a ready
  // instance or while no older revision has one, else the newest older revision still serving.
  bool current_ready = false;
  std::optional<size_t> older_ready;
  for (uint64_t id : f.instances) {
    const Instance& inst = *instances_.at(id);
    if (inst.state == Instance::State::kReady) {
      ++ready;
      if (inst.revision == f.current) {
        current_ready = true;
      } else if (!older_ready || inst.revision > *older_ready) {
        older_ready = inst.revision;
      }
    }
    if (inst.state == Instance::State::kStarting) ++starting;
    inflight += inst.inflight;
  }
  out += ",\"serving\":";
  AppendJsonString(out, f.revisions[current_ready || !older_ready ? f.current : *older_ready].id);
  out += ",\"instances\":{\"ready\":" + std::to_string(ready) +
         ",\"starting\":" + std::to_string(starting) +
         ",\"total\":" + std::to_string(f.instances.size()) + "}";
  out += ",\"inflight\":" + std::to_string(inflight) +
         ",\"queued\":" + std::to_string(f.queue.size()) + ",";
  AppendCounters(out, f.counters);
  out += ",\"revisions\":[";
  for (size_t i = f.revisions.size(); i-- > 0;) {
    if (i + 1 != f.revisions.size()) out += ',';
    out += "{\"id\":";
    AppendJsonString(out, f.revisions[i].id);
    out += ",\"deployed\":";
    AppendNumber(out, f.revisions[i].deployed);
    out += i == f.current ? ",\"current\":true}" : ",\"current\":false}";
  }
  out += "]}";
  return out;
}

std::string FunctionService::ListJson() const {
  std::string out = "{\"functions\":[";
  bool first = true;
  for (const auto& [name, f] : functions_) {
    if (!first) out += ',';
    first = false;
    out += *GetJson(name);
  }
  out += "]}";
  return out;
}

namespace {

// "2026-12-02T09:40:01.123Z": UTC, milliseconds.
std::string LogTime(double wall) {
  double whole = std::floor(wall);
  auto secs = static_cast<time_t>(whole);
  int ms = std::clamp(static_cast<int>((wall - whole) * 1000), 0, 999);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

}  // namespace

void FunctionService::OnLog(WorkerIndex /*w*/, const wire::FnLog& m) {
  Function* f = Find(m.function);
  if (!f || m.text.empty()) return;
  const std::string prefix = LogTime(clock_.Wall()) + " " + m.revision.substr(0, 12) + " i" +
                             std::to_string(m.instance) + " | ";
  for (size_t at = 0; at < m.text.size();) {
    size_t nl = m.text.find('\n', at);
    size_t end = nl == std::string::npos ? m.text.size() : nl;
    f->log += prefix;
    f->log.append(m.text, at, end - at);
    f->log += '\n';
    at = end + 1;
  }
  if (f->log.size() > log_limit_) {
    // Whole lines go, the oldest first.
    size_t cut = f->log.size() - log_limit_;
    size_t nl = f->log.find('\n', cut == 0 ? 0 : cut - 1);
    cut = nl == std::string::npos ? f->log.size() : nl + 1;
    f->log.erase(0, cut);
    f->log_begin += cut;
  }
}

Result<FunctionService::LogSlice> FunctionService::Logs(const std::string& name, uint64_t offset,
                                                        size_t max) const {
  auto it = functions_.find(name);
  if (it == functions_.end()) return NotFound("no function " + name);
  const Function& f = *it->second;
  LogSlice s;
  s.start = f.log_begin;
  s.end = f.log_begin + f.log.size();
  if (offset > s.end) {
    return InvalidArgument("offset " + std::to_string(offset) + " is beyond the log's end (" +
                           std::to_string(s.end) + " bytes)");
  }
  uint64_t from = std::max(offset, s.start);
  s.text = f.log.substr(from - f.log_begin, max);
  s.next = from + s.text.size();
  return s;
}

std::optional<std::string> FunctionService::UsageJson(const std::string& name, double from,
                                                      double to) const {
  auto it = functions_.find(name);
  if (it == functions_.end()) return std::nullopt;
  struct Sum {
    uint64_t calls = 0, errors = 0, cold = 0;
    double wall = 0, run = 0, cpu = 0;
    int64_t peak_rss = 0;
  };
  auto add = [](Sum& s, const CallRecord& r) {
    ++s.calls;
    if (r.status >= 400) ++s.errors;
    if (r.cold) ++s.cold;
    s.wall += r.wall;
    s.run += r.run;
    s.cpu += r.cpu;
    s.peak_rss = std::max(s.peak_rss, r.max_rss);
  };
  auto append = [](std::string& out, const Sum& s) {
    out += "\"calls\":" + std::to_string(s.calls) + ",\"errors\":" + std::to_string(s.errors) +
           ",\"cold\":" + std::to_string(s.cold) + ",\"wall_seconds\":";
    AppendNumber(out, s.wall);
    out += ",\"run_seconds\":";
    AppendNumber(out, s.run);
    out += ",\"cpu_seconds\":";
    AppendNumber(out, s.cpu);
    out += ",\"peak_memory\":" + std::to_string(s.peak_rss);
  };
  Sum total;
  std::map<std::string, Sum> by_caller;
  for (const CallRecord& r : it->second->records) {
    if (r.at < from || r.at >= to) continue;
    add(total, r);
    add(by_caller[r.caller], r);
  }
  std::string out = "{\"function\":";
  AppendJsonString(out, name);
  out += ",\"from\":";
  AppendNumber(out, from);
  out += ",\"to\":";
  AppendNumber(out, std::min(to, 1e18));
  out += ",";
  append(out, total);
  out += ",\"callers\":{";
  bool first = true;
  for (const auto& [caller, s] : by_caller) {
    if (!first) out += ',';
    first = false;
    AppendJsonString(out, caller);
    out += ":{";
    append(out, s);
    out += '}';
  }
  out += "}}";
  return out;
}

std::string FunctionService::MetricsText() const {
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [fname, f] : functions_) {
      out += std::string(name) + "{function=\"" + fname + "\"} " + std::to_string(value(*f)) + "\n";
    }
  };
  family("volo_function_calls_total", "counter", "Function calls answered.",
         [](const Function& f) { return f.counters.calls; });
  family("volo_function_errors_total", "counter", "Function calls answered with an error.",
         [](const Function& f) { return f.counters.errors; });
  family("volo_function_rejected_total", "counter", "Function calls refused with 429.",
         [](const Function& f) { return f.counters.rejected; });
  family("volo_function_cold_starts_total", "counter", "Function instances that became ready.",
         [](const Function& f) { return f.counters.cold_starts; });
  family("volo_function_crashes_total", "counter",
         "Function calls or instances ended by a crash or a lost worker.",
         [](const Function& f) { return f.counters.crashes; });
  family("volo_function_instances", "gauge", "Function instances running or starting.",
         [](const Function& f) { return static_cast<uint64_t>(f.instances.size()); });
  family("volo_function_queued", "gauge", "Function calls held for an instance.",
         [](const Function& f) { return static_cast<uint64_t>(f.queue.size()); });
  // Histograms (seconds) of the calls' duration, arrival to answer, cold and warm calls apart,
  // and of the instances' start.
  auto histogram = [&](const std::string& name, const std::string& labels,
                       const std::array<uint64_t, kBuckets>& counts, double sum) {
    uint64_t acc = 0;
    for (size_t b = 0; b < std::size(kBounds); ++b) {
      acc += counts[b];
      char le[32];
      std::snprintf(le, sizeof le, "%g", kBounds[b]);
      out += name + "_bucket{" + labels + ",le=\"" + le + "\"} " + std::to_string(acc) + "\n";
    }
    acc += counts[std::size(kBounds)];
    out += name + "_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(acc) + "\n";
    out += name + "_sum{" + labels + "} ";
    AppendNumber(out, sum);
    out += "\n" + name + "_count{" + labels + "} " + std::to_string(acc) + "\n";
  };
  out +=
      "# HELP volo_function_duration_seconds Function calls' time from arrival to answer.\n"
      "# TYPE volo_function_duration_seconds histogram\n";
  for (const auto& [fname, f] : functions_) {
    for (int cold = 0; cold < 2; ++cold) {
      histogram("volo_function_duration_seconds",
                "function=\"" + fname + "\",cold=\"" + (cold ? "true" : "false") + "\"",
                f->buckets[cold], f->duration_sum[cold]);
    }
  }
  out +=
      "# HELP volo_function_start_seconds Function instances' start, from the planner asking a "
      "worker to its answer that the instance is ready (bundle, sandbox, readiness check).\n"
      "# TYPE volo_function_start_seconds histogram\n";
  for (const auto& [fname, f] : functions_) {
    histogram("volo_function_start_seconds", "function=\"" + fname + "\"", f->start_buckets,
              f->start_sum);
  }
  return out;
}

std::vector<std::string> FunctionService::Bundles() const {
  std::vector<std::string> out;
  for (const auto& [name, f] : functions_) {
    for (const auto& r : f->revisions) {
      if (!r.spec.bundle.empty()) out.push_back(r.spec.bundle);
    }
  }
  return out;
}

int FunctionService::UnhostedInstances() const {
  // As Scale counts: what InstancesToStart still wants after Scale has placed what it could.
  int total = 0;
  for (const auto& [name, fp] : functions_) total += InstancesToStart(ScaleInputOf(*fp));
  return total;
}

int FunctionService::HostedOn(WorkerIndex w) const {
  auto it = workers_.find(w);
  return it == workers_.end() ? 0 : it->second.hosted;
}

size_t FunctionService::instances(const std::string& name) const {
  auto it = functions_.find(name);
  return it == functions_.end() ? 0 : it->second->instances.size();
}

size_t FunctionService::queued(const std::string& name) const {
  auto it = functions_.find(name);
  return it == functions_.end() ? 0 : it->second->queue.size();
}

}  // namespace volo::planner
