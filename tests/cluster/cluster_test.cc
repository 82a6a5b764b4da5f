// FLY programs on a volo fleet: `volo run prog.fly --env NAME=cluster:URL` and
// `volo up --workers N -- run prog.fly`, with real planner and worker processes.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"

namespace volo::itest {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

// A seeded Monte Carlo with consts, a declaration-seeded random global, return values (thenall)
// and channel messages: its output depends on every stream and on no order of arrival.
constexpr const char* kSeeded = R"(var local = [type="smp", nthread=4]
var ch = [type="channel"] on local
var rnd = [type="random", seed=5]
const scale = 2.5
const points = 2000

func f(i) {
  var r = [type="random"]
  var h = 0
  for k in [0:points] {
    var x = r.nextDouble()
    var y = r.nextDouble()
    if (x * x + y * y < 1.0) { h += 1 }
  }
  ch ! h on local
  return h * scale + rnd.nextInt(100) + i
}

func report(rs) {
  var s = 0
  for i in [0:300] { s += ch? as Integer }
  println "hits: " + s
  var t = 0.0
  for i in [0:300] { t += rs[i] }
  println "weighted: " + t
  println "first: " + rs[0] + " last: " + rs[299]
}

fly f in [0:300] on local thenall report
)";

// Every instance sends five messages; the receiver checks each sender's order and the count.
constexpr const char* kOrdered = R"(var local = [type="smp", nthread=4]
var ch = [type="channel"] on local
const n = 400

func f(i) {
  for k in [0:5] { ch ! [i, k] on local }
}

func check() {
  var seen = {}
  var bad = 0
  for m in [0:n * 5] {
    var msg = ch?
    var i = msg[0]
    var expect = 0
    if (seen.containsKey(i)) { expect = seen[i] }
    if (msg[1] != expect) { bad += 1 }
    seen[i] = msg[1] + 1
  }
  println "senders: " + seen.size() + " out of order: " + bad
}

fly f in [0:n] on local thenall check
)";

constexpr const char* kFailing = R"(var c = [type="smp", nthread=2]
func f(i) {
  if (i == 37) { var z = 1 / (i - 37) }
  return i
}
fly f in [0:100] on c
println "not reached"
)";

// Runs long enough (a few seconds of CPU) for a worker to be killed in the middle.
constexpr const char* kLong = R"(var cloud = [type="smp", nthread=2]
var ch = [type="channel"] on cloud
const per = 400000

func count(i) {
  var r = [type="random"]
  var hits = 0
  for k in [0:per] {
    var x = r.nextDouble()
    var y = r.nextDouble()
    if (x * x + y * y < 1.0) { hits += 1 }
  }
  ch ! hits on cloud
}

fly count in [0:64] on cloud
var hits = 0
for k in [0:64] { hits += ch? as Integer }
println "hits: " + hits
)";

// The slides' Kubernetes variant (shared/seeds/fly-language-kubernetes-slides.txt), N = 100.
constexpr const char* kSlidesK8s = R"(var cloud= [type="azure", language="nodejs", threads=100]

var cluster = [type="k8s",clusterName="Fly",registryName="FlyRegistry.azurecr.io"] on cloud

var ch = [type="channel"] on cloud

func pi(){
   var r = [type="random"]
   var x = r.nextDouble()
   var y = r.nextDouble()
   var msg = 0
   if((x * x)+(y * y) < 1.0){msg = 1}
   ch!msg on cluster
}
func estimation(){
var sum = 0
var crt = 0
for i in [0:100] {
   sum += ch? as Integer
   crt += 1
}
println "pi estimation: " + (sum*4.0)/crt
}

fly pi in [0:100] on cluster thenall estimation
)";

class ClusterTest : public VoloTest {
 protected:
  std::string Program(const std::string& name, const char* text) {
    std::string path = TempPath(name);
    WriteFile(path, text);
    return path;
  }

  // `volo run file --env NAME=SPEC --seed 42`; fails the test on a non-zero exit.
  std::string Run(const std::string& file, const std::vector<std::string>& bindings) {
    std::vector<std::string> args = {"run", file, "--seed", "42"};
    for (const auto& b : bindings) {
      args.push_back("--env");
      args.push_back(b);
    }
    CommandResult r = h_.RunVolo(args, {}, seconds(120));
    EXPECT_TRUE(r.finished);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  Child* FlyWorker(const PlannerProc& p, const std::string& id, int slots = 2) {
    return StartWorker(p, {.id = id,
                           .args = {"--ops", "fly", "--slots", std::to_string(slots), "--port",
                                    "-1", "--log-level", "info"}});
  }

  // A worker whose status endpoint (GET / on --port) reports its fly counters.
  Child* FlyWorkerWithStatus(const PlannerProc& p, const std::string& id, uint16_t* port) {
    std::string port_file = TempPath(id + ".port");
    Child* w = StartWorker(
        p, {.id = id,
            .args = {"--ops", "fly", "--slots", "2", "--port", "0", "--port-file", port_file}});
    if (w == nullptr) return nullptr;
    auto pt = h_.ReadPortFile(port_file, *w);
    *port = pt ? *pt : 0;
    return w;
  }
};

TEST_F(ClusterTest, SeededProgramPrintsTheSameBytesOnSmpAndClusters) {
  std::string file = Program("seeded.fly", kSeeded);
  std::string smp1 = Run(file, {"local=smp:1"});
  ASSERT_NE(smp1.find("hits: "), std::string::npos) << smp1;
  EXPECT_EQ(Run(file, {"local=smp:8"}), smp1);

  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  ASSERT_NE(FlyWorker(p, "w1"), nullptr);
  EXPECT_EQ(Run(file, {"local=cluster:" + p.url}), smp1) << "cluster with 1 worker";
  for (const char* id : {"w2", "w3", "w4"}) ASSERT_NE(FlyWorker(p, id), nullptr);
  EXPECT_EQ(Run(file, {"local=cluster:" + p.url}), smp1) << "cluster with 4 workers";
}

TEST_F(ClusterTest, ChannelMessagesArriveInOrderPerSenderExactlyOnce) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  ASSERT_NE(FlyWorker(p, "w1"), nullptr);
  ASSERT_NE(FlyWorker(p, "w2"), nullptr);
  std::string file = Program("ordered.fly", kOrdered);
  EXPECT_EQ(Run(file, {"local=cluster:" + p.url}), "senders: 400 out of order: 0\n");
}

TEST_F(ClusterTest, KillingAWorkerMidRunStillGivesTheRightAnswer) {
  std::string file = Program("long.fly", kLong);
  std::string expected = Run(file, {"cloud=smp:2"});
  ASSERT_NE(expected.find("hits: "), std::string::npos);

  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  Child* victim = FlyWorker(p, "victim", 1);
  ASSERT_NE(victim, nullptr);
  ASSERT_NE(FlyWorker(p, "survivor", 1), nullptr);
  Child* run = h_.Spawn("run", {"run", file, "--seed", "42", "--env", "cloud=cluster:" + p.url});
  ASSERT_NE(run, nullptr);
  // Kill the victim while it holds a chunk.
  bool holding = PollUntil(
      [&] {
        auto w = FindWorker(p, "victim");
        return w && NumAt(*w, "running") > 0;
      },
      seconds(60), milliseconds(5));
  ASSERT_TRUE(holding) << "the victim never got a chunk";
  h_.Kill(*victim);
  ASSERT_TRUE(h_.WaitExit(*run, seconds(120)));
  EXPECT_EQ(run->ExitCode(), 0);
  std::string log = ReadAll(run->log_path);
  EXPECT_NE(log.find(expected), std::string::npos) << "expected " << expected << "got " << log;
}

TEST_F(ClusterTest, AnInstanceThatRaisesFailsTheFlyWithItsIndexAndMessage) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  ASSERT_NE(FlyWorker(p, "w1"), nullptr);
  std::string file = Program("fail.fly", kFailing);
  CommandResult r = h_.RunVolo({"run", file, "--env", "c=cluster:" + p.url}, {}, seconds(60));
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("fly 'f': instance 37 failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("integer division by zero"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("not reached"), std::string::npos);
}

TEST_F(ClusterTest, AnUnreachablePlannerIsAClearErrorWithinSeconds) {
  // A port where a planner was and is no more.
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  h_.Kill(*p.child);
  std::string file = Program("fail.fly", kFailing);
  auto start = std::chrono::steady_clock::now();
  CommandResult r = h_.RunVolo({"run", file, "--env", "c=cluster:" + p.url}, {}, seconds(30));
  ASSERT_TRUE(r.finished) << "volo run hung on an unreachable planner";
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(15));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot reach the planner at " + p.url), std::string::npos) << r.err;
}

TEST_F(ClusterTest, TheProgramShipsOnceAndWorkersCacheIt) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  uint16_t port = 0;
  ASSERT_NE(FlyWorkerWithStatus(p, "w1", &port), nullptr);
  ASSERT_NE(port, 0);
  std::string file = Program("seeded.fly", kSeeded);
  std::string first = Run(file, {"local=cluster:" + p.url});
  Reply s1 = Get("http://127.0.0.1:" + std::to_string(port) + "/");
  ASSERT_EQ(s1.status, 200) << s1.Describe();
  const json::object& f1 = s1.obj().at("fly").as_object();
  EXPECT_EQ(Num(f1.at("blobs_fetched")), 1);
  EXPECT_EQ(Num(f1.at("programs_compiled")), 1);

  EXPECT_EQ(Run(file, {"local=cluster:" + p.url}), first);
  Reply s2 = Get("http://127.0.0.1:" + std::to_string(port) + "/");
  const json::object& f2 = s2.obj().at("fly").as_object();
  EXPECT_EQ(Num(f2.at("blobs_fetched")), 1) << "the second run fetched the program again";
  EXPECT_EQ(Num(f2.at("programs_compiled")), 1);
  EXPECT_GT(Num(f2.at("chunks")), Num(f1.at("chunks")));
}

TEST_F(ClusterTest, AFlyOverManyInstancesGoesOutInChunks) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  uint16_t port = 0;
  ASSERT_NE(FlyWorkerWithStatus(p, "w1", &port), nullptr);
  std::string file = Program("empty.fly", R"(var e = [type="smp", nthread=1]
func nothing(i) {
}
fly nothing in [0:200000] on e
println "done"
)");
  EXPECT_EQ(Run(file, {"e=cluster:" + p.url}), "done\n");
  Reply s = Get("http://127.0.0.1:" + std::to_string(port) + "/");
  const json::object& f = s.obj().at("fly").as_object();
  EXPECT_EQ(Num(f.at("instances")), 200000);
  EXPECT_LE(Num(f.at("chunks")), 40) << "instances should travel in chunks";
}

TEST_F(ClusterTest, TheSlidesPiRunsUnchangedWithEnvCloudOnACluster) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  ASSERT_NE(FlyWorker(p, "w1"), nullptr);
  ASSERT_NE(FlyWorker(p, "w2"), nullptr);
  std::string out =
      Run(std::string(VOLO_SOURCE_DIR) + "/examples/pi_slides.fly", {"cloud=cluster:" + p.url});
  ASSERT_EQ(out.rfind("pi estimation: ", 0), 0u) << out;
  double pi = std::stod(out.substr(15));
  EXPECT_NEAR(pi, 3.14159, 0.01);
}

TEST_F(ClusterTest, TheSlidesKubernetesVariantRunsOnAFleet) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  ASSERT_NE(FlyWorker(p, "w1"), nullptr);
  std::string file = Program("pi_k8s.fly", kSlidesK8s);
  std::string smp = Run(file, {"cloud=smp:2"});
  ASSERT_EQ(smp.rfind("pi estimation: ", 0), 0u) << smp;
  // `cluster` (type k8s) rebound to the fleet; and through the env it is declared on.
  EXPECT_EQ(Run(file, {"cloud=smp:2", "cluster=cluster:" + p.url}), smp);
  EXPECT_EQ(Run(file, {"cloud=cluster:" + p.url}), smp);
}

TEST_F(ClusterTest, AProgramCanDeclareItsClusterWithAUrl) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  ASSERT_NE(FlyWorker(p, "w1"), nullptr);
  std::string text = R"(var fleet = [type="cluster", url="URL"]
var ch = [type="channel"] on fleet
func f(i) { ch ! i * i on fleet }
fly f in [0:50] on fleet
var s = 0
for k in [0:50] { s += ch? as Integer }
println "sum of squares: " + s + " on " + fleet.nthread + " slots"
)";
  text.replace(text.find("URL"), 3, p.url);
  std::string file = TempPath("declared.fly");
  WriteFile(file, text);
  EXPECT_EQ(Run(file, {}), "sum of squares: 40425 on 2 slots\n");
}

TEST_F(ClusterTest, VoloUpRunsAProgramOnAFreshFleetAndStopsIt) {
  std::string file = Program("seeded.fly", kSeeded);
  std::string smp = Run(file, {"local=smp:2"});
  CommandResult r =
      h_.RunVolo({"up", "--workers", "2", "--", "run", file, "--seed", "42"}, {}, seconds(120));
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, smp);
  EXPECT_NE(r.err.find("2 workers"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace volo::itest
