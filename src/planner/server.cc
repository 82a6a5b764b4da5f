#include "planner/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "common/sha256.h"
#include "journal/journal.h"
#include "net/client.h"
#include "net/server.h"
#include "wire/messages.h"

namespace volo::planner {
namespace asio = boost::asio;
namespace json = boost::json;
using net::HttpRequest;
using net::HttpResponse;
using net::Respond;
// Answers one request; with a journal it waits until what it reveals is durable.
using Reply = std::function<void(HttpResponse)>;

namespace {

constexpr size_t kMaxBlobBytes = 256 << 20;

// Compares without leaking where the first difference is.
bool SameSecret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool BearerMatches(const HttpRequest& req, const std::string& token) {
  if (token.empty()) return true;
  std::string_view h = req.Header("Authorization");
  constexpr std::string_view kPrefix = "Bearer ";
  if (h.size() <= kPrefix.size() || h.substr(0, kPrefix.size()) != kPrefix) return false;
  return SameSecret(h.substr(kPrefix.size()), token);
}

HttpResponse Unauthorized(std::string_view what) {
  HttpResponse r =
      HttpResponse::Error(401, "missing or wrong bearer token for " + std::string(what));
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

bool IsLoopback(const std::string& bind) {
  return bind == "localhost" || bind == "::1" || bind.rfind("127.", 0) == 0;
}

void AppendNumberOrNull(std::string& out, double v) {
  if (v == 0) {
    out += "null";
  } else {
    wire::AppendJsonNumber(out, v);
  }
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

}  // namespace

std::string TaskJson(const Core& core, const Task& t) {
  std::string out;
  out.reserve(192 + t.args.size() + t.result.size());
  out += "{\"id\":";
  out += std::to_string(t.id.value());
  out += ",\"op\":";
  wire::AppendJsonString(out, core.op_name(t.op));
  out += ",\"args\":";
  out += t.args;
  out += ",\"state\":\"";
  out += TaskStateName(t.state);
  out += "\",\"result\":";
  out += t.state == TaskState::kDone ? std::string_view(t.result) : std::string_view("null");
  out += ",\"error\":";
  if (t.state != TaskState::kDone && !t.result.empty()) {
    wire::AppendJsonString(out, t.result);
  } else {
    out += "null";
  }
  out += ",\"worker\":";
  if (t.worker != kNoWorker) {
    wire::AppendJsonString(out, core.workers()[t.worker].id.value());
  } else {
    out += "null";
  }
  out += ",\"attempts\":" + std::to_string(t.attempts);
  out += ",\"retries\":" + std::to_string(t.retries);
  out += ",\"priority\":" + std::to_string(t.priority);
  out += ",\"timeout\":";
  AppendNumberOrNull(out, t.timeout);
  out += ",\"labels\":{";
  if (t.labels) {
    for (size_t i = 0; i < t.labels->size(); ++i) {
      if (i) out += ',';
      wire::AppendJsonString(out, (*t.labels)[i].first);
      out += ':';
      wire::AppendJsonString(out, (*t.labels)[i].second);
    }
  }
  out += "},\"submitted\":";
  AppendNumberOrNull(out, t.submitted);
  out += ",\"started\":";
  AppendNumberOrNull(out, t.started);
  out += ",\"finished\":";
  AppendNumberOrNull(out, Finished(t.state) ? t.finished : 0);
  out += '}';
  return out;
}

// ---- links ----

// A native worker on a WebSocket. Assignments made during one event-loop turn go out as one
// `tasks` frame when the turn ends.
class WsWorkerLink final : public WorkerLink, public std::enable_shared_from_this<WsWorkerLink> {
 public:
  WsWorkerLink(asio::io_context& io, std::shared_ptr<net::WsConnection> conn)
      : io_(io), conn_(std::move(conn)) {}

  void Assign(const Task& t, std::string_view op) override {
    tasks_.Add(t.id.value(), op, t.args, t.timeout);
    ScheduleFlush();
  }
  void Cancel(TaskId id) override {
    cancels_.push_back(id.value());
    ScheduleFlush();
  }
  void Drop(std::string_view reason) override {
    Flush();
    if (auto c = conn_.lock()) {
      c->Send(wire::EncodeError(reason));
      c->Close(reason);
    }
  }

  uint32_t index = kNoWorker;

 private:
  void ScheduleFlush() {
    if (flush_pending_) return;
    flush_pending_ = true;
    asio::post(io_, [self = shared_from_this()] { self->Flush(); });
  }
  void Flush() {
    flush_pending_ = false;
    auto c = conn_.lock();
    if (!c) return;
    if (!tasks_.empty()) c->Send(tasks_.Finish());
    if (!cancels_.empty()) {
      c->Send(wire::EncodeCancel(cancels_));
      cancels_.clear();
    }
  }

  asio::io_context& io_;
  std::weak_ptr<net::WsConnection> conn_;
  wire::TasksEncoder tasks_;
  std::vector<uint64_t> cancels_;
  bool flush_pending_ = false;
};

// A streaming client: results of the tasks it submitted, batched per event-loop turn.
class StreamClient final : public ClientSink, public std::enable_shared_from_this<StreamClient> {
 public:
  StreamClient(asio::io_context& io, std::shared_ptr<net::WsConnection> conn,
               std::function<void(std::function<void(const Status&)>)> durable)
      : io_(io), conn_(std::move(conn)), durable_(std::move(durable)) {}
  void OnFinished(const Task& t, std::string_view worker) override {
    bool done = t.state == TaskState::kDone;
    results_.Add(t.id.value(), TaskStateName(t.state), done ? std::string_view(t.result) : "",
                 done ? "" : std::string_view(t.result), worker);
    if (flush_pending_) return;
    flush_pending_ = true;
    asio::post(io_, [self = shared_from_this()] { self->Flush(); });
  }
  void Flush() {
    flush_pending_ = false;
    if (results_.empty()) return;
    // Results go out once they are durable, like every other answer.
    durable_([conn = conn_, msg = results_.Finish()](const Status&) mutable {
      if (auto c = conn.lock()) c->Send(std::move(msg));
    });
  }
  uint64_t id = 0;

 private:
  asio::io_context& io_;
  std::weak_ptr<net::WsConnection> conn_;
  wire::ClientResultsEncoder results_;
  bool flush_pending_ = false;
  std::function<void(std::function<void(const Status&)>)> durable_;
};

// A seed-style HTTP worker: the planner pushes `POST <url>/<op>` with the task's arguments
// and reads `{"res": ...}`. 403 means busy, a refused connection means gone, 404 means the
// worker does not run that operation.
class HttpWorkerLink final : public WorkerLink {
 public:
  HttpWorkerLink(Core& core, net::HttpClient& client, std::string url,
                 std::chrono::milliseconds timeout)
      : core_(core), client_(client), url_(std::move(url)), timeout_(timeout) {
    while (!url_.empty() && url_.back() == '/') url_.pop_back();
  }

  void Assign(const Task& t, std::string_view op) override {
    uint64_t id = t.id.value();
    auto timeout = t.timeout > 0 ? std::chrono::milliseconds(static_cast<int64_t>(t.timeout * 1000))
                                 : timeout_;
    double started = WallSeconds();
    std::shared_ptr<bool> alive = alive_;
    client_.Request("POST", url_ + "/" + std::string(op), t.args,
                    {{"Content-Type", "application/json"}}, timeout,
                    [this, alive, id, started](Result<net::ClientResponse> r) {
                      if (!*alive) return;
                      OnResponse(id, started, std::move(r));
                    });
  }
  void Cancel(TaskId) override {}  // the seed protocol cannot stop a running task
  void Drop(std::string_view) override { *alive_ = false; }

  uint32_t index = kNoWorker;
  const std::string& url() const { return url_; }

 private:
  void OnResponse(uint64_t id, double started, Result<net::ClientResponse> r) {
    const std::string& wid = core_.workers()[index].id.value();
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kUnavailable) {
        spdlog::warn("http worker {} at {} is gone ({}); its task goes back to the queue", wid,
                     url_, r.status().message());
        *alive_ = false;
        core_.RemoveWorker(index, "connection refused");
        return;
      }
      Fail(id, started, "worker " + wid + ": " + r.status().message());
      return;
    }
    if (r->status == 403) {
      std::vector<uint64_t> ids{id};
      core_.OnRefused(index, ids, /*busy_backoff=*/true);
      return;
    }
    if (r->status == 404) {
      core_.OnUnsupported(index, TaskId(id));
      return;
    }
    if (r->status != 200) {
      Fail(id, started,
           "worker " + wid + " answered HTTP " + std::to_string(r->status) + ": " +
               r->body.substr(0, 200));
      return;
    }
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    if (ec) {
      Fail(id, started, "worker " + wid + " answered invalid JSON: " + r->body.substr(0, 200));
      return;
    }
    std::string result;
    if (const json::object* o = v.if_object(); o && o->contains("res")) {
      result = wire::ToJson(o->at("res"));
    } else {
      result = wire::ToJson(v);
    }
    wire::TaskResult tr{id, true, std::move(result), started, WallSeconds()};
    core_.OnResults(index, std::span<const wire::TaskResult>(&tr, 1));
  }
  void Fail(uint64_t id, double started, std::string error) {
    spdlog::warn("task {}: {}", id, error);
    wire::TaskResult tr{id, false, std::move(error), started, WallSeconds()};
    core_.OnResults(index, std::span<const wire::TaskResult>(&tr, 1));
  }

  Core& core_;
  net::HttpClient& client_;
  std::string url_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// ---- the server ----

net::ServerOptions ServerOptionsFor(const PlannerOptions& o) {
  net::ServerOptions so;
  so.bind = o.bind;
  so.port = o.port;
  so.max_body_bytes = o.max_body_bytes;
  so.tls_cert_file = o.tls_cert_file;
  so.tls_key_file = o.tls_key_file;
  return so;
}

// Turns Core's journal calls into records; commits are scheduled by the server.
class JournalAdapter final : public JournalSink {
 public:
  JournalAdapter(journal::Journal& j, std::function<void()> schedule)
      : j_(j), schedule_(std::move(schedule)) {}
  void OnSubmitted(const Task& t, std::string_view op, std::string_view key,
                   size_t key_count) override {
    j_.Submitted(SubmittedRecord(t, op, key, key_count));
    schedule_();
  }
  void OnFinished(const Task& t, std::string_view worker) override {
    j_.Finished(FinishedRecord(t, worker));
    schedule_();
  }

 private:
  journal::Journal& j_;
  std::function<void()> schedule_;
};

struct PlannerServer::Impl {
  Impl(asio::io_context& io, PlannerOptions o)
      : io(io),
        options(std::move(o)),
        core(clock, options.core),
        server(io, ServerOptionsFor(options)),
        http(io),
        tick(io),
        prune_timer(io) {}

  asio::io_context& io;
  PlannerOptions options;
  SteadyClock clock;
  Core core;
  net::Server server;
  net::HttpClient http;
  asio::steady_timer tick;
  asio::steady_timer prune_timer;
  std::unique_ptr<journal::Journal> journal;
  std::unique_ptr<JournalAdapter> journal_sink;
  // Acknowledgements waiting for the journal: they run once what they acknowledge is on disk.
  std::vector<std::function<void(const Status&)>> pending_acks;
  bool commit_scheduled = false;
  int commits_in_flight = 0;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  std::vector<std::unique_ptr<HttpWorkerLink>> http_links;
  std::unordered_map<uint32_t, std::shared_ptr<WsWorkerLink>> ws_links;
  uint64_t next_client = 1;
  bool stopped = false;

  void StartTick() {
    tick.expires_after(std::chrono::milliseconds(50));
    tick.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped) return;
      core.Tick();
      StartTick();
    });
  }

  // Runs `ack` once everything recorded so far is durable (at once without a journal).
  void Durable(std::function<void(const Status&)> ack) {
    if (!journal || (!journal->has_pending() && commits_in_flight == 0 && pending_acks.empty())) {
      ack(Status::Ok());
      return;
    }
    pending_acks.push_back(std::move(ack));
    ScheduleCommit();
  }
  // One commit per event-loop turn: everything recorded in the turn goes in one transaction.
  void ScheduleCommit() {
    if (!journal || commit_scheduled) return;
    commit_scheduled = true;
    asio::post(io, [this, alive = alive] {
      if (!*alive) return;
      commit_scheduled = false;
      auto acks = std::move(pending_acks);
      pending_acks.clear();
      if (!journal->has_pending() && acks.empty()) return;
      ++commits_in_flight;
      journal->Commit([this, alive, acks = std::move(acks)](const Status& s) mutable {
        if (!s.ok()) spdlog::error("journal: {}", s.message());
        // Back to the planner's thread for the replies.
        asio::post(io, [this, alive, acks = std::move(acks), s] {
          if (!*alive) return;
          --commits_in_flight;
          for (auto& ack : acks) ack(s);
        });
      });
    });
  }
  void StartPruning() {
    auto every = std::clamp<std::chrono::seconds>(
        options.keep_results / 10, std::chrono::seconds(1), std::chrono::seconds(60));
    prune_timer.expires_after(every);
    prune_timer.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped) return;
      double cutoff = WallSeconds() - static_cast<double>(options.keep_results.count());
      size_t n = core.Prune(cutoff);
      if (journal) {
        journal->Prune(cutoff);
        ScheduleCommit();
      }
      if (n) spdlog::info("pruned {} finished task(s)", n);
      StartPruning();
    });
  }
  std::string Metrics();
  void Handle(HttpRequest req, Respond respond);
  void Route(const HttpRequest& req, const Reply& respond);
  void SubmitTasks(const HttpRequest& req, const Reply& respond);
  void ListTasks(const HttpRequest& req, const Reply& respond);
  void WaitOne(uint64_t id, const HttpRequest& req, const Reply& respond);
  void WaitMany(const HttpRequest& req, const Reply& respond);
  void Register(const HttpRequest& req, const Reply& respond);
  void Blob(const HttpRequest& req, const Reply& respond);
  std::string StatusJson();
  // Content-addressed blobs (FLY programs shipped to workers), by SHA-256.
  std::unordered_map<std::string, std::string> blobs;
  size_t blob_bytes = 0;
  std::string WorkersJson();
  std::variant<net::WsHandlers, HttpResponse> AcceptWs(const HttpRequest& req);
  net::WsHandlers WorkerHandlers();
  net::WsHandlers StreamHandlers();
  Status AddHttpWorker(const std::string& id, const std::string& url, std::vector<std::string> ops);
};

void PlannerServer::Impl::Handle(HttpRequest req, Respond respond) {
  if (!journal) {
    Route(req, [respond](HttpResponse r) { respond(std::move(r)); });
    return;
  }
  // Nothing the API shows may be lost by a crash: every answer waits for the commit of what
  // has been recorded so far (usually already done, so it goes out at once).
  Route(req, [this, respond](HttpResponse r) {
    Durable([respond, r = std::move(r)](const Status&) mutable { respond(std::move(r)); });
  });
}

void PlannerServer::Impl::Route(const HttpRequest& req, const Reply& respond) {
  const std::string& p = req.path;
  const std::string& m = req.method;
  auto method_not_allowed = [&](const char* allowed) {
    respond(HttpResponse::Error(405, "use " + std::string(allowed) + " on " + p));
  };
  if (p == "/healthz") {
    respond(HttpResponse::Json(200, "{\"ok\":true}"));
    return;
  }
  if (p == "/readyz") {
    respond(stopped ? HttpResponse::Error(503, "stopping")
                    : HttpResponse::Json(200, "{\"ready\":true}"));
    return;
  }
  if (p == "/register") {
    if (!BearerMatches(req, options.join_token)) return respond(Unauthorized("workers"));
  } else if (p.rfind("/api/v1/blobs/", 0) == 0 && req.method != "PUT") {
    // Workers fetch the programs they run with their join token; clients upload them.
    if (!BearerMatches(req, options.join_token) && !BearerMatches(req, options.api_token)) {
      return respond(Unauthorized("blobs"));
    }
  } else if (!BearerMatches(req, options.api_token)) {
    return respond(Unauthorized("the API"));
  }
  if (p == "/metrics") {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = Metrics();
    respond(std::move(r));
    return;
  }
  if (p == "/api/v1/tasks") {
    if (m == "POST") return SubmitTasks(req, respond);
    if (m == "GET") return ListTasks(req, respond);
    return method_not_allowed("GET or POST");
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
      respond(HttpResponse::Error(
          400, "task id must be a positive integer, not '" + std::string(rest) + "'"));
      return;
    }
    const Task* t = core.Find(TaskId(id));
    if (!t) {
      respond(HttpResponse::Error(404, "no task " + std::to_string(id)));
      return;
    }
    if (action.empty()) {
      if (m != "GET") return method_not_allowed("GET");
      respond(HttpResponse::Json(200, TaskJson(core, *t)));
      return;
    }
    if (action == "wait") {
      if (m != "GET") return method_not_allowed("GET");
      return WaitOne(id, req, respond);
    }
    if (action == "cancel") {
      if (m != "POST") return method_not_allowed("POST");
      Status s = core.Cancel(TaskId(id));
      if (!s.ok()) {
        respond(HttpResponse::Error(409, s.message()));
        return;
      }
      respond(HttpResponse::Json(200, TaskJson(core, *core.Find(TaskId(id)))));
      return;
    }
    respond(HttpResponse::Error(
        404, "unknown action '" + std::string(action) + "' (known: wait, cancel)"));
    return;
  }
  if (p == "/api/v1/wait") {
    if (m != "POST") return method_not_allowed("POST");
    return WaitMany(req, respond);
  }
  if (p == "/api/v1/workers") {
    if (m != "GET") return method_not_allowed("GET");
    respond(HttpResponse::Json(200, WorkersJson()));
    return;
  }
  if (p.rfind("/api/v1/workers/", 0) == 0 && m == "GET") {
    std::string id = p.substr(16);
    auto w = core.FindWorker(WorkerId(id));
    if (!w) {
      respond(HttpResponse::Error(404, "no live worker '" + id + "'"));
      return;
    }
    respond(HttpResponse::Json(200, WorkersJson()));
    return;
  }
  if (p.rfind("/api/v1/blobs/", 0) == 0) return Blob(req, respond);
  if (p == "/api/v1/status") {
    if (m != "GET") return method_not_allowed("GET");
    respond(HttpResponse::Json(200, StatusJson()));
    return;
  }
  if (p == "/register" || p == "/api/v1/workers/http") {
    if (m != "POST") return method_not_allowed("POST");
    return Register(req, respond);
  }
  respond(HttpResponse::Error(404, "no such endpoint: " + m + " " + p + " (see docs/rest-api.md)"));
}

void PlannerServer::Impl::SubmitTasks(const HttpRequest& req, const Reply& respond) {
  bool batch = false;
  auto specs = wire::ParseSubmitBody(req.body, &batch);
  if (!specs.ok()) {
    respond(HttpResponse::Error(400, specs.status().message()));
    return;
  }
  size_t n = specs->size();
  std::string key(req.Header("Idempotency-Key"));
  if (key.size() > 256) {
    respond(HttpResponse::Error(400, "Idempotency-Key: at most 256 characters"));
    return;
  }
  auto first = core.Submit(std::move(specs).value(), 0, key);
  if (!first.ok()) {
    StatusCode c = first.status().code();
    int code = c == StatusCode::kFailedPrecondition ? 429
               : c == StatusCode::kAlreadyExists    ? 409
                                                    : 400;
    respond(HttpResponse::Error(code, first.status().message()));
    return;
  }
  std::string out;
  if (!batch) {
    out = "{\"id\":" + std::to_string(first->value()) + "}";
  } else {
    out = "{\"ids\":[";
    out.reserve(16 + n * 8);
    for (size_t i = 0; i < n; ++i) {
      if (i) out += ',';
      out += std::to_string(first->value() + i);
    }
    out += "]}";
  }
  Durable([respond, out = std::move(out)](const Status& s) {
    if (!s.ok()) {
      respond(HttpResponse::Error(503, "the journal could not record the tasks: " + s.message()));
      return;
    }
    respond(HttpResponse::Json(201, out));
  });
}

void PlannerServer::Impl::ListTasks(const HttpRequest& req, const Reply& respond) {
  std::optional<TaskState> state;
  std::string s = req.Query("state");
  if (!s.empty()) {
    state = ParseTaskState(s);
    if (!state) {
      respond(HttpResponse::Error(
          400, "state must be one of queued, running, done, failed, cancelled; not '" + s + "'"));
      return;
    }
  }
  uint64_t after = 0, limit = 100;
  if (std::string a = req.Query("after"); !a.empty() && !ParseU64(a, &after)) {
    respond(HttpResponse::Error(400, "after must be a task id"));
    return;
  }
  if (std::string l = req.Query("limit"); !l.empty() && (!ParseU64(l, &limit) || limit == 0)) {
    respond(HttpResponse::Error(400, "limit must be a positive integer"));
    return;
  }
  limit = std::min<uint64_t>(limit, 10000);
  std::string out = "{\"tasks\":[";
  bool first = true;
  for (const Task* t : core.List(state, req.Query("op"), after, limit)) {
    if (!first) out += ',';
    first = false;
    out += TaskJson(core, *t);
  }
  out += "]}";
  respond(HttpResponse::Json(200, std::move(out)));
}

void PlannerServer::Impl::WaitOne(uint64_t id, const HttpRequest& req, const Reply& respond) {
  double timeout = ParseSeconds(req.Query("timeout"), 30, 300);
  if (timeout < 0) {
    respond(HttpResponse::Error(400, "timeout must be a number of seconds"));
    return;
  }
  struct State {
    bool done = false;
    std::unique_ptr<asio::steady_timer> timer;
  };
  auto st = std::make_shared<State>();
  st->timer = std::make_unique<asio::steady_timer>(io);
  st->timer->expires_after(std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000)));
  st->timer->async_wait([this, st, respond, id](boost::system::error_code ec) {
    if (ec || st->done) return;
    st->done = true;
    respond(HttpResponse::Json(200, TaskJson(core, *core.Find(TaskId(id)))));
  });
  core.WhenFinished(TaskId(id), [this, st, respond](const Task& t) {
    if (st->done) return;
    st->done = true;
    st->timer->cancel();
    respond(HttpResponse::Json(200, TaskJson(core, t)));
  });
}

void PlannerServer::Impl::WaitMany(const HttpRequest& req, const Reply& respond) {
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  const json::array* ids = o && o->contains("ids") ? o->at("ids").if_array() : nullptr;
  if (!ids) {
    respond(HttpResponse::Error(400, "body must be {\"ids\": [task ids], \"timeout\": seconds}"));
    return;
  }
  double timeout = 30;
  if (o->contains("timeout")) {
    const json::value& tv = o->at("timeout");
    if (!tv.is_number()) {
      respond(HttpResponse::Error(400, "timeout must be a number of seconds"));
      return;
    }
    timeout = std::clamp(tv.to_number<double>(), 0.0, 300.0);
  }
  std::vector<uint64_t> want;
  for (const json::value& e : *ids) {
    if (!e.is_int64() || e.get_int64() <= 0 || !core.Find(TaskId(e.get_int64()))) {
      respond(HttpResponse::Error(404, "ids: " + json::serialize(e) + " is not a known task"));
      return;
    }
    want.push_back(static_cast<uint64_t>(e.get_int64()));
  }
  struct State {
    bool done = false;
    size_t left = 0;
    std::vector<uint64_t> ids;
    std::unique_ptr<asio::steady_timer> timer;
  };
  auto st = std::make_shared<State>();
  st->ids = want;
  st->timer = std::make_unique<asio::steady_timer>(io);
  auto answer = [this, st, respond]() {
    st->done = true;
    st->timer->cancel();
    std::string out = "{\"tasks\":[";
    bool complete = true;
    for (size_t i = 0; i < st->ids.size(); ++i) {
      const Task* t = core.Find(TaskId(st->ids[i]));
      if (i) out += ',';
      out += TaskJson(core, *t);
      complete &= Finished(t->state);
    }
    out += "],\"complete\":";
    out += complete ? "true" : "false";
    out += '}';
    respond(HttpResponse::Json(200, std::move(out)));
  };
  for (uint64_t id : want) {
    if (!Finished(core.Find(TaskId(id))->state)) ++st->left;
  }
  if (st->left == 0) {
    answer();
    return;
  }
  st->timer->expires_after(std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000)));
  st->timer->async_wait([st, answer](boost::system::error_code ec) {
    if (ec || st->done) return;
    answer();
  });
  for (uint64_t id : want) {
    if (Finished(core.Find(TaskId(id))->state)) continue;
    core.WhenFinished(TaskId(id), [st, answer](const Task&) {
      if (st->done) return;
      if (--st->left == 0) answer();
    });
  }
}

void PlannerServer::Impl::Blob(const HttpRequest& req, const Reply& respond) {
  std::string hash = req.path.substr(14);
  bool hex = hash.size() == 64 && hash.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (!hex) {
    respond(HttpResponse::Error(400, "a blob is named by its SHA-256: 64 lowercase hex digits"));
    return;
  }
  if (req.method == "GET") {
    auto it = blobs.find(hash);
    if (it == blobs.end()) {
      respond(HttpResponse::Error(404, "no blob " + hash));
      return;
    }
    HttpResponse r;
    r.content_type = "application/octet-stream";
    r.body = it->second;
    respond(std::move(r));
    return;
  }
  if (req.method == "PUT") {
    if (Sha256Hex(req.body) != hash) {
      respond(HttpResponse::Error(400, "the body's SHA-256 is not " + hash));
      return;
    }
    if (!blobs.count(hash)) {
      if (blob_bytes + req.body.size() > kMaxBlobBytes) {
        respond(HttpResponse::Error(413, "the blob store is full"));
        return;
      }
      blob_bytes += req.body.size();
      blobs.emplace(hash, req.body);
    }
    respond(HttpResponse::Json(200, "{\"ok\":true}"));
    return;
  }
  if (req.method == "HEAD") {
    respond(blobs.count(hash) ? HttpResponse::Json(200, "")
                              : HttpResponse::Error(404, "no blob " + hash));
    return;
  }
  respond(HttpResponse::Error(405, "use GET, HEAD or PUT on a blob"));
}

void PlannerServer::Impl::Register(const HttpRequest& req, const Reply& respond) {
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  if (!o) {
    respond(HttpResponse::Error(400, "body must be a JSON object {\"url\": ..., \"id\": ...}"));
    return;
  }
  const json::value* url = o->if_contains("url");
  if (!url || !url->is_string()) {
    respond(HttpResponse::Error(400, "url: required, like \"http://host:8080\""));
    return;
  }
  std::string u(url->get_string());
  net::Url parsed;
  if (!net::ParseUrl(u, &parsed) || parsed.scheme != "http") {
    respond(HttpResponse::Error(400, "url: must be an http:// URL, not '" + u + "'"));
    return;
  }
  std::string id = u;
  if (const json::value* iv = o->if_contains("id")) {
    if (iv->is_string()) {
      id = std::string(iv->get_string());
    } else if (iv->is_number()) {
      id = json::serialize(*iv);
    } else {
      respond(HttpResponse::Error(400, "id: must be a string"));
      return;
    }
  }
  std::vector<std::string> ops{"add", "mult"};
  if (const json::value* ov = o->if_contains("ops")) {
    const json::array* a = ov->if_array();
    if (!a || a->empty()) {
      respond(HttpResponse::Error(400, "ops: must be a non-empty array of operation names"));
      return;
    }
    ops.clear();
    for (const json::value& e : *a) {
      if (!e.is_string() || !wire::ValidName(std::string_view(e.get_string()))) {
        respond(HttpResponse::Error(400, "ops: each must be an operation name"));
        return;
      }
      ops.emplace_back(e.get_string());
    }
  }
  std::string ops_csv;
  for (const auto& op : ops) ops_csv += (ops_csv.empty() ? "" : ",") + op;
  Status s = AddHttpWorker(id, u, std::move(ops));
  if (!s.ok()) {
    respond(HttpResponse::Error(s.code() == StatusCode::kAlreadyExists ? 409 : 400, s.message()));
    return;
  }
  if (journal) journal->HttpWorker({id, u, ops_csv});
  Durable([respond](const Status&) { respond(HttpResponse::Json(200, "{\"ok\":true}")); });
}

Status PlannerServer::Impl::AddHttpWorker(const std::string& id, const std::string& url,
                                          std::vector<std::string> ops) {
  if (!wire::ValidName(id) && id != url) {
    return InvalidArgument("id: must be 1-128 characters of letters, digits, _ . : -");
  }
  // A seed worker that registers again (it restarted) replaces its old registration.
  if (auto old = core.FindWorker(WorkerId(id))) {
    if (core.workers()[*old].kind != WorkerKind::kHttp) {
      return AlreadyExists("a native worker is already registered as '" + id + "'");
    }
    core.RemoveWorker(*old, "registered again");
  }
  auto link = std::make_unique<HttpWorkerLink>(core, http, url, options.http_worker_timeout);
  HttpWorkerLink* raw = link.get();
  http_links.push_back(std::move(link));
  // The link learns its index after AddWorker; it only needs it when a response arrives,
  // which is always later.
  auto r = core.AddWorker(WorkerId(id), WorkerKind::kHttp, ops, 1, raw);
  if (!r.ok()) return r.status();
  raw->index = *r;
  spdlog::info("http worker {} registered at {}", id, url);
  return Status::Ok();
}

std::string PlannerServer::Impl::Metrics() {
  std::string out;
  auto line = [&](const std::string& name, const std::string& labels, double v) {
    out += name;
    if (!labels.empty()) out += "{" + labels + "}";
    out += ' ';
    wire::AppendJsonNumber(out, v);
    out += '\n';
  };
  Counts c = core.counts();
  out += "# HELP volo_queue_depth Tasks waiting to run, by operation.\n";
  out += "# TYPE volo_queue_depth gauge\n";
  for (const auto& [op, n] : core.QueuedByOp()) line("volo_queue_depth", "op=\"" + op + "\"", n);
  out += "# HELP volo_tasks_running Tasks handed to a worker and not yet reported.\n";
  out += "# TYPE volo_tasks_running gauge\n";
  line("volo_tasks_running", "", c.running);
  out += "# HELP volo_tasks_finished Finished tasks the planner holds, by final state.\n";
  out += "# TYPE volo_tasks_finished gauge\n";
  line("volo_tasks_finished", "state=\"done\"", c.done);
  line("volo_tasks_finished", "state=\"failed\"", c.failed);
  line("volo_tasks_finished", "state=\"cancelled\"", c.cancelled);
  out += "# HELP volo_workers Live workers.\n# TYPE volo_workers gauge\n";
  line("volo_workers", "", core.live_workers());
  out += "# HELP volo_dispatch_latency_seconds From submission to first dispatch.\n";
  out += "# TYPE volo_dispatch_latency_seconds histogram\n";
  uint64_t cum = 0;
  const auto& buckets = core.dispatch_latency();
  for (size_t i = 0; i < Core::kLatencyBounds.size(); ++i) {
    cum += buckets[i];
    char le[32];
    std::snprintf(le, sizeof le, "%g", Core::kLatencyBounds[i]);
    line("volo_dispatch_latency_seconds_bucket", std::string("le=\"") + le + "\"",
         static_cast<double>(cum));
  }
  cum += buckets.back();
  line("volo_dispatch_latency_seconds_bucket", "le=\"+Inf\"", static_cast<double>(cum));
  line("volo_dispatch_latency_seconds_sum", "", core.dispatch_latency_sum());
  line("volo_dispatch_latency_seconds_count", "", static_cast<double>(cum));
  return out;
}

std::string PlannerServer::Impl::WorkersJson() {
  std::string out = "{\"workers\":[";
  bool first = true;
  for (const WorkerInfo& w : core.workers()) {
    if (!first) out += ',';
    first = false;
    out += "{\"id\":";
    wire::AppendJsonString(out, w.id.value());
    out += ",\"kind\":\"";
    out += w.kind == WorkerKind::kNative ? "native" : "http";
    out += "\",\"ops\":[";
    for (size_t i = 0; i < w.ops.size(); ++i) {
      if (i) out += ',';
      wire::AppendJsonString(out, core.op_name(w.ops[i]));
    }
    out += "],\"slots\":" + std::to_string(w.slots);
    out += ",\"running\":" + std::to_string(w.inflight.size());
    out += ",\"done\":" + std::to_string(w.done);
    out += ",\"busy_seconds\":";
    wire::AppendJsonNumber(out, w.busy_seconds);
    out += ",\"state\":\"";
    out += !w.alive ? "gone" : w.draining ? "draining" : "live";
    out += "\"}";
  }
  out += "]}";
  return out;
}

std::string PlannerServer::Impl::StatusJson() {
  Counts c = core.counts();
  std::string out = "{\"workers\":" + std::to_string(core.live_workers());
  out += ",\"queued\":" + std::to_string(c.queued);
  out += ",\"running\":" + std::to_string(c.running);
  out += ",\"done\":" + std::to_string(c.done);
  out += ",\"failed\":" + std::to_string(c.failed);
  out += ",\"cancelled\":" + std::to_string(c.cancelled);
  out += ",\"waiting\":[";
  bool first = true;
  for (const auto& w : core.Waiting()) {
    if (!first) out += ',';
    first = false;
    out += "{\"op\":";
    wire::AppendJsonString(out, w.op);
    out += ",\"queued\":" + std::to_string(w.queued) + ",\"reason\":";
    wire::AppendJsonString(out, w.reason);
    out += '}';
  }
  out += "]}";
  return out;
}

net::WsHandlers PlannerServer::Impl::WorkerHandlers() {
  // One link per connection, created at registration.
  auto link = std::make_shared<std::shared_ptr<WsWorkerLink>>();
  net::WsHandlers h;
  h.on_message = [this, link](const std::shared_ptr<net::WsConnection>& conn,
                              std::string_view text) {
    auto msg = wire::ParseWorkerMessage(text);
    if (!msg.ok()) {
      spdlog::warn("worker at {} sent a bad message: {}", conn->remote(), msg.status().message());
      conn->Send(wire::EncodeError(msg.status().message()));
      conn->Close("protocol error");
      return;
    }
    if (auto* reg = std::get_if<wire::Register>(&*msg)) {
      if (*link) {
        conn->Send(wire::EncodeError("already registered"));
        conn->Close("protocol error");
        return;
      }
      if (core.FindWorker(WorkerId(reg->id))) {
        conn->Send(wire::EncodeError("a live worker is already registered as '" + reg->id + "'"));
        conn->Close("registration refused");
        return;
      }
      auto l = std::make_shared<WsWorkerLink>(io, conn);
      // Welcome goes out before any task the registration lets the scheduler send.
      conn->Send(wire::EncodeWelcome({static_cast<int>(options.heartbeat_interval.count())}));
      auto r =
          core.AddWorker(WorkerId(reg->id), WorkerKind::kNative, reg->ops, reg->slots, l.get());
      if (!r.ok()) {
        conn->Send(wire::EncodeError(r.status().message()));
        conn->Close("registration refused");
        return;
      }
      l->index = *r;
      *link = l;
      ws_links[*r] = l;
      spdlog::info("worker {} joined from {} (ops {}, slots {})", reg->id, conn->remote(),
                   fmt::join(reg->ops, ","), reg->slots);
      return;
    }
    if (!*link) {
      conn->Send(wire::EncodeError("register first"));
      conn->Close("protocol error");
      return;
    }
    uint32_t w = (*link)->index;
    std::visit(
        [&](auto&& m) {
          using T = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<T, wire::Heartbeat>) {
            core.OnHeartbeat(w);
          } else if constexpr (std::is_same_v<T, wire::Results>) {
            core.OnResults(w, m.results);
          } else if constexpr (std::is_same_v<T, wire::Refused>) {
            core.OnRefused(w, m.ids, false);
          } else if constexpr (std::is_same_v<T, wire::Leaving>) {
            spdlog::info("worker {} is leaving", core.workers()[w].id.value());
            core.OnLeaving(w);
          }
        },
        *msg);
  };
  h.on_close = [this, link](const std::shared_ptr<net::WsConnection>&, const Status& why) {
    if (!*link) return;
    uint32_t w = (*link)->index;
    if (core.workers()[w].alive && core.workers()[w].link == link->get()) {
      spdlog::info("worker {} disconnected ({})", core.workers()[w].id.value(), why.message());
      core.RemoveWorker(w, "disconnected");
    }
    auto it = ws_links.find(w);
    if (it != ws_links.end() && it->second == *link) ws_links.erase(it);
    link->reset();
  };
  return h;
}

net::WsHandlers PlannerServer::Impl::StreamHandlers() {
  auto client = std::make_shared<std::shared_ptr<StreamClient>>();
  net::WsHandlers h;
  h.on_message = [this, client](const std::shared_ptr<net::WsConnection>& conn,
                                std::string_view text) {
    if (!*client) {
      *client = std::make_shared<StreamClient>(
          io, conn, [this](std::function<void(const Status&)> ack) { Durable(std::move(ack)); });
      (*client)->id = next_client++;
      core.AddClient((*client)->id, client->get());
    }
    int64_t tag = 0;
    auto submit = wire::ParseClientMessage(text, &tag);
    if (!submit.ok()) {
      conn->Send(wire::EncodeClientError(tag, submit.status().message()));
      return;
    }
    size_t n = submit->tasks.size();
    auto first = core.Submit(std::move(submit->tasks), (*client)->id, submit->key);
    if (!first.ok()) {
      conn->Send(wire::EncodeClientError(tag, first.status().message()));
      return;
    }
    // Without a journal the ack goes out now, before any result (results are flushed by a
    // posted handler). With one, results can precede the ack; clients match by id.
    Durable([conn, tag, first = first->value(), n](const Status& s) {
      conn->Send(s.ok() ? wire::EncodeSubmitted(tag, first, n)
                        : wire::EncodeClientError(tag, "journal: " + s.message()));
    });
  };
  h.on_close = [this, client](const std::shared_ptr<net::WsConnection>&, const Status&) {
    if (*client) core.RemoveClient((*client)->id);
    client->reset();
  };
  return h;
}

std::variant<net::WsHandlers, HttpResponse> PlannerServer::Impl::AcceptWs(const HttpRequest& req) {
  if (req.path == "/api/v1/workers/connect") {
    if (!BearerMatches(req, options.join_token)) return Unauthorized("workers");
    return WorkerHandlers();
  }
  if (req.path == "/api/v1/stream") {
    if (!BearerMatches(req, options.api_token)) return Unauthorized("the API");
    return StreamHandlers();
  }
  return HttpResponse::Error(404, "no WebSocket endpoint at " + req.path +
                                      " (workers: /api/v1/workers/connect, clients: "
                                      "/api/v1/stream)");
}

PlannerServer::PlannerServer(asio::io_context& io, PlannerOptions options)
    : impl_(std::make_unique<Impl>(io, std::move(options))) {
  impl_->server.SetHttpHandler(
      [this](HttpRequest req, Respond respond) { impl_->Handle(std::move(req), respond); });
  impl_->server.SetWsAcceptor([this](const HttpRequest& req) { return impl_->AcceptWs(req); });
}

PlannerServer::~PlannerServer() { Stop(); }

Result<uint16_t> PlannerServer::Start() {
  Impl& m = *impl_;
  if (!IsLoopback(m.options.bind) &&
      (m.options.api_token.empty() || m.options.join_token.empty())) {
    return FailedPrecondition("refusing to listen on " + m.options.bind +
                              " without tokens: give --token-file and --join-token-file (or "
                              "VOLO_TOKEN and VOLO_JOIN_TOKEN), or bind to 127.0.0.1");
  }
  if (!m.options.data_dir.empty()) {
    VOLO_ASSIGN_OR_RETURN(m.journal, journal::Journal::Open(m.options.data_dir));
    size_t tasks = 0;
    std::vector<journal::HttpWorkerRecord> http_workers;
    VOLO_RETURN_IF_ERROR(m.journal->Load(
        [&](journal::TaskRecord&& r) {
          ++tasks;
          m.core.Restore(std::move(r));
        },
        [&](journal::HttpWorkerRecord&& w) { http_workers.push_back(std::move(w)); }));
    Counts c = m.core.counts();
    spdlog::info("journal {}: {} task(s) ({} queued again, {} done, {} failed, {} cancelled)",
                 m.journal->path(), tasks, c.queued, c.done, c.failed, c.cancelled);
    m.journal_sink = std::make_unique<JournalAdapter>(*m.journal, [&m] { m.ScheduleCommit(); });
    m.core.SetJournal(m.journal_sink.get());
    for (auto& w : http_workers) {
      std::vector<std::string> ops;
      std::stringstream ss(w.ops);
      for (std::string op; std::getline(ss, op, ',');) ops.push_back(op);
      Status s = m.AddHttpWorker(w.id, w.url, ops);
      if (!s.ok()) spdlog::warn("http worker {} from the journal: {}", w.id, s.message());
    }
  }
  VOLO_ASSIGN_OR_RETURN(uint16_t port, impl_->server.Listen());
  if (!impl_->options.port_file.empty()) {
    std::string tmp = impl_->options.port_file + ".tmp";
    {
      std::ofstream f(tmp);
      f << port << "\n";
      if (!f) return IoError("cannot write " + tmp);
    }
    if (std::rename(tmp.c_str(), impl_->options.port_file.c_str()) != 0) {
      return IoError("cannot write " + impl_->options.port_file);
    }
  }
  impl_->StartTick();
  impl_->StartPruning();
  return port;
}

void PlannerServer::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->tick.cancel();
  impl_->prune_timer.cancel();
  for (auto& l : impl_->http_links) l->Drop("stopping");
  impl_->server.Stop();
  if (impl_->journal) {
    impl_->journal->Close();
    spdlog::info("journal committed and closed");
  }
  *impl_->alive = false;
}

Core& PlannerServer::core() { return impl_->core; }

Status PlannerServer::AddHttpWorker(const std::string& id, const std::string& url,
                                    std::vector<std::string> ops) {
  return impl_->AddHttpWorker(id, url, std::move(ops));
}

}  // namespace volo::planner
