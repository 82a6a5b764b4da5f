// The dashboard's planner side over a real Core, a fake clock and fake timers: the feed, the
// sessions, the task list, drain, the embedded page. No sockets, no threads.
#include "planner/dashboard.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>

#include "planner/rest_testing.h"
#include "web/web.h"

namespace volo::planner {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

struct Answer {
  int status = 0;
  json::value body;
  std::string raw;
  net::Headers headers;
  std::string Header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return "";
  }
};

class DashboardTest : public ::testing::Test {
 protected:
  DashboardTest() { Reset(""); }

  void Reset(std::string_view token) {
    ctx_ = std::make_unique<RestContext>(
        RestContext{core_, blobs_, env_, Token(token), Token("join-secret")});
    ctx_->dashboard = &dash_;
  }

  Answer Send(std::string method, std::string path, std::string body = "",
              std::map<std::string, std::string> query = {}, net::Headers headers = {}) {
    net::HttpRequest req;
    req.method = std::move(method);
    req.path = std::move(path);
    req.body = std::move(body);
    req.query = std::move(query);
    req.headers = std::move(headers);
    Answer a;
    bool answered = false;
    HandleRequest(*ctx_, req, [&](net::HttpResponse r) {
      answered = true;
      a.status = r.status;
      a.raw = r.body;
      a.headers = r.headers;
      boost::system::error_code ec;
      a.body = json::parse(r.body, ec);
    });
    EXPECT_TRUE(answered) << req.method << " " << req.path;
    return a;
  }

  WorkerIndex AddWorker(const std::string& id, std::vector<std::string> ops, int slots = 4) {
    auto w = core_.AddWorker(WorkerId(id), WorkerKind::kNative, ops, slots, &link_);
    EXPECT_TRUE(w.ok());
    return *w;
  }
  void Submit(const std::string& op, int n) {
    std::vector<wire::TaskSpec> specs(n);
    for (auto& s : specs) s.op = op;
    ASSERT_TRUE(core_.Submit(std::move(specs)).ok());
  }
  // Reports every task the worker holds as done.
  void FinishAll(WorkerIndex w) {
    std::vector<wire::TaskResult> results;
    for (TaskId id : core_.worker(w).inflight) {
      wire::TaskResult r;
      r.id = id.value();
      r.ok = true;
      r.value = "{}";
      results.push_back(r);
    }
    core_.OnResults(w, results);
  }
  // Subscribes a fake page; its messages land in `got`.
  uint64_t Open(std::vector<json::value>* got, size_t* backlog = nullptr) {
    return dash_.Subscribe({[got](std::string text) { got->push_back(json::parse(text)); },
                            [backlog]() -> size_t { return backlog ? *backlog : 0; }});
  }

  FakeClock clock_;
  Core core_{clock_};
  BlobStore blobs_;
  FakeRestEnv env_{clock_};
  Dashboard dash_{core_, env_};
  std::unique_ptr<RestContext> ctx_;
  NullLink link_;
};

TEST_F(DashboardTest, FeedSendsOnItsTimerNotPerTask) {
  dash_.Start();
  auto w = AddWorker("w1", {"noop"}, 1000);
  std::vector<json::value> got;
  Open(&got);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].at("type").as_string(), "hello");
  // A thousand tasks start and finish between two snapshots: no message until the timer.
  Submit("noop", 1000);
  FinishAll(w);
  EXPECT_EQ(got.size(), 1u);
  env_.Advance(250ms);
  ASSERT_EQ(got.size(), 2u);
  const json::object& tick = got[1].as_object();
  EXPECT_EQ(tick.at("type").as_string(), "tick");
  EXPECT_EQ(tick.at("counts").at("done").as_int64(), 1000);
  // The newest 400 of the finished tasks, with how many were skipped.
  EXPECT_EQ(tick.at("finished").as_array().size(), 400u);
  EXPECT_EQ(tick.at("finished_skipped").as_int64(), 600);
  EXPECT_EQ(tick.at("finished").as_array().back().at("id").as_int64(), 1000);
  EXPECT_EQ(tick.at("finished").as_array().back().at("worker").as_string(), "w1");
  // Four snapshots a second, however many tasks.
  env_.Advance(1s);
  EXPECT_EQ(got.size(), 6u);
  EXPECT_TRUE(got.back().at("finished").as_array().empty());
}

TEST_F(DashboardTest, APageOpeningDoesNotTakeFinishedTasksFromAnother) {
  dash_.Start();
  auto w = AddWorker("w1", {"noop"}, 100);
  std::vector<json::value> a, b;
  Open(&a);
  Submit("noop", 10);
  FinishAll(w);
  Open(&b);  // between two ticks
  EXPECT_TRUE(b[0].at("finished").as_array().empty());
  env_.Advance(250ms);
  EXPECT_EQ(a.back().at("finished").as_array().size(), 10u);
  EXPECT_EQ(b.back().at("finished").as_array().size(), 10u);
  // A page opening later has them in its hello's recent tasks.
  std::vector<json::value> c;
  Open(&c);
  EXPECT_EQ(c[0].at("recent").as_array().size(), 10u);
}

TEST_F(DashboardTest, SnapshotShowsWorkersQueuesAndRunningTasks) {
  dash_.Start();
  std::vector<json::value> got;
  Open(&got);
  EXPECT_TRUE(got[0].at("workers").as_array().empty());
  auto w = AddWorker("w1", {"add"}, 2);
  Submit("add", 3);
  Submit("mult", 2);  // nobody runs mult
  env_.Advance(250ms);
  const json::object& s = got.back().as_object();
  ASSERT_EQ(s.at("workers").as_array().size(), 1u);
  EXPECT_EQ(s.at("workers").at(0).at("id").as_string(), "w1");
  EXPECT_EQ(s.at("workers").at(0).at("running").as_int64(), 2);
  EXPECT_EQ(s.at("running").as_array().size(), 2u);
  std::map<std::string, json::value> queues;
  for (const auto& q : s.at("queues").as_array()) {
    queues[std::string(q.at("op").as_string())] = q;
  }
  EXPECT_EQ(queues["add"].at("queued").as_int64(), 1);
  EXPECT_EQ(queues["mult"].at("queued").as_int64(), 2);
  EXPECT_NE(std::string(queues["mult"].at("reason").as_string()).find("mult"), std::string::npos);
  // A worker that leaves is gone from the next snapshot.
  core_.RemoveWorker(w, "test");
  env_.Advance(250ms);
  EXPECT_TRUE(got.back().at("workers").as_array().empty());
}

TEST_F(DashboardTest, HistoryHoldsThroughputAndDispatchLatencyPerSecond) {
  dash_.Start();
  auto w = AddWorker("w1", {"noop"}, 1000);
  for (int i = 0; i < 3; ++i) {
    Submit("noop", 100);
    FinishAll(w);
    env_.Advance(1s);
  }
  std::vector<json::value> got;
  Open(&got);
  const json::array& h = got[0].at("history").as_array();
  ASSERT_EQ(h.size(), 3u);
  for (const auto& p : h) {
    EXPECT_NEAR(p.at(1).to_number<double>(), 100, 1e-6);  // finished per second
    EXPECT_NEAR(p.at(2).to_number<double>(), 100, 1e-6);  // submitted per second
    // Dispatched at once by the fake clock: in the lowest latency bucket.
    EXPECT_GE(p.at(3).to_number<double>(), 0);
    EXPECT_LE(p.at(4).to_number<double>(), 50e-6);
  }
  // Pruning lowers Core's finished counts; the throughput does not go negative.
  core_.Prune(clock_.Wall() + 1);
  env_.Advance(1s);
  env_.Advance(250ms);
  EXPECT_EQ(got.back().at("point").at(1).to_number<double>(), 0);
}

TEST_F(DashboardTest, DispatchLatencyQuantilesStayWithinWhatWasSeen) {
  // 100 tasks wait 1.4 s for a worker. Inside their bucket (1 s to 2.5 s) a linear estimate
  // would put p99 near 2.5 s; the chart says no more than the longest wait.
  dash_.Start();
  Submit("noop", 100);
  env_.Advance(1400ms);
  AddWorker("w1", {"noop"}, 1000);
  core_.Tick();
  ASSERT_EQ(core_.counts().running, 100u);
  env_.Advance(1s);
  std::vector<json::value> got;
  Open(&got);
  const json::array& h = got[0].at("history").as_array();
  ASSERT_FALSE(h.empty());
  const json::array& p = h.back().as_array();
  EXPECT_GE(p.at(3).to_number<double>(), 1.0);  // p50
  EXPECT_LE(p.at(3).to_number<double>(), 1.41);
  EXPECT_GE(p.at(4).to_number<double>(), 1.0);  // p99
  EXPECT_LE(p.at(4).to_number<double>(), 1.41);
}

TEST_F(DashboardTest, LastPageClosingStopsThePushesAndTheTap) {
  dash_.Start();
  std::vector<json::value> a, b;
  uint64_t ia = Open(&a);
  uint64_t ib = Open(&b);
  EXPECT_TRUE(core_.has_finished_tap());
  dash_.Unsubscribe(ia);
  env_.Advance(250ms);
  EXPECT_EQ(a.size(), 1u);
  EXPECT_EQ(b.size(), 2u);
  dash_.Unsubscribe(ib);
  EXPECT_FALSE(core_.has_finished_tap());
  EXPECT_EQ(env_.pending_timers(), 1u);  // the history sampler only
  env_.Advance(1s);
  EXPECT_EQ(b.size(), 2u);
}

TEST_F(DashboardTest, APageThatFallsBehindMissesSnapshots) {
  dash_.Start();
  std::vector<json::value> got;
  size_t backlog = 0;
  Open(&got, &backlog);
  backlog = 64 << 20;
  env_.Advance(1s);
  EXPECT_EQ(got.size(), 1u);
  backlog = 0;
  env_.Advance(250ms);
  EXPECT_EQ(got.size(), 2u);
}

TEST_F(DashboardTest, SessionsWithoutATokenNeedNoLogin) {
  auto s = Send("GET", "/api/v1/session");
  ASSERT_EQ(s.status, 200);
  EXPECT_FALSE(s.body.at("token_required").as_bool());
  EXPECT_TRUE(s.body.at("authenticated").as_bool());
  EXPECT_EQ(Send("GET", "/api/v1/status").status, 200);
}

TEST_F(DashboardTest, SessionCookieStandsInForTheTokenWithCsrfOnActions) {
  Reset("api-secret");
  EXPECT_FALSE(Send("GET", "/api/v1/session").body.at("authenticated").as_bool());
  // A wrong token is refused, saying what to give.
  auto wrong = Send("POST", "/api/v1/session", R"({"token":"nope"})");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_NE(wrong.raw.find("wrong token"), std::string::npos);
  EXPECT_EQ(Send("POST", "/api/v1/session", "{}").status, 400);
  auto ok = Send("POST", "/api/v1/session", R"({"token":"api-secret"})");
  ASSERT_EQ(ok.status, 200);
  std::string cookie = ok.Header("Set-Cookie");
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
  std::string session = cookie.substr(0, cookie.find(';'));  // volo_session=<id>
  std::string csrf(ok.body.at("csrf").as_string());
  net::Headers with_cookie = {{"Cookie", "theme=dark; " + session}};

  EXPECT_EQ(Send("GET", "/api/v1/status").status, 401);
  EXPECT_EQ(Send("GET", "/api/v1/status", "", {}, with_cookie).status, 200);
  auto info = Send("GET", "/api/v1/session", "", {}, with_cookie);
  EXPECT_TRUE(info.body.at("authenticated").as_bool());
  EXPECT_EQ(info.body.at("csrf").as_string(), csrf);

  Submit("noop", 1);
  // An action with the cookie alone is refused: a page elsewhere could send it.
  auto forged = Send("POST", "/api/v1/tasks/1/cancel", "", {}, with_cookie);
  EXPECT_EQ(forged.status, 403);
  EXPECT_NE(forged.raw.find("X-Volo-CSRF"), std::string::npos);
  net::Headers bad = with_cookie;
  bad.emplace_back("X-Volo-CSRF", std::string(csrf.size(), '0'));
  EXPECT_EQ(Send("POST", "/api/v1/tasks/1/cancel", "", {}, bad).status, 403);
  net::Headers good = with_cookie;
  good.emplace_back("X-Volo-CSRF", csrf);
  EXPECT_EQ(Send("POST", "/api/v1/tasks/1/cancel", "", {}, good).status, 200);

  // The bearer token works as before, with no CSRF header.
  EXPECT_EQ(Send("GET", "/api/v1/status", "", {}, {{"Authorization", "Bearer api-secret"}}).status,
            200);
  // A made-up session is no session.
  EXPECT_EQ(
      Send("GET", "/api/v1/status", "", {}, {{"Cookie", "volo_session=" + std::string(64, 'a')}})
          .status,
      401);
  // Logging out ends it.
  auto out = Send("DELETE", "/api/v1/session", "", {}, with_cookie);
  EXPECT_EQ(out.status, 200);
  EXPECT_NE(out.Header("Set-Cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(Send("GET", "/api/v1/status", "", {}, with_cookie).status, 401);
}

TEST_F(DashboardTest, SessionCookieIsSecureWhenThePlannerServesHttps) {
  Dashboard https(core_, env_, DashboardOptions{.secure_cookie = true});
  RestContext ctx{core_, blobs_, env_, Token("api-secret"), Token("join-secret")};
  ctx.dashboard = &https;
  net::HttpRequest req;
  req.method = "POST";
  req.path = "/api/v1/session";
  req.body = R"({"token": "api-secret"})";
  std::string cookie;
  HandleRequest(ctx, req, [&](net::HttpResponse r) {
    EXPECT_EQ(r.status, 200) << r.body;
    for (const auto& [k, v] : r.headers) {
      if (k == "Set-Cookie") cookie = v;
    }
  });
  EXPECT_TRUE(cookie.ends_with("; Secure")) << cookie;
  EXPECT_NE(cookie.find("HttpOnly; SameSite=Strict"), std::string::npos) << cookie;
  // Plain HTTP (the default): a Secure cookie would never come back.
  Reset("api-secret");
  auto login = Send("POST", "/api/v1/session", R"({"token": "api-secret"})");
  EXPECT_EQ(login.Header("Set-Cookie").find("Secure"), std::string::npos);
}

TEST_F(DashboardTest, SessionsExpire) {
  Reset("api-secret");
  auto ok = Send("POST", "/api/v1/session", R"({"token":"api-secret"})");
  std::string cookie = ok.Header("Set-Cookie");
  net::Headers with_cookie = {{"Cookie", cookie.substr(0, cookie.find(';'))}};
  EXPECT_EQ(Send("GET", "/api/v1/status", "", {}, with_cookie).status, 200);
  clock_.Advance(std::chrono::seconds(static_cast<int64_t>(SessionStore::kLifetimeSeconds) + 1));
  auto late = Send("GET", "/api/v1/status", "", {}, with_cookie);
  EXPECT_EQ(late.status, 401);
  EXPECT_NE(late.raw.find("log in again"), std::string::npos);
}

TEST_F(DashboardTest, TaskListIsNewestFirstFilteredAndPagedByCursor) {
  auto w = AddWorker("w1", {"add"}, 2);
  Submit("add", 5);   // 1-5: 1 and 2 run on w1
  Submit("mult", 5);  // 6-10
  FinishAll(w);       // 1, 2 done; 3, 4 start
  auto all = Send("GET", "/api/v1/dashboard/tasks", "", {{"limit", "4"}});
  ASSERT_EQ(all.status, 200);
  const auto& rows = all.body.at("tasks").as_array();
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].at("id").as_int64(), 10);
  EXPECT_EQ(rows[3].at("id").as_int64(), 7);
  uint64_t cursor = all.body.at("next_cursor").to_number<uint64_t>();
  auto next = Send("GET", "/api/v1/dashboard/tasks", "",
                   {{"limit", "4"}, {"cursor", std::to_string(cursor)}});
  EXPECT_EQ(next.body.at("tasks").at(0).at("id").as_int64(), 6);
  auto last = Send("GET", "/api/v1/dashboard/tasks", "",
                   {{"limit", "4"},
                    {"cursor", std::to_string(next.body.at("next_cursor").to_number<uint64_t>())}});
  EXPECT_EQ(last.body.at("tasks").as_array().size(), 2u);
  EXPECT_TRUE(last.body.at("next_cursor").is_null());

  auto done = Send("GET", "/api/v1/dashboard/tasks", "", {{"state", "done"}});
  ASSERT_EQ(done.body.at("tasks").as_array().size(), 2u);
  EXPECT_EQ(done.body.at("tasks").at(0).at("worker").as_string(), "w1");
  EXPECT_EQ(Send("GET", "/api/v1/dashboard/tasks", "", {{"op", "mult"}})
                .body.at("tasks")
                .as_array()
                .size(),
            5u);
  EXPECT_EQ(Send("GET", "/api/v1/dashboard/tasks", "", {{"worker", "w1"}})
                .body.at("tasks")
                .as_array()
                .size(),
            link_.assigned.size());
  EXPECT_TRUE(Send("GET", "/api/v1/dashboard/tasks", "", {{"op", "nothing"}})
                  .body.at("tasks")
                  .as_array()
                  .empty());
  EXPECT_EQ(Send("GET", "/api/v1/dashboard/tasks", "", {{"state", "bogus"}}).status, 400);
  EXPECT_EQ(Send("GET", "/api/v1/dashboard/tasks", "", {{"cursor", "x"}}).status, 400);
  EXPECT_EQ(Send("GET", "/api/v1/dashboard/tasks", "", {{"limit", "0"}}).status, 400);
  // A misspelt filter is an error, not every task.
  auto typo = Send("GET", "/api/v1/dashboard/tasks", "", {{"stat", "done"}});
  EXPECT_EQ(typo.status, 400);
  EXPECT_EQ(typo.body.at("error").as_string(),
            "unknown parameter 'stat' on /api/v1/dashboard/tasks (known: state, op, worker, "
            "limit, cursor)");
  EXPECT_EQ(Send("GET", "/api/v1/dashboard/fly", "", {{"x", "1"}}).status, 400);
}

TEST_F(DashboardTest, TaskListLooksAtABoundedNumberOfTasksPerRequest) {
  // 300,000 tasks and a filter that matches only the oldest: each answer stops after its scan
  // budget with a cursor, and following the cursors finds it.
  Submit("echo", 1);
  for (int i = 0; i < 3; ++i) Submit("noop", 100000);
  auto first = Send("GET", "/api/v1/dashboard/tasks", "", {{"op", "echo"}});
  EXPECT_TRUE(first.body.at("tasks").as_array().empty());
  EXPECT_EQ(first.body.at("scanned").as_int64(), 200000);
  ASSERT_FALSE(first.body.at("next_cursor").is_null());
  auto second = Send("GET", "/api/v1/dashboard/tasks", "",
                     {{"op", "echo"}, {"cursor", json::serialize(first.body.at("next_cursor"))}});
  ASSERT_EQ(second.body.at("tasks").as_array().size(), 1u);
  EXPECT_EQ(second.body.at("tasks").at(0).at("id").as_int64(), 1);
  EXPECT_TRUE(second.body.at("next_cursor").is_null());
}

TEST_F(DashboardTest, DrainedWorkerFinishesWhatItHasAndGetsNothingNew) {
  auto w = AddWorker("w1", {"add"}, 2);
  Submit("add", 4);
  EXPECT_EQ(link_.assigned.size(), 2u);
  auto d = Send("POST", "/api/v1/workers/w1/drain");
  ASSERT_EQ(d.status, 200);
  EXPECT_EQ(d.body.at("state").as_string(), "draining");
  FinishAll(w);
  EXPECT_EQ(core_.counts().done, 2u);
  EXPECT_EQ(link_.assigned.size(), 2u);  // nothing new
  EXPECT_EQ(core_.counts().queued, 2u);
  EXPECT_EQ(Send("POST", "/api/v1/workers/nobody/drain").status, 404);
  EXPECT_EQ(Send("GET", "/api/v1/workers/w1/drain").status, 405);
}

TEST_F(DashboardTest, FlyRunsCountInstancesChunksPerWorkerAndOutput) {
  auto w = AddWorker("w1", {"fly"}, 4);
  std::vector<wire::TaskSpec> specs(3);
  for (int i = 0; i < 3; ++i) {
    specs[i].op = "fly";
    specs[i].args =
        R"({"program":"abc","file":"pi.fly","first":)" + std::to_string(i * 10) + R"(,"count":10})";
  }
  ASSERT_TRUE(core_.Submit(std::move(specs)).ok());
  std::vector<wire::TaskResult> results;
  for (uint64_t id : {2, 1}) {
    wire::TaskResult r;
    r.id = id;
    r.ok = true;
    r.value = R"({"returns":null,"output":"chunk )" + std::to_string(id) + R"(\n"})";
    results.push_back(r);
  }
  core_.OnResults(w, results);
  auto a = Send("GET", "/api/v1/dashboard/fly");
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(a.body.at("runs").as_array().size(), 1u);
  const auto& run = a.body.at("runs").at(0);
  EXPECT_EQ(run.at("file").as_string(), "pi.fly");
  EXPECT_EQ(run.at("instances").as_int64(), 30);
  EXPECT_EQ(run.at("done").as_int64(), 20);
  EXPECT_EQ(run.at("running").as_int64(), 10);
  EXPECT_FALSE(run.at("finished").as_bool());
  EXPECT_EQ(run.at("chunks_per_worker").at("w1").as_int64(), 3);
  EXPECT_EQ(run.at("output").as_string(), "chunk 1\nchunk 2\n");  // in instance order
}

TEST_F(DashboardTest, ServesThePageItsRoutesAndAssetsBeforeAuthentication) {
  Reset("api-secret");
  auto page = Send("GET", "/");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.raw, web::Find("/index.html")->body());
  EXPECT_FALSE(page.Header("ETag").empty());
  EXPECT_FALSE(page.Header("Content-Security-Policy").empty());
  // The page's own routes answer the page; the API's unknown paths stay 404s / 401s.
  EXPECT_EQ(Send("GET", "/tasks/12").raw, page.raw);
  EXPECT_EQ(Send("GET", "/app.js").raw, web::Find("/app.js")->body());
  EXPECT_EQ(Send("GET", "/missing.js").status, 401);
  EXPECT_EQ(Send("GET", "/api/v1/nothing").status, 401);
  EXPECT_EQ(Send("GET", "/api").status, 401);
  // A path that is no route of the page: the page (it says there is nothing there), as a 404.
  for (std::string route : {"/tasks", "/tasks/", "/stream", "/fly/", "/runs", "/runs/3",
                            "/functions", "/functions/upper"}) {
    EXPECT_EQ(Send("GET", route).status, 200) << route;
  }
  for (std::string other : {"/nonexistent", "/tasks/abc", "/tasks/12/", "/runs/1/x", "/metrics/x",
                            "/playground/missing"}) {
    auto a = Send("GET", other, "", {}, {{"If-None-Match", page.Header("ETag")}});
    EXPECT_EQ(a.status, 404) << other;
    EXPECT_EQ(a.raw, page.raw) << other;
    EXPECT_TRUE(a.Header("ETag").empty()) << other;
  }
  auto again = Send("GET", "/", "", {}, {{"If-None-Match", page.Header("ETag")}});
  EXPECT_EQ(again.status, 304);
  // A HEAD is answered as the GET (the server sends its head alone, with the GET's length).
  auto head = Send("HEAD", "/");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.raw, page.raw);
  EXPECT_EQ(Send("POST", "/").status, 401);
}

TEST_F(DashboardTest, FeedUpgradeNeedsCredentialsAndThePlannersOwnOrigin) {
  Reset("api-secret");
  net::HttpRequest req;
  req.method = "GET";
  req.path = "/api/v1/events";
  auto refused = AcceptFeed(dash_, *ctx_, req);
  ASSERT_TRUE(std::holds_alternative<net::HttpResponse>(refused));
  EXPECT_EQ(std::get<net::HttpResponse>(refused).status, 401);
  req.headers = {{"Authorization", "Bearer api-secret"},
                 {"Host", "127.0.0.1:3000"},
                 {"Origin", "http://evil.example"}};
  auto foreign = AcceptFeed(dash_, *ctx_, req);
  ASSERT_TRUE(std::holds_alternative<net::HttpResponse>(foreign));
  EXPECT_EQ(std::get<net::HttpResponse>(foreign).status, 403);
  req.headers.back().second = "http://127.0.0.1:3000";
  EXPECT_TRUE(std::holds_alternative<net::WsHandlers>(AcceptFeed(dash_, *ctx_, req)));
}

TEST_F(DashboardTest, AnotherSitesPageCannotSubmitOrActWithoutAToken) {
  // A planner without a token on loopback: any program may submit, but a page on another site
  // open in the same browser may not (a form or a no-cors fetch would run its command).
  net::Headers evil{{"Host", "127.0.0.1:3000"}, {"Origin", "http://evil.example"}};
  auto refused =
      Send("POST", "/api/v1/tasks", R"({"op": "add", "args": {"a": 1, "b": 2}})", {}, evil);
  EXPECT_EQ(refused.status, 403) << refused.raw;
  EXPECT_EQ(core_.next_id(), 1u);  // nothing submitted
  AddWorker("w1", {"add"});
  EXPECT_EQ(Send("POST", "/api/v1/workers/w1/drain", "", {}, evil).status, 403);
  EXPECT_EQ(
      Send("POST", "/register", R"({"url": "http://evil.example", "id": "w9"})", {}, evil).status,
      403);
  // The planner's own page, and a program with no Origin.
  net::Headers own{{"Host", "127.0.0.1:3000"}, {"Origin", "http://127.0.0.1:3000"}};
  EXPECT_EQ(
      Send("POST", "/api/v1/tasks", R"({"op": "add", "args": {"a": 1, "b": 2}})", {}, own).status,
      201);
  EXPECT_EQ(Send("POST", "/api/v1/tasks", R"({"op": "add", "args": {"a": 1, "b": 2}})").status,
            201);
  // A page under another name that resolves here (DNS rebinding) reads nothing either.
  net::Headers rebound{{"Host", "evil.example:3000"}, {"Sec-Fetch-Site", "same-origin"}};
  EXPECT_EQ(Send("GET", "/api/v1/tasks", "", {}, rebound).status, 403);
  EXPECT_EQ(Send("GET", "/", "", {}, rebound).status, 403);
}

}  // namespace
}  // namespace volo::planner
