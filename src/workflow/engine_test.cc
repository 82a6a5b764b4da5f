#include "workflow/engine.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <set>

namespace volo::workflow {
namespace {
namespace json = boost::json;

// Records the tasks the engine starts; the test finishes them.
class FakeSink : public StepSink {
 public:
  Result<TaskId> Submit(const StepCall& call) override {
    if (fail_submit) return InvalidArgument("no worker runs that");
    TaskId id(next_++);
    calls[id.value()] = call;
    running.insert(id.value());
    return id;
  }
  void Cancel(TaskId task) override {
    cancelled.push_back(task.value());
    running.erase(task.value());
  }
  // The running task that runs `name` (the task name, via its op or definition).
  uint64_t Find(std::string_view op_or_def) const {
    for (uint64_t id : running) {
      const StepCall& c = calls.at(id);
      if ((c.def && c.def->name == op_or_def) || (!c.def && c.op == op_or_def)) return id;
    }
    return 0;
  }
  json::value Args(uint64_t id) const { return json::parse(calls.at(id).args); }
  void Done(Engine& e, uint64_t id, bool ok, std::string_view result) {
    running.erase(id);
    e.OnTaskFinished(TaskId(id), ok, result);
  }

  std::map<uint64_t, StepCall> calls;
  std::vector<uint64_t> Running() const { return {running.begin(), running.end()}; }

  std::set<uint64_t> running;  // ids grow in submission order
  std::vector<uint64_t> cancelled;
  bool fail_submit = false;

 private:
  uint64_t next_ = 100;
};

std::shared_ptr<const WorkflowFile> Load(std::string_view yaml) {
  ParseResult r = ParseWorkflowFile(
      yaml, [](const std::string&) -> Result<std::string> { return NotFound("none"); });
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].Format("t.yml"));
  return std::make_shared<const WorkflowFile>(std::move(r.file));
}

constexpr std::string_view kEtl = R"(
tasks:
  EXTRACT: {op: extract}
  T1: {op: t1}
  T2: {op: t2}
  LOAD: {op: load, retries: 3}
  OK_HOOK: {op: ok_hook}
  BAD_HOOK: {op: bad_hook}
ovh.ETL:
  tasks:
    - EXTRACT
    - FAN: {type: group, tasks: [T1, T2]}
    - LOAD
  hooks: {success: OK_HOOK, failure: BAD_HOOK}
)";

struct EngineTest : ::testing::Test {
  FakeClock clock;
  FakeSink sink;
  Engine engine{sink, clock};
};

TEST_F(EngineTest, ChainThenGroupThenStepSeesTheGroupsResults) {
  engine.Define(Load(kEtl));
  auto run = engine.Start("ovh.ETL", R"({"user": 7})");
  ASSERT_TRUE(run.ok());
  ASSERT_EQ(sink.running.size(), 1u);
  uint64_t extract = sink.Find("EXTRACT");
  ASSERT_NE(extract, 0u);
  EXPECT_EQ(sink.Args(extract).at("payload").at("user"), 7);
  EXPECT_EQ(sink.Args(extract).at("parents"), json::array());
  sink.Done(engine, extract, true, R"({"rows": 3})");
  // The group's members start side by side, each seeing EXTRACT's result.
  ASSERT_EQ(sink.running.size(), 2u);
  uint64_t t1 = sink.Find("T1"), t2 = sink.Find("T2");
  EXPECT_EQ(json::serialize(sink.Args(t2).at("parents")), R"([{"rows":3}])");
  sink.Done(engine, t2, true, "2");
  EXPECT_EQ(sink.Find("LOAD"), 0u);  // waits for the whole group
  sink.Done(engine, t1, true, "1");
  uint64_t load = sink.Find("LOAD");
  ASSERT_NE(load, 0u);
  // Director hands a group's results on in the group's order.
  EXPECT_EQ(json::serialize(sink.Args(load).at("parents")), "[1,2]");
  EXPECT_EQ(sink.calls[load].retries, 3);
  EXPECT_EQ(engine.FindRun(*run)->state, RunState::kRunning);
  sink.Done(engine, load, true, R"("loaded")");
  const workflow::Run* r = engine.FindRun(*run);
  EXPECT_EQ(r->state, RunState::kSucceeded);
  // The success hook runs with the outcome.
  uint64_t hook = sink.Find("OK_HOOK");
  ASSERT_NE(hook, 0u);
  EXPECT_EQ(sink.Args(hook).at("status"), "succeeded");
  EXPECT_EQ(sink.Find("BAD_HOOK"), 0u);
}

TEST_F(EngineTest, AFailureFailsTheRunCancelsTheRestAndTheHookSeesWhy) {
  engine.Define(Load(kEtl));
  auto run = engine.Start("ovh.ETL", "{}");
  sink.Done(engine, sink.Find("EXTRACT"), true, "null");
  uint64_t t1 = sink.Find("T1"), t2 = sink.Find("T2");
  sink.Done(engine, t1, false, "exited with status 3: boom");
  const workflow::Run* r = engine.FindRun(*run);
  EXPECT_EQ(r->state, RunState::kFailed);
  EXPECT_EQ(r->failed_step, "FAN/T1");
  EXPECT_EQ(r->error, "exited with status 3: boom");
  EXPECT_EQ(sink.cancelled, std::vector<uint64_t>{t2});
  EXPECT_EQ(sink.Find("LOAD"), 0u);
  uint64_t hook = sink.Find("BAD_HOOK");
  ASSERT_NE(hook, 0u);
  EXPECT_EQ(sink.Args(hook).at("failed_step"), "FAN/T1");
  EXPECT_EQ(sink.Args(hook).at("error"), "exited with status 3: boom");
  // A late result of the cancelled task changes nothing.
  engine.OnTaskFinished(TaskId(t2), true, "1");
  EXPECT_EQ(engine.FindRun(*run)->state, RunState::kFailed);
}

TEST_F(EngineTest, ContinueOnFailureHandsNullOn) {
  engine.Define(Load(R"(
tasks:
  A: {op: a}
  B: {op: b}
x.W:
  tasks:
    - A: {continue_on_failure: true}
    - B
)"));
  auto run = engine.Start("x.W", "{}");
  sink.Done(engine, sink.Find("A"), false, "bad");
  uint64_t b = sink.Find("B");
  ASSERT_NE(b, 0u);
  EXPECT_EQ(json::serialize(sink.Args(b).at("parents")), "[null]");
  sink.Done(engine, b, true, "1");
  EXPECT_EQ(engine.FindRun(*run)->state, RunState::kSucceeded);
}

TEST_F(EngineTest, MapRunsOncePerElementAndHandsTheListOnInOrder) {
  engine.Define(Load(R"(
tasks:
  LIST: {op: list}
  SQUARE: {op: square, args: {power: 2}}
  SUM: {op: sum}
x.M:
  tasks:
    - LIST
    - EACH: {type: map, over: LIST, task: SQUARE}
    - SUM
)"));
  auto run = engine.Start("x.M", "{}");
  sink.Done(engine, sink.Find("LIST"), true, "[1, 2, 3]");
  ASSERT_EQ(sink.running.size(), 3u);
  std::vector<uint64_t> squares = sink.Running();
  for (size_t i = 0; i < 3; ++i) {
    json::value a = sink.Args(squares[i]);
    EXPECT_EQ(a.at("item"), static_cast<int64_t>(i + 1));
    EXPECT_EQ(a.at("index"), static_cast<int64_t>(i));
    EXPECT_EQ(a.at("power"), 2);  // the task's own args stay
  }
  // Out of order completion; the list keeps element order.
  sink.Done(engine, squares[2], true, "9");
  sink.Done(engine, squares[0], true, "1");
  sink.Done(engine, squares[1], true, "4");
  uint64_t sum = sink.Find("SUM");
  ASSERT_NE(sum, 0u);
  EXPECT_EQ(json::serialize(sink.Args(sum).at("parents")), "[1,4,9]");
  const workflow::Run* r = engine.FindRun(*run);
  EXPECT_EQ(Engine::Path(*r, r->nodes[r->nodes[2].children[1]].parent), "EACH");
  EXPECT_EQ(Engine::Path(*r, r->nodes[2].children[1]), "EACH[1]");
}

TEST_F(EngineTest, MapOverSomethingThatIsNotAListFailsTheStepClearly) {
  engine.Define(Load(R"(
tasks:
  ONE: {op: one}
x.M:
  tasks:
    - ONE
    - EACH: {type: map, over: ONE, task: noop}
)"));
  auto run = engine.Start("x.M", "{}");
  sink.Done(engine, sink.Find("ONE"), true, R"({"not": "a list"})");
  const workflow::Run* r = engine.FindRun(*run);
  EXPECT_EQ(r->state, RunState::kFailed);
  EXPECT_EQ(r->failed_step, "EACH");
  EXPECT_EQ(r->error, R"(map 'EACH' runs over ONE, which is not a list: {"not": "a list"})");
}

TEST_F(EngineTest, MapOverAPayloadFieldOfTenThousand) {
  engine.Define(Load("x.P:\n  tasks:\n    - E: {type: map, over: payload.items, task: noop}\n"));
  std::string payload = R"({"items": [)";
  for (int i = 0; i < 10000; ++i) payload += (i ? "," : "") + std::to_string(i);
  payload += "]}";
  auto run = engine.Start("x.P", payload);
  // The first map_window elements are tasks; the rest wait in the engine and start, in order,
  // as earlier ones end, so no more than the window is ever submitted at once.
  const size_t window = EngineOptions{}.map_window;
  ASSERT_LT(window, 10000u);
  ASSERT_EQ(sink.running.size(), window);
  size_t finished = 0;
  int64_t next_index = 0;
  while (!sink.running.empty()) {
    EXPECT_LE(sink.running.size(), window);
    uint64_t id = *sink.running.begin();
    EXPECT_EQ(sink.Args(id).at("index"), next_index++);
    sink.Done(engine, id, true, std::to_string(finished++ * 2));
  }
  EXPECT_EQ(finished, 10000u);
  const workflow::Run* r = engine.FindRun(*run);
  ASSERT_EQ(r->state, RunState::kSucceeded);
  json::value list = json::parse(r->nodes[1].result);
  ASSERT_EQ(list.as_array().size(), 10000u);
  EXPECT_EQ(list.as_array()[9999], 19998);
  // An empty list succeeds at once.
  auto empty = engine.Start("x.P", R"({"items": []})");
  EXPECT_EQ(engine.FindRun(*empty)->state, RunState::kSucceeded);
}

// Elements that end as they start (here: every submit fails, and the map tolerates it) are
// started by one loop, not by a recursion per element: 200,000 of them do not exhaust the stack.
TEST_F(EngineTest, AMapWhoseElementsEndAtOnceNeedsNoRecursionPerElement) {
  engine.Define(
      Load("x.P:\n  tasks:\n    - E: {type: map, over: payload.items, task: noop, "
           "continue_on_failure: true}\n"));
  std::string payload = R"({"items": [)";
  for (int i = 0; i < 200000; ++i) payload += (i ? ",0" : "0");
  payload += "]}";
  sink.fail_submit = true;
  auto run = engine.Start("x.P", payload);
  ASSERT_TRUE(run.ok());
  const workflow::Run* r = engine.FindRun(*run);
  EXPECT_EQ(r->state, RunState::kSucceeded);
  EXPECT_EQ(r->nodes[1].ended_children, 200000u);
}

// A window of two: a third element starts only when one of the first two ends, and the failure
// of one element cancels the running ones and starts no more.
TEST(EngineWindowTest, AFailedElementStopsTheMapFromStartingMore) {
  FakeClock clock;
  FakeSink sink;
  EngineOptions options;
  options.map_window = 2;
  Engine engine(sink, clock, options);
  engine.Define(Load("x.P:\n  tasks:\n    - E: {type: map, over: payload.items, task: noop}\n"));
  auto run = engine.Start("x.P", R"({"items": [1, 2, 3, 4, 5]})");
  ASSERT_EQ(sink.running.size(), 2u);
  std::vector<uint64_t> first = sink.Running();
  sink.Done(engine, first[0], true, "1");
  ASSERT_EQ(sink.running.size(), 2u);
  uint64_t third = sink.Running().back();
  EXPECT_EQ(sink.Args(third).at("item"), 3);
  sink.Done(engine, third, false, "boom");
  EXPECT_TRUE(sink.running.empty());  // the second was cancelled, 4 and 5 never started
  EXPECT_EQ(sink.calls.size(), 3u);
  const workflow::Run* r = engine.FindRun(*run);
  EXPECT_EQ(r->state, RunState::kFailed);
  EXPECT_EQ(r->failed_step, "E[2]");
  EXPECT_EQ(r->nodes[1].succeeded_children, 1u);
  EXPECT_EQ(r->nodes[1].failed_children, 1u);
}

TEST_F(EngineTest, NestedWorkflowsExpandAndReceiveTheirParents) {
  engine.Define(Load(R"(
tasks:
  A: {op: a}
  B: {op: b}
  C: {op: c}
x.OUTER:
  tasks: [A, x.INNER, C]
x.INNER:
  tasks:
    - B
    - G: {type: group, tasks: [noop, noop]}
)"));
  auto run = engine.Start("x.OUTER", "{}");
  sink.Done(engine, sink.Find("A"), true, "\"a\"");
  uint64_t b = sink.Find("B");
  ASSERT_NE(b, 0u);
  EXPECT_EQ(json::serialize(sink.Args(b).at("parents")), R"(["a"])");
  sink.Done(engine, b, true, "null");
  ASSERT_EQ(sink.running.size(), 2u);
  std::vector<uint64_t> noops = sink.Running();
  sink.Done(engine, noops[0], true, "1");
  sink.Done(engine, noops[1], true, "2");
  uint64_t c = sink.Find("C");
  ASSERT_NE(c, 0u);
  EXPECT_EQ(json::serialize(sink.Args(c).at("parents")), "[1,2]");
  sink.Done(engine, c, true, "null");
  EXPECT_EQ(engine.FindRun(*run)->state, RunState::kSucceeded);
}

TEST_F(EngineTest, ConcurrencyOneQueuesTheSecondRun) {
  engine.Define(Load("x.ONE:\n  concurrency: 1\n  tasks: [noop]\n"));
  auto first = engine.Start("x.ONE", "{}");
  auto second = engine.Start("x.ONE", "{}");
  EXPECT_EQ(engine.FindRun(*second)->state, RunState::kQueued);
  ASSERT_EQ(sink.running.size(), 1u);
  sink.Done(engine, sink.Running()[0], true, "null");
  EXPECT_EQ(engine.FindRun(*first)->state, RunState::kSucceeded);
  EXPECT_EQ(engine.FindRun(*second)->state, RunState::kRunning);
  // A queued run can be cancelled before it starts.
  auto third = engine.Start("x.ONE", "{}");
  EXPECT_TRUE(engine.Cancel(*third).ok());
  EXPECT_EQ(engine.FindRun(*third)->state, RunState::kCancelled);
  sink.Done(engine, sink.Running()[0], true, "null");
  EXPECT_TRUE(sink.running.empty());
}

TEST_F(EngineTest, CancelStopsTheRunAndItsTasks) {
  engine.Define(Load(kEtl));
  auto run = engine.Start("ovh.ETL", "{}");
  uint64_t extract = sink.Find("EXTRACT");
  EXPECT_TRUE(engine.Cancel(*run).ok());
  EXPECT_EQ(engine.FindRun(*run)->state, RunState::kCancelled);
  EXPECT_EQ(sink.cancelled, std::vector<uint64_t>{extract});
  EXPECT_TRUE(sink.running.empty());  // no hook for a cancelled run
  EXPECT_EQ(engine.Cancel(*run).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine.Cancel(*run).message(), "run 1 has already ended (cancelled)");
  EXPECT_EQ(engine.Cancel(RunId(999)).code(), StatusCode::kNotFound);
}

TEST_F(EngineTest, RelaunchFromFailedSkipsWhatSucceeded) {
  engine.Define(Load(kEtl));
  auto run = engine.Start("ovh.ETL", R"({"k": 1})");
  sink.Done(engine, sink.Find("EXTRACT"), true, "\"x\"");
  sink.Done(engine, sink.Find("T1"), true, "1");
  sink.Done(engine, sink.Find("T2"), false, "oops");
  sink.Done(engine, sink.Find("BAD_HOOK"), true, "null");
  ASSERT_EQ(engine.FindRun(*run)->state, RunState::kFailed);
  auto again = engine.Relaunch(*run, /*from_failed=*/true);
  ASSERT_TRUE(again.ok());
  // EXTRACT and T1 are not run again; T2 is.
  ASSERT_EQ(sink.running.size(), 1u);
  uint64_t t2 = sink.Find("T2");
  ASSERT_NE(t2, 0u);
  EXPECT_EQ(json::serialize(sink.Args(t2).at("parents")), R"(["x"])");
  EXPECT_EQ(sink.Args(t2).at("payload").at("k"), 1);
  sink.Done(engine, t2, true, "2");
  uint64_t load = sink.Find("LOAD");
  EXPECT_EQ(json::serialize(sink.Args(load).at("parents")), "[1,2]");
  // A full relaunch runs everything.
  auto full = engine.Relaunch(*run, false);
  EXPECT_NE(sink.Find("EXTRACT"), 0u);
  EXPECT_EQ(engine.FindRun(*full)->trigger, "relaunch of 1");
  EXPECT_EQ(engine.Relaunch(*again, false).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(EngineTest, PayloadIsCheckedAgainstTheSchemaBeforeAnythingRuns) {
  engine.Define(Load(R"(
x.S:
  schema: {type: object, required: [user], properties: {user: {type: integer}}}
  tasks: [noop]
)"));
  auto bad = engine.Start("x.S", R"({"user": "me"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().message().starts_with("payload.user: ")) << bad.status().message();
  EXPECT_TRUE(sink.running.empty());
  EXPECT_FALSE(engine.Start("x.S", "[1]").ok());
  EXPECT_EQ(engine.Start("x.NOPE", "{}").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(engine.Start("x.S", R"({"user": 1})").ok());
}

TEST_F(EngineTest, SchedulesFireOnceEvenAfterDowntime) {
  engine.Define(Load("x.T:\n  periodic: {interval: 60}\n  tasks: [noop]\n"));
  engine.Tick();
  EXPECT_TRUE(sink.running.empty());
  clock.Advance(std::chrono::seconds(61));
  engine.Tick();
  EXPECT_EQ(sink.running.size(), 1u);
  EXPECT_EQ(engine.Runs("x.T", 10)[0]->trigger, "schedule");
  // Ten missed periods: one run, then every 60 s again.
  clock.Advance(std::chrono::seconds(600));
  engine.Tick();
  EXPECT_EQ(sink.running.size(), 2u);
  engine.Tick();
  EXPECT_EQ(sink.running.size(), 2u);
  ASSERT_EQ(engine.NextScheduled().size(), 1u);
  EXPECT_DOUBLE_EQ(engine.NextScheduled()[0].second - clock.Wall(), 60);
}

// Director's queue: every task of the run carries it, nested workflows' and hooks' included.
TEST_F(EngineTest, TheQueueGoesWithEveryTaskOfTheRun) {
  engine.Define(Load(R"(
tasks:
  HOOK: {op: hook}
  FIRST: {op: first}
  INNER: {op: inner}
x.INNER:
  queue: other
  tasks: [INNER]
x.OUTER:
  queue: etl
  tasks: [FIRST, x.INNER]
  hooks: {success: HOOK}
)"));
  auto run = engine.Start("x.OUTER", "{}");
  uint64_t first = sink.Find("FIRST");
  EXPECT_EQ(sink.calls[first].queue, "etl");
  sink.Done(engine, first, true, "1");
  uint64_t inner = sink.Find("INNER");
  EXPECT_EQ(sink.calls[inner].queue, "etl");
  sink.Done(engine, inner, true, "2");
  uint64_t hook = sink.Find("HOOK");
  ASSERT_NE(hook, 0u);
  EXPECT_EQ(sink.calls[hook].queue, "etl");
  EXPECT_EQ(engine.FindRun(*run)->state, RunState::kSucceeded);
  // Started on its own, the inner workflow's steps go to its own queue.
  ASSERT_TRUE(engine.Start("x.INNER", "{}").ok());
  EXPECT_EQ(sink.calls[sink.Find("INNER")].queue, "other");
}

// Director's per-task routing: a task named under queue.customs goes to its own queue,
// wherever it runs (a group member, a hook); the others to the default.
TEST_F(EngineTest, PerTaskQueuesRouteTheirTasks) {
  engine.Define(Load(R"(
tasks:
  A: {op: a}
  B: {op: b}
  C: {op: c}
  HOOK: {op: hook}
x.ROUTED:
  tasks:
    - A
    - G: {type: group, tasks: [B, C]}
  hooks: {success: HOOK}
  queue: {default: q1, customs: {B: q2, HOOK: q3}}
)"));
  auto run = engine.Start("x.ROUTED", "{}");
  ASSERT_TRUE(run.ok());
  uint64_t a = sink.Find("A");
  EXPECT_EQ(sink.calls[a].queue, "q1");
  sink.Done(engine, a, true, "1");
  uint64_t b = sink.Find("B"), c = sink.Find("C");
  EXPECT_EQ(sink.calls[b].queue, "q2");
  EXPECT_EQ(sink.calls[c].queue, "q1");
  sink.Done(engine, b, true, "2");
  sink.Done(engine, c, true, "3");
  uint64_t hook = sink.Find("HOOK");
  ASSERT_NE(hook, 0u);
  EXPECT_EQ(sink.calls[hook].queue, "q3");
}

TEST_F(EngineTest, ASubmitErrorFailsTheStep) {
  engine.Define(Load("x.E:\n  tasks: [noop]\n"));
  sink.fail_submit = true;
  auto run = engine.Start("x.E", "{}");
  const workflow::Run* r = engine.FindRun(*run);
  EXPECT_EQ(r->state, RunState::kFailed);
  EXPECT_EQ(r->error, "task 'noop': no worker runs that");
}

TEST_F(EngineTest, ACommandReadsItsInputsOnStdin) {
  engine.Define(Load(R"(
tasks:
  A: {op: a}
  CMD: {cmd: [python3, step.py], env: {MODE: x}}
  OWN: {shell: "cat", stdin: "fixed"}
x.C:
  tasks: [A, CMD, OWN]
)"));
  auto run = engine.Start("x.C", R"({"k": 1})");
  sink.Done(engine, sink.Find("A"), true, "7");
  uint64_t cmd = sink.Find("CMD");
  ASSERT_NE(cmd, 0u);
  EXPECT_EQ(sink.calls[cmd].op, "exec");
  json::value args = sink.Args(cmd);
  EXPECT_EQ(json::serialize(args.at("cmd")), R"(["python3","step.py"])");
  EXPECT_FALSE(args.as_object().contains("payload"));
  json::value in = json::parse(args.at("stdin").as_string());
  EXPECT_EQ(json::serialize(in), R"({"payload":{"k":1},"parents":[7]})");
  sink.Done(engine, cmd, true, "8");
  uint64_t own = sink.Find("OWN");
  // A command that sets its own stdin keeps it.
  EXPECT_EQ(sink.Args(own).at("stdin"), "fixed");
  (void)run;
}

}  // namespace
}  // namespace volo::workflow
