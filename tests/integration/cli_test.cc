// The CLI against real processes: submit, wait, cancel, tasks, task, status --watch; help,
// unknown commands and exit codes (0 ok, 1 the work failed, 2 a usage error).

#include <signal.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "harness.h"

namespace volo::itest {
namespace {

class CliTest : public VoloTest {};

// The first integer in `text` (a task id printed by `volo submit`), or 0.
uint64_t FirstNumber(const std::string& text) {
  std::smatch m;
  return std::regex_search(text, m, std::regex("[0-9]+")) ? std::stoull(m.str()) : 0;
}

TEST_F(CliTest, SubmitWithWaitPrintsTheResult) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  StartWorker(planner, {.id = "w", .args = {"--duration-scale", "0.01"}});
  const CommandResult r = h_.RunVolo(
      {"submit", "mult", "--args", R"({"a": 123, "b": 1000})", "--planner", planner.url, "--wait"});
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("123000"), std::string::npos) << "result not printed: " << r.out;
}

TEST_F(CliTest, SubmitCancelAndWaitById) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  const EnvOverrides env = {{"VOLO_PLANNER", planner.url}};

  // No worker yet: both tasks stay queued.
  const CommandResult first = h_.RunVolo({"submit", "add", "--args", R"({"a": 1, "b": 2})"}, env);
  const CommandResult second =
      h_.RunVolo({"submit", "add", "--args", R"({"a": 3, "b": 4})", "--retries", "2", "--priority",
                  "5", "--label", "team=itest"},
                 env);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(second.exit_code, 0) << second.err;
  const uint64_t cancel_me = FirstNumber(first.out);
  const uint64_t keep = FirstNumber(second.out);
  ASSERT_NE(cancel_me, 0u) << first.out;
  ASSERT_NE(keep, 0u) << second.out;
  ASSERT_NE(cancel_me, keep);

  const json::object kept = GetTask(planner, keep);
  EXPECT_EQ(NumAt(kept, "priority"), 5) << json::serialize(kept);
  EXPECT_EQ(Str(kept.at("labels").as_object(), "team"), "itest") << json::serialize(kept);

  const CommandResult cancel = h_.RunVolo({"cancel", std::to_string(cancel_me)}, env);
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_EQ(Str(GetTask(planner, cancel_me), "state"), "cancelled");

  StartWorker(planner, {.id = "w", .args = {"--duration-scale", "0.01"}});
  const CommandResult wait =
      h_.RunVolo({"wait", std::to_string(keep), "--timeout", "60"}, env, seconds(90));
  ASSERT_TRUE(wait.finished);
  EXPECT_EQ(wait.exit_code, 0) << wait.err;
  ExpectDoneWithRightResult(GetTask(planner, keep));
  EXPECT_EQ(Str(GetTask(planner, cancel_me), "state"), "cancelled");
}

TEST_F(CliTest, SubmitOfBadArgumentsFailsWithMessage) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  const CommandResult r =
      h_.RunVolo({"submit", "add", "--args", R"({"a": "x", "b": 1})", "--planner", planner.url});
  ASSERT_TRUE(r.finished);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(r.err.empty()) << "no message on stderr";
  const CommandResult not_json =
      h_.RunVolo({"submit", "add", "--args", "{not json", "--planner", planner.url});
  EXPECT_NE(not_json.exit_code, 0);
  EXPECT_EQ(NumAt(Status(planner), "queued"), 0) << "a refused submit queued a task";
}

// Counts the lines of `text` that start with `prefix`.
int LinesStartingWith(const std::string& text, const std::string& prefix) {
  int n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.rfind(prefix, 0) == 0;
  return n;
}

TEST_F(CliTest, UnknownCommandNamesItSuggestsTheClosestAndExits2) {
  const CommandResult typo = h_.RunVolo({"sumbit", "add"});
  EXPECT_EQ(typo.exit_code, 2) << typo.err;
  EXPECT_NE(typo.err.find("unknown command 'sumbit'"), std::string::npos) << typo.err;
  EXPECT_NE(typo.err.find("did you mean 'submit'?"), std::string::npos) << typo.err;

  const CommandResult far = h_.RunVolo({"frobnicate"});
  EXPECT_EQ(far.exit_code, 2) << far.err;
  EXPECT_NE(far.err.find("unknown command 'frobnicate'"), std::string::npos) << far.err;
  EXPECT_NE(far.err.find("volo help"), std::string::npos) << far.err;

  const CommandResult none = h_.RunVolo({});
  EXPECT_EQ(none.exit_code, 2) << none.err;
}

TEST_F(CliTest, HelpDescribesVoloAndEachCommand) {
  const CommandResult all = h_.RunVolo({"help"});
  EXPECT_EQ(all.exit_code, 0) << all.err;
  for (const char* cmd : {"run", "planner", "worker", "up", "submit", "status", "tasks", "task",
                          "wait", "cancel", "help"}) {
    EXPECT_NE(all.out.find(std::string("  ") + cmd), std::string::npos)
        << "`volo help` does not list " << cmd << ":\n"
        << all.out;
  }
  const CommandResult up = h_.RunVolo({"help", "up"});
  EXPECT_EQ(up.exit_code, 0) << up.err;
  EXPECT_NE(up.out.find("Usage: volo up"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("--workers"), std::string::npos) << up.out;
  const CommandResult tasks = h_.RunVolo({"help", "tasks"});
  EXPECT_NE(tasks.out.find("--state"), std::string::npos) << tasks.out;
  const CommandResult flag = h_.RunVolo({"tasks", "--help"});
  EXPECT_EQ(flag.exit_code, 0);
  EXPECT_EQ(flag.out, tasks.out);
  const CommandResult unknown = h_.RunVolo({"help", "frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("unknown command 'frobnicate'"), std::string::npos) << unknown.err;
}

// Every bad flag value is a usage error: exit 2 and a message, never a crash or a hang.
TEST_F(CliTest, BadFlagValuesAreUsageErrors) {
  const std::string prog = TempPath("two.fly");
  WriteFile(prog,
            "var local = [type=\"smp\", nthread=2]\n"
            "func f(x) { return x }\n"
            "fly f in [0:4] on local\n"
            "println \"ran\"\n");
  const std::string url = "http://127.0.0.1:1";  // nothing listens; none of these may call it
  const std::vector<std::vector<std::string>> cases = {
      {"submit"},
      {"submit", "add", "--args", "{not json", "--planner", url},
      {"submit", "add", "--args", "[1,2]", "--planner", url},
      {"submit", "add", "--label", "novalue", "--planner", url},
      {"submit", "add", "--timeout", "5x", "--planner", url},
      {"submit", "add", "--retries", "-1", "--planner", url},
      {"submit", "add", "--planner", "not-a-url"},
      {"submit", "add", "--planner", "http://"},
      {"status", "--planner", "ftp://127.0.0.1:3000"},
      {"status", "--watch", "--interval", "0", "--planner", url},
      {"tasks", "--state", "sleeping", "--planner", url},
      {"tasks", "--limit", "0", "--planner", url},
      {"tasks", "--limit", "many", "--planner", url},
      {"task", "abc", "--planner", url},
      {"task", "--planner", url},
      {"wait", "1", "--timeout", "-3", "--planner", url},
      {"cancel", "0", "--planner", url},
      {"planner", "--port", "-1"},
      {"planner", "--port", "70000"},
      {"planner", "--heartbeat-timeout", "soon"},
      {"planner", "--keep-results", "0"},
      {"planner", "--log-level", "loud"},
      {"planner", "--tls-cert", "/nonexistent.pem"},
      {"worker", "--slots", "0", "--planner", url},
      {"worker", "--slots", "-4", "--planner", url},
      {"worker", "--port", "-5", "--planner", url},
      {"worker", "--planner", "localhost:3000"},
      {"worker", "--duration-scale", "-1", "--planner", url},
      {"up"},
      {"up", "--workers", "-1"},
      {"up", "--workers", "2", "--slots", "0"},
      {"up", "--workers", "2", "--tasks", "ten"},
      {"up", "--workers", "1", "--", "frobnicate"},
      {"run", prog, "--env", "local=smp:100000"},
      {"run", prog, "--env", "local=smp:0"},
      {"run", prog, "--env", "local=smp:-2"},
      {"run", prog, "--env", "nosuch=smp:2"},
      {"run", prog, "--seed", "x"},
      {"run", prog, "--timeout", "soon"},
      {"run", prog, "--max-memory", "lots"},
      {"run", TempPath("missing.fly")},
      {"run"},
      {"--ca-file", TempPath("missing.pem"), "status", "--planner", url},
  };
  for (const auto& args : cases) {
    std::string line;
    for (const auto& a : args) line += " " + a;
    const CommandResult r = h_.RunVolo(args, {}, seconds(30));
    ASSERT_TRUE(r.finished) << "volo" << line << " did not finish";
    EXPECT_EQ(r.exit_code, 2) << "volo" << line << "\nstdout: " << r.out << "\nstderr: " << r.err;
    EXPECT_FALSE(r.err.empty()) << "volo" << line << " gave no message";
    EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << "volo" << line << ": " << r.err;
  }
  // The message says what the limit is.
  const CommandResult big = h_.RunVolo({"run", prog, "--env", "local=smp:100000"});
  EXPECT_NE(big.err.find("1 to 4096"), std::string::npos) << big.err;
  // And a sane binding still runs.
  const CommandResult ok = h_.RunVolo({"run", prog, "--env", "local=smp:3"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "ran\n");
}

// A machine that will not start the threads an environment asks for gives a clear error.
TEST_F(CliTest, ThreadsTheMachineRefusesAreAClearError) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer needs more address space than this test allows";
#else
  const std::string prog = TempPath("many.fly");
  WriteFile(prog,
            "var local = [type=\"smp\", nthread=2]\n"
            "func f(x) { return x }\n"
            "fly f in [0:4] on local\n"
            "println \"ran\"\n");
  // 1 GiB of address space holds far fewer than 4,000 thread stacks.
  Child* c = h_.Spawn("limited",
                      {"-c", "ulimit -v 1048576 && exec \"$0\" run \"$1\" --env local=smp:4000",
                       VoloBinary(), prog},
                      {}, "/bin/sh");
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(h_.WaitExit(*c, seconds(60)));
  const std::string log = ReadFile(c->log_path);
  EXPECT_GT(c->ExitCode(), 0) << log;  // an exit code, not a signal
  EXPECT_NE(log.find("bind fewer"), std::string::npos) << log;
  EXPECT_EQ(log.find("ran"), std::string::npos) << log;
#endif
}

TEST_F(CliTest, RuntimeFailuresExit1) {
  const CommandResult unreachable = h_.RunVolo({"status", "--planner", "http://127.0.0.1:1"});
  EXPECT_EQ(unreachable.exit_code, 1) << unreachable.err;
  EXPECT_NE(unreachable.err.find("cannot reach the planner at http://127.0.0.1:1"),
            std::string::npos)
      << unreachable.err;

  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  const CommandResult missing = h_.RunVolo({"task", "999", "--planner", planner.url});
  EXPECT_EQ(missing.exit_code, 1) << missing.err;
  EXPECT_NE(missing.err.find("no task 999"), std::string::npos) << missing.err;
  const CommandResult wait_missing = h_.RunVolo({"cancel", "999", "--planner", planner.url});
  EXPECT_EQ(wait_missing.exit_code, 1) << wait_missing.err;

  const std::string prog = TempPath("fails.fly");
  WriteFile(prog, "var x = 1 / 0\n");
  const CommandResult runtime = h_.RunVolo({"run", prog});
  EXPECT_EQ(runtime.exit_code, 1) << runtime.err;
}

TEST_F(CliTest, TasksListsWithPlannerSideFiltersAndJson) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  // No worker: everything stays queued, except the one we cancel.
  std::vector<uint64_t> adds, mults;
  for (int i = 0; i < 3; ++i) adds.push_back(Submit(planner, SeedTask("add", i, 1)));
  for (int i = 0; i < 2; ++i) mults.push_back(Submit(planner, SeedTask("mult", i, 2)));
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(h_.RunVolo({"cancel", std::to_string(adds[1]), "--planner", planner.url}).exit_code, 0);
  const EnvOverrides env = {{"VOLO_PLANNER", planner.url}};

  const CommandResult table = h_.RunVolo({"tasks"}, env);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(LinesStartingWith(table.out, "id "), 1) << table.out;
  EXPECT_EQ(LinesStartingWith(table.out, std::to_string(adds[0]) + " "), 1) << table.out;
  std::istringstream lines(table.out);
  int rows = 0;
  for (std::string line; std::getline(lines, line);) rows += !line.empty();
  EXPECT_EQ(rows, 6) << table.out;  // header + 5 tasks

  const CommandResult cancelled = h_.RunVolo({"tasks", "--state", "cancelled"}, env);
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.err;
  EXPECT_EQ(LinesStartingWith(cancelled.out, std::to_string(adds[1]) + " "), 1) << cancelled.out;
  EXPECT_EQ(LinesStartingWith(cancelled.out, std::to_string(adds[0]) + " "), 0) << cancelled.out;

  const CommandResult mult_json = h_.RunVolo({"tasks", "--op", "mult", "--json"}, env);
  ASSERT_EQ(mult_json.exit_code, 0) << mult_json.err;
  const json::value doc = ParseJson(mult_json.out);
  ASSERT_TRUE(doc.is_object()) << mult_json.out;
  const json::array& tasks = doc.at("tasks").as_array();
  ASSERT_EQ(tasks.size(), 2u) << mult_json.out;
  for (const auto& t : tasks) EXPECT_EQ(Str(t.as_object(), "op"), "mult");
  EXPECT_EQ(NumAt(tasks[0].as_object(), "id"), mults[0]);

  // The limit and the next page come from the planner.
  const CommandResult first = h_.RunVolo({"tasks", "--limit", "2", "--json"}, env);
  const json::value page = ParseJson(first.out);
  ASSERT_TRUE(page.is_object()) << first.out;
  ASSERT_EQ(page.at("tasks").as_array().size(), 2u) << first.out;
  EXPECT_NE(first.err.find("--after " + std::to_string(adds[1])), std::string::npos) << first.err;
  const CommandResult next =
      h_.RunVolo({"tasks", "--limit", "2", "--after", std::to_string(adds[1]), "--json"}, env);
  const json::value page2 = ParseJson(next.out);
  ASSERT_TRUE(page2.is_object()) << next.out;
  ASSERT_EQ(page2.at("tasks").as_array().size(), 2u) << next.out;
  EXPECT_EQ(NumAt(page2.at("tasks").as_array()[0].as_object(), "id"), adds[2]);

  const CommandResult none = h_.RunVolo({"tasks", "--state", "failed"}, env);
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_EQ(none.out, "no tasks match\n");
}

TEST_F(CliTest, TaskShowsOneTaskWithItsTimeline) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  StartWorker(planner, {.id = "w-7", .args = {"--duration-scale", "0.01"}});
  const uint64_t id = Submit(planner, SeedTask("mult", 6, 7));
  ASSERT_FALSE(HasFailure());
  WaitFinished(planner, {id});
  const EnvOverrides env = {{"VOLO_PLANNER", planner.url}};

  const CommandResult r = h_.RunVolo({"task", std::to_string(id)}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("task " + std::to_string(id) + ": mult", 0), 0u) << r.out;
  for (const char* want : {"state", "done", "result", "42", "worker", "w-7", "attempts", "timeline",
                           "submitted", "started", "finished", "queued ", "ran "}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << "no '" << want << "' in:\n" << r.out;
  }
  const CommandResult j = h_.RunVolo({"task", std::to_string(id), "--json"}, env);
  const json::value doc = ParseJson(j.out);
  ASSERT_TRUE(doc.is_object()) << j.out;
  EXPECT_EQ(Str(doc.as_object(), "worker"), "w-7");
  EXPECT_EQ(NumAt(doc.as_object(), "result"), 42);
  EXPECT_GE(NumAt(doc.as_object(), "finished"), NumAt(doc.as_object(), "started"));
  EXPECT_FALSE(std::regex_search(j.out, std::regex("[0-9][eE][-+]?[0-9]")))
      << "times are not plain decimals: " << j.out;
}

// Piped, `volo status --watch` prints whole pages, one after another, until Ctrl-C.
TEST_F(CliTest, StatusWatchRepeatsUntilInterrupted) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  StartWorker(planner, {.id = "w-1", .args = {"--duration-scale", "0.01"}});
  Child* watch =
      h_.Spawn("watch", {"status", "--watch", "--interval", "0.2", "--planner", planner.url});
  ASSERT_NE(watch, nullptr);
  ASSERT_TRUE(PollUntil(
      [&] { return LinesStartingWith(ReadFile(watch->log_path), "volo status of ") >= 3; },
      seconds(30)))
      << ReadFile(watch->log_path);
  EXPECT_FALSE(h_.Reap(*watch)) << "the watch ended by itself";
  const std::string log = ReadFile(watch->log_path);
  EXPECT_EQ(log.find("\x1b["), std::string::npos) << "terminal codes in piped output";
  EXPECT_GE(LinesStartingWith(log, "w-1 "), 3) << log;
  h_.Signal(*watch, SIGINT);
  ASSERT_TRUE(h_.WaitExit(*watch, seconds(10)));
  EXPECT_EQ(watch->ExitCode(), 0);
}

// Without --planner and PLANNER, a worker uses the default every command uses, and says so.
TEST_F(CliTest, WorkerWithoutPlannerUsesTheDefaultAndSaysWhere) {
  Child* w = h_.Spawn("worker-default", {"worker", "--id", "lonely", "--port", "-1"});
  ASSERT_NE(w, nullptr);
  EXPECT_TRUE(PollUntil(
      [&] {
        return ReadFile(w->log_path).find("connecting to the planner at http://127.0.0.1:3000") !=
               std::string::npos;
      },
      seconds(20)))
      << ReadFile(w->log_path);
  h_.Kill(*w);
  Child* named = h_.Spawn("worker-env", {"worker", "--id", "named", "--port", "-1"},
                          {{"VOLO_PLANNER", "http://127.0.0.1:1"}});
  ASSERT_NE(named, nullptr);
  EXPECT_TRUE(PollUntil(
      [&] {
        const std::string log = ReadFile(named->log_path);
        return log.find("connecting to the planner at http://127.0.0.1:1") != std::string::npos &&
               log.find("(the default") == std::string::npos;
      },
      seconds(20)))
      << ReadFile(named->log_path);
}

}  // namespace
}  // namespace volo::itest
