#include "planner/functions.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <map>

#include "planner/links.h"

namespace volo::planner {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

class FakeTransport : public FunctionTransport {
 public:
  void Start(WorkerIndex w, const wire::FnStart& m) override { starts.push_back({w, m}); }
  void Call(WorkerIndex w, const wire::FnCall& m) override { calls.push_back({w, m}); }
  void Stop(WorkerIndex w, uint64_t instance) override { stops.push_back({w, instance}); }
  std::vector<std::pair<WorkerIndex, wire::FnStart>> starts;
  std::vector<std::pair<WorkerIndex, wire::FnCall>> calls;
  std::vector<std::pair<WorkerIndex, uint64_t>> stops;
};

struct Answers {
  std::vector<net::HttpResponse> got;
  FunctionService::Reply Sink() {
    return [this](net::HttpResponse r) { got.push_back(std::move(r)); };
  }
};

std::string Header(const net::HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

FunctionSpec Spec(std::string name = "echo") {
  FunctionSpec s;
  s.name = std::move(name);
  s.argv = {"cat"};
  s.max = 2;
  s.idle = 10;
  s.timeout = 5;
  return s;
}

wire::FnAnswer Ok(const wire::FnCall& c, std::string body) {
  wire::FnAnswer a;
  a.call = c.call;
  a.instance = c.instance;
  a.body = std::move(body);
  a.wall = 0.01;
  a.cpu = 0.005;
  a.max_rss = 1000;
  return a;
}

class FunctionServiceTest : public ::testing::Test {
 protected:
  FakeClock clock;
  FakeTransport t;
  FunctionService svc{clock, t};
  const WorkerIndex w0{0};
  const WorkerIndex w1{1};
};

// ready, starting, inflight, queued, min, max, concurrency.
int Start(int ready, int starting, int inflight, int queued, int min, int max, int conc = 1) {
  ScaleInput in;
  in.ready = ready;
  in.starting = starting;
  in.inflight = inflight;
  in.queued = queued;
  in.min = min;
  in.max = max;
  in.concurrency = conc;
  return InstancesToStart(in);
}

TEST(ScaleTest, StartsEnoughForDemandWithinMinAndMax) {
  EXPECT_EQ(Start(0, 0, 0, 1, 0, 5), 1);
  EXPECT_EQ(Start(0, 0, 0, 7, 0, 5), 5);
  EXPECT_EQ(Start(0, 0, 0, 7, 0, 5, 4), 2);
  EXPECT_EQ(Start(0, 1, 0, 1, 0, 5), 0);
  EXPECT_EQ(Start(1, 0, 1, 1, 0, 5), 1);
  EXPECT_EQ(Start(0, 0, 0, 0, 2, 5), 2);
  EXPECT_EQ(Start(3, 0, 0, 0, 0, 5), 0);  // stopping is idle's job
  EXPECT_EQ(Start(5, 0, 5, 9, 0, 5), 0);
}

TEST(ScaleTest, IdleStopsKeepMin) {
  EXPECT_TRUE(StopWhenIdle(10, 10, 1, 0));
  EXPECT_FALSE(StopWhenIdle(9.9, 10, 1, 0));
  EXPECT_FALSE(StopWhenIdle(100, 10, 1, 1));
  EXPECT_TRUE(StopWhenIdle(100, 10, 2, 1));
}

TEST(ScaleTest, RetryAfterIsBounded) {
  EXPECT_EQ(RetryAfterSeconds(0, 1, 0), 1);
  EXPECT_EQ(RetryAfterSeconds(10, 2, 1), 5);
  EXPECT_EQ(RetryAfterSeconds(1000000, 1, 10), 60);
}

TEST_F(FunctionServiceTest, ColdCallIsHeldUntilReadyThenWarmCallsGoStraightThrough) {
  svc.AddWorker(w0, "w0", 8);
  svc.Deploy(Spec());
  EXPECT_TRUE(t.starts.empty());  // min 0: nothing runs without calls
  Answers a;
  svc.Invoke("echo", "hello", "api", a.Sink());
  ASSERT_EQ(t.starts.size(), 1u);
  EXPECT_EQ(t.starts[0].second.argv, std::vector<std::string>{"cat"});
  EXPECT_TRUE(t.calls.empty());
  EXPECT_TRUE(a.got.empty());
  EXPECT_EQ(svc.queued("echo"), 1u);

  svc.OnReady(w0, {t.starts[0].second.instance, 3});
  ASSERT_EQ(t.calls.size(), 1u);
  EXPECT_EQ(t.calls[0].second.body, "hello");
  clock.Advance(20ms);
  svc.OnAnswer(w0, Ok(t.calls[0].second, "hello"));
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].status, 200);
  EXPECT_EQ(a.got[0].body, "hello");
  EXPECT_EQ(Header(a.got[0], "X-Volo-Cold"), "true");

  svc.Invoke("echo", "again", "api", a.Sink());
  EXPECT_EQ(t.starts.size(), 1u);
  ASSERT_EQ(t.calls.size(), 2u);
  svc.OnAnswer(w0, Ok(t.calls[1].second, "again"));
  ASSERT_EQ(a.got.size(), 2u);
  EXPECT_EQ(Header(a.got[1], "X-Volo-Cold"), "false");
}

// Async calls: an id at once, the answer kept once done (with the request's parts passed on),
// dropped an hour later; calls that cannot be taken are answered instead of given an id.
TEST_F(FunctionServiceTest, AsyncAnswersAreKeptThenDropped) {
  svc.AddWorker(w0, "w0", 8);
  svc.Deploy(Spec());
  std::string id;
  wire::FnCall req;
  req.body = "hi";
  req.method = "PUT";
  req.path = "/a";
  req.query = "x=1";
  req.headers = {{"X-Color", "blue"}};
  svc.InvokeAsync("echo", req, "api", [&](Result<std::string> r, net::HttpResponse) {
    ASSERT_TRUE(r.ok());
    id = *r;
  });
  ASSERT_EQ(id.size(), 32u);
  ASSERT_TRUE(svc.AsyncResult("echo", id).has_value());
  EXPECT_FALSE(svc.AsyncResult("echo", id)->done);
  EXPECT_FALSE(svc.AsyncResult("other", id).has_value());
  ASSERT_EQ(t.starts.size(), 1u);
  svc.OnReady(w0, {t.starts[0].second.instance, 3});
  ASSERT_EQ(t.calls.size(), 1u);
  EXPECT_EQ(t.calls[0].second.method, "PUT");
  EXPECT_EQ(t.calls[0].second.path, "/a");
  EXPECT_EQ(t.calls[0].second.query, "x=1");
  EXPECT_EQ(t.calls[0].second.headers, req.headers);
  svc.OnAnswer(w0, Ok(t.calls[0].second, "HI"));
  auto done = svc.AsyncResult("echo", id);
  ASSERT_TRUE(done && done->done);
  EXPECT_EQ(done->response.status, 200);
  EXPECT_EQ(done->response.body, "HI");
  clock.Advance(std::chrono::seconds(3599));
  svc.Tick();
  EXPECT_TRUE(svc.AsyncResult("echo", id).has_value());
  clock.Advance(std::chrono::seconds(2));
  svc.Tick();
  EXPECT_FALSE(svc.AsyncResult("echo", id).has_value());

  int status = 0;
  svc.InvokeAsync("nope", {}, "api", [&](Result<std::string> r, net::HttpResponse now) {
    EXPECT_FALSE(r.ok());
    status = now.status;
  });
  EXPECT_EQ(status, 404);
}

TEST_F(FunctionServiceTest, LogRingDropsTheOldestWholeLines) {
  auto rev = svc.Deploy(Spec()).revision;
  svc.set_log_limit(300);
  svc.OnLog(w0, {7, "echo", rev, "line one\nline two\n"});
  svc.OnLog(w0, {7, "nothere", rev, "dropped: no such function\n"});
  auto first = svc.Logs("echo", 0, 1 << 20);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->start, 0u);
  EXPECT_NE(first->text.find(" " + rev.substr(0, 12) + " i7 | line one\n"), std::string::npos)
      << first->text;
  const uint64_t size_two = first->end;
  for (int i = 0; i < 20; ++i) svc.OnLog(w0, {8, "echo", rev, "more " + std::to_string(i)});
  auto all = svc.Logs("echo", 0, 1 << 20);
  ASSERT_TRUE(all.ok());
  EXPECT_LE(all->text.size(), 300u);
  EXPECT_GT(all->start, size_two);  // the first lines went
  EXPECT_EQ(all->text.find("line one"), std::string::npos);
  EXPECT_NE(all->text.find("i8 | more 19\n"), std::string::npos) << all->text;
  // It starts with a whole line: its time.
  ASSERT_FALSE(all->text.empty());
  EXPECT_TRUE(all->text[0] >= '0' && all->text[0] <= '9') << all->text;
  EXPECT_EQ(all->text[4], '-') << all->text;
  EXPECT_EQ(all->end, all->start + all->text.size());
  // An offset inside what was dropped starts at the oldest kept; one beyond the end is refused.
  EXPECT_EQ(svc.Logs("echo", 1, 1 << 20)->text, all->text);
  EXPECT_EQ(svc.Logs("echo", all->end, 1 << 20)->text, "");
  EXPECT_EQ(svc.Logs("echo", all->end + 1, 1 << 20).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(svc.Logs("nothere", 0, 1).status().code(), StatusCode::kNotFound);
}

TEST_F(FunctionServiceTest, UnknownFunctionIs404) {
  Answers a;
  svc.Invoke("nope", "", "api", a.Sink());
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].status, 404);
}

TEST_F(FunctionServiceTest, IdleInstanceStopsAndTheNextCallStartsOneAgain) {
  svc.AddWorker(w0, "w0", 8);
  svc.Deploy(Spec());
  Answers a;
  svc.Invoke("echo", "x", "api", a.Sink());
  svc.OnReady(w0, {t.starts[0].second.instance, 1});
  svc.OnAnswer(w0, Ok(t.calls[0].second, "x"));
  clock.Advance(9s);
  svc.Tick();
  EXPECT_TRUE(t.stops.empty());
  clock.Advance(1s);
  svc.Tick();
  ASSERT_EQ(t.stops.size(), 1u);
  EXPECT_EQ(t.stops[0].second, t.starts[0].second.instance);
  EXPECT_EQ(svc.instances("echo"), 0u);

  svc.Invoke("echo", "y", "api", a.Sink());
  ASSERT_EQ(t.starts.size(), 2u);
  EXPECT_NE(t.starts[1].second.instance, t.starts[0].second.instance);
}

TEST_F(FunctionServiceTest, MinKeepsInstancesWarmWithoutCalls) {
  svc.AddWorker(w0, "w0", 8);
  FunctionSpec s = Spec();
  s.min = 1;
  svc.Deploy(s);
  ASSERT_EQ(t.starts.size(), 1u);
  svc.OnReady(w0, {t.starts[0].second.instance, 1});
  clock.Advance(1h);
  svc.Tick();
  EXPECT_TRUE(t.stops.empty());
  EXPECT_EQ(svc.instances("echo"), 1u);
  Answers a;
  svc.Invoke("echo", "x", "api", a.Sink());
  svc.OnAnswer(w0, Ok(t.calls[0].second, "x"));
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(Header(a.got[0], "X-Volo-Cold"), "false");
}

TEST_F(FunctionServiceTest, FullQueueAnswers429WithRetryAfter) {
  svc.AddWorker(w0, "w0", 8);
  FunctionSpec s = Spec();
  s.max = 1;
  s.queue = 2;
  svc.Deploy(s);
  Answers a;
  svc.Invoke("echo", "1", "api", a.Sink());
  svc.OnReady(w0, {t.starts[0].second.instance, 1});
  ASSERT_EQ(t.calls.size(), 1u);  // the instance is busy with call 1
  svc.Invoke("echo", "2", "api", a.Sink());
  svc.Invoke("echo", "3", "api", a.Sink());
  EXPECT_EQ(svc.queued("echo"), 2u);
  EXPECT_TRUE(a.got.empty());
  svc.Invoke("echo", "4", "api", a.Sink());
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].status, 429);
  EXPECT_FALSE(Header(a.got[0], "Retry-After").empty());
  EXPECT_EQ(t.starts.size(), 1u);  // max 1
  // The held calls go one at a time as the instance frees.
  svc.OnAnswer(w0, Ok(t.calls[0].second, "1"));
  ASSERT_EQ(t.calls.size(), 2u);
  EXPECT_EQ(t.calls[1].second.body, "2");
}

TEST_F(FunctionServiceTest, ConcurrencyLetsOneInstanceTakeSeveralCalls) {
  svc.AddWorker(w0, "w0", 8);
  FunctionSpec s = Spec();
  s.max = 1;
  s.concurrency = 3;
  svc.Deploy(s);
  Answers a;
  for (int i = 0; i < 4; ++i) svc.Invoke("echo", std::to_string(i), "api", a.Sink());
  ASSERT_EQ(t.starts.size(), 1u);
  svc.OnReady(w0, {t.starts[0].second.instance, 1});
  EXPECT_EQ(t.calls.size(), 3u);
  EXPECT_EQ(svc.queued("echo"), 1u);
}

TEST(ScaleTest, OnlyAFlyFunctionsShortCallsWaitAtTheInstance) {
  EXPECT_EQ(PrefetchCalls("fly", 2, 0.0001, 100), 2);
  EXPECT_EQ(PrefetchCalls("fly", 3, 0.0001, kPrefetchAfterCalls), 3);
  EXPECT_EQ(PrefetchCalls("fly", 2, 0.0001, kPrefetchAfterCalls - 1), 0);  // not known yet
  EXPECT_EQ(PrefetchCalls("fly", 2, kPrefetchBelowSeconds, 100), 0);       // too long
  EXPECT_EQ(PrefetchCalls("cmd", 2, 0.0001, 100), 0);
  EXPECT_EQ(PrefetchCalls("http", 2, 0.0001, 100), 0);
}

TEST_F(FunctionServiceTest, AFlyInstanceWithShortCallsTakesAsManyMoreAsItRuns) {
  svc.AddWorker(w0, "w0", 8);
  FunctionSpec s = Spec("quick");
  s.runner = "fly";
  s.argv.clear();
  s.fly_file = "h.fly";
  s.fly_source = "func handle(b) {\n  return b\n}\n";
  s.fly_function = "handle";
  s.max = 1;
  s.concurrency = 2;
  svc.Deploy(s);
  Answers a;
  auto answer_all = [&](double wall) {
    while (t.calls.size() > a.got.size()) {
      wire::FnAnswer ans = Ok(t.calls[a.got.size()].second, "ok");
      ans.wall = wall;
      svc.OnAnswer(w0, ans);
    }
  };
  // Until enough calls were answered, no more than the concurrency at once.
  for (uint64_t i = 0; i < kPrefetchAfterCalls - 1; ++i) {
    svc.Invoke("quick", "x", "api", a.Sink());
    if (i == 0) svc.OnReady(w0, {t.starts[0].second.instance, 1});
    answer_all(0.0001);
  }
  for (int i = 0; i < 6; ++i) svc.Invoke("quick", "x", "api", a.Sink());
  EXPECT_EQ(t.calls.size() - a.got.size(), 2u);
  answer_all(0.0001);  // kPrefetchAfterCalls and more answered, all short
  // Now twice the concurrency: two run, two wait at the instance.
  for (int i = 0; i < 6; ++i) svc.Invoke("quick", "x", "api", a.Sink());
  EXPECT_EQ(t.calls.size() - a.got.size(), 4u);
  EXPECT_EQ(svc.queued("quick"), 2u);
  // Calls that became long: back to the concurrency (the queue fills again).
  answer_all(0.05);
  for (int i = 0; i < 6; ++i) svc.Invoke("quick", "x", "api", a.Sink());
  EXPECT_EQ(t.calls.size() - a.got.size(), 2u);
  for (const auto& r : a.got) EXPECT_EQ(r.status, 200);
}

TEST_F(FunctionServiceTest, CrashedCallIs502AndAnEndedInstanceIsReplaced) {
  svc.AddWorker(w0, "w0", 8);
  FunctionSpec s = Spec();
  s.min = 1;
  svc.Deploy(s);
  svc.OnReady(w0, {t.starts[0].second.instance, 1});
  Answers a;
  svc.Invoke("echo", "x", "api", a.Sink());
  wire::FnAnswer crash = Ok(t.calls[0].second, "");
  crash.ok = false;
  crash.crashed = true;
  crash.error = "killed by SIGSEGV";
  svc.OnAnswer(w0, crash);
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].status, 502);
  EXPECT_NE(a.got[0].body.find("killed by SIGSEGV"), std::string::npos) << a.got[0].body;

  // The instance itself ends with a call in flight: the call is 502, a new instance starts.
  svc.Invoke("echo", "y", "api", a.Sink());
  ASSERT_EQ(t.calls.size(), 2u);
  svc.OnExited(w0, {t.starts[0].second.instance, "killed by SIGKILL"});
  ASSERT_EQ(a.got.size(), 2u);
  EXPECT_EQ(a.got[1].status, 502);
  EXPECT_NE(a.got[1].body.find("killed by SIGKILL"), std::string::npos);
  EXPECT_EQ(t.starts.size(), 2u);
}

TEST_F(FunctionServiceTest, LostWorkerFailsItsCallsAndInstancesMoveOn) {
  svc.AddWorker(w0, "w0", 8);
  svc.AddWorker(w1, "w1", 1);
  svc.Deploy(Spec());
  Answers a;
  svc.Invoke("echo", "x", "api", a.Sink());
  ASSERT_EQ(t.starts.size(), 1u);
  EXPECT_EQ(t.starts[0].first, w0);  // the most room
  svc.OnReady(w0, {t.starts[0].second.instance, 1});
  svc.Invoke("echo", "y", "api", a.Sink());  // a second instance for the second call
  svc.RemoveWorker(w0);
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].status, 502);
  EXPECT_NE(a.got[0].body.find("w0"), std::string::npos);
}

TEST_F(FunctionServiceTest, HeldCallsTimeOutWithoutWorkers) {
  svc.Deploy(Spec());
  Answers a;
  svc.Invoke("echo", "x", "api", a.Sink());
  clock.Advance(4s);
  svc.Tick();
  EXPECT_TRUE(a.got.empty());
  clock.Advance(1s);
  svc.Tick();
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].status, 504);
  EXPECT_NE(a.got[0].body.find("no worker"), std::string::npos) << a.got[0].body;
}

TEST_F(FunctionServiceTest, InstanceThatCannotStartFailsHeldCalls) {
  svc.AddWorker(w0, "w0", 8);
  svc.Deploy(Spec());
  Answers a;
  svc.Invoke("echo", "x", "api", a.Sink());
  svc.OnExited(w0, {t.starts[0].second.instance, "the planner has no bundle abc"});
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].status, 502);
  EXPECT_NE(a.got[0].body.find("no bundle"), std::string::npos);
}

TEST_F(FunctionServiceTest, NewRevisionTakesCallsOnceReadyAndOldOneStops) {
  svc.AddWorker(w0, "w0", 8);
  auto first = svc.Deploy(Spec());
  Answers a;
  svc.Invoke("echo", "1", "api", a.Sink());
  uint64_t old_instance = t.starts[0].second.instance;
  svc.OnReady(w0, {old_instance, 1});
  ASSERT_EQ(t.calls.size(), 1u);

  FunctionSpec s2 = Spec();
  s2.argv = {"tac"};
  auto second = svc.Deploy(s2);
  EXPECT_TRUE(second.changed);
  ASSERT_EQ(t.starts.size(), 2u);  // the new revision starts at once, to replace the old
  EXPECT_NE(second.revision, first.revision);
  // Until it is ready, new calls go to the old revision, and the view says so.
  auto serving = [&] {
    return std::string(json::parse(*svc.GetJson("echo")).at("serving").as_string());
  };
  EXPECT_EQ(serving(), first.revision);
  EXPECT_FALSE(svc.Deploy(s2).changed);
  // A call now: the new revision is not ready, the old instance is busy (concurrency 1), so
  // it waits, and the new revision starts.
  svc.Invoke("echo", "2", "api", a.Sink());
  ASSERT_EQ(t.starts.size(), 2u);
  EXPECT_EQ(t.starts[1].second.argv, std::vector<std::string>{"tac"});
  // The old call finishes; the old instance, free again, takes the held call (no waiting for
  // the new revision).
  svc.OnAnswer(w0, Ok(t.calls[0].second, "1"));
  ASSERT_EQ(t.calls.size(), 2u);
  EXPECT_EQ(t.calls[1].second.instance, old_instance);
  // The new revision is ready: the old instance stops once its call is done.
  uint64_t new_instance = t.starts[1].second.instance;
  svc.OnReady(w0, {new_instance, 1});
  EXPECT_EQ(serving(), second.revision);
  EXPECT_TRUE(t.stops.empty());
  svc.OnAnswer(w0, Ok(t.calls[1].second, "2"));
  ASSERT_EQ(t.stops.size(), 1u);
  EXPECT_EQ(t.stops[0].second, old_instance);
  svc.Invoke("echo", "3", "api", a.Sink());
  ASSERT_EQ(t.calls.size(), 3u);
  EXPECT_EQ(t.calls[2].second.instance, new_instance);
  for (const auto& r : a.got) EXPECT_EQ(r.status, 200);

  auto back = svc.Rollback("echo");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, first.revision);
  // The rolled-back revision starts at once, to replace the instance now out of date.
  ASSERT_EQ(t.starts.size(), 3u);
  EXPECT_EQ(t.starts[2].second.argv, std::vector<std::string>{"cat"});
  EXPECT_EQ(t.starts[2].second.revision, first.revision);
  EXPECT_EQ(serving(), second.revision);
  svc.OnReady(w0, {t.starts[2].second.instance, 1});
  EXPECT_EQ(serving(), first.revision);
}

TEST_F(FunctionServiceTest, ALeavingWorkersInstancesFinishTheirCallsAndMoveElsewhere) {
  svc.AddWorker(w0, "w0", 8);
  svc.Deploy(Spec());
  Answers a;
  svc.Invoke("echo", "1", "api", a.Sink());
  ASSERT_EQ(t.starts.size(), 1u);
  const uint64_t first = t.starts[0].second.instance;
  svc.OnReady(w0, {first, 1});
  ASSERT_EQ(t.calls.size(), 1u);
  // w1 joins; w0 drains with the call in flight: its instance stops (the worker finishes the
  // call) and a replacement starts on w1.
  svc.AddWorker(w1, "w1", 8);
  svc.WorkerLeaving(w0);
  ASSERT_EQ(t.stops.size(), 1u);
  EXPECT_EQ(t.stops[0], std::make_pair(w0, first));
  ASSERT_EQ(t.starts.size(), 2u);
  EXPECT_EQ(t.starts[1].first, w1);
  // A new call is held until the replacement is ready, not sent to the stopping instance.
  svc.Invoke("echo", "2", "api", a.Sink());
  EXPECT_EQ(t.calls.size(), 1u);
  svc.OnAnswer(w0, Ok(t.calls[0].second, "one"));
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].status, 200);
  EXPECT_EQ(a.got[0].body, "one");
  svc.OnReady(w1, {t.starts[1].second.instance, 1});
  ASSERT_EQ(t.calls.size(), 2u);
  EXPECT_EQ(t.calls[1].first, w1);
  svc.OnAnswer(w1, Ok(t.calls[1].second, "two"));
  ASSERT_EQ(a.got.size(), 2u);
  EXPECT_EQ(a.got[1].body, "two");
  // The worker leaves: nothing of it is left to answer 502.
  svc.RemoveWorker(w0);
  EXPECT_EQ(svc.instances("echo"), 1u);
  for (const auto& r : a.got) EXPECT_EQ(r.status, 200);
}

// The provisioner's demand counts as Scale does: an instance a draining worker stops wants a
// replacement, and with no other worker to host it that replacement is unhosted.
TEST_F(FunctionServiceTest, ALeavingWorkersInstanceIsUnhostedUntilAnotherWorkerTakesIt) {
  svc.AddWorker(w0, "w0", 8);
  svc.Deploy(Spec());
  Answers a;
  svc.Invoke("echo", "1", "api", a.Sink());
  ASSERT_EQ(t.starts.size(), 1u);
  svc.OnReady(w0, {t.starts[0].second.instance, 1});
  EXPECT_EQ(svc.UnhostedInstances(), 0);
  svc.WorkerLeaving(w0);
  EXPECT_EQ(t.starts.size(), 1u);  // nowhere to start the replacement
  EXPECT_EQ(svc.UnhostedInstances(), 1);
  svc.AddWorker(w1, "w1", 8);
  ASSERT_EQ(t.starts.size(), 2u);
  EXPECT_EQ(t.starts[1].first, w1);
  EXPECT_EQ(svc.UnhostedInstances(), 0);
}

TEST_F(FunctionServiceTest, RollbackNeedsAnEarlierRevision) {
  svc.Deploy(Spec());
  auto r = svc.Rollback("echo");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(svc.Rollback("nope").status().code(), StatusCode::kNotFound);
}

TEST_F(FunctionServiceTest, UsageSumsTheCallsPerCaller) {
  svc.AddWorker(w0, "w0", 8);
  FunctionSpec s = Spec();
  s.concurrency = 10;
  svc.Deploy(s);
  Answers a;
  const double t0 = clock.Wall();
  for (int i = 0; i < 3; ++i) svc.Invoke("echo", "x", i == 2 ? "public" : "api", a.Sink());
  clock.Advance(30ms);  // the instance takes 30 ms to start
  svc.OnReady(w0, {t.starts[0].second.instance, 1});
  ASSERT_EQ(t.calls.size(), 3u);
  for (const auto& [w, c] : t.calls) svc.OnAnswer(w, Ok(c, "x"));
  auto u = svc.UsageJson("echo", t0, t0 + 1);
  ASSERT_TRUE(u.has_value());
  json::object o = json::parse(*u).as_object();
  EXPECT_EQ(o.at("calls").to_number<int>(), 3);
  EXPECT_EQ(o.at("cold").to_number<int>(), 3);
  EXPECT_NEAR(o.at("cpu_seconds").to_number<double>(), 0.015, 1e-9);
  EXPECT_EQ(o.at("callers").at("api").at("calls").to_number<int>(), 2);
  EXPECT_EQ(o.at("callers").at("public").at("calls").to_number<int>(), 1);
  auto none = svc.UsageJson("echo", t0 + 1, t0 + 2);
  EXPECT_EQ(json::parse(*none).at("calls").to_number<int>(), 0);
  const std::string m = svc.MetricsText();
  EXPECT_NE(m.find("volo_function_calls_total{function=\"echo\"} 3"), std::string::npos) << m;
  // The start: one, in the bucket up to 50 ms and not in the one up to 25 ms.
  EXPECT_NE(m.find("volo_function_start_seconds_bucket{function=\"echo\",le=\"0.025\"} 0\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("volo_function_start_seconds_bucket{function=\"echo\",le=\"0.05\"} 1\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("volo_function_start_seconds_count{function=\"echo\"} 1\n"), std::string::npos)
      << m;
  // The three calls were cold: held from their arrival for the start.
  EXPECT_NE(m.find("volo_function_duration_seconds_count{function=\"echo\",cold=\"true\"} 3\n"),
            std::string::npos)
      << m;
}

TEST_F(FunctionServiceTest, RemoveAnswersWaitingCallsAndStopsInstances) {
  svc.AddWorker(w0, "w0", 8);
  svc.Deploy(Spec());
  Answers a;
  svc.Invoke("echo", "x", "api", a.Sink());
  svc.OnReady(w0, {t.starts[0].second.instance, 1});
  ASSERT_TRUE(svc.Remove("echo").ok());
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].status, 503);
  EXPECT_EQ(t.stops.size(), 1u);
  EXPECT_FALSE(svc.Remove("echo").ok());
}

TEST_F(FunctionServiceTest, StateRecordedAndRestored) {
  std::map<std::string, std::string> stored;
  svc.SetRecorder([&](const std::string& name, const std::string& state) {
    if (state.empty()) {
      stored.erase(name);
    } else {
      stored[name] = state;
    }
  });
  auto first = svc.Deploy(Spec());
  FunctionSpec s2 = Spec();
  s2.argv = {"tac"};
  s2.is_public = true;
  svc.Deploy(s2);
  ASSERT_TRUE(svc.Rollback("echo").ok());
  svc.Deploy(Spec("gone"));
  ASSERT_TRUE(svc.Remove("gone").ok());
  ASSERT_EQ(stored.size(), 1u);

  FakeTransport t2;
  FunctionService restored(clock, t2);
  for (const auto& [name, state] : stored) ASSERT_TRUE(restored.Restore(name, state).ok());
  EXPECT_EQ(*restored.GetJson("echo"), *svc.GetJson("echo"));
  EXPECT_FALSE(restored.IsPublic("echo"));  // the rolled-back revision is current
  ASSERT_TRUE(restored.Rollback("echo").ok());
  EXPECT_TRUE(restored.IsPublic("echo"));
  restored.AddWorker(w0, "w0", 4);
  Answers a;
  restored.Invoke("echo", "x", "api", a.Sink());
  ASSERT_EQ(t2.starts.size(), 1u);
  EXPECT_EQ(t2.starts[0].second.argv, std::vector<std::string>{"tac"});
  EXPECT_NE(t2.starts[0].second.revision, first.revision);
  EXPECT_FALSE(restored.Restore("bad", "{}").ok());
}

TEST(FunctionSpecTest, TheHttpRunnerAndItsReadinessCheck) {
  auto cmd = ParseFunctionSpec("f", R"({"cmd":["x"]})");
  ASSERT_TRUE(cmd.ok());
  // A cmd function's revision id is what it was before the http runner existed.
  EXPECT_EQ(cmd->ToJson().find("ready"), std::string::npos);
  auto http = ParseFunctionSpec("f", R"({"cmd":["x"],"runner":"http"})");
  ASSERT_TRUE(http.ok()) << http.status().ToString();
  EXPECT_EQ(http->runner, "http");
  EXPECT_EQ(http->ready, "/");
  EXPECT_EQ(http->ready_timeout, 30);
  EXPECT_NE(RevisionOf(*http), RevisionOf(*cmd));
  auto custom = ParseFunctionSpec(
      "f", R"({"cmd":["x"],"runner":"http","ready":"/healthz?deep=1","ready_timeout":2})");
  ASSERT_TRUE(custom.ok()) << custom.status().ToString();
  EXPECT_EQ(custom->ready, "/healthz?deep=1");
  EXPECT_NE(RevisionOf(*custom), RevisionOf(*http));

  // The instance's start carries them to the worker.
  FakeClock clock;
  FakeTransport t;
  FunctionService svc(clock, t);
  svc.AddWorker(WorkerIndex{0}, "w", 4);
  svc.Deploy(*custom);
  Answers a;
  svc.Invoke("f", "x", "api", a.Sink());
  ASSERT_EQ(t.starts.size(), 1u);
  EXPECT_EQ(t.starts[0].second.runner, "http");
  EXPECT_EQ(t.starts[0].second.ready, "/healthz?deep=1");
  EXPECT_EQ(t.starts[0].second.ready_timeout, 2);
  // The answer's headers reach the caller, its Content-Type as the content type.
  svc.OnReady(WorkerIndex{0}, {t.starts[0].second.instance, 1});
  ASSERT_EQ(t.calls.size(), 1u);
  wire::FnAnswer ans = Ok(t.calls[0].second, "<p>hi</p>");
  ans.status = 201;
  ans.headers = {{"Content-Type", "text/html"}, {"Set-Cookie", "a=1"}};
  svc.OnAnswer(WorkerIndex{0}, ans);
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].status, 201);
  EXPECT_EQ(a.got[0].content_type, "text/html");
  EXPECT_EQ(Header(a.got[0], "Set-Cookie"), "a=1");
  EXPECT_EQ(a.got[0].body, "<p>hi</p>");
}

TEST(FunctionSpecTest, ParsesAndNamesBadFields) {
  auto ok = ParseFunctionSpec("resize", R"({"cmd":["python3","r.py"],"min":1,"max":3,
      "env":{"B":"2","A":"1"},"public":true,"idle":2.5})");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->argv.size(), 2u);
  EXPECT_EQ(ok->env[0].first, "A");  // sorted: the revision does not depend on the order
  EXPECT_TRUE(ok->is_public);
  auto same = ParseFunctionSpec("resize", R"({"cmd":["python3","r.py"],"min":1,"max":3,
      "env":{"A":"1","B":"2"},"public":true,"idle":2.5})");
  EXPECT_EQ(RevisionOf(*ok), RevisionOf(*same));

  auto err = [](std::string_view name, std::string_view body) {
    auto r = ParseFunctionSpec(name, body);
    return r.ok() ? std::string("ok") : std::string(r.status().message());
  };
  EXPECT_NE(err("Bad_Name", R"({"cmd":["x"]})").find("function name"), std::string::npos);
  EXPECT_NE(err("f", R"({})").find("cmd: required"), std::string::npos);
  EXPECT_NE(err("f", R"({"cmd":[]})").find("cmd"), std::string::npos);
  EXPECT_NE(err("f", R"({"cmd":["x"],"max":0})").find("max:"), std::string::npos);
  EXPECT_NE(err("f", R"({"cmd":["x"],"min":5,"max":2})").find("above max"), std::string::npos);
  EXPECT_NE(err("f", R"({"cmd":["x"],"timeout":0})").find("timeout"), std::string::npos);
  EXPECT_NE(err("f", R"({"cmd":["x"],"bundle":"abc"})").find("bundle"), std::string::npos);
  EXPECT_NE(err("f", R"({"cmd":["x"],"colour":1})").find("unknown field 'colour'"),
            std::string::npos);
  EXPECT_NE(err("f", R"({"cmd":["x"],"runner":"cmd2"})").find("runner"), std::string::npos);
  EXPECT_NE(err("f", R"({"cmd":["x"],"runner":"http","ready":"x"})").find("ready:"),
            std::string::npos);
  EXPECT_NE(err("f", R"({"cmd":["x"],"runner":"http","ready":"/a b"})").find("ready:"),
            std::string::npos);
  EXPECT_NE(err("f", R"({"cmd":["x"],"ready":"/x"})").find("only for the http runner"),
            std::string::npos);
  EXPECT_NE(err("f", R"({"cmd":["x"],"runner":"http","ready_timeout":0})").find("ready_timeout"),
            std::string::npos);
  EXPECT_NE(err("f", "not json").find("malformed JSON"), std::string::npos);
}

// The fly runner's spec: the program travels in it and is compiled at deploy; a spec that went
// through ToJson (the journal) parses back the same.
TEST(FunctionSpecTest, FlySpecs) {
  const std::string ok_body =
      R"({"runner":"fly","fly":{"file":"h.fly","source":"func handle(b, r) {\n  return b\n}\n",)"
      R"("function":"handle"},"concurrency":4})";
  auto ok = ParseFunctionSpec("h", ok_body);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->runner, "fly");
  EXPECT_TRUE(ok->argv.empty());
  EXPECT_EQ(ok->fly_file, "h.fly");
  EXPECT_EQ(ok->fly_function, "handle");
  auto again = ParseFunctionSpec("h", ok->ToJson());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->ToJson(), ok->ToJson());
  // Another program is another revision.
  auto other = ParseFunctionSpec(
      "h", R"({"runner":"fly","fly":{"file":"h.fly","source":"func handle(b) {\n  return b\n}\n",)"
           R"("function":"handle"},"concurrency":4})");
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_NE(RevisionOf(*ok), RevisionOf(*other));

  auto err = [](std::string_view body) {
    auto r = ParseFunctionSpec("h", body);
    return r.ok() ? std::string("ok") : std::string(r.status().message());
  };
  auto fly = [](std::string source, const std::string& function = "handle") {
    // The source as a JSON string's text: its newlines escaped.
    for (size_t at; (at = source.find('\n')) != std::string::npos;) source.replace(at, 1, "\\n");
    return R"({"runner":"fly","fly":{"file":"h.fly","source":")" + source + R"(","function":")" +
           function + R"("}})";
  };
  EXPECT_EQ(err(fly("func handle() {\n}\n")), "ok");
  EXPECT_EQ(err(fly("func handle(body {\n}\n")).rfind("h.fly:1:18: expected ')'", 0), 0u)
      << err(fly("func handle(body {\n}\n"));
  EXPECT_EQ(err(fly("func handle(b) {\n}\n", "nope")), "h.fly has no function 'nope'");
  EXPECT_NE(err(fly("func handle(a, b, c) {\n}\n")).find("takes 3 parameters"), std::string::npos);
  EXPECT_NE(err(R"({"runner":"fly"})").find("fly: required"), std::string::npos);
  EXPECT_NE(err(R"({"runner":"fly","cmd":["x"],"fly":{"file":"a","source":"func f() {\n}\n",)"
                R"("function":"f"}})")
                .find("cmd: not for the fly runner"),
            std::string::npos);
  EXPECT_NE(err(R"({"runner":"fly","fly":{"file":"a","source":"","function":"f"}})")
                .find("fly.source: required"),
            std::string::npos);
  EXPECT_NE(err(R"({"runner":"fly","fly":{"file":"a","source":"x","function":"f","y":1}})")
                .find("fly: unknown field 'y'"),
            std::string::npos);
  EXPECT_NE(err(R"({"cmd":["x"],"fly":{}})").find("fly: only for the fly runner"),
            std::string::npos);
  std::string big(kMaxFlySource + 1, ' ');
  EXPECT_NE(err(fly(big + "func handle() {\n}\n")).find("larger than 1 MiB"), std::string::npos);
}

}  // namespace
}  // namespace volo::planner

namespace volo::planner {
namespace {

// A worker's connection that keeps what is sent on it.
class RecordingConn : public net::WsConnection {
 public:
  void Send(std::string text) override { sent.push_back(std::move(text)); }
  void Close(std::string_view) override {}
  bool open() const override { return true; }
  const std::string& remote() const override { return remote_; }
  size_t queued_bytes() const override { return 0; }
  boost::asio::awaitable<bool> Read(std::string_view*) override { co_return false; }
  std::vector<std::string> sent;

 private:
  std::string remote_ = "127.0.0.1:1";
};

std::string CallMessage(uint64_t instance, uint64_t call) {
  wire::FnCall m;
  m.instance = instance;
  m.call = call;
  m.body = "b" + std::to_string(call);
  return wire::EncodeFnCall(m);
}

TEST(WsWorkerLinkTest, FunctionMessagesOfOneTurnLeaveAsOneBatchInOrder) {
  boost::asio::io_context io;
  auto conn = std::make_shared<RecordingConn>();
  auto link = std::make_shared<WsWorkerLink>(io, conn);
  link->fn_batch = true;
  link->SendFn(CallMessage(1, 10));
  link->SendFn(CallMessage(1, 11));
  link->SendFn(wire::EncodeFnStop({1}));
  EXPECT_TRUE(conn->sent.empty());  // not before the turn ends
  io.run();
  ASSERT_EQ(conn->sent.size(), 1u);
  auto m = wire::ParsePlannerMessage(conn->sent[0]);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const auto& batch = std::get<wire::FnPlannerBatch>(*m);
  ASSERT_EQ(batch.messages.size(), 3u);
  EXPECT_EQ(std::get<wire::FnCall>(batch.messages[0]).call, 10u);
  EXPECT_EQ(std::get<wire::FnCall>(batch.messages[0]).body, "b10");
  EXPECT_EQ(std::get<wire::FnCall>(batch.messages[1]).call, 11u);
  EXPECT_EQ(std::get<wire::FnStop>(batch.messages[2]).instance, 1u);

  // A lone message of a later turn goes as it is.
  link->SendFn(CallMessage(1, 12));
  io.restart();
  io.run();
  ASSERT_EQ(conn->sent.size(), 2u);
  EXPECT_EQ(conn->sent[1], CallMessage(1, 12));
}

TEST(WsWorkerLinkTest, AWorkerThatDoesNotReadBatchesGetsEachMessageAtOnce) {
  boost::asio::io_context io;
  auto conn = std::make_shared<RecordingConn>();
  auto link = std::make_shared<WsWorkerLink>(io, conn);
  link->SendFn(CallMessage(2, 20));
  link->SendFn(CallMessage(2, 21));
  ASSERT_EQ(conn->sent.size(), 2u);
  EXPECT_EQ(conn->sent[0], CallMessage(2, 20));
  EXPECT_EQ(conn->sent[1], CallMessage(2, 21));
  io.run();
  EXPECT_EQ(conn->sent.size(), 2u);
}

}  // namespace
}  // namespace volo::planner
