// The web dashboard's planner side (docs/dashboard.md): its embedded files, the browser
// sessions that stand in for the API token, the live feed, and the few endpoints only the
// dashboard needs.
//
// The feed is one WebSocket (/api/v1/events) per open page. It is built on timers, never per
// task event: every second the dashboard samples Core's counters into a ten-minute history
// (throughput, dispatch latency, queue and running counts; a handful of numbers, always on),
// and while at least one page is open, four times a second it sends each page one snapshot
// (workers, queues with the reason they wait, counts, the newest history point, the tasks that
// finished since the last snapshot and those running now). The only per-task cost, and only
// while a page is open, is Core handing each finished task's id to a fixed ring (Core's
// finished tap); everything else is proportional to workers and operations, not tasks.
//
// Sessions: with an API token set, POST /api/v1/session {"token": T} answers with an HttpOnly,
// SameSite=Strict cookie and a CSRF token. A request with that cookie counts as carrying the
// API token; one with an unsafe method (POST, PUT, DELETE) must also carry the CSRF token in
// X-Volo-CSRF. Sessions live in memory: a restarted planner asks again.
//
// Threading: the planner's io thread, like rest.h; time and timers come through RestEnv.
#pragma once

#include <array>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "net/http.h"
#include "net/server.h"
#include "planner/rest.h"

namespace volo::planner {

class SessionStore {
 public:
  static constexpr double kLifetimeSeconds = 7 * 24 * 3600;
  static constexpr size_t kMaxSessions = 10000;
  struct Session {
    std::string csrf;
    double expires = 0;
  };
  struct Created {
    std::string id, csrf;
  };
  // A new session with random id and CSRF token (32 random bytes each, hex). The oldest
  // session goes when there are kMaxSessions.
  Created Create(double now);
  // The live session with this id, or null (unknown or expired).
  const Session* Find(std::string_view id, double now) const;
  void Remove(std::string_view id);
  size_t size() const { return sessions_.size(); }

 private:
  // Keyed by the SHA-256 of the id, so a lookup's timing says nothing about stored ids.
  std::map<std::string, Session> sessions_;
};

// The value of cookie `name` in the request's Cookie headers, or empty.
std::string CookieValue(const net::HttpRequest& req, std::string_view name);

struct DashboardOptions {
  Nanos sample_every = std::chrono::seconds(1);       // the history's resolution
  Nanos push_every = std::chrono::milliseconds(250);  // snapshots to open pages
  size_t history_points = 600;                        // ten minutes at 1 s
  size_t ring = 8192;                                 // finished task ids kept between snapshots
  size_t max_finished_per_push = 400;                 // the newest of them go out
  size_t max_running_per_worker = 64;
  // A page whose connection has this much unsent is skipped until it catches up.
  size_t max_backlog_bytes = 4 << 20;
  // The planner serves HTTPS: the session cookie is `Secure` (never sent over plain HTTP).
  bool secure_cookie = false;
};

// GET /api/v1/dashboard/fly: the FLY programs run on the fleet, from their `fly` tasks among
// the newest `scan` tasks: instances done of total, chunks per worker, output (JSON text).
std::string FlyRuns(const Core& core, uint64_t scan);

class Dashboard {
 public:
  Dashboard(Core& core, RestEnv& env, DashboardOptions options = {});
  ~Dashboard();
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  // Starts the history sampler. Stop() ends every timer and the tap.
  void Start();
  void Stop();

  SessionStore& sessions() { return sessions_; }

  // ---- the feed ----
  struct Subscriber {
    std::function<void(std::string)> send;
    std::function<size_t()> backlog;  // bytes queued, not yet sent
  };
  // Sends the hello (the whole history, the recent tasks, a snapshot) at once, then a
  // snapshot every push_every. Returns the id for Unsubscribe.
  uint64_t Subscribe(Subscriber s);
  void Unsubscribe(uint64_t id);
  size_t subscribers() const { return subscribers_.size(); }

  // The JSON documents the feed sends (tests read them; `hello` adds history and recent).
  std::string Snapshot(bool hello);

  // ---- requests ----
  // Before authentication: the embedded files (GET/HEAD of any path outside /api/, /metrics
  // and the health checks) and /api/v1/session. True when it answered.
  bool HandlePublic(RestContext& ctx, const net::HttpRequest& req, const Reply& reply);
  // Authentication for the API: nullopt when the request carries the API token or a live
  // session cookie (with the CSRF header on unsafe methods); else the 401/403 to answer.
  std::optional<net::HttpResponse> Authorize(const RestContext& ctx,
                                             const net::HttpRequest& req) const;
  // After authentication: /api/v1/dashboard/... and POST /api/v1/workers/{id}/drain. True
  // when it answered.
  bool HandleApi(RestContext& ctx, const net::HttpRequest& req, const Reply& reply);

 private:
  struct Point {
    double t = 0;
    double finished_per_s = 0, submitted_per_s = 0;
    double p50 = 0, p99 = 0;  // dispatch latency in seconds over the interval; 0: none
    size_t queued = 0, running = 0;
  };
  void Sample();
  void Push();
  void ArmSample();
  void ArmPush();
  void SetTap(bool on);

  Core& core_;
  RestEnv& env_;
  DashboardOptions options_;
  SessionStore sessions_;
  std::deque<Point> history_;
  // The counters at the previous sample.
  double last_t_ = 0;
  uint64_t last_finished_ = 0, last_next_id_ = 0;
  Core::LatencyHistogram last_latency_{};
  bool sampled_ = false;
  // Finished task ids since the last snapshot (a ring; `finished_seen_` counts every one).
  std::vector<uint64_t> ring_;
  uint64_t finished_seen_ = 0, finished_sent_ = 0;
  // Bars already sent, kept for the hello of the next page (the newest ones).
  std::deque<std::string> recent_;
  std::map<std::string, std::string> reasons_;  // op -> why its queued tasks wait
  double reasons_at_ = 0;
  std::map<uint64_t, Subscriber> subscribers_;
  uint64_t next_subscriber_ = 1;
  std::function<void()> cancel_sample_, cancel_push_;
  bool started_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The WebSocket upgrade of /api/v1/events: refused (401) without the API token or a session,
// and (403) when the page that opens it is from another origin. The page sends one message
// (any text) once open; the feed starts with that and ends when the connection closes.
std::variant<net::WsHandlers, net::HttpResponse> AcceptFeed(Dashboard& dashboard,
                                                            const RestContext& ctx,
                                                            const net::HttpRequest& req);

}  // namespace volo::planner
