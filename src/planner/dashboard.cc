#include "planner/dashboard.h"

#include <openssl/rand.h>
#include <strings.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>

#include "common/sha256.h"
#include "web/web.h"

namespace volo::planner {
namespace json = boost::json;
using net::HttpRequest;
using net::HttpResponse;

namespace {

constexpr std::string_view kCookie = "volo_session";
constexpr std::string_view kCsrfHeader = "X-Volo-CSRF";
// Tasks looked at per request of the task list: a page of a filter that matches little in a
// million tasks costs a bounded time, and the answer's cursor continues where it stopped.
constexpr uint64_t kScanBudget = 200000;
constexpr double kReasonsEvery = 2;  // seconds

std::string RandomHex(size_t bytes) {
  std::vector<unsigned char> b(bytes);
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
    // OpenSSL's generator does not fail once seeded; if it ever does, no session is better
    // than a guessable one.
    throw std::runtime_error("no random bytes for a session id");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : b) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

bool ParseU64(std::string_view s, uint64_t* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Constant-time comparison of two CSRF tokens of the same length.
bool SameSecret(std::string_view a, std::string_view b) {
  if (a.size() != b.size() || a.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string Truncated(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  return std::string(s.substr(0, max)) + "…";
}

// A parameter the endpoint does not know is a mistake to report (`?stat=done` would otherwise
// list every task as if no filter were given): the 400 naming it, or nullopt.
std::optional<HttpResponse> UnknownParameter(const HttpRequest& req,
                                             std::initializer_list<std::string_view> known) {
  for (const auto& [name, value] : req.query) {
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::string list;
    for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    return HttpResponse::Error(400,
                               "unknown parameter '" + Truncated(name, 64) + "' on " + req.path +
                                   (known.size() ? " (known: " + list + ")" : " (it takes none)"));
  }
  return std::nullopt;
}

json::object CountsObject(const Counts& c) {
  return {{"queued", c.queued},
          {"running", c.running},
          {"done", c.done},
          {"failed", c.failed},
          {"cancelled", c.cancelled}};
}

// The latency at quantile `q` of a histogram (counts per upper bound in Core::kLatencyBounds,
// the last bucket open-ended), interpolated within its bucket and never above `max`, the
// longest latency seen; 0 without samples.
double Quantile(const Core::LatencyHistogram& buckets, double q, double max) {
  uint64_t total = 0;
  for (uint64_t b : buckets) total += b;
  if (total == 0) return 0;
  double want = q * static_cast<double>(total);
  double seen = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (buckets[i] == 0) continue;
    if (seen + static_cast<double>(buckets[i]) >= want) {
      double lo = i == 0 ? 0 : Core::kLatencyBounds[i - 1];
      double hi = i < Core::kLatencyBounds.size() ? Core::kLatencyBounds[i] : lo * 2;
      double frac = (want - seen) / static_cast<double>(buckets[i]);
      return std::min(lo + (hi - lo) * std::clamp(frac, 0.0, 1.0), max);
    }
    seen += static_cast<double>(buckets[i]);
  }
  return std::min(Core::kLatencyBounds.back(), max);
}

double Round(double v, double unit) { return std::round(v / unit) * unit; }

// A task as the dashboard's lists and task stream show it: no args or result, an error cut
// short.
json::object TaskRow(const Core& core, const Task& t) {
  json::object o;
  o["id"] = t.id.value();
  o["op"] = core.op_name(t.op);
  o["state"] = TaskStateName(t.state);
  if (t.worker != kNoWorker) o["worker"] = core.worker(t.worker).id.value();
  if (t.submitted) o["submitted"] = t.submitted;
  if (t.started) o["started"] = t.started;
  if (Finished(t.state) && t.finished) o["finished"] = t.finished;
  if (t.attempts) o["attempts"] = t.attempts;
  if (t.state != TaskState::kDone && !t.result.empty()) o["error"] = Truncated(t.result, 300);
  return o;
}

// The page's routes (web/dashboard/src/main.ts registers the same): /, /tasks, /tasks/ID,
// /stream, /fly, /runs, /runs/ID, /functions, /functions/NAME (a trailing slash allowed on
// the lists).
bool IsPageRoute(std::string_view p) {
  if (p == "/") return true;
  for (std::string_view list : {"/tasks", "/stream", "/fly", "/runs", "/functions"}) {
    if (p.starts_with(list) && (p.size() == list.size() || p.substr(list.size()) == "/")) {
      return true;
    }
  }
  auto item = [&](std::string_view prefix, bool digits) {
    if (!p.starts_with(prefix) || p.size() == prefix.size()) return false;
    std::string_view rest = p.substr(prefix.size());
    if (rest.find('/') != std::string_view::npos) return false;
    return !digits || rest.find_first_not_of("0123456789") == std::string_view::npos;
  };
  return item("/tasks/", true) || item("/runs/", true) || item("/functions/", false);
}

json::object WorkerRow(const Core& core, const WorkerInfo& w) {
  return api::ToValue(WorkerViewOf(core, w)).as_object();
}

}  // namespace

// ---- sessions ----

SessionStore::Created SessionStore::Create(double now) {
  // Drop what has expired, then the session closest to expiring when still full.
  std::erase_if(sessions_, [now](const auto& kv) { return kv.second.expires <= now; });
  if (sessions_.size() >= kMaxSessions) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](auto& a, auto& b) {
      return a.second.expires < b.second.expires;
    });
    sessions_.erase(oldest);
  }
  Created c{RandomHex(32), RandomHex(32)};
  sessions_[Sha256Hex(c.id)] = Session{c.csrf, now + kLifetimeSeconds};
  return c;
}

const SessionStore::Session* SessionStore::Find(std::string_view id, double now) const {
  if (id.size() != 64) return nullptr;
  auto it = sessions_.find(Sha256Hex(id));
  if (it == sessions_.end() || it->second.expires <= now) return nullptr;
  return &it->second;
}

void SessionStore::Remove(std::string_view id) { sessions_.erase(Sha256Hex(id)); }

std::string CookieValue(const HttpRequest& req, std::string_view name) {
  for (const auto& [k, v] : req.headers) {
    if (k.size() != 6 || strncasecmp(k.c_str(), "cookie", 6) != 0) continue;
    std::string_view rest = v;
    while (!rest.empty()) {
      size_t semi = rest.find(';');
      std::string_view pair = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      size_t eq = pair.find('=');
      if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
      std::string_view value = pair.substr(eq + 1);
      while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
      return std::string(value);
    }
  }
  return "";
}

// ---- the feed ----

Dashboard::Dashboard(Core& core, RestEnv& env, DashboardOptions options)
    : core_(core), env_(env), options_(options) {}

Dashboard::~Dashboard() { Stop(); }

void Dashboard::Start() {
  if (started_) return;
  started_ = true;
  Sample();
  ArmSample();
}

void Dashboard::Stop() {
  *alive_ = false;
  alive_ = std::make_shared<bool>(true);
  if (cancel_sample_) cancel_sample_();
  if (cancel_push_) cancel_push_();
  cancel_sample_ = cancel_push_ = nullptr;
  SetTap(false);
  subscribers_.clear();
  started_ = false;
}

void Dashboard::ArmSample() {
  cancel_sample_ = env_.After(options_.sample_every, [this, alive = alive_] {
    if (!*alive) return;
    Sample();
    ArmSample();
  });
}

void Dashboard::ArmPush() {
  cancel_push_ = env_.After(options_.push_every, [this, alive = alive_] {
    if (!*alive) return;
    cancel_push_ = nullptr;
    if (subscribers_.empty()) return;
    Push();
    ArmPush();
  });
}

void Dashboard::SetTap(bool on) {
  if (!on) {
    core_.SetFinishedTap(nullptr);
    return;
  }
  ring_.assign(options_.ring, 0);
  finished_sent_ = finished_seen_;
  core_.SetFinishedTap(
      [this](const Task& t) { ring_[finished_seen_++ % ring_.size()] = t.id.value(); });
}

void Dashboard::Sample() {
  double now = core_.WallNow();
  Counts c = core_.counts();
  // Every task ever submitted that is neither queued nor running has finished (pruning lowers
  // the finished counts, not this).
  uint64_t next = core_.next_id();
  uint64_t finished = next - 1 - c.queued - c.running;
  const auto& lat = core_.dispatch_latency();
  double max = core_.TakeDispatchLatencyMax();  // since the previous sample
  if (sampled_ && now > last_t_) {
    double dt = now - last_t_;
    Point p;
    p.t = now;
    p.finished_per_s = finished >= last_finished_ ? (finished - last_finished_) / dt : 0;
    p.submitted_per_s = next >= last_next_id_ ? (next - last_next_id_) / dt : 0;
    Core::LatencyHistogram delta{};
    for (size_t i = 0; i < delta.size(); ++i) {
      delta[i] = lat[i] >= last_latency_[i] ? lat[i] - last_latency_[i] : 0;
    }
    p.p50 = Quantile(delta, 0.5, max);
    p.p99 = Quantile(delta, 0.99, max);
    p.queued = c.queued;
    p.running = c.running;
    history_.push_back(p);
    while (history_.size() > options_.history_points) history_.pop_front();
  }
  sampled_ = true;
  last_t_ = now;
  last_finished_ = finished;
  last_next_id_ = next;
  last_latency_ = lat;
}

namespace {

json::array PointArray(double t, double fin, double sub, double p50, double p99, size_t q,
                       size_t r) {
  return {Round(t, 0.001), Round(fin, 0.1), Round(sub, 0.1), p50, p99, q, r};
}

}  // namespace

std::string Dashboard::Snapshot(bool hello) {
  json::object o;
  o["type"] = hello ? "hello" : "tick";
  o["t"] = core_.WallNow();
  o["counts"] = CountsObject(core_.counts());
  o["next_id"] = core_.next_id();
  json::array workers;
  json::array running;
  size_t running_total = 0;
  for (const WorkerInfo& w : core_.workers()) {
    if (!w.alive) continue;
    workers.push_back(WorkerRow(core_, w));
    size_t n = 0;
    for (TaskId id : w.inflight) {
      if (n >= options_.max_running_per_worker) break;
      const Task* t = core_.Find(id);
      if (!t || t->state != TaskState::kRunning) continue;
      running.push_back(TaskRow(core_, *t));
      ++n;
    }
    running_total += w.inflight.size();
  }
  o["workers"] = std::move(workers);
  o["running"] = std::move(running);
  o["running_total"] = running_total;
  json::array waiting;
  auto queued = core_.QueuedByOp();
  // Why queued work waits: Core works it out by walking the queues, so it is refreshed every
  // few seconds (and when an operation starts to queue), not with every snapshot.
  double now = core_.WallNow();
  bool stale = hello || now - reasons_at_ >= kReasonsEvery;
  for (const auto& [op, n] : queued) stale = stale || (n > 0 && !reasons_.contains(op));
  if (stale) {
    reasons_.clear();
    for (const auto& w : core_.Waiting()) reasons_[w.op] = w.reason;
    reasons_at_ = now;
  }
  for (const auto& [op, n] : queued) {
    if (n == 0) continue;
    json::object q{{"op", op}, {"queued", n}};
    if (auto it = reasons_.find(op); it != reasons_.end() && !it->second.empty()) {
      q["reason"] = it->second;
    }
    waiting.push_back(std::move(q));
  }
  o["queues"] = std::move(waiting);
  // Tasks finished since the last snapshot: the newest max_finished_per_push of them.
  json::array finished;
  // A hello leaves the ring to the ticks, so every open page gets every finished row once
  // (the hello has the ones already sent in `recent`).
  if (!hello && !ring_.empty() && core_.has_finished_tap()) {
    uint64_t from =
        std::max(finished_sent_,
                 finished_seen_ > ring_.size() ? finished_seen_ - ring_.size() : uint64_t{0});
    from = std::max(from, finished_seen_ > options_.max_finished_per_push
                              ? finished_seen_ - options_.max_finished_per_push
                              : uint64_t{0});
    o["finished_skipped"] = from - finished_sent_;
    for (uint64_t i = from; i < finished_seen_; ++i) {
      const Task* t = core_.Find(TaskId(ring_[i % ring_.size()]));
      if (!t) continue;
      json::object row = TaskRow(core_, *t);
      recent_.push_back(json::serialize(row));
      finished.push_back(std::move(row));
    }
    finished_sent_ = finished_seen_;
    while (recent_.size() > 2000) recent_.pop_front();
  }
  o["finished"] = std::move(finished);
  if (hello) {
    json::array h;
    for (const Point& p : history_) {
      h.push_back(
          PointArray(p.t, p.finished_per_s, p.submitted_per_s, p.p50, p.p99, p.queued, p.running));
    }
    o["history"] = std::move(h);
    json::array recent;
    for (const std::string& r : recent_) recent.push_back(json::parse(r));
    o["recent"] = std::move(recent);
    o["sample_every"] = std::chrono::duration<double>(options_.sample_every).count();
  } else if (!history_.empty()) {
    const Point& p = history_.back();
    o["point"] =
        PointArray(p.t, p.finished_per_s, p.submitted_per_s, p.p50, p.p99, p.queued, p.running);
  }
  return json::serialize(o);
}

uint64_t Dashboard::Subscribe(Subscriber s) {
  uint64_t id = next_subscriber_++;
  if (subscribers_.empty()) SetTap(true);
  auto& sub = subscribers_[id] = std::move(s);
  sub.send(Snapshot(true));
  if (!cancel_push_) ArmPush();
  return id;
}

void Dashboard::Unsubscribe(uint64_t id) {
  subscribers_.erase(id);
  if (subscribers_.empty()) {
    SetTap(false);
    if (cancel_push_) cancel_push_();
    cancel_push_ = nullptr;
  }
}

void Dashboard::Push() {
  std::string text = Snapshot(false);
  // A slow page misses snapshots rather than making the planner buffer them.
  std::vector<uint64_t> ids;
  for (const auto& [id, s] : subscribers_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = subscribers_.find(id);
    if (it == subscribers_.end()) continue;
    if (it->second.backlog && it->second.backlog() > options_.max_backlog_bytes) continue;
    it->second.send(text);
  }
}

// ---- requests ----

bool Dashboard::HandlePublic(RestContext& ctx, const HttpRequest& req, const Reply& reply) {
  const std::string& p = req.path;
  const std::string& m = req.method;
  if (p == "/api/v1/session") {
    double now = core_.WallNow();
    std::string cookie = CookieValue(req, kCookie);
    if (m == "GET") {
      // What the page needs to know before anything else: must it ask for the token?
      json::object o;
      o["token_required"] = !ctx.api_token.empty();
      const SessionStore::Session* s = sessions_.Find(cookie, now);
      bool bearer = !ctx.api_token.empty() && BearerMatches(req, ctx.api_token);
      o["authenticated"] = ctx.api_token.empty() || bearer || s != nullptr;
      if (s) o["csrf"] = s->csrf;
      reply(HttpResponse::Json(200, json::serialize(o)));
      return true;
    }
    if (m == "POST") {
      boost::system::error_code ec;
      json::value v = json::parse(req.body, ec);
      const json::string* token = nullptr;
      if (!ec && v.is_object()) {
        if (const json::value* t = v.as_object().if_contains("token")) token = t->if_string();
      }
      if (!token) {
        reply(HttpResponse::Error(400, "body must be {\"token\": \"<the API token>\"}"));
        return true;
      }
      if (ctx.api_token.empty()) {
        reply(HttpResponse::Json(200, "{\"token_required\":false}"));
        return true;
      }
      if (!ctx.api_token.Matches(std::string_view(token->data(), token->size()))) {
        reply(HttpResponse::Error(401,
                                  "wrong token: give the planner's API token (the contents "
                                  "of its --token-file, or VOLO_TOKEN)"));
        return true;
      }
      auto c = sessions_.Create(now);
      HttpResponse r = HttpResponse::Json(200, json::serialize(json::object{{"csrf", c.csrf}}));
      r.headers.emplace_back(
          "Set-Cookie", std::string(kCookie) + "=" + c.id +
                            "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                            std::to_string(static_cast<int64_t>(SessionStore::kLifetimeSeconds)) +
                            (options_.secure_cookie ? "; Secure" : ""));
      r.headers.emplace_back("Cache-Control", "no-store");
      reply(std::move(r));
      return true;
    }
    if (m == "DELETE") {
      // Logging out needs no CSRF token: at worst a forged request logs someone out.
      if (!cookie.empty()) sessions_.Remove(cookie);
      HttpResponse r = HttpResponse::Json(200, "{\"ok\":true}");
      r.headers.emplace_back("Set-Cookie", std::string(kCookie) +
                                               "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0" +
                                               (options_.secure_cookie ? "; Secure" : ""));
      reply(std::move(r));
      return true;
    }
    reply(HttpResponse::Error(405, "use GET, POST or DELETE on /api/v1/session"));
    return true;
  }
  if (m != "GET" && m != "HEAD") return false;
  // `GET /fn/NAME` calls the function NAME (docs/functions.md), it is no page.
  if (p == "/api" || p.starts_with("/api/") || p.starts_with("/fn/") || p == "/metrics" ||
      p == "/register") {
    return false;
  }
  const web::Asset* a = web::Find(p);
  bool missing = false;
  if (!a && p.find('.') == std::string::npos && web::Find("/index.html")) {
    // The page's own routes (/tasks, /tasks/12, /stream): the page reads the path itself.
    // Another path gets the page too, which says there is nothing there, as a 404.
    a = web::Find("/index.html");
    missing = !IsPageRoute(p);
  }
  if (!a) return false;
  HttpResponse r;
  if (missing) {
    HttpRequest fresh = req;  // never a 304 for a 404
    std::erase_if(fresh.headers,
                  [](const auto& h) { return strcasecmp(h.first.c_str(), "If-None-Match") == 0; });
    r = web::Serve(*a, fresh);
    r.status = 404;
    std::erase_if(r.headers, [](const auto& h) { return h.first == "ETag"; });
  } else {
    r = web::Serve(*a, req);
  }
  if (std::string_view(a->content_type).starts_with("text/html")) {
    // The page runs only its own scripts and talks only to this planner.
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; img-src 'self' data:; style-src 'self' "
                           "'unsafe-inline'; frame-ancestors 'none'");
    r.headers.emplace_back("X-Frame-Options", "DENY");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
  }
  reply(std::move(r));
  return true;
}

std::optional<HttpResponse> Dashboard::Authorize(const RestContext& ctx,
                                                 const HttpRequest& req) const {
  if (BearerMatches(req, ctx.api_token)) return std::nullopt;
  std::string cookie = CookieValue(req, kCookie);
  if (cookie.empty() || !BearerToken(req).empty()) return Unauthorized("the API");
  const SessionStore::Session* s = sessions_.Find(cookie, core_.WallNow());
  if (!s) {
    HttpResponse r = Unauthorized("the API");
    r.body = json::serialize(json::object{
        {"error", "the dashboard session has expired or the planner restarted: log in again"}});
    return r;
  }
  if (UnsafeMethod(req.method) && !SameSecret(req.Header(kCsrfHeader), s->csrf)) {
    return HttpResponse::Error(403,
                               "missing or wrong X-Volo-CSRF header: a request with the "
                               "session cookie that changes something must carry the "
                               "session's CSRF token");
  }
  return std::nullopt;
}

bool Dashboard::HandleApi(RestContext& ctx, const HttpRequest& req, const Reply& reply) {
  const std::string& p = req.path;
  const std::string& m = req.method;
  if (p.starts_with("/api/v1/workers/") && p.ends_with("/drain")) {
    std::string id = p.substr(16, p.size() - 16 - 6);
    if (m != "POST") {
      reply(HttpResponse::Error(405, "use POST on " + p));
      return true;
    }
    auto w = core_.FindWorker(WorkerId(id));
    if (!w || !core_.worker(*w).alive) {
      reply(HttpResponse::Error(404, "no live worker '" + id + "'"));
      return true;
    }
    // The worker gets no new tasks and finishes the ones it holds (Core::OnLeaving, as when
    // the worker itself says it is leaving); it stays connected and listed as draining.
    core_.OnLeaving(*w);
    reply(HttpResponse::Json(200, json::serialize(WorkerRow(core_, core_.worker(*w)))));
    return true;
  }
  if (p == "/api/v1/dashboard/tasks") {
    if (m != "GET") {
      reply(HttpResponse::Error(405, "use GET on " + p));
      return true;
    }
    if (auto bad = UnknownParameter(req, {"state", "op", "worker", "limit", "cursor"})) {
      reply(std::move(*bad));
      return true;
    }
    std::optional<TaskState> state;
    if (std::string s = req.Query("state"); !s.empty()) {
      state = ParseTaskState(s);
      if (!state || *state == TaskState::kPruned) {
        reply(HttpResponse::Error(
            400, "state must be one of queued, running, done, failed, cancelled; not '" + s + "'"));
        return true;
      }
    }
    uint64_t limit = 50, cursor = core_.next_id();
    if (std::string l = req.Query("limit"); !l.empty() && (!ParseU64(l, &limit) || limit == 0)) {
      reply(HttpResponse::Error(400, "limit must be a positive integer"));
      return true;
    }
    limit = std::min<uint64_t>(limit, 1000);
    if (std::string c = req.Query("cursor"); !c.empty() && !ParseU64(c, &cursor)) {
      reply(HttpResponse::Error(400, "cursor must be the next_cursor of a previous answer"));
      return true;
    }
    cursor = std::min(cursor, core_.next_id());
    std::string op = req.Query("op");
    std::string worker = req.Query("worker");
    std::optional<uint32_t> op_index;
    bool none = false;
    if (!op.empty()) {
      none = true;
      for (uint32_t i = 0;; ++i) {
        // Core names operations by index; a name it never saw matches nothing.
        if (i >= core_.op_count()) break;
        if (core_.op_name(i) == op) {
          op_index = i;
          none = false;
          break;
        }
      }
    }
    std::optional<WorkerIndex> worker_index;
    if (!worker.empty()) {
      worker_index = core_.FindWorker(WorkerId(worker));
      if (!worker_index) none = true;
    }
    json::array rows;
    uint64_t id = none ? 0 : cursor;  // the next id to look at is id - 1
    uint64_t scanned = 0;
    while (id > 1 && rows.size() < limit && scanned < kScanBudget) {
      --id;
      ++scanned;
      const Task* t = core_.Find(TaskId(id));
      if (!t) {
        if (id < core_.first_id()) id = 1;  // nothing older is held
        continue;
      }
      if (state && t->state != *state) continue;
      if (op_index && t->op != *op_index) continue;
      if (worker_index && t->worker != *worker_index) continue;
      rows.push_back(TaskRow(core_, *t));
    }
    json::object o{{"tasks", std::move(rows)}, {"scanned", scanned}};
    if (id > 1 && id >= core_.first_id()) {
      o["next_cursor"] = id;
    } else {
      o["next_cursor"] = nullptr;
    }
    json::object counts = CountsObject(core_.counts());
    o["counts"] = std::move(counts);
    reply(HttpResponse::Json(200, json::serialize(o)));
    return true;
  }
  if (p == "/api/v1/dashboard/fly") {
    if (m != "GET") {
      reply(HttpResponse::Error(405, "use GET on " + p));
      return true;
    }
    if (auto bad = UnknownParameter(req, {})) {
      reply(std::move(*bad));
      return true;
    }
    reply(HttpResponse::Json(200, FlyRuns(core_, kScanBudget)));
    return true;
  }
  return false;
}

std::string FlyRuns(const Core& core, uint64_t scan) {
  uint32_t fly = UINT32_MAX;
  for (uint32_t i = 0; i < core.op_count(); ++i) {
    if (core.op_name(i) == "fly") fly = i;
  }
  struct Chunk {
    uint64_t first = 0, count = 0;
    std::string output;
  };
  struct Run {
    std::string program, file;
    uint64_t first_task = UINT64_MAX, last_task = 0;
    uint64_t instances = 0, done = 0, failed = 0, running = 0, chunks = 0;
    double started = 0, finished = 0;
    bool open = false;
    std::map<std::string, uint64_t> per_worker;  // chunks per worker
    std::vector<Chunk> outputs;
    std::string error;
  };
  std::map<std::string, Run> runs;  // key: program + file
  uint64_t id = core.next_id();
  for (uint64_t n = 0; fly != UINT32_MAX && id > core.first_id() && n < scan; ++n) {
    --id;
    const Task* t = core.Find(TaskId(id));
    if (!t || t->op != fly) continue;
    boost::system::error_code ec;
    json::value a = json::parse(t->args, ec);
    if (ec || !a.is_object()) continue;
    const json::object& args = a.as_object();
    auto str = [&](const char* k) -> std::string {
      const json::value* v = args.if_contains(k);
      return v && v->is_string() ? std::string(v->as_string()) : "";
    };
    auto num = [&](const char* k) -> uint64_t {
      const json::value* v = args.if_contains(k);
      return v && v->is_number() ? v->to_number<uint64_t>() : 0;
    };
    std::string key = str("program") + "/" + str("file");
    Run& r = runs[key];
    r.program = str("program");
    r.file = str("file");
    r.first_task = std::min(r.first_task, id);
    r.last_task = std::max(r.last_task, id);
    uint64_t count = std::max<uint64_t>(num("count"), 1);
    r.instances += count;
    ++r.chunks;
    if (t->submitted && (r.started == 0 || t->submitted < r.started)) r.started = t->submitted;
    if (t->worker != kNoWorker) ++r.per_worker[core.worker(t->worker).id.value()];
    if (t->state == TaskState::kDone) {
      r.done += count;
      r.finished = std::max(r.finished, t->finished);
      json::value res = json::parse(t->result, ec);
      if (!ec && res.is_object()) {
        if (const json::value* out = res.as_object().if_contains("output");
            out && out->is_string() && !out->as_string().empty()) {
          r.outputs.push_back({num("first"), count, std::string(out->as_string())});
        }
      }
    } else if (t->state == TaskState::kFailed || t->state == TaskState::kCancelled) {
      r.failed += count;
      if (r.error.empty()) r.error = Truncated(t->result, 500);
    } else {
      r.open = true;
      if (t->state == TaskState::kRunning) r.running += count;
    }
  }
  std::vector<const Run*> order;
  for (const auto& [k, r] : runs) order.push_back(&r);
  std::sort(order.begin(), order.end(),
            [](const Run* a, const Run* b) { return a->first_task > b->first_task; });
  json::array out;
  for (const Run* r : order) {
    json::object o{{"program", r->program},       {"file", r->file},
                   {"first_task", r->first_task}, {"last_task", r->last_task},
                   {"instances", r->instances},   {"done", r->done},
                   {"failed", r->failed},         {"running", r->running},
                   {"chunks", r->chunks},         {"finished", !r->open}};
    if (r->started) o["started"] = r->started;
    if (!r->open && r->finished) o["ended"] = r->finished;
    json::object pw;
    for (const auto& [w, n] : r->per_worker) pw[w] = n;
    o["chunks_per_worker"] = std::move(pw);
    std::vector<Chunk> outs = r->outputs;
    std::sort(outs.begin(), outs.end(), [](auto& a, auto& b) { return a.first < b.first; });
    std::string text;
    for (const Chunk& c : outs) {
      if (text.size() > 64 * 1024) break;
      text += c.output;
    }
    o["output"] = Truncated(text, 64 * 1024);
    if (!r->error.empty()) o["error"] = r->error;
    out.push_back(std::move(o));
  }
  return json::serialize(json::object{{"runs", std::move(out)}});
}

std::variant<net::WsHandlers, HttpResponse> AcceptFeed(Dashboard& dashboard, const RestContext& ctx,
                                                       const HttpRequest& req) {
  // Browsers send Origin on every WebSocket; a page elsewhere must not read the feed with
  // this planner's cookie (SameSite=Strict already keeps the cookie off such requests).
  if (auto refused = RefuseForeignBrowser(req, ctx.api_token, true)) return std::move(*refused);
  if (auto denied = dashboard.Authorize(ctx, req)) return std::move(*denied);
  struct State {
    uint64_t id = 0;
  };
  auto st = std::make_shared<State>();
  net::WsHandlers h;
  h.on_message = [&dashboard, st](const std::shared_ptr<net::WsConnection>& conn,
                                  std::string_view) {
    if (st->id) return;  // the page says nothing else
    std::weak_ptr<net::WsConnection> weak = conn;
    st->id = dashboard.Subscribe({[weak](std::string text) {
                                    if (auto c = weak.lock()) c->Send(std::move(text));
                                  },
                                  [weak]() -> size_t {
                                    auto c = weak.lock();
                                    return c ? c->queued_bytes() : 0;
                                  }});
  };
  h.on_close = [&dashboard, st](const std::shared_ptr<net::WsConnection>&, const Status&) {
    if (st->id) dashboard.Unsubscribe(st->id);
    st->id = 0;
  };
  return h;
}

}  // namespace volo::planner
