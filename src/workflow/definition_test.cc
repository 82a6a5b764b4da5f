#include "workflow/definition.h"

#include <gtest/gtest.h>

#include <map>

#include "workflow/schema.h"

namespace volo::workflow {
namespace {

FileReader Files(std::map<std::string, std::string> files) {
  return [files = std::move(files)](const std::string& path) -> Result<std::string> {
    auto it = files.find(path);
    if (it == files.end()) return NotFound("no such file");
    return it->second;
  };
}

std::vector<std::string> Errors(std::string_view yaml, const FileReader& read = Files({})) {
  ParseResult r = ParseWorkflowFile(yaml, read);
  std::vector<std::string> out;
  for (const Diagnostic& d : r.errors) out.push_back(d.Format("w.yml"));
  return out;
}

TEST(WorkflowParseTest, DirectorsLayoutAsItIs) {
  // Director's own examples: a chain, a group, a schedule, hooks; tasks named by operation.
  ParseResult r = ParseWorkflowFile(R"(
tasks:
  EXTRACT: {op: echo, args: {rows: 3}}
  TRANSFORM_ONE: {op: noop}
  TRANSFORM_TWO: {op: noop}
  LOAD: {op: noop, retries: 2, timeout: 5, priority: 3, labels: {team: data}}
  NOTIFY: {op: noop}
ovh.SIMPLE_ETL:
  tasks:
    - EXTRACT
    - TRANSFORM_ONE
    - LOAD
ovh.GROUP_ETL:
  tasks:
    - EXTRACT
    - MY_GROUP:
        type: group
        tasks:
          - TRANSFORM_ONE
          - TRANSFORM_TWO
    - LOAD
  periodic:
    crontab: "0 */3 * * *"
  hooks:
    success: NOTIFY
    failure: NOTIFY
  queue: etl
)",
                                    Files({}));
  ASSERT_TRUE(r.ok()) << r.errors[0].Format("w.yml");
  ASSERT_EQ(r.file.workflows.size(), 2u);
  const Workflow& g = r.file.workflows[1];
  EXPECT_EQ(g.name, "ovh.GROUP_ETL");
  ASSERT_EQ(g.root.steps.size(), 3u);
  EXPECT_EQ(g.root.steps[1].kind, Step::Kind::kGroup);
  EXPECT_EQ(g.root.steps[1].name, "MY_GROUP");
  ASSERT_EQ(g.root.steps[1].steps.size(), 2u);
  EXPECT_EQ(g.root.steps[1].steps[1].task, "TRANSFORM_TWO");
  EXPECT_EQ(g.periodic.kind, Schedule::Kind::kCron);
  EXPECT_EQ(g.on_success, "NOTIFY");
  EXPECT_EQ(g.queue, "etl");
  const TaskDef* load = r.file.Task("LOAD");
  ASSERT_NE(load, nullptr);
  EXPECT_EQ(load->retries, 2);
  EXPECT_EQ(load->timeout, 5);
  EXPECT_EQ(load->priority, 3);
  EXPECT_EQ(r.file.Task("EXTRACT")->args, R"({"rows":3})");
  EXPECT_EQ(g.root.steps[0].where.line, 15);
  EXPECT_EQ(g.root.steps[0].where.col, 7);
}

// Director keeps schemas as schemas/NAME.json beside workflows.yml and names them without the
// folder and extension; its periodic `schedule` is the older name of `interval`.
TEST(WorkflowParseTest, DirectorsSchemaNamesAndOlderScheduleKey) {
  const std::string schema = R"({"type": "object", "required": ["user"]})";
  ParseResult r = ParseWorkflowFile(
      R"(
product.ORDER:
  tasks: [noop]
  schema: order
product.NESTED:
  tasks: [noop]
  schema: foo/bar/baz
users.UPDATE_CACHE:
  tasks: [noop]
  periodic:
    schedule: 3600
    payload: {"user": False}
)",
      Files({{"schemas/order.json", schema}, {"schemas/foo/bar/baz.json", schema}}));
  ASSERT_TRUE(r.ok()) << r.errors[0].Format("w.yml");
  EXPECT_EQ(r.file.workflows[0].schema, schema);
  EXPECT_EQ(r.file.workflows[1].schema, schema);
  const Workflow& cache = r.file.workflows[2];
  EXPECT_EQ(cache.periodic.kind, Schedule::Kind::kInterval);
  EXPECT_EQ(cache.periodic.interval, std::chrono::seconds(3600));
  EXPECT_EQ(cache.periodic_payload, R"({"user":false})");
  EXPECT_EQ(Errors("a.B:\n  tasks: [noop]\n  schema: gone\n"),
            (std::vector<std::string>{"w.yml:3:11: cannot read schema 'gone' (nor "
                                      "schemas/gone.json, as in Director): no such file"}));
}

// A command's resources are written as a submitted task's ({cpus, memory, NAME}) and carried
// as an exec task carries them; its fields are checked as the planner checks an exec task.
TEST(WorkflowParseTest, CommandFieldsAreCheckedAndResourcesCarriedAsForAnExecTask) {
  ParseResult r = ParseWorkflowFile(
      "tasks:\n  T: {shell: run, resources: {cpus: 2, memory: 512, gpus: 1}}\na.B:\n  tasks: "
      "[T]\n",
      Files({}));
  ASSERT_TRUE(r.ok()) << r.errors[0].Format("w.yml");
  EXPECT_EQ(r.file.Task("T")->args,
            R"({"shell":"run","cpus":2,"memory":512,"resources":{"gpus":1}})");
  EXPECT_EQ(Errors("tasks:\n  T: {shell: run, env: {A: [1]}}\na.B:\n  tasks: [T]\n"),
            (std::vector<std::string>{"w.yml:2:6: task 'T': env.A: must be a string"}));
  EXPECT_EQ(Errors("tasks:\n  T: {cmd: [ls], cwd: /etc}\na.B:\n  tasks: [T]\n"),
            (std::vector<std::string>{"w.yml:2:6: task 'T': cwd: must be a relative path inside "
                                      "the task's directory, not '/etc'"}));
  EXPECT_EQ(Errors("tasks:\n  T: {cmd: [ls], resources: {gpus: -1}}\na.B:\n  tasks: [T]\n"),
            (std::vector<std::string>{
                "w.yml:2:6: task 'T': resources.gpus: must be a number, 0 or more"}));
  EXPECT_EQ(Errors("tasks:\n  T: {cmd: [ls], resources: 4}\na.B:\n  tasks: [T]\n"),
            (std::vector<std::string>{
                "w.yml:2:29: resources: must be a mapping like {cpus: 2, memory: 512, gpus: 1}"}));
}

TEST(WorkflowParseTest, BeyondDirectorNestingMapsConcurrencyAndCommands) {
  ParseResult r = ParseWorkflowFile(R"(
tasks:
  LIST: {op: echo}
  SQUARE: {cmd: [python3, square.py], env: {MODE: fast}, timeout: 30}
  SAY: {shell: "echo hi"}
  SCORE: {fly: score.fly, func: score}
demo.NESTED:
  concurrency: 1
  tasks:
    - LIST
    - OUTER:
        type: group
        tasks:
          - SAY
          - INNER:
              type: chain
              tasks:
                - SAY
                - DEEPER: {type: group, tasks: [SAY, SAY]}
    - EACH: {type: map, over: LIST, task: SQUARE, continue_on_failure: true}
    - map: {over: payload.items, task: SCORE}
    - demo.OTHER
demo.OTHER:
  tasks: [noop]
)",
                                    Files({{"score.fly", "func score(x) { return x }"}}));
  ASSERT_TRUE(r.ok()) << r.errors[0].Format("w.yml");
  const Workflow& w = r.file.workflows[0];
  EXPECT_EQ(w.concurrency, 1);
  const Step& outer = w.root.steps[1];
  ASSERT_EQ(outer.steps[1].kind, Step::Kind::kChain);
  EXPECT_EQ(outer.steps[1].steps[1].kind, Step::Kind::kGroup);
  const Step& each = w.root.steps[2];
  EXPECT_EQ(each.kind, Step::Kind::kMap);
  EXPECT_EQ(each.over, "LIST");
  EXPECT_EQ(each.task, "SQUARE");
  EXPECT_TRUE(each.continue_on_failure);
  EXPECT_EQ(w.root.steps[3].kind, Step::Kind::kMap);
  EXPECT_EQ(w.root.steps[3].over, "payload.items");
  EXPECT_EQ(w.root.steps[4].task, "demo.OTHER");
  const TaskDef* sq = r.file.Task("SQUARE");
  EXPECT_EQ(sq->kind, TaskKind::kCommand);
  EXPECT_EQ(sq->op, "exec");
  EXPECT_EQ(sq->args, R"({"cmd":["python3","square.py"],"env":{"MODE":"fast"}})");
  EXPECT_EQ(r.file.Task("SCORE")->fly_source, "func score(x) { return x }");
}

TEST(WorkflowParseTest, ErrorsCarryLineAndColumnAndAllAreReported) {
  EXPECT_EQ(Errors(R"(
ovh.A:
  tasks:
    - EXTRACT
    - noop
  periodic: {crontab: "0 25 * * *"}
)"),
            (std::vector<std::string>{
                "w.yml:4:7: unknown task 'EXTRACT': define it under tasks: (op, cmd, shell or fly)",
                "w.yml:6:23: crontab: hour: 25 is out of range 0-23"}));
}

TEST(WorkflowParseTest, YamlSyntaxErrorsArePositioned) {
  auto e = Errors("ovh.A:\n  tasks: [a, b\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_TRUE(e[0].starts_with("w.yml:3:1: ")) << e[0];
  // A tab in an indentation is named, as yaml-cpp's own message does not say it.
  EXPECT_EQ(Errors("ovh.A:\n\ttasks: [noop]\n"),
            (std::vector<std::string>{"w.yml:2:7: illegal map value (line 2 is indented with a "
                                      "tab: YAML indents with spaces only)"}));
}

TEST(WorkflowParseTest, MapMustRunOverAnEarlierStepOrAPayloadList) {
  EXPECT_EQ(Errors(R"(
tasks:
  SUM: {op: add, args: {a: 1, b: 2}}
  LATER: {op: echo}
ovh.M:
  tasks:
    - SUM
    - EACH: {type: map, over: SUM, task: noop}
    - BEFORE: {type: map, over: LATER, task: noop}
    - LATER
)"),
            (std::vector<std::string>{
                "w.yml:8:7: map 'EACH' runs over 'SUM', whose result (add) is a number or null, "
                "not a list",
                "w.yml:9:7: map 'BEFORE' runs over 'LATER', which is not a step that finishes "
                "before it (name an earlier step, or payload.FIELD)"}));
  // Side by side in a group: not finished before.
  EXPECT_EQ(Errors(R"(
tasks:
  A: {op: echo}
ovh.G:
  tasks:
    - G: {type: group, tasks: [A, {M: {type: map, over: A, task: noop}}]}
)")
                .size(),
            1u);
  // The schema says the field is not a list.
  EXPECT_EQ(Errors(R"(
ovh.S:
  schema: {type: object, properties: {n: {type: integer}}}
  tasks:
    - M: {type: map, over: payload.n, task: noop}
)"),
            (std::vector<std::string>{"w.yml:5:7: map 'M' runs over payload.n, which the schema "
                                      "says is integer, not a list"}));
}

TEST(WorkflowParseTest, NestingCyclesAreFound) {
  auto e = Errors(R"(
a.ONE:
  tasks: [noop, a.TWO]
a.TWO:
  tasks: [a.ONE]
)");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], "w.yml:5:11: workflows nest in a cycle: a.ONE -> a.TWO -> a.ONE");
  EXPECT_EQ(Errors("a.SELF:\n  tasks: [a.SELF]\n"),
            (std::vector<std::string>{"w.yml:2:11: workflows nest in a cycle: a.SELF -> a.SELF"}));
}

TEST(WorkflowParseTest, LayoutMistakes) {
  EXPECT_EQ(Errors("ETL:\n  tasks: [noop]\n"),
            (std::vector<std::string>{"w.yml:1:1: 'ETL' is not a workflow name: write "
                                      "PROJECT.NAME (a dot between two names), tasks: for task "
                                      "definitions, or .NAME for a template to merge with <<"}));
  // A workflow's name goes in URLs and command lines as it is.
  EXPECT_EQ(Errors("\"a.B C\":\n  tasks: [noop]\na.b/c:\n  tasks: [noop]\n"),
            (std::vector<std::string>{
                "w.yml:1:1: workflow name 'a.B C' must be 1-128 of A-Z a-z 0-9 _ . : - (a dot "
                "between PROJECT and NAME)",
                "w.yml:3:1: workflow name 'a.b/c' must be 1-128 of A-Z a-z 0-9 _ . : - (a dot "
                "between PROJECT and NAME)"}));
  EXPECT_EQ(Errors("a.B:\n  taks: [noop]\n"),
            (std::vector<std::string>{
                "w.yml:1:1: workflow 'a.B' has no tasks list",
                "w.yml:2:3: workflow 'a.B': unknown key 'taks' (tasks, periodic, hooks, schema, "
                "queue, concurrency)"}));
  EXPECT_EQ(Errors("tasks:\n  X: {op: add, args: {a: 1}}\na.B:\n  tasks: [X]\n"),
            (std::vector<std::string>{"w.yml:2:6: task 'X': args.b: add needs a number here"}));
  EXPECT_EQ(
      Errors("tasks:\n  X: {op: noop, cmd: [ls]}\na.B:\n  tasks: [X]\n"),
      (std::vector<std::string>{"w.yml:2:6: task 'X' needs exactly one of op, cmd, shell or fly"}));
  EXPECT_EQ(
      Errors("tasks:\n  X: {fly: nope.fly, func: f}\na.B:\n  tasks: [X]\n"),
      (std::vector<std::string>{"w.yml:2:12: cannot read FLY program 'nope.fly': no such file"}));
  EXPECT_EQ(Errors("a.B:\n  tasks: [noop]\n  hooks: {success: GONE}\n"),
            (std::vector<std::string>{"w.yml:3:20: unknown task 'GONE': define it under tasks: "
                                      "(op, cmd, shell or fly)"}));
  EXPECT_EQ(Errors(""), (std::vector<std::string>{"w.yml:1:1: the file defines no workflows"}));
  EXPECT_EQ(Errors("a.B:\n  tasks:\n    - G: {type: grop, tasks: [noop]}\n"),
            (std::vector<std::string>{"w.yml:3:17: unknown step type 'grop' (group, chain, map)"}));
  EXPECT_EQ(Errors("a.B:\n  tasks: [noop]\n  queue: \"two words\"\n"),
            (std::vector<std::string>{
                "w.yml:3:10: queue: must be 1-122 characters of letters, digits, _ . : -"}));
}

// yaml-cpp keeps both entries of a key written twice (a workflow's `tasks:` twice ran both
// lists); PyYAML keeps the last. Either way the file is not what its author meant.
TEST(WorkflowParseTest, AKeyGivenTwiceIsAnError) {
  EXPECT_EQ(
      Errors(R"(
tasks:
  X: {op: echo, op: noop}
  X: {op: echo}
a.B:
  tasks: [noop]
  tasks: [echo]
a.B:
  tasks: [noop]
)"),
      (std::vector<std::string>{"w.yml:3:6: task 'X' needs exactly one of op, cmd, shell or fly",
                                "w.yml:3:17: 'op' is given twice (first at 3:7)",
                                "w.yml:4:3: 'X' is given twice (first at 3:3)",
                                "w.yml:7:3: 'tasks' is given twice (first at 6:3)",
                                "w.yml:8:1: 'a.B' is given twice (first at 5:1)"}));
}

// A few hundred bytes of aliases of lists of aliases (the billion laughs) expand to 10^9 values
// or steps: refused at the first million, rather than holding the planner for ever.
TEST(WorkflowParseTest, AliasesThatExpandBeyondAMillionAreRefused) {
  auto laughs = [](const std::string& base) {
    std::string y = "      l0: &l0 " + base + "\n";
    for (int i = 1; i <= 8; ++i) {
      y += "      l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
      for (int j = 0; j < 10; ++j) y += (j ? ", *l" : "*l") + std::to_string(i - 1);
      y += "]\n";
    }
    return y;
  };
  auto e = Errors("tasks:\n  X:\n    op: echo\n    args:\n" +
                  laughs("[a, b, c, d, e, f, g, h, i, j]") + "a.B:\n  tasks: [X]\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0],
            "w.yml:5:7: args must be a mapping: more than 1000000 values (aliases that "
            "repeat each other?)");
  // Steps: each level a group whose tasks are ten of the level below.
  std::string steps = "a.B:\n  tasks:\n    - &g0 {G: {type: group, tasks: [noop, noop]}}\n";
  for (int i = 1; i <= 21; ++i) {
    steps += "    - &g" + std::to_string(i) + " {G: {type: group, tasks: [*g" +
             std::to_string(i - 1) + ", *g" + std::to_string(i - 1) + "]}}\n";
  }
  auto s = Errors(steps);
  ASSERT_FALSE(s.empty());
  EXPECT_NE(s[0].find("more than 1000000 steps in the file (aliases that repeat each other?)"),
            std::string::npos)
      << s[0];
}

// PyYAML, and so Director, reads YAML 1.1's merge key; yaml-cpp does not. A `.NAME` at the top
// is a template (as in GitLab CI), not a workflow.
TEST(WorkflowParseTest, MergeKeysAndTemplates) {
  ParseResult r = ParseWorkflowFile(R"(
.defaults: &defaults
  queue: etl
  hooks: {failure: ALERT}
  concurrency: 1
.retry: &retry {retries: 3, timeout: 60}
tasks:
  BASE: &base {op: echo, priority: 2}
  A:
    <<: [*retry, *base]
    timeout: 5
  ALERT: {op: noop}
ovh.ONE:
  <<: *defaults
  tasks: [A]
ovh.TWO:
  <<: *defaults
  concurrency: 2
  tasks: [BASE]
)",
                                    Files({}));
  ASSERT_TRUE(r.ok()) << r.errors[0].Format("w.yml");
  ASSERT_EQ(r.file.workflows.size(), 2u);
  const Workflow& one = *r.file.Find("ovh.ONE");
  EXPECT_EQ(one.queue, "etl");
  EXPECT_EQ(one.on_failure, "ALERT");
  EXPECT_EQ(one.concurrency, 1);
  EXPECT_EQ(r.file.Find("ovh.TWO")->concurrency, 2);  // its own key wins
  const TaskDef& a = *r.file.Task("A");
  EXPECT_EQ(a.op, "echo");
  EXPECT_EQ(a.retries, 3);
  EXPECT_EQ(a.timeout, 5);  // its own key wins
  EXPECT_EQ(a.priority, 2);
  // A merged key keeps its place for errors.
  EXPECT_EQ(Errors(".d: &d {queue: \"two words\"}\na.B:\n  <<: *d\n  tasks: [noop]\n"),
            (std::vector<std::string>{
                "w.yml:1:16: queue: must be 1-122 characters of letters, digits, _ . : -"}));
  EXPECT_EQ(Errors("a.B:\n  <<: 3\n  tasks: [noop]\n"),
            (std::vector<std::string>{"w.yml:2:7: '<<' merges a mapping or a list of mappings"}));
}

// Director reads `interval` as a float, and its older `schedule` as seconds or a cron line in
// its own field order (minute hour day-of-week day-of-month month).
TEST(WorkflowParseTest, DirectorsIntervalFloatsAndOlderScheduleCronLines) {
  ParseResult r = ParseWorkflowFile(R"(
a.FLOAT:
  tasks: [noop]
  periodic: {interval: 60.0}
a.LEGACY:
  tasks: [noop]
  periodic: {schedule: "30 3 1 * *"}
)",
                                    Files({}));
  ASSERT_TRUE(r.ok()) << r.errors[0].Format("w.yml");
  EXPECT_EQ(r.file.Find("a.FLOAT")->periodic.Describe(), "every 60 s");
  EXPECT_EQ(r.file.Find("a.LEGACY")->periodic.Describe(), "cron 30 3 * * 1");  // Mondays
  EXPECT_EQ(Errors("a.B:\n  tasks: [noop]\n  periodic: {interval: 2.5}\n"),
            (std::vector<std::string>{
                "w.yml:3:24: interval must be a whole number of seconds from 1 to 31622400"}));
  EXPECT_EQ(Errors("a.B:\n  tasks: [noop]\n  periodic: {schedule: \"0 3 *\"}\n"),
            (std::vector<std::string>{
                "w.yml:3:24: schedule: seconds, or a cron line in Director's order (minute hour "
                "day-of-week day-of-month month)"}));
}

// Valid field by field, but no such date: it would never run (and left the schedules).
TEST(WorkflowParseTest, ACrontabThatNamesNoDateIsAnError) {
  EXPECT_EQ(Errors("a.B:\n  tasks: [noop]\n  periodic: {crontab: \"0 0 31 2 *\"}\n"),
            (std::vector<std::string>{
                "w.yml:3:23: crontab: never runs: none of the days of month it names falls in a "
                "month it names (February has 29 days at most; April, June, September and "
                "November 30)"}));
}

// A definition the journal kept from an earlier release is read as that release accepted it:
// the checks added since do not drop its workflows (and their runs) on an upgrade.
TEST(WorkflowParseTest, AReplayedDefinitionSkipsTheChecksAddedSince) {
  constexpr std::string_view kOld =
      "\"a.B C\":\n  tasks: [noop]\n"
      "a.D:\n  tasks: [noop]\n  tasks: [echo]\n  periodic: {crontab: \"0 0 31 2 *\"}\n";
  EXPECT_EQ(Errors(kOld).size(), 3u);  // the name, `tasks` twice, the crontab
  ParseResult r = ParseWorkflowFile(kOld, Files({}), {}, /*replay=*/true);
  ASSERT_TRUE(r.ok()) << r.errors[0].Format("w.yml");
  EXPECT_NE(r.file.Find("a.B C"), nullptr);
  ASSERT_NE(r.file.Find("a.D"), nullptr);
  EXPECT_EQ(r.file.Find("a.D")->root.steps.size(), 2u);  // as yaml-cpp read it then
}

// Director's per-task routing (its 0.6 release): `queue: {default: Q, customs: {TASK: Q2}}`.
TEST(WorkflowParseTest, DirectorsPerTaskQueues) {
  ParseResult r = ParseWorkflowFile(R"(
tasks:
  TASK_A: {op: echo}
  TASK_B: {op: echo}
  TASK_C: {op: echo}
example.TASK_ROUTING:
  tasks:
    - TASK_A
    - EXAMPLE_GROUP:
        type: group
        tasks:
          - TASK_B
          - TASK_C
  queue:
    default: q1
    customs:
      TASK_B: q2
example.ONLY_CUSTOMS:
  tasks: [TASK_A, TASK_B]
  queue: {customs: {TASK_A: q3}}
)",
                                    Files({}));
  ASSERT_TRUE(r.ok()) << r.errors[0].Format("w.yml");
  const Workflow& w = *r.file.Find("example.TASK_ROUTING");
  EXPECT_EQ(w.queue, "q1");
  EXPECT_EQ(w.QueueOf("TASK_A"), "q1");
  EXPECT_EQ(w.QueueOf("TASK_B"), "q2");
  EXPECT_EQ(w.QueueOf("TASK_C"), "q1");
  const Workflow& only = *r.file.Find("example.ONLY_CUSTOMS");
  EXPECT_EQ(only.QueueOf("TASK_A"), "q3");
  EXPECT_EQ(only.QueueOf("TASK_B"), "");  // anywhere, as Director's default queue

  EXPECT_EQ(Errors(R"(
a.B:
  tasks: [noop]
  queue:
    default: "two words"
    customs: {NOPE: q2, noop: [q]}
    other: x
)"),
            (std::vector<std::string>{
                "w.yml:5:14: queue.default: must be 1-122 characters of letters, digits, _ . : -",
                "w.yml:6:15: unknown task 'NOPE': define it under tasks: (op, cmd, shell or fly)",
                "w.yml:6:31: queue.customs.noop must be a string",
                "w.yml:7:5: queue: unknown key 'other' (default, customs)"}));
}

TEST(PayloadSchemaTest, ChecksAndNamesTheFailingPath) {
  auto s = PayloadSchema::Compile(R"({"type":"object","required":["user"],
    "properties":{"user":{"type":"integer"},"tags":{"type":"array","items":{"type":"string"}}}})");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->Check(R"({"user": 3, "tags": ["a"]})").ok());
  Status bad = s->Check(R"({"user": "x"})");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.message(), R"(payload.user: must be integer, not a string ("x"))");
  Status item = s->Check(R"({"user": 1, "tags": ["a", 2]})");
  EXPECT_EQ(item.message(), "payload.tags[1]: a number (2) is not of a type the schema allows");
  EXPECT_FALSE(s->Check(R"({})").ok());
  EXPECT_FALSE(s->Check("not json").ok());
  EXPECT_EQ(s->TypeAt("tags"), "array");
  EXPECT_EQ(s->TypeAt(""), "object");
  EXPECT_EQ(s->TypeAt("nope"), "");
  EXPECT_FALSE(PayloadSchema::Compile("{").ok());
  EXPECT_FALSE(PayloadSchema::Compile("[1]").ok());
}

}  // namespace
}  // namespace volo::workflow
