// FLY programs on a volo fleet: `volo run prog.fly --env NAME=cluster:URL` and
// `volo up --workers N -- run prog.fly`, with real planner and worker processes.
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"

namespace volo::itest {
namespace {

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

// Every kind of piece a fly hands out, and argument types JSON has no form for: each instance
// returns a description of what it got, printed in index order by the thenall callback.
constexpr const char* kPieces = R"(var local = [type="smp", nthread=2]
var people = [type="dataframe", source="people.csv"]
var text = [type="file", path="lines.txt"]
var v = [10, 20, 30, 40, 50]
var m = [[1, 2, 3], [4, 5, 6]]

func rows(p) {
    var s = 0
    for i in [0:p.length()] { s += p[i] }
    return "rows " + p.getPortionIndex() + "@" + p.getPortionDisplacement() + " n=" + p.length() + " sum=" + s
}
func cols(p) {
    return "cols " + p.getPortionIndex() + "@" + p.getPortionDisplacement() + " " + p.rowCount() + "x" + p.colCount()
}
func frame(part) {
    var s = 0.0
    for r in part { s += r.score }
    return "frame " + part.getPortionIndex() + " n=" + part.rowCount() + " score=" + s + " first=" + part.getRow(0).name + " " + part.columnNames()
}
func lines(part) {
    var all = ""
    for line in part { all += line + "," }
    return "lines " + part.getPortionIndex() + " " + all
}
func pair(r, a, w) {
    var n = 0
    for i in r { n += i }
    return "pair " + n + " " + a.length() + " " + a[1] + " " + w
}
func one(a) { return "one " + a.length() }
func weird() { return [0.0 / 0.0, 1.0 / 0.0, -1.0 / 0.0, 4.0] }
func show(rs) {
    for i in [0:rs.length()] { println rs[i] }
}

fly rows in v by row on local thenall show
fly cols in m by col on local thenall show
fly frame in people on local thenall show
fly lines in text on local thenall show
fly pair([0:4], [7, 8, 9], "w") on local thenall show
fly one([7, 8, 9]) on local thenall show
fly weird() on local thenall show
)";

constexpr const char* kPiecesOutput = R"(rows 0@0 n=3 sum=60
rows 1@3 n=2 sum=90
cols 0@0 2x2
cols 1@2 2x1
frame 0 n=2 score=15.5 first=ann [name, age, score]
frame 1 n=2 score=15.25 first=carl [name, age, score]
lines 0 alpha,beta,gamma,
lines 1 delta,epsilon,
pair 6 3 8 w
one 3
[NaN, Infinity, -Infinity, 4.0]
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

  // A worker whose status endpoint (GET /status on --port) reports its fly counters.
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

TEST_F(ClusterTest, PiecesKeepTheirPortionIndexAndTypeOnTheWorkers) {
  std::string dir = TempPath("pieces");
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  for (const char* data : {"people.csv", "lines.txt"}) {
    WriteFile(dir + "/" + data, ReadFile(std::string(VOLO_SOURCE_DIR) + "/tests/fly/data/" + data));
  }
  std::string file = dir + "/pieces.fly";
  WriteFile(file, kPieces);
  ASSERT_EQ(Run(file, {}), kPiecesOutput) << "smp";
  // A fleet with as many slots as the smp env has threads splits the same way.
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  ASSERT_NE(FlyWorker(p, "w1", 2), nullptr);
  EXPECT_EQ(Run(file, {"local=cluster:" + p.url}), kPiecesOutput) << "cluster";
}

// The thread count an example declares for its `local` env.
int DeclaredThreads(const std::string& text) {
  size_t at = text.find("nthread=");
  return at == std::string::npos ? 0 : std::stoi(text.substr(at + 8));
}

TEST_F(ClusterTest, EveryExamplePrintsTheSameOnAClusterWithTheSameSlots) {
  std::string examples = std::string(VOLO_SOURCE_DIR) + "/examples/";
  std::map<int, std::vector<std::string>> by_threads;
  for (const auto& e : std::filesystem::directory_iterator(examples)) {
    if (e.path().extension() != ".fly") continue;
    std::string text = ReadFile(e.path());
    if (text.find("var local = [type=\"smp\"") == std::string::npos) continue;
    by_threads[DeclaredThreads(text)].push_back(e.path());
  }
  ASSERT_GE(by_threads[2].size() + by_threads[4].size(), 5u) << "examples not found";
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  int slots = 0;
  for (auto& [threads, files] : by_threads) {
    while (slots < threads) {
      ASSERT_NE(FlyWorker(p, "w" + std::to_string(slots), 1), nullptr);
      ++slots;
    }
    for (const auto& file : files) {
      std::string smp = Run(file, {});
      ASSERT_FALSE(smp.empty()) << file;
      EXPECT_EQ(Run(file, {"local=cluster:" + p.url}), smp) << file << " on " << slots << " slots";
    }
  }
}

TEST_F(ClusterTest, AnArgumentThatCannotLeaveTheProcessIsAClearError) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  ASSERT_NE(FlyWorker(p, "w1"), nullptr);
  std::string file = Program("chanarg.fly", R"(var local = [type="smp", nthread=2]
var ch = [type="channel"] on local
func f(c) { c ! 1 on local }
fly f(ch) on local
println ch?
)");
  ASSERT_EQ(Run(file, {}), "1\n") << "a channel argument works on smp";
  CommandResult r = h_.RunVolo({"run", file, "--env", "local=cluster:" + p.url}, {}, seconds(60));
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("the argument of instance 0 cannot leave this process: a channel"),
            std::string::npos)
      << r.err;
}

TEST_F(ClusterTest, AFlyWithNoWorkerLeftFailsAfterTheWaitAndGoesOnWhenOneReturns) {
  // kLong, eight times longer: seconds on one slot. A sanitizer build runs kLong itself that
  // slowly (eight times longer there ran past every deadline).
  std::string text = kLong;
#if !defined(__SANITIZE_ADDRESS__)
  text.replace(text.find("400000"), 6, "3200000");
#endif
  std::string file = TempPath("slow.fly");
  WriteFile(file, text);
  std::string expected = Run(file, {"cloud=smp:2"});
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  auto holding = [&](const char* id) {
    return PollUntil(
        [&] {
          auto w = FindWorker(p, id);
          return w && NumAt(*w, "running") > 0;
        },
        seconds(60), milliseconds(5));
  };

  // The only worker dies and none comes back: the fly fails after the wait, naming why.
  Child* only = FlyWorker(p, "only", 1);
  ASSERT_NE(only, nullptr);
  Child* run =
      h_.Spawn("run", {"run", file, "--seed", "42", "--env", "cloud=cluster:" + p.url + "?wait=1"});
  ASSERT_NE(run, nullptr);
  ASSERT_TRUE(holding("only"));
  h_.Kill(*only);
  ASSERT_TRUE(h_.WaitExit(*run, seconds(60))) << "the fly waited forever without workers";
  EXPECT_EQ(run->ExitCode(), 1);
  std::string log = ReadFile(run->log_path);
  EXPECT_NE(log.find("no worker with the fly operation was connected to the planner at " + p.url +
                     " for 1 s"),
            std::string::npos)
      << log;
  // Its chunks were taken off the planner: a new worker runs none of them.
  PollUntil([&] { return NumAt(Status(p), "queued") == 0; }, seconds(10), milliseconds(20));
  EXPECT_EQ(NumAt(Status(p), "queued"), 0) << "abandoned chunks stayed queued";

  // The only worker dies and another joins within the wait: the fly finishes, right.
  Child* first = FlyWorker(p, "first", 1);
  ASSERT_NE(first, nullptr);
  Child* run2 = h_.Spawn(
      "run2", {"run", file, "--seed", "42", "--env", "cloud=cluster:" + p.url + "?wait=60"});
  ASSERT_NE(run2, nullptr);
  ASSERT_TRUE(holding("first"));
  h_.Kill(*first);
  ASSERT_NE(FlyWorker(p, "second", 1), nullptr);
  ASSERT_TRUE(h_.WaitExit(*run2, seconds(120)));
  EXPECT_EQ(run2->ExitCode(), 0);
  std::string log2 = ReadFile(run2->log_path);
  EXPECT_NE(log2.find(expected), std::string::npos) << "expected " << expected << "got " << log2;
}

// Two instances of hours each on one slot: far longer than any test waits.
constexpr const char* kEndless = R"(var cloud = [type="smp", nthread=2]
var ch = [type="channel"] on cloud
func count(i) {
  var hits = 0
  for k in [0:1000000000000] { hits += 1 }
  ch ! hits on cloud
}
fly count in [0:2] on cloud
println ch? as Integer
)";

TEST_F(ClusterTest, InterruptingARunCancelsItsChunksAndFreesTheWorkers) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  ASSERT_NE(FlyWorker(p, "w1", 1), nullptr);
  std::string file = Program("endless.fly", kEndless);
  Child* run = h_.Spawn("run", {"run", file, "--env", "cloud=cluster:" + p.url});
  ASSERT_NE(run, nullptr);
  ASSERT_TRUE(PollUntil(
      [&] {
        auto w = FindWorker(p, "w1");
        return w && NumAt(*w, "running") > 0;
      },
      seconds(60), milliseconds(5)));
  h_.Signal(*run, SIGINT);
  ASSERT_TRUE(h_.WaitExit(*run, seconds(30)));
  EXPECT_EQ(run->ExitCode(), 130);
  EXPECT_NE(ReadFile(run->log_path).find("cancelled 2 chunks"), std::string::npos)
      << ReadFile(run->log_path);
  EXPECT_TRUE(
      PollUntil([&] { return NumAt(Status(p), "cancelled") == 2; }, seconds(10), milliseconds(20)))
      << "the planner still holds the interrupted program's chunks";
  // The worker stopped the running chunk: its one slot runs the next program at once (the
  // cancelled chunk alone would hold it for minutes).
  std::string quick = Program("quick.fly", R"(var cloud = [type="smp", nthread=1]
func f(i) { return i }
fly f in [0:4] on cloud
println "quick"
)");
  CommandResult r = h_.RunVolo({"run", quick, "--env", "cloud=cluster:" + p.url}, {}, seconds(30));
  ASSERT_TRUE(r.finished) << "the worker's slot stayed busy with a cancelled chunk";
  EXPECT_EQ(r.out, "quick\n");
}

TEST_F(ClusterTest, InterruptingVoloUpStopsTheProgramAndTheFleet) {
  std::string file = Program("endless.fly", kEndless);
  Child* up = h_.Spawn("up", {"up", "--workers", "1", "--", "run", file});
  ASSERT_NE(up, nullptr);
  std::string url;
  ASSERT_TRUE(PollUntil(
      [&] {
        std::string log = ReadFile(up->log_path);
        size_t at = log.find("planner at ");
        if (at == std::string::npos || log.find(" on them") == std::string::npos) {
          return h_.Reap(*up);  // volo up gave up: its log says why
        }
        url = log.substr(at + 11, log.find_first_of(" ,\n", at + 11) - at - 11);
        return true;
      },
      seconds(240), milliseconds(20)));
  ASSERT_FALSE(url.empty()) << "volo up ended before running the program";
  PlannerProc p;
  p.url = url;
  ASSERT_TRUE(
      PollUntil([&] { return NumAt(Status(p), "running") > 0; }, seconds(60), milliseconds(10)));
  h_.Signal(*up, SIGINT);
  ASSERT_TRUE(h_.WaitExit(*up, seconds(30)));
  EXPECT_EQ(up->ExitCode(), 130);
  EXPECT_NE(ReadFile(up->log_path).find("stopping the fleet"), std::string::npos);
  EXPECT_EQ(Get(url + "/healthz").status, 0) << "the fleet's planner still answers";
}

TEST_F(ClusterTest, ABadClusterQueryIsAClearError) {
  std::string file = Program("fail.fly", kFailing);
  CommandResult r = h_.RunVolo(
      {"run", file, "--env", "c=cluster:http://127.0.0.1:1?retries=2&speed=3"}, {}, seconds(30));
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("retries=N (0..100), wait=S"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("got 'speed=3'"), std::string::npos) << r.err;
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
  std::string log = ReadFile(run->log_path);
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
  Reply s1 = Get("http://127.0.0.1:" + std::to_string(port) + "/status");
  ASSERT_EQ(s1.status, 200) << s1.Describe();
  const json::object& f1 = s1.obj().at("fly").as_object();
  EXPECT_EQ(Num(f1.at("blobs_fetched")), 1);
  // Each of the worker's two runners compiles the program once, when it first runs it.
  double compiled = Num(f1.at("programs_compiled"));
  EXPECT_GE(compiled, 1);
  EXPECT_LE(compiled, 2);

  EXPECT_EQ(Run(file, {"local=cluster:" + p.url}), first);
  Reply s2 = Get("http://127.0.0.1:" + std::to_string(port) + "/status");
  const json::object& f2 = s2.obj().at("fly").as_object();
  EXPECT_EQ(Num(f2.at("blobs_fetched")), 1) << "the second run fetched the program again";
  EXPECT_LE(Num(f2.at("programs_compiled")), 2) << "a runner compiled the program again";
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
  Reply s = Get("http://127.0.0.1:" + std::to_string(port) + "/status");
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
