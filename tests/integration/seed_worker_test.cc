// A volo worker behind a planner written to the seed exercise (seed_peers.h): it joins on its own
// (POST /register), busy and refused tasks never parse as results, results carry the seed's
// fields and units, and ADD / MULT mean what they mean in the seed.

#include <cmath>
#include <fstream>
#include <sstream>

#include "net/client.h"
#include "seed_peers.h"

namespace volo::itest {
namespace {

std::string ReadLog(const Child& c) {
  std::ifstream in(c.log_path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SeedWorkerTest : public VoloTest {
 protected:
  // `volo worker` pointed at `planner_url`, its seed endpoints on a free port; returns the port.
  uint16_t StartVoloWorker(const std::string& planner_url, const std::string& id,
                           const EnvOverrides& env = {}, Child** child = nullptr,
                           const std::string& scale = "0.05") {
    const std::string port_file = TempPath(id + ".port");
    Child* c = h_.Spawn(id,
                        {"worker", "--planner", planner_url, "--id", id, "--port", "0",
                         "--port-file", port_file, "--duration-scale", scale},
                        env);
    if (c == nullptr) return 0;
    if (child) *child = c;
    auto port = h_.ReadPortFile(port_file, *c);
    EXPECT_TRUE(port.has_value()) << id << " wrote no port file";
    return port.value_or(0);
  }

  // Waits until the seed planner lists a registration with `id`.
  std::optional<SeedRegistration> WaitRegistered(const SeedPlanner& planner,
                                                 const std::string& id) {
    std::optional<SeedRegistration> found;
    PollUntil(
        [&] {
          for (const auto& r : planner.registrations())
            if (r.id == id) found = r;
          return found.has_value();
        },
        seconds(20));
    return found;
  }

  // Every result the seed planner recorded is right: the seed's fields, the seed's units.
  void ExpectSeedResults(const SeedPlanner& planner, size_t n,
                         const std::map<std::string, std::string>& op_owner = {}) {
    ASSERT_TRUE(PollUntil([&] { return planner.tasks_left() == 0; }, seconds(60)))
        << planner.tasks_left() << " tasks left";
    const auto results = planner.results();
    EXPECT_EQ(results.size(), n) << "a task was recorded twice or not at all";
    for (const auto& r : results) {
      const std::string what = r.task.op + " " + std::to_string(r.task.a) + "," +
                               std::to_string(r.task.b) + " -> HTTP " + std::to_string(r.status) +
                               " " + r.body;
      EXPECT_EQ(r.status, 200) << "a non-result parsed as a result in the seed planner: " << what;
      const json::value v = ParseJson(r.body);
      ASSERT_TRUE(v.is_object()) << what;
      const json::object& o = v.as_object();
      EXPECT_EQ(NumAt(o, "res"), SeedExpected(r.task)) << what;
      ASSERT_TRUE(o.contains("duration") && o.at("duration").is_int64())
          << "duration must be whole milliseconds: " << what;
      // --duration-scale 0.05 of the seed's ranges (add 3-7 s, mult 3-12 s), in ms.
      const int64_t ms = o.at("duration").as_int64();
      EXPECT_GE(ms, 150) << what;
      EXPECT_LE(ms, r.task.op == "add" ? 350 : 600) << what;
      EXPECT_FALSE(Str(o, "id").empty()) << "no worker id: " << what;
      if (auto it = op_owner.find(r.task.op); it != op_owner.end()) {
        EXPECT_EQ(Str(o, "id"), it->second) << what;
      }
    }
  }
};

TEST_F(SeedWorkerTest, JoinsASeedPlannerByItselfAndAnswersAsTheSeedsWorker) {
  // Ticks far shorter than a task: the planner keeps sending to the busy worker.
  SeedPlanner planner(SeedTasks(8), milliseconds(20));
  ASSERT_TRUE(planner.listening());
  Child* worker = nullptr;
  const uint16_t port = StartVoloWorker(planner.url(), "vw1", {}, &worker);
  ASSERT_NE(port, 0);

  const auto reg = WaitRegistered(planner, "vw1");
  ASSERT_TRUE(reg.has_value()) << "the volo worker did not POST /register to the seed planner";
  EXPECT_EQ(reg->url, "http://127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(planner.registrations().size(), 1u) << "registered more than once";
  EXPECT_TRUE(PollUntil(
      [&] {
        return ReadLog(*worker).find("registered with its POST /register") != std::string::npos;
      },
      seconds(10)))
      << "the worker's log does not say it registered with a seed planner";

  ASSERT_NO_FATAL_FAILURE(ExpectSeedResults(planner, 8, {}));
  for (const auto& r : planner.results())
    EXPECT_EQ(Str(ParseJson(r.body).as_object(), "id"), "vw1");

  // The busy answers: 403, plain text "Already working", never JSON.
  int busy = 0;
  for (const auto& a : planner.answers()) {
    if (a.status != 403) continue;
    ++busy;
    EXPECT_EQ(a.body, "Already working");
    EXPECT_EQ(a.content_type.rfind("text/plain", 0), 0u) << a.content_type;
    EXPECT_FALSE(a.parsed);
  }
  EXPECT_GT(busy, 0) << "the planner never found the worker busy; the test proves nothing";

  // GET / as the seed's worker: idle now.
  const Reply root = Get("http://127.0.0.1:" + std::to_string(port) + "/");
  EXPECT_EQ(root.status, 200);
  EXPECT_EQ(root.body, "ready to work");
  const Reply status = Get("http://127.0.0.1:" + std::to_string(port) + "/status");
  EXPECT_EQ(Str(status.obj(), "planner"), "seed") << status.Describe();
}

TEST_F(SeedWorkerTest, AdvertisesTheSeedsAddressVariable) {
  SeedPlanner planner({}, milliseconds(50));
  ASSERT_TRUE(planner.listening());
  ASSERT_NE(StartVoloWorker(planner.url(), "vw-addr", {{"ADDRESS", "http://worker-7:8080"}}), 0);
  const auto reg = WaitRegistered(planner, "vw-addr");
  ASSERT_TRUE(reg.has_value());
  EXPECT_EQ(reg->url, "http://worker-7:8080");
  EXPECT_TRUE(reg->authorization.empty()) << "no join token was given";
}

TEST_F(SeedWorkerTest, MultFalseAloneIsAnAddOnlyWorkerAsInTheSeed) {
  SeedPlanner planner(SeedTasks(10), milliseconds(20));
  ASSERT_TRUE(planner.listening());
  // MULT=false alone (the seed's spelling) and ADD=0 MULT=1 (volo's 1/0 spelling).
  const uint16_t adder = StartVoloWorker(planner.url(), "adder", {{"MULT", "false"}});
  const uint16_t multiplier =
      StartVoloWorker(planner.url(), "multiplier", {{"ADD", "0"}, {"MULT", "1"}});
  ASSERT_NE(adder, 0);
  ASSERT_NE(multiplier, 0);
  ASSERT_TRUE(WaitRegistered(planner, "adder").has_value());
  ASSERT_TRUE(WaitRegistered(planner, "multiplier").has_value());

  ASSERT_NO_FATAL_FAILURE(
      ExpectSeedResults(planner, 10, {{"add", "adder"}, {"mult", "multiplier"}}));

  // A refused operation is a 404 that a seed planner cannot parse as a result.
  auto r = net::HttpFetch("POST", "http://127.0.0.1:" + std::to_string(adder) + "/mult",
                          R"({"a":2,"b":3})", {{"Content-Type", "application/json"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 404);
  EXPECT_TRUE(ParseJson(r->body).is_null()) << "a 404 body that parses as JSON: " << r->body;
  const Reply ok = Post("http://127.0.0.1:" + std::to_string(multiplier) + "/mult",
                        R"({"a":6,"b":7})", seconds(30));
  EXPECT_EQ(NumAt(ok.obj(), "res"), 42) << ok.Describe();
}

TEST_F(SeedWorkerTest, BadSeedVariablesAreClearErrors) {
  const CommandResult bad = h_.RunVolo({"worker", "--port", "0"}, {{"ADD", "maybe"}}, seconds(20));
  EXPECT_EQ(bad.exit_code, 1) << bad.err;
  EXPECT_NE(bad.err.find("ADD must be true or false (or 1/0), not 'maybe'"), std::string::npos)
      << bad.err;
  const CommandResult none =
      h_.RunVolo({"worker", "--port", "0"}, {{"ADD", "false"}, {"MULT", "false"}}, seconds(20));
  EXPECT_EQ(none.exit_code, 1) << none.err;
  EXPECT_NE(none.err.find("nothing to run"), std::string::npos) << none.err;
}

// A volo planner that refuses the join token is not a seed planner: no POST /register.
TEST_F(SeedWorkerTest, AVoloPlannerRefusingTheTokenIsNotTakenForASeedPlanner) {
  const std::string api = TempPath("api.token"), join = TempPath("join.token");
  std::ofstream(api) << "api-secret-1234567890\n";
  std::ofstream(join) << "join-secret-0987654321\n";
  PlannerProc planner = StartPlanner({"--token-file", api, "--join-token-file", join});
  ASSERT_NE(planner.port, 0);
  Child* worker = nullptr;
  ASSERT_NE(StartVoloWorker(planner.url, "no-token", {}, &worker), 0);
  // It keeps trying the native protocol and says why; it never falls back to /register.
  EXPECT_TRUE(PollUntil(
      [&] {
        return ReadLog(*worker).find("refused this worker's join token") != std::string::npos;
      },
      seconds(20)))
      << ReadLog(*worker);
  EXPECT_EQ(ReadLog(*worker).find("POST /register"), std::string::npos) << ReadLog(*worker);
}

}  // namespace
}  // namespace volo::itest
