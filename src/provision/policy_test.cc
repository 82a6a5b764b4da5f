#include "provision/policy.h"

#include <gtest/gtest.h>

#include <map>

namespace volo::provision {
namespace {

using namespace std::chrono_literals;

class PolicyTest : public ::testing::Test {
 protected:
  PolicyTest() {
    options_.backend = "local";
    options_.max = 2;
    options_.idle = 60s;
    options_.register_deadline = 30s;
    options_.backoff = 1s;
    options_.max_backoff = 8s;
    options_.slots = 1;
    options_.functions = 4;
  }
  Policy& policy() {
    if (!policy_) policy_ = std::make_unique<Policy>(clock_, options_);
    return *policy_;
  }
  // One round with what the planner "sees" in seen_ (absent: not registered, not busy).
  std::vector<Action> Round(const Demand& d) {
    return policy().Decide(d, [this](const std::string& id) {
      auto it = seen_.find(id);
      return it == seen_.end() ? Observed{} : it->second;
    });
  }
  static std::vector<std::string> Ids(const std::vector<Action>& actions, Action::Kind kind) {
    std::vector<std::string> out;
    for (const auto& a : actions) {
      if (a.kind == kind) out.push_back(a.request.id);
    }
    return out;
  }
  static std::vector<std::string> Starts(const std::vector<Action>& a) {
    return Ids(a, Action::Kind::kStart);
  }
  static std::vector<std::string> Stops(const std::vector<Action>& a) {
    return Ids(a, Action::Kind::kStop);
  }
  static Demand Tasks(std::string op, size_t n) {
    Demand d;
    d.tasks[std::move(op)] = n;
    return d;
  }

  FakeClock clock_;
  ProvisionOptions options_;
  std::unique_ptr<Policy> policy_;
  std::map<std::string, Observed> seen_;
};

TEST_F(PolicyTest, NothingWaitsNothingStarts) {
  EXPECT_TRUE(Round({}).empty());
  EXPECT_TRUE(Round(Tasks("sleep", 0)).empty());
  EXPECT_EQ(policy().count(), 0);
}

TEST_F(PolicyTest, StartsOneWorkerPerSlotsOfQueuedTasksUpToMax) {
  options_.max = 3;
  options_.slots = 2;
  auto a = Round(Tasks("sleep", 3));  // two workers of 2 slots hold 3 tasks
  EXPECT_EQ(Starts(a), (std::vector<std::string>{"prov-1", "prov-2"}));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].request.ops, std::vector<std::string>{"sleep"});
  EXPECT_EQ(a[0].request.slots, 2);
  EXPECT_EQ(a[0].request.functions, 0);  // no exec: no function instances
  EXPECT_NE(a[0].reason.find("3 queued task(s) of sleep"), std::string::npos) << a[0].reason;
  // A burst far beyond MAX starts only up to MAX.
  auto b = Round(Tasks("sleep", 1000));
  EXPECT_EQ(Starts(b), std::vector<std::string>{"prov-3"});
  EXPECT_TRUE(Round(Tasks("sleep", 1000)).empty());
  EXPECT_EQ(policy().count(), 3);
}

TEST_F(PolicyTest, DoesNotStartAgainForTheSameWaitWhileOneIsStarting) {
  options_.max = 5;
  EXPECT_EQ(Starts(Round(Tasks("echo", 1))).size(), 1u);
  clock_.Advance(1s);
  // Still starting: the same one task waits, nothing more starts.
  EXPECT_TRUE(Round(Tasks("echo", 1)).empty());
  // More waits: only the difference starts.
  EXPECT_EQ(Starts(Round(Tasks("echo", 3))).size(), 2u);
  EXPECT_EQ(policy().starting(), 3);
}

TEST_F(PolicyTest, OpsAreWhatTheWaitingWorkNeedsAndFunctionsBringExec) {
  Demand d;
  d.tasks["sleep"] = 1;
  d.tasks["fly"] = 1;
  d.instances = 1;
  auto a = Round(d);
  ASSERT_EQ(a.size(), 2u);  // 2 tasks at 1 slot each; the instance fits on either worker
  for (const Action& s : a) {
    EXPECT_EQ(s.request.ops, (std::vector<std::string>{"exec", "fly", "sleep"}));
    EXPECT_EQ(s.request.functions, 4);
  }
}

TEST_F(PolicyTest, FunctionInstancesNeedWorkersAtTheirCapacity) {
  options_.max = 10;
  Demand d;
  d.instances = 9;  // 4 per worker: 3 workers
  auto a = Round(d);
  EXPECT_EQ(Starts(a).size(), 3u);
  EXPECT_EQ(a[0].request.ops, std::vector<std::string>{"exec"});
  EXPECT_NE(a[0].reason.find("9 function instance(s)"), std::string::npos) << a[0].reason;
}

TEST_F(PolicyTest, IdleRunningWorkersStopAfterTheIdleTimeBusyOnesStay) {
  Round(Tasks("sleep", 2));
  seen_["prov-1"] = {.registered = true, .busy = true};
  seen_["prov-2"] = {.registered = true, .busy = false};
  Round({});
  EXPECT_EQ(policy().state("prov-1"), Policy::State::kRunning);
  clock_.Advance(59s);
  EXPECT_TRUE(Round({}).empty());
  seen_["prov-1"].busy = false;  // prov-1 was last seen busy at 59 s: idle from there
  clock_.Advance(1s);
  auto a = Round({});
  EXPECT_EQ(Stops(a), std::vector<std::string>{"prov-2"});
  EXPECT_EQ(a[0].reason, "idle for 60 s");
  EXPECT_EQ(policy().state("prov-2"), Policy::State::kStopping);
  clock_.Advance(58s);
  EXPECT_TRUE(Round({}).empty());
  clock_.Advance(1s);
  EXPECT_EQ(Stops(Round({})), std::vector<std::string>{"prov-1"});
  // Stopping ones are not stopped twice, and count against MAX until they have ended.
  EXPECT_TRUE(Round(Tasks("sleep", 5)).empty());
  EXPECT_EQ(policy().Exited("prov-2"), "stopped");
  // The lowest free id again.
  EXPECT_EQ(Starts(Round(Tasks("sleep", 5))), std::vector<std::string>{"prov-2"});
}

TEST_F(PolicyTest, AWorkerThatDoesNotRegisterIsStoppedAndStartsBackOff) {
  options_.max = 1;
  EXPECT_EQ(Starts(Round(Tasks("add", 1))).size(), 1u);
  clock_.Advance(29s);
  EXPECT_TRUE(Round(Tasks("add", 1)).empty());
  clock_.Advance(1s);
  auto a = Round(Tasks("add", 1));
  EXPECT_EQ(Stops(a), std::vector<std::string>{"prov-1"});
  EXPECT_EQ(a[0].reason, "it did not register within 30 s");
  EXPECT_EQ(policy().failures(), 1);
  EXPECT_EQ(policy().Exited("prov-1"), "stopped");
  // Backoff: 1 s, then 2 s, 4 s, 8 s, 8 s (the cap).
  EXPECT_TRUE(Round(Tasks("add", 1)).empty());
  clock_.Advance(1s);
  EXPECT_EQ(Starts(Round(Tasks("add", 1))), std::vector<std::string>{"prov-1"});
  // This one's process ends at once (a bad binary, a refused registration): a failure too.
  EXPECT_EQ(policy().Exited("prov-1"), "ended before registering");
  EXPECT_EQ(policy().failures(), 2);
  clock_.Advance(1999ms);
  EXPECT_TRUE(Round(Tasks("add", 1)).empty());
  clock_.Advance(1ms);
  EXPECT_EQ(Starts(Round(Tasks("add", 1))), std::vector<std::string>{"prov-1"});
  policy().StartFailed("prov-1");
  EXPECT_EQ(policy().failures(), 3);
  EXPECT_EQ(policy().count(), 0);
  clock_.Advance(3s);
  EXPECT_TRUE(Round(Tasks("add", 1)).empty());
  clock_.Advance(1s);
  EXPECT_EQ(Starts(Round(Tasks("add", 1))), std::vector<std::string>{"prov-1"});
  policy().StartFailed("prov-1");
  clock_.Advance(8s);
  EXPECT_EQ(Starts(Round(Tasks("add", 1))), std::vector<std::string>{"prov-1"});
  policy().StartFailed("prov-1");
  clock_.Advance(8s);  // capped at 8 s, not 16
  EXPECT_EQ(Starts(Round(Tasks("add", 1))), std::vector<std::string>{"prov-1"});
  // One that registers resets the count.
  seen_["prov-1"] = {.registered = true, .busy = true};
  Round({});
  EXPECT_EQ(policy().failures(), 0);
  EXPECT_EQ(policy().state("prov-1"), Policy::State::kRunning);
}

TEST_F(PolicyTest, ADeadWorkerIsReplacedOnlyWhileWorkWaits) {
  options_.max = 1;
  Round(Tasks("sleep", 1));
  seen_["prov-1"] = {.registered = true, .busy = true};
  Round({});
  EXPECT_EQ(policy().Exited("prov-1"), "ended on its own");
  EXPECT_EQ(policy().failures(), 0);  // it had registered: no backoff
  // Nothing waits any more: no replacement.
  EXPECT_TRUE(Round({}).empty());
  // Its task went back to the queue: replaced at once.
  EXPECT_EQ(Starts(Round(Tasks("sleep", 1))), std::vector<std::string>{"prov-1"});
}

TEST_F(PolicyTest, OneThatRegisteredBetweenRoundsAndDiedIsNoFailure) {
  Round(Tasks("sleep", 1));
  EXPECT_EQ(policy().Exited("prov-1", /*registered=*/true), "ended on its own");
  EXPECT_EQ(policy().failures(), 0);
  EXPECT_EQ(Starts(Round(Tasks("sleep", 1))), std::vector<std::string>{"prov-1"});
}

TEST_F(PolicyTest, WorkersNotStartedHereAreNeverStopped) {
  seen_["w1"] = {.registered = true, .busy = false};
  clock_.Advance(1h);
  EXPECT_TRUE(Round({}).empty());
  EXPECT_EQ(policy().Exited("w1"), "not ours");
}

TEST(ParseTest, ProvisionSpecs) {
  ProvisionOptions o;
  EXPECT_TRUE(ParseProvisionSpec("local:3", o).ok());
  EXPECT_EQ(o.backend, "local");
  EXPECT_EQ(o.max, 3);
  for (const char* bad :
       {"foo:3", "local:0", "local:-1", "local", "local:", "local:2x", "local:1001", ":3"}) {
    Status s = ParseProvisionSpec(bad, o);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find("--provision " + std::string(bad)), std::string::npos)
        << s.message();
  }
  EXPECT_NE(ParseProvisionSpec("foo:3", o).message().find("unknown backend 'foo'"),
            std::string::npos);
  EXPECT_NE(ParseProvisionSpec("local:0", o).message().find("from 1 to 1000"), std::string::npos);
}

TEST(ParseTest, Durations) {
  EXPECT_EQ(*ParseDuration("60"), Nanos(60s));
  EXPECT_EQ(*ParseDuration("1.5"), Nanos(1500ms));
  EXPECT_EQ(*ParseDuration("500ms"), Nanos(500ms));
  EXPECT_EQ(*ParseDuration("90s"), Nanos(90s));
  EXPECT_EQ(*ParseDuration("2m"), Nanos(120s));
  EXPECT_EQ(*ParseDuration("1h"), Nanos(3600s));
  for (const char* bad : {"", "0", "-1", "s", "5x", "1e400", "ten", "5 s"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace volo::provision
