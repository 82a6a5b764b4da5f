// Workflows on a real planner and worker: a Director-style file defined with
// `volo workflow apply`, runs started and followed from the CLI and the REST API, failures,
// hooks, relaunch, and the bad inputs (docs/workflows.md).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <string>

#include "harness.h"

namespace volo::itest {
namespace {

constexpr const char* kFile = R"(tasks:
  EXTRACT: {op: echo, args: {rows: 3}}
  SQUARE: {op: echo}
  LOAD: {op: echo}
  SLOW: {op: sleep, args: {seconds: 30}, timeout: 0.2}
  NOTIFY: {op: echo}
demo.ETL:
  tasks:
    - EXTRACT
    - FAN: {type: group, tasks: [noop, {SIDE: {type: chain, tasks: [noop, noop]}}]}
    - EACH: {type: map, over: payload.items, task: SQUARE}
    - LOAD
  hooks: {success: NOTIFY, failure: NOTIFY}
  schema: payload.schema.json
demo.FAILS:
  tasks:
    - EXTRACT
    - SLOW
    - LOAD
  hooks: {failure: NOTIFY}
)";

constexpr const char* kSchema =
    R"({"type": "object", "required": ["items"], "properties": {"items": {"type": "array"}}})";

class WorkflowTest : public VoloTest {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = TempPath(name);
    std::ofstream(path) << text;
    return path;
  }
  json::object Run(const PlannerProc& p, uint64_t id) {
    Reply r = Get(p.Api("/runs/" + std::to_string(id)));
    EXPECT_EQ(r.status, 200) << r.Describe();
    return r.obj();
  }
  const json::object* Step(const json::object& run, const std::string& path) {
    for (const auto& s : run.at("steps").as_array()) {
      if (Str(s.as_object(), "path") == path) return &s.as_object();
    }
    return nullptr;
  }
};

TEST_F(WorkflowTest, ApplyRunAndFollowFromTheCli) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  StartWorker(p, {.id = "w1", .args = {"--slots", "4"}});
  std::string file = Write("workflows.yml", kFile);
  Write("payload.schema.json", kSchema);

  CommandResult apply = h_.RunVolo({"workflow", "apply", file, "--planner", p.url});
  ASSERT_EQ(apply.exit_code, 0) << apply.err;
  EXPECT_NE(apply.out.find("defined demo.ETL"), std::string::npos) << apply.out;

  CommandResult run = h_.RunVolo({"workflow", "run", "demo.ETL", "--payload",
                                  R"({"items": ["a", "b", "c"]})", "--wait", "--planner", p.url});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  // Piped, --wait prints a line per step as it changes, and the outcome.
  EXPECT_NE(run.out.find("EACH  succeeded  3/3 done [EACH]"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("run 1 of demo.ETL: succeeded"), std::string::npos) << run.out;

  json::object r = Run(p, 1);
  EXPECT_EQ(Str(r, "state"), "succeeded");
  // Each step received the payload and its parents' results; a map element its item.
  const json::object* extract = Step(r, "EXTRACT");
  ASSERT_NE(extract, nullptr);
  EXPECT_EQ(json::serialize(extract->at("result").at("payload")), R"({"items":["a","b","c"]})");
  const json::object* each = Step(r, "EACH");
  ASSERT_NE(each, nullptr);
  const json::array& items = each->at("result").as_array();
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(json::serialize(items[2]), R"({"item":"c","index":2})");
  const json::object* load = Step(r, "LOAD");
  ASSERT_NE(load, nullptr);
  // LOAD follows the map: its parents are the map's results, in order.
  EXPECT_EQ(json::serialize(load->at("result").at("parents")),
            R"([{"item":"a","index":0},{"item":"b","index":1},{"item":"c","index":2}])");
  // The success hook ran with the outcome.
  const json::object* hook = Step(r, "NOTIFY");
  ASSERT_NE(hook, nullptr);
  EXPECT_EQ(Str(hook->at("result").as_object(), "status"), "succeeded");

  CommandResult show = h_.RunVolo({"workflow", "show", "1", "--planner", p.url});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("SIDE (chain)  succeeded"), std::string::npos) << show.out;
  CommandResult runs = h_.RunVolo({"workflow", "runs", "demo.ETL", "--planner", p.url});
  EXPECT_NE(runs.out.find("demo.ETL  succeeded"), std::string::npos) << runs.out;
}

TEST_F(WorkflowTest, AFailedStepFailsTheRunTheHookSeesWhyAndRelaunchSkipsWhatSucceeded) {
  std::string file = Write("workflows.yml", kFile);
  Write("payload.schema.json", kSchema);
  PlannerProc p = StartPlanner({"--workflows", file});
  ASSERT_NE(p.port, 0);
  StartWorker(p, {.id = "w1", .args = {"--slots", "2"}});

  CommandResult run = h_.RunVolo({"workflow", "run", "demo.FAILS", "--wait", "--planner", p.url});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  json::object r = Run(p, 1);
  EXPECT_EQ(Str(r, "state"), "failed");
  EXPECT_EQ(Str(r, "failed_step"), "SLOW");
  EXPECT_NE(Str(r, "error").find("timed out"), std::string::npos) << json::serialize(r);
  EXPECT_EQ(Str(*Step(r, "LOAD"), "state"), "cancelled");
  const json::object* hook = Step(r, "NOTIFY");
  ASSERT_NE(hook, nullptr);
  ASSERT_TRUE(PollUntil(
      [&] {
        r = Run(p, 1);
        hook = Step(r, "NOTIFY");
        return hook && Str(*hook, "state") == "succeeded";
      },
      seconds(20)));
  EXPECT_EQ(Str(hook->at("result").as_object(), "failed_step"), "SLOW");

  // From the failed step: EXTRACT is not run again (no new task), SLOW is.
  Reply again = Post(p.Api("/runs/1/relaunch"), R"({"from_failed": true})");
  ASSERT_EQ(again.status, 201) << again.Describe();
  const json::object& second = again.obj();
  const json::object* extract = Step(second, "EXTRACT");
  ASSERT_NE(extract, nullptr);
  EXPECT_EQ(Str(*extract, "state"), "succeeded");
  EXPECT_TRUE(extract->at("task").is_null()) << json::serialize(second);
  EXPECT_EQ(Str(second, "trigger"), "relaunch from failed of 1");
}

// GET /api/v1/runs/{id}/wait answers once the run has ended and its hook too, or with the run
// as it is when the timeout passes; bad ids and methods get 4xx.
TEST_F(WorkflowTest, TheWaitLongPollAnswersOnceTheRunAndItsHookHaveEnded) {
  std::string file =
      Write("workflows.yml", "tasks:\n  NAP: {op: sleep, args: {seconds: 30}}\n" +
                                 std::string(kFile).substr(7) + "demo.LONG:\n  tasks: [NAP]\n");
  Write("payload.schema.json", kSchema);
  PlannerProc p = StartPlanner({"--workflows", file});
  ASSERT_NE(p.port, 0);
  StartWorker(p, {.id = "w1", .args = {"--slots", "2"}});

  // demo.FAILS fails after SLOW times out; the answer waits for the failure hook as well.
  ASSERT_EQ(Post(p.Api("/workflows/demo.FAILS/runs"), "{}").status, 201);
  // (The planner's timeout is longer than the client's: only the run's end can answer in time.)
  Reply ended = Get(p.Api("/runs/1/wait?timeout=300"), seconds(60));
  ASSERT_EQ(ended.status, 200) << ended.Describe();
  EXPECT_EQ(Str(ended.obj(), "state"), "failed");
  const json::object* hook = Step(ended.obj(), "NOTIFY");
  ASSERT_NE(hook, nullptr) << ended.Describe();
  EXPECT_EQ(Str(*hook, "state"), "succeeded") << ended.Describe();

  // A run that is still going: the timeout answers it as it is; cancelling answers a waiter.
  ASSERT_EQ(Post(p.Api("/workflows/demo.LONG/runs"), "{}").status, 201);
  Reply running = Get(p.Api("/runs/2/wait?timeout=0.3"));
  ASSERT_EQ(running.status, 200) << running.Describe();
  EXPECT_EQ(Str(running.obj(), "state"), "running");
  auto waiter = std::async(std::launch::async,
                           [&] { return Get(p.Api("/runs/2/wait?timeout=300"), seconds(60)); });
  // The waiter is answered by the cancel whichever comes first: a wait that starts after the
  // run ended answers at once.
  ASSERT_EQ(Post(p.Api("/runs/2/cancel"), "").status, 200);
  Reply cancelled = waiter.get();
  ASSERT_EQ(cancelled.status, 200) << cancelled.Describe();
  EXPECT_EQ(Str(cancelled.obj(), "state"), "cancelled");

  EXPECT_EQ(Get(p.Api("/runs/99/wait")).status, 404);
  EXPECT_EQ(Get(p.Api("/runs/abc/wait")).status, 400);
  EXPECT_EQ(Get(p.Api("/runs/1/wait?timeout=soon")).status, 400);
  EXPECT_EQ(Post(p.Api("/runs/1/wait"), "").status, 405);
}

TEST_F(WorkflowTest, BadFilesPayloadsAndIdsGetClearErrors) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  // Locally: file:line:col and exit 1.
  std::string bad =
      Write("bad.yml", "demo.X:\n  tasks: [NOPE]\n  periodic: {crontab: \"0 24 * * *\"}\n");
  CommandResult v = h_.RunVolo({"workflow", "validate", bad});
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.err.find("bad.yml:2:11: unknown task 'NOPE'"), std::string::npos) << v.err;
  EXPECT_NE(v.err.find("bad.yml:3:23: crontab: hour: 24 is out of range 0-23"), std::string::npos)
      << v.err;
  // Over REST: 400 with every problem, and nothing defined.
  Reply r =
      Post(p.Api("/workflows"), R"({"filename": "w.yml", "text": "demo.A:\n  tasks: [a, b\n"})");
  EXPECT_EQ(r.status, 400) << r.Describe();
  EXPECT_EQ(Str(r.obj(), "error").rfind("w.yml:3:1: ", 0), 0u) << r.Describe();
  EXPECT_EQ(Post(p.Api("/workflows"), R"({"text": 3})").status, 400);
  EXPECT_EQ(Post(p.Api("/workflows"), "not json").status, 400);
  EXPECT_EQ(Get(p.Api("/workflows")).obj().at("workflows").as_array().size(), 0u);

  // A schema named but not sent.
  Reply missing =
      Post(p.Api("/workflows"), R"({"text": "demo.S:\n  schema: s.json\n  tasks: [noop]\n"})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(Str(missing.obj(), "error").find("cannot read schema 's.json'"), std::string::npos)
      << missing.Describe();

  Reply ok = Post(p.Api("/workflows"),
                  R"({"text": "demo.S:\n  schema: s.json\n  tasks: [noop]\n",
                      "files": {"s.json": "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}}}"}})");
  ASSERT_EQ(ok.status, 200) << ok.Describe();
  Reply payload = Post(p.Api("/workflows/demo.S/runs"), R"({"payload": {"n": "x"}})");
  EXPECT_EQ(payload.status, 400);
  EXPECT_EQ(Str(payload.obj(), "error").rfind("payload.n: ", 0), 0u) << payload.Describe();
  EXPECT_EQ(Post(p.Api("/workflows/demo.S/runs"), R"({"payload": [1]})").status, 400);
  // A misspelt field is refused, not ignored (the run would start with an empty payload).
  Reply typo = Post(p.Api("/workflows/demo.S/runs"), R"({"paylod": {"n": 1}})");
  EXPECT_EQ(typo.status, 400);
  EXPECT_EQ(Str(typo.obj(), "error"), "body: unknown field 'paylod' (known: payload)")
      << typo.Describe();
  EXPECT_EQ(
      Post(p.Api("/workflows"), R"({"text": "demo.T:\n  tasks: [noop]\n", "file": "x"})").status,
      400);
  EXPECT_EQ(
      Post(p.url + "/api/workflows", R"({"project": "demo", "name": "S", "paylod": {}})").status,
      400);
  EXPECT_EQ(Get(p.Api("/runs")).obj().at("runs").as_array().size(), 0u);
  EXPECT_EQ(Post(p.Api("/workflows/demo.NOPE/runs"), "{}").status, 404);
  EXPECT_EQ(Get(p.Api("/runs/abc")).status, 400);
  EXPECT_EQ(Get(p.Api("/runs/99")).status, 404);
  EXPECT_EQ(Get(p.Api("/runs?limit=0")).status, 400);
  // No worker: the run stays running; relaunching it is refused until it is cancelled.
  Reply started = Post(p.Api("/workflows/demo.S/runs"), R"({"payload": {"n": 1}})");
  ASSERT_EQ(started.status, 201) << started.Describe();
  EXPECT_EQ(Post(p.Api("/runs/1/relaunch"), "{}").status, 409);
  EXPECT_EQ(Post(p.Api("/runs/1/cancel"), "").status, 200);
  EXPECT_EQ(Str(Run(p, 1), "state"), "cancelled");
  EXPECT_EQ(Post(p.Api("/runs/1/cancel"), "").status, 409);
  EXPECT_EQ(Post(p.Api("/runs/1/relaunch"), R"({"fromFailed": true})").status, 400);
  // Director's own route starts a run too; Director 0.8's optional comment is accepted.
  Reply director =
      Post(p.url + "/api/workflows",
           R"({"project": "demo", "name": "S", "payload": {"n": 2}, "comment": "hi"})");
  EXPECT_EQ(director.status, 201) << director.Describe();
  EXPECT_EQ(Get(p.url + "/healthz").status, 200);
}

constexpr const char* kScoreFly = R"(// Steps of demo.FLY: a library of functions and a const.
const BONUS = 10

func squared(inputs) {
    var x = inputs.item
    return x * x + BONUS
}

func total(inputs) {
    var parents = inputs.parents
    var s = 0
    for i in parents {
        s += parents[i]
    }
    println "total " + s
    var r = {}
    r.sum = s
    r.count = parents.length()
    return r
}

func broken(inputs) {
    return inputs.item / 0
}
)";

// FLY functions as steps: a map runs a FLY function per element on the workers' `fly`
// operation, the program's top level sets its consts first, and the next step (another function
// of the same file) receives the list of results. A wrong function or program is refused with
// file:line:col when the file is validated; a FLY error at run time fails the step with it.
TEST_F(WorkflowTest, FlyFunctionsRunAsSteps) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  StartWorker(p, {.id = "w1", .args = {"--slots", "2"}});
  Write("score.fly", kScoreFly);
  std::string file = Write("fly.yml", R"(tasks:
  SQUARE: {fly: score.fly, func: squared}
  TOTAL: {fly: score.fly, func: total}
  BROKEN: {fly: score.fly, func: broken}
demo.FLY:
  tasks:
    - EACH: {type: map, over: payload.items, task: SQUARE}
    - TOTAL
demo.BROKEN:
  tasks:
    - EACH: {type: map, over: payload.items, task: BROKEN}
)");
  CommandResult apply = h_.RunVolo({"workflow", "apply", file, "--planner", p.url});
  ASSERT_EQ(apply.exit_code, 0) << apply.err;
  CommandResult run = h_.RunVolo({"workflow", "run", "demo.FLY", "--payload",
                                  R"({"items": [1, 2, 3]})", "--wait", "--planner", p.url},
                                 {}, seconds(120));
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  json::object r = Run(p, 1);
  ASSERT_EQ(Str(r, "state"), "succeeded") << json::serialize(r);
  const json::object* each = Step(r, "EACH");
  ASSERT_NE(each, nullptr);
  EXPECT_EQ(json::serialize(each->at("result")), "[11,14,19]");
  const json::object* total = Step(r, "TOTAL");
  ASSERT_NE(total, nullptr);
  EXPECT_EQ(json::serialize(total->at("result")), R"({"sum":44,"count":3})");

  CommandResult broken = h_.RunVolo({"workflow", "run", "demo.BROKEN", "--payload",
                                     R"({"items": [5]})", "--wait", "--planner", p.url},
                                    {}, seconds(120));
  EXPECT_NE(broken.exit_code, 0);
  json::object b = Run(p, 2);
  EXPECT_EQ(Str(b, "state"), "failed");
  EXPECT_NE(Str(b, "error").find("division by zero"), std::string::npos) << json::serialize(b);
  EXPECT_NE(Str(b, "error").find("score.fly:"), std::string::npos) << json::serialize(b);

  // The example: slices, a map over them, a total.
  const std::string dir = std::string(VOLO_SOURCE_DIR) + "/examples/workflows/";
  ASSERT_EQ(h_.RunVolo({"workflow", "apply", dir + "integrate.yml", "--planner", p.url}).exit_code,
            0);
  CommandResult pi = h_.RunVolo({"workflow", "run", "demo.INTEGRATE", "--payload",
                                 R"({"slices": 4})", "--wait", "--planner", p.url},
                                {}, seconds(120));
  EXPECT_EQ(pi.exit_code, 0) << pi.out << pi.err;
  json::object e = Run(p, 3);
  const json::object* sum = Step(e, "TOTAL");
  ASSERT_NE(sum, nullptr) << json::serialize(e);
  EXPECT_NEAR(Num(sum->at("result")), 3.14159265358979, 1e-9) << json::serialize(e);

  // Checked before anything runs: a missing function, one with two parameters, a program that
  // does not compile.
  Write("two.fly", "func pair(a, b) {\n    return a\n}\n");
  Write("bad.fly", "func f(x) {\n    return x +\n}\n");
  std::string wrong = Write("wrong.yml", R"(tasks:
  NOPE: {fly: score.fly, func: nope}
  PAIR: {fly: two.fly, func: pair}
  BAD: {fly: bad.fly, func: f}
demo.W:
  tasks: [NOPE, PAIR, BAD]
)");
  CommandResult v = h_.RunVolo({"workflow", "validate", wrong});
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.err.find("wrong.yml:2:9: task 'NOPE': score.fly has no function 'nope'"),
            std::string::npos)
      << v.err;
  EXPECT_NE(v.err.find("task 'PAIR': function 'pair' of two.fly takes 2 parameters"),
            std::string::npos)
      << v.err;
  EXPECT_NE(v.err.find("task 'BAD': bad.fly:3:1: "), std::string::npos) << v.err;
  CommandResult refused = h_.RunVolo({"workflow", "apply", wrong, "--planner", p.url});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("score.fly has no function 'nope'"), std::string::npos) << refused.err;
}

// Runs argv[2:] on a pty of argv[1] rows and 60 columns, copies what it prints to stdout, and
// exits with its exit code.
constexpr const char* kPtyRunner = R"(
import fcntl, os, pty, struct, sys, termios
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", int(sys.argv[1]), 60, 0, 0))
    os.execv(sys.argv[2], sys.argv[2:])
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    os.write(1, chunk)
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
)";

// Ends the `cat GATE` a step runs: opens the FIFO for writing once the step's reader has it
// open, and closes it (the reader sees the end). False when no reader came in time.
bool OpenGate(const std::string& fifo) {
  return PollUntil(
      [&] {
        int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) return false;  // ENXIO: the step has not opened it yet
        ::close(fd);
        return true;
      },
      seconds(30));
}

// Every `volo workflow` command a user types: run with --payload @FILE and --wait (piped: a line
// per change; on a terminal: the tree redrawn in place), relaunch --from-failed, cancel, runs,
// list and schedules.
TEST_F(WorkflowTest, EveryCliCommandOnAPipeAndOnATerminal) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  StartWorker(p, {.id = "w1", .args = {"--slots", "2", "--sandbox", "none"}});
  const std::string gate = TempPath("gate");
  ASSERT_EQ(::mkfifo(gate.c_str(), 0600), 0);
  const std::string flag = TempPath("flag");
  std::string file = Write("cli.yml", "tasks:\n  GATE: {shell: \"cat " + gate +
                                          "\"}\n  FLAKY: {shell: \"test -e " + flag +
                                          "\"}\n"
                                          "demo.GATED:\n  tasks: [noop, GATE, echo]\n"
                                          "demo.FLAKY:\n  tasks: [noop, FLAKY]\n"
                                          "  hooks: {failure: noop}\n"
                                          "demo.EVERY:\n  periodic: {interval: 3600}\n"
                                          "  tasks: [noop]\n");
  ASSERT_EQ(h_.RunVolo({"workflow", "apply", file, "--planner", p.url}).exit_code, 0);

  // --payload @FILE; the run fails; once the flag exists, --from-failed runs only FLAKY.
  std::string payload = Write("payload.json", R"({"who": "a file"})");
  CommandResult failed = h_.RunVolo(
      {"workflow", "run", "demo.FLAKY", "--payload", "@" + payload, "--wait", "--planner", p.url});
  EXPECT_EQ(failed.exit_code, 1) << failed.out << failed.err;
  EXPECT_NE(failed.out.find("FLAKY  failed"), std::string::npos) << failed.out;
  EXPECT_NE(failed.out.find("run 1 of demo.FLAKY: failed"), std::string::npos) << failed.out;
  // The failure hook runs noop, as the first step does: both have their line, once.
  auto count = [](const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count(failed.out, "noop (hook)  succeeded"), 1u) << failed.out;
  EXPECT_EQ(count(failed.out, "noop  succeeded"), 1u) << failed.out;
  EXPECT_EQ(json::serialize(Run(p, 1).at("payload")), R"({"who":"a file"})");
  // A name no workflow can have is said so, not a bad URL.
  CommandResult spaced = h_.RunVolo({"workflow", "run", "demo.A B", "--planner", p.url});
  EXPECT_EQ(spaced.exit_code, 2);
  EXPECT_NE(spaced.err.find("no workflow is named 'demo.A B'"), std::string::npos) << spaced.err;
  CommandResult no_file = h_.RunVolo({"workflow", "run", "demo.FLAKY", "--payload",
                                      "@" + TempPath("none.json"), "--planner", p.url});
  EXPECT_EQ(no_file.exit_code, 2);
  EXPECT_NE(no_file.err.find("none.json"), std::string::npos) << no_file.err;
  WriteFile(flag, "");
  CommandResult relaunched =
      h_.RunVolo({"workflow", "relaunch", "1", "--from-failed", "--wait", "--planner", p.url});
  EXPECT_EQ(relaunched.exit_code, 0) << relaunched.out << relaunched.err;
  json::object second = Run(p, 2);
  EXPECT_EQ(Str(second, "state"), "succeeded");
  EXPECT_EQ(Str(second, "trigger"), "relaunch from failed of 1");
  ASSERT_NE(Step(second, "noop"), nullptr);
  EXPECT_TRUE(Step(second, "noop")->at("task").is_null()) << json::serialize(second);
  EXPECT_EQ(json::serialize(second.at("payload")), R"({"who":"a file"})");

  // On a terminal (a pty of 4 rows): the tree is drawn, then redrawn in place as GATE starts
  // and ends; it keeps to the terminal's rows, the running step first.
  Child* tty = h_.Spawn("tty",
                        {"-c", kPtyRunner, "4", VoloBinary(), "workflow", "run", "demo.GATED",
                         "--wait", "--planner", p.url},
                        {}, "/usr/bin/python3");
  ASSERT_NE(tty, nullptr);
  ASSERT_TRUE(
      PollUntil([&] { return ReadFile(tty->log_path).find("GATE  running") != std::string::npos; },
                seconds(30)))
      << ReadFile(tty->log_path);
  ASSERT_TRUE(OpenGate(gate));
  ASSERT_TRUE(h_.WaitExit(*tty, seconds(30)));
  EXPECT_EQ(tty->ExitCode(), 0);
  std::string screen = ReadFile(tty->log_path);
  EXPECT_NE(screen.find("\x1b[1A\x1b[2K"), std::string::npos) << screen;  // redrawn in place
  EXPECT_NE(screen.find("run 3 of demo.GATED: succeeded"), std::string::npos) << screen;
  EXPECT_NE(screen.find("... 2 more steps"), std::string::npos) << screen;
  EXPECT_EQ(screen.find("[GATE]"), std::string::npos) << screen;  // not the piped lines

  // cancel: the run and its running step end; a second cancel says it has ended.
  CommandResult started = h_.RunVolo({"workflow", "run", "demo.GATED", "--planner", p.url});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  EXPECT_EQ(started.out, "4\n");
  ASSERT_TRUE(PollUntil(
      [&] {
        json::object run = Run(p, 4);  // Step points into it
        const json::object* g = Step(run, "GATE");
        return g && Str(*g, "state") == "running";
      },
      seconds(30)));
  CommandResult cancel = h_.RunVolo({"workflow", "cancel", "4", "--planner", p.url});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_EQ(cancel.out, "cancelled run 4\n");
  json::object cancelled = Run(p, 4);
  EXPECT_EQ(Str(cancelled, "state"), "cancelled");
  EXPECT_EQ(Str(*Step(cancelled, "GATE"), "state"), "cancelled");
  EXPECT_EQ(Str(*Step(cancelled, "echo"), "state"), "cancelled");
  CommandResult twice = h_.RunVolo({"workflow", "cancel", "4", "--planner", p.url});
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_NE(twice.err.find("run 4 has already ended (cancelled)"), std::string::npos) << twice.err;

  // runs, list, schedules.
  CommandResult runs = h_.RunVolo({"workflow", "runs", "demo.FLAKY", "--planner", p.url});
  EXPECT_EQ(runs.exit_code, 0) << runs.err;
  EXPECT_NE(runs.out.find("2    demo.FLAKY  succeeded  relaunch from failed of 1"),
            std::string::npos)
      << runs.out;
  EXPECT_EQ(runs.out.find("demo.GATED"), std::string::npos) << runs.out;
  CommandResult list = h_.RunVolo({"workflow", "list", "--planner", p.url});
  EXPECT_NE(list.out.find("demo.EVERY  every 3600 s"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("noop, GATE, echo"), std::string::npos) << list.out;
  // Next runs in UTC, as schedules are, whatever the local zone.
  CommandResult sched =
      h_.RunVolo({"workflow", "schedules", "--planner", p.url}, {{"TZ", "America/New_York"}});
  EXPECT_EQ(sched.exit_code, 0) << sched.err;
  EXPECT_NE(sched.out.find("demo.EVERY  every 3600 s"), std::string::npos) << sched.out;
  double next = Get(p.Api("/schedules"))
                    .obj()
                    .at("schedules")
                    .as_array()
                    .at(0)
                    .as_object()
                    .at("next_run")
                    .to_number<double>();
  std::time_t secs = static_cast<std::time_t>(next);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char utc[32];
  std::strftime(utc, sizeof utc, "%Y-%m-%d %H:%M:%S", &tm);
  EXPECT_NE(sched.out.find(std::string(utc) + ".000 UTC"), std::string::npos) << utc << "\n"
                                                                              << sched.out;
  EXPECT_EQ(sched.out.find("demo.GATED"), std::string::npos) << sched.out;
  // The payload as Director's CLI takes it, after the name.
  CommandResult director =
      h_.RunVolo({"workflow", "run", "demo.FLAKY", R"({"who": "director"})", "--planner", p.url});
  ASSERT_EQ(director.exit_code, 0) << director.err;
  uint64_t director_run = std::stoull(director.out);
  EXPECT_EQ(json::serialize(Run(p, director_run).at("payload")), R"({"who":"director"})");
  EXPECT_EQ(
      h_.RunVolo({"workflow", "run", "demo.FLAKY", "{}", "--payload", "{}", "--planner", p.url})
          .exit_code,
      2);
}

// `volo workflow validate` names each kind of problem the issue lists at its place.
TEST_F(WorkflowTest, ValidateNamesEachKindOfProblemAtItsPlace) {
  struct Case {
    const char* text;
    const char* expect;
  };
  const Case cases[] = {
      {"demo.A:\n  tasks: [NOPE]\n", "v.yml:2:11: unknown task 'NOPE'"},
      {"demo.A:\n  tasks: [demo.B]\ndemo.B:\n  tasks: [demo.A]\n",
       "v.yml:4:11: workflows nest in a cycle: demo.A -> demo.B -> demo.A"},
      {"demo.A:\n  tasks: [noop]\n  periodic: {crontab: \"61 * * * *\"}\n",
       "v.yml:3:23: crontab: minute: 61 is out of range 0-59"},
      {"tasks:\n  SUM: {op: add, args: {a: 1, b: 2}}\ndemo.A:\n  tasks:\n    - SUM\n"
       "    - EACH: {type: map, over: SUM, task: noop}\n",
       "v.yml:6:7: map 'EACH' runs over 'SUM', whose result (add) is a number or null, not a "
       "list"},
      {"demo.A:\n  tasks: [noop\n", "v.yml:3:1: "},
  };
  for (const Case& c : cases) {
    std::string file = Write("v.yml", c.text);
    CommandResult v = h_.RunVolo({"workflow", "validate", file});
    EXPECT_EQ(v.exit_code, 1) << c.text;
    EXPECT_NE(v.err.find(c.expect), std::string::npos) << c.text << "\n" << v.err;
  }
}

// Director's `queue: NAME`: every step of the workflow's runs goes to a worker started with
// `--queue NAME`, none to the others; with no such worker the run waits and the planner says
// why. `concurrency: 1` holds a second run queued behind the first.
TEST_F(WorkflowTest, DirectorsQueueRoutesStepsToTheWorkersServingIt) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  StartWorker(p, {.id = "plain", .args = {"--slots", "4"}});
  std::string file = Write("q.yml", R"(tasks:
  FIRST: {op: echo, args: {n: 1}}
demo.Q:
  tasks:
    - FIRST
    - EACH: {type: map, over: payload.items, task: echo}
    - G: {type: group, tasks: [noop, noop]}
  queue: etl
  concurrency: 1
)");
  ASSERT_EQ(h_.RunVolo({"workflow", "apply", file, "--planner", p.url}).exit_code, 0);
  const std::string items = R"({"payload": {"items": [1, 2, 3, 4, 5, 6]}})";
  ASSERT_EQ(Post(p.Api("/workflows/demo.Q/runs"), items).status, 201);
  ASSERT_EQ(Post(p.Api("/workflows/demo.Q/runs"), items).status, 201);
  // Only `plain` is up: FIRST waits, and the status says for what.
  ASSERT_TRUE(PollUntil(
      [&] {
        json::object st = Status(p);
        return st.contains("waiting") &&
               json::serialize(st.at("waiting")).find("queue:etl") != std::string::npos;
      },
      seconds(20)))
      << json::serialize(Status(p));
  EXPECT_EQ(Str(*Step(Run(p, 1), "FIRST"), "state"), "running");
  EXPECT_EQ(Str(Run(p, 2), "state"), "queued");

  Child* etl = StartWorker(p, {.id = "etl", .args = {"--slots", "2", "--queues", "etl,other"}});
  ASSERT_NE(etl, nullptr);
  for (uint64_t id : {1, 2}) {
    Reply done = Get(p.Api("/runs/" + std::to_string(id) + "/wait?timeout=60"), seconds(70));
    ASSERT_EQ(done.status, 200) << done.Describe();
    EXPECT_EQ(Str(done.obj(), "state"), "succeeded") << done.Describe();
  }
  json::value tasks = ParseJson(Get(p.Api("/tasks?limit=1000")).body);
  size_t steps = 0;
  for (const auto& t : tasks.at("tasks").as_array()) {
    const json::object& o = t.as_object();
    EXPECT_EQ(Str(o, "worker"), "etl") << json::serialize(o);
    EXPECT_EQ(Str(o.at("labels").as_object(), "queue"), "etl") << json::serialize(o);
    ++steps;
  }
  EXPECT_EQ(steps, 2u * (1 + 6 + 2));
  std::optional<json::object> w = FindWorker(p, "etl");
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(NumAt(w->at("resources").as_object(), "queue:other"), 2);

  // Director's per-task routing: LOAD goes to `other`, the rest to `etl`.
  std::string routed = Write("routed.yml", R"(tasks:
  LOAD: {op: echo}
demo.ROUTED:
  tasks: [noop, LOAD]
  queue: {default: etl, customs: {LOAD: other}}
)");
  ASSERT_EQ(h_.RunVolo({"workflow", "apply", routed, "--planner", p.url}).exit_code, 0);
  json::object view = Get(p.Api("/workflows/demo.ROUTED")).obj();
  EXPECT_EQ(json::serialize(view.at("task_queues")), R"({"LOAD":"other"})");
  ASSERT_EQ(Post(p.Api("/workflows/demo.ROUTED/runs"), "{}").status, 201);
  Reply done = Get(p.Api("/runs/3/wait?timeout=60"), seconds(70));
  ASSERT_EQ(Str(done.obj(), "state"), "succeeded") << done.Describe();
  auto queue_of = [&](const char* step) {
    json::object run = Run(p, 3);
    uint64_t task = Step(run, step)->at("task").to_number<uint64_t>();
    json::object t = Get(p.Api("/tasks/" + std::to_string(task))).obj();
    return Str(t.at("labels").as_object(), "queue") + " " + json::serialize(t.at("resources"));
  };
  EXPECT_EQ(queue_of("noop"), R"(etl {"queue:etl":1})");
  EXPECT_EQ(queue_of("LOAD"), R"(other {"queue:other":1})");
}

TEST_F(WorkflowTest, TheExamplesAreValid) {
  for (const char* name : {"etl.yml", "fanout.yml", "scheduled.yml", "integrate.yml"}) {
    std::string path = std::string(VOLO_SOURCE_DIR) + "/examples/workflows/" + name;
    CommandResult v = h_.RunVolo({"workflow", "validate", path});
    EXPECT_EQ(v.exit_code, 0) << name << ": " << v.err;
    EXPECT_NE(v.out.find(": ok, "), std::string::npos) << v.out;
  }
}

// The examples run as written: the nested fan-out maps a command over a previous step's list,
// sums the squares, and a nested workflow checks the sum; the ETL chains commands and a group.
TEST_F(WorkflowTest, TheExampleWorkflowsRunWithCommands) {
  const std::string dir = std::string(VOLO_SOURCE_DIR) + "/examples/workflows/";
  PlannerProc p = StartPlanner({"--workflows", dir + "fanout.yml"});
  ASSERT_NE(p.port, 0);
  StartWorker(p, {.id = "w1", .args = {"--slots", "4", "--sandbox", "none"}});
  CommandResult fan = h_.RunVolo(
      {"workflow", "run", "demo.FANOUT", "--payload", R"({"n": 30})", "--wait", "--planner", p.url},
      {}, seconds(120));
  EXPECT_EQ(fan.exit_code, 0) << fan.out << fan.err;
  json::object r = Run(p, 1);
  EXPECT_EQ(Str(r, "state"), "succeeded") << json::serialize(r);
  const json::object* sum = Step(r, "SUM");
  ASSERT_NE(sum, nullptr);
  EXPECT_EQ(Num(sum->at("result")), 8555);  // 0^2 + ... + 29^2
  EXPECT_EQ(NumAt(*Step(r, "SQUARES"), "succeeded"), 30);

  CommandResult apply = h_.RunVolo({"workflow", "apply", dir + "etl.yml", "--planner", p.url});
  ASSERT_EQ(apply.exit_code, 0) << apply.err;
  CommandResult etl =
      h_.RunVolo({"workflow", "run", "demo.ETL", "--payload", R"({"source": "sales", "rows": 4})",
                  "--wait", "--planner", p.url},
                 {}, seconds(120));
  EXPECT_EQ(etl.exit_code, 0) << etl.out << etl.err;
  json::object e = Run(p, 2);
  const json::object* load = Step(e, "LOAD");
  ASSERT_NE(load, nullptr);
  EXPECT_EQ(json::serialize(load->at("result")), R"({"source":"sales","total":100,"largest":40})");
  // A payload the schema refuses starts nothing.
  CommandResult bad = h_.RunVolo({"workflow", "run", "demo.ETL", "--payload",
                                  R"({"source": "sales", "rows": 0})", "--planner", p.url});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("payload.rows"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace volo::itest
