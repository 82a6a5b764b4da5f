#include "journal/journal.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <future>

namespace volo::journal {
namespace {

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/volo-journal-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  Status CommitAndWait(Journal& j) {
    std::promise<Status> p;
    j.Commit([&](const Status& s) { p.set_value(s); });
    return p.get_future().get();
  }
  // Copies a kept data directory's volo.db (under tests/durability/fixtures) into the test's
  // directory, opens it and reads its tasks and seed workers.
  void OpenFixture(const std::string& db) {
    std::filesystem::copy_file(std::string(VOLO_SOURCE_DIR) + "/tests/durability/fixtures/" + db,
                               dir_ + "/volo.db");
    auto j = Journal::Open(dir_);
    ASSERT_TRUE(j.ok()) << j.status().message();
    fixture_ = std::move(j).value();
    ASSERT_TRUE(fixture_
                    ->Load([&](TaskRecord&& r) { tasks_.push_back(std::move(r)); },
                           [&](HttpWorkerRecord&& w) { workers_.push_back(std::move(w)); })
                    .ok());
  }
  std::string dir_;
  std::unique_ptr<Journal> fixture_;
  std::vector<TaskRecord> tasks_;
  std::vector<HttpWorkerRecord> workers_;
};

TaskRecord Task(uint64_t id, std::string key = "") {
  TaskRecord r;
  r.id = id;
  r.op = "add";
  r.args = R"({"a":1,"b":2})";
  r.labels = "{}";
  r.submitted = 100 + static_cast<double>(id);
  r.key = std::move(key);
  r.key_count = r.key.empty() ? 0 : 2;
  return r;
}

TEST_F(JournalTest, SurvivesReopen) {
  {
    auto j = Journal::Open(dir_);
    ASSERT_TRUE(j.ok()) << j.status().ToString();
    (*j)->Submitted(Task(1, "k1"));
    (*j)->Submitted(Task(2));
    (*j)->Finished({1, StoredState::kDone, "3", "w1", 1, 101.5, 102.5});
    (*j)->HttpWorker({"h1", "http://127.0.0.1:9", "add"});
    ASSERT_TRUE(CommitAndWait(**j).ok());
  }
  auto j = Journal::Open(dir_);
  ASSERT_TRUE(j.ok());
  std::vector<TaskRecord> tasks;
  std::vector<HttpWorkerRecord> workers;
  ASSERT_TRUE((*j)->Load([&](TaskRecord&& r) { tasks.push_back(std::move(r)); },
                         [&](HttpWorkerRecord&& w) { workers.push_back(std::move(w)); })
                  .ok());
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].state, StoredState::kDone);
  EXPECT_EQ(tasks[0].result, "3");
  EXPECT_EQ(tasks[0].worker, "w1");
  EXPECT_EQ(tasks[0].key, "k1");
  EXPECT_EQ(tasks[0].key_count, 2);
  EXPECT_DOUBLE_EQ(tasks[0].finished, 102.5);
  EXPECT_EQ(tasks[1].state, StoredState::kQueued);
  EXPECT_EQ(tasks[1].args, R"({"a":1,"b":2})");
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0].url, "http://127.0.0.1:9");
}

TEST_F(JournalTest, CloseCommitsWhatIsPending) {
  {
    auto j = Journal::Open(dir_);
    ASSERT_TRUE(j.ok());
    (*j)->Submitted(Task(7));
  }  // destructor closes
  auto j = Journal::Open(dir_);
  size_t n = 0;
  ASSERT_TRUE((*j)->Load([&](TaskRecord&&) { ++n; }, [](HttpWorkerRecord&&) {}).ok());
  EXPECT_EQ(n, 1u);
}

TEST_F(JournalTest, PruneDeletesOnlyOldFinishedTasks) {
  auto j = Journal::Open(dir_);
  ASSERT_TRUE(j.ok());
  for (uint64_t i = 1; i <= 4; ++i) (*j)->Submitted(Task(i));
  (*j)->Finished({1, StoredState::kDone, "1", "w", 1, 1, 10});
  (*j)->Finished({2, StoredState::kFailed, "boom", "w", 1, 1, 50});
  (*j)->Prune(20);
  ASSERT_TRUE(CommitAndWait(**j).ok());
  std::vector<uint64_t> ids;
  ASSERT_TRUE(
      (*j)->Load([&](TaskRecord&& r) { ids.push_back(r.id); }, [](HttpWorkerRecord&&) {}).ok());
  EXPECT_EQ(ids, (std::vector<uint64_t>{2, 3, 4}));
}

TEST_F(JournalTest, UnusableFileIsAClearError) {
  std::string path = dir_ + "/volo.db";
  FILE* f = fopen(path.c_str(), "w");
  fputs("this is not a database, it is a text file long enough to have a header", f);
  fclose(f);
  auto j = Journal::Open(dir_);
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find(path), std::string::npos);
}

// A data directory written by the release before the format had a number (made by that code
// and kept as tests/durability/fixtures/journal-v1): it opens, loses nothing, and gains the
// workflow log.
TEST_F(JournalTest, OpensTheFormatBeforeNumbersWithNothingLost) {
  {
    ASSERT_NO_FATAL_FAILURE(OpenFixture("journal-v1/volo.db"));
    const auto& tasks = tasks_;
    const auto& workers = workers_;
    ASSERT_EQ(tasks.size(), 4u);
    EXPECT_EQ(tasks[0].op, "add");
    EXPECT_EQ(tasks[0].state, StoredState::kDone);
    EXPECT_EQ(tasks[0].result, "3");
    EXPECT_EQ(tasks[0].worker, "fx-worker");
    EXPECT_EQ(tasks[1].result, "12");
    EXPECT_EQ(tasks[1].labels, R"({"k":"v"})");
    EXPECT_EQ(tasks[3].op, "noop");
    EXPECT_EQ(tasks[3].key, "fixture-1");
    EXPECT_EQ(tasks[3].priority, 3);
    EXPECT_EQ(tasks[3].state, StoredState::kQueued);
    ASSERT_EQ(workers.size(), 1u);
    EXPECT_EQ(workers[0].id, "seed-w1");
    fixture_->Workflow({"define", 0, 5, R"({"text":"x"})"});
    ASSERT_TRUE(CommitAndWait(*fixture_).ok());
    fixture_.reset();
  }
  auto j = Journal::Open(dir_);
  ASSERT_TRUE(j.ok());
  std::vector<WorkflowRecord> log;
  ASSERT_TRUE((*j)->LoadWorkflows([&](WorkflowRecord&& r) { log.push_back(std::move(r)); }).ok());
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].kind, "define");
  EXPECT_EQ(log[0].body, R"({"text":"x"})");
}

// A data directory written by today's planner (tests/durability/fixtures/journal-v3, made by
// make-journal-fixture; its README lists what it holds): every record reads back, field by
// field. A loader that drops or misreads a column, or an upgrade that loses a table, fails here.
TEST_F(JournalTest, OpensFormatThreeWithNothingLost) {
  ASSERT_NO_FATAL_FAILURE(OpenFixture("journal-v3/data/volo.db"));
  const auto& tasks = tasks_;
  const auto& workers = workers_;
  ASSERT_EQ(tasks.size(), 11u);
  for (size_t i = 0; i < tasks.size(); ++i) EXPECT_EQ(tasks[i].id, i + 1);
  // 1: done, every optional field set, with an idempotency key.
  const TaskRecord& done = tasks[0];
  EXPECT_EQ(done.op, "add");
  EXPECT_EQ(done.args, R"({"a":1,"b":2})");
  EXPECT_EQ(done.retries, 2);
  EXPECT_DOUBLE_EQ(done.timeout, 30);
  EXPECT_EQ(done.priority, 4);
  EXPECT_EQ(done.labels, R"({"k":"v"})");
  EXPECT_EQ(done.resources, "");
  EXPECT_DOUBLE_EQ(done.submitted, 1796240507.924537);
  EXPECT_EQ(done.key, "fixture-done");
  EXPECT_EQ(done.key_count, 1);
  EXPECT_EQ(done.state, StoredState::kDone);
  EXPECT_EQ(done.result, "3");
  EXPECT_EQ(done.worker, "fixture-w");
  EXPECT_EQ(done.attempts, 1);
  EXPECT_DOUBLE_EQ(done.started, 1796240507.925141);
  EXPECT_DOUBLE_EQ(done.finished, 1796240507.925149);
  // 2: a command that failed.
  EXPECT_EQ(tasks[1].op, "exec");
  EXPECT_EQ(tasks[1].args, R"({"shell":"echo to-the-log; exit 3"})");
  EXPECT_EQ(tasks[1].state, StoredState::kFailed);
  EXPECT_EQ(tasks[1].result, "exited with status 3");
  EXPECT_EQ(tasks[1].key, "");
  EXPECT_DOUBLE_EQ(tasks[1].finished, 1796240507.935407);
  // 3: queued, with a resource request, a negative priority and a key.
  const TaskRecord& queued = tasks[2];
  EXPECT_EQ(queued.op, "mult");
  EXPECT_EQ(queued.args, R"({"a":6,"b":7})");
  EXPECT_EQ(queued.priority, -2);
  EXPECT_EQ(queued.labels, R"({"who":"fixture"})");
  EXPECT_EQ(queued.resources, R"({"cpus":0.5,"memory":64})");
  EXPECT_EQ(queued.key, "fixture-queued");
  EXPECT_EQ(queued.state, StoredState::kQueued);
  EXPECT_EQ(queued.result, "");
  EXPECT_EQ(queued.attempts, 0);
  EXPECT_DOUBLE_EQ(queued.started, 0);
  // 4: cancelled before it ran.
  EXPECT_EQ(tasks[3].state, StoredState::kCancelled);
  EXPECT_EQ(tasks[3].result, "cancelled");
  EXPECT_DOUBLE_EQ(tasks[3].finished, 1796240507.96158);
  // 5-11: the steps of run 1; FIRST done, elements 2 and 3 (tasks 10, 11) were running.
  EXPECT_EQ(tasks[4].op, "echo");
  EXPECT_EQ(tasks[4].labels,
            R"({"team":"data","workflow":"fixture.HALF","run":"1","queue":"fixture"})");
  EXPECT_EQ(tasks[4].resources, R"({"queue:fixture":1})");
  EXPECT_EQ(tasks[4].state, StoredState::kDone);
  EXPECT_EQ(tasks[7].op, "exec");
  EXPECT_EQ(tasks[7].retries, 1);
  EXPECT_NE(tasks[7].args.find(R"("stdin":"{\"item\":{\"n\":0},\"index\":0}")"), std::string::npos)
      << tasks[7].args;
  EXPECT_EQ(tasks[7].result.rfind(R"({"exit_code":0,"stdout":"0\n",)", 0), 0u) << tasks[7].result;
  EXPECT_DOUBLE_EQ(tasks[7].finished, 1796240508.540312);
  for (size_t i : {9, 10}) {
    EXPECT_EQ(tasks[i].state, StoredState::kQueued) << i;
    EXPECT_EQ(tasks[i].resources, R"({"queue:fixture":1})") << i;
  }
  EXPECT_DOUBLE_EQ(tasks[10].submitted, 1796240507.972381);

  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0].id, "fixture-http");
  EXPECT_EQ(workers[0].url, "http://127.0.0.1:9");
  EXPECT_EQ(workers[0].ops, "fixture-op");

  std::vector<FunctionRecord> fns;
  ASSERT_TRUE(
      fixture_->LoadFunctions([&](FunctionRecord&& r) { fns.push_back(std::move(r)); }).ok());
  ASSERT_EQ(fns.size(), 1u);
  EXPECT_EQ(fns[0].name, "fixture-upper");
  EXPECT_EQ(
      fns[0].state.rfind(R"({"current":0,"revisions":[{"id":"f79131e04a81f55d6aeca78b8476c)", 0),
      0u)
      << fns[0].state;
  EXPECT_NE(fns[0].state.find(R"("cmd":["tr","a-z","A-Z"],"bundle":null,"env":{"MODE":"fixture"})"),
            std::string::npos)
      << fns[0].state;

  std::vector<WorkflowRecord> log;
  ASSERT_TRUE(
      fixture_->LoadWorkflows([&](WorkflowRecord&& r) { log.push_back(std::move(r)); }).ok());
  std::vector<std::string> kinds;
  for (const auto& r : log) kinds.push_back(r.kind);
  EXPECT_EQ(kinds,
            (std::vector<std::string>{"define", "run", "step", "done", "step", "step", "done",
                                      "done", "step", "step", "step", "step", "done", "done"}));
  ASSERT_EQ(log.size(), 14u);
  EXPECT_EQ(log[0].run, 0u);
  EXPECT_DOUBLE_EQ(log[0].at, 1796240507.970093);
  EXPECT_EQ(log[0].body.rfind(R"({"filename":"fixture.yml","text":"tasks:\n  FIRST: )", 0), 0u)
      << log[0].body;
  EXPECT_NE(log[0].body.find(R"("files":{"fixture.schema.json":"{\"type\": \"object\")"),
            std::string::npos)
      << log[0].body;
  EXPECT_EQ(log[1].run, 1u);
  EXPECT_DOUBLE_EQ(log[1].at, 1796240507.97149);
  EXPECT_EQ(log[1].body.rfind(R"({"workflow":"fixture.HALF","payload":"{\"items\":[{\"n\":0},)", 0),
            0u)
      << log[1].body;
  EXPECT_NE(log[1].body.find(R"("trigger":"api","created":1.7962405079714835E9,"reuse":{}})"),
            std::string::npos)
      << log[1].body;
  EXPECT_EQ(log[2].body, R"({"key":"FIRST","task":5})");
  EXPECT_EQ(log[11].body, R"({"key":"EACH[3]","task":11})");
  EXPECT_EQ(log[12].run, 0u);
  EXPECT_DOUBLE_EQ(log[12].at, 1796240508.524393);
  EXPECT_EQ(log[12].body, R"({"task":9,"ok":true,"result":"10"})");
}

TEST_F(JournalTest, ANewerFormatIsRefusedAndLeftAlone) {
  { ASSERT_TRUE(Journal::Open(dir_).ok()); }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ + "/volo.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto j = Journal::Open(dir_);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(j.status().message().find("written by a newer volo (journal format 99; this volo "
                                      "reads up to 3)"),
            std::string::npos)
      << j.status().message();
}

TEST_F(JournalTest, FunctionsAreKeptReplacedAndRemoved) {
  {
    auto j = Journal::Open(dir_);
    ASSERT_TRUE(j.ok());
    (*j)->Function({"resize", R"({"v":1})"});
    (*j)->Function({"upper", R"({"v":1})"});
    (*j)->Function({"resize", R"({"v":2})"});
    (*j)->Function({"upper", ""});
    ASSERT_TRUE(CommitAndWait(**j).ok());
  }
  auto j = Journal::Open(dir_);
  ASSERT_TRUE(j.ok());
  std::vector<FunctionRecord> fns;
  ASSERT_TRUE((*j)->LoadFunctions([&](FunctionRecord&& r) { fns.push_back(std::move(r)); }).ok());
  ASSERT_EQ(fns.size(), 1u);
  EXPECT_EQ(fns[0].name, "resize");
  EXPECT_EQ(fns[0].state, R"({"v":2})");
}

// A format 2 file (workflows, before functions) opens with its log intact and gains the table.
TEST_F(JournalTest, OpensFormatTwoAndAddsFunctions) {
  {
    auto j = Journal::Open(dir_);
    ASSERT_TRUE(j.ok());
    (*j)->Workflow({"define", 0, 5, R"({"text":"x"})"});
    ASSERT_TRUE(CommitAndWait(**j).ok());
  }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ + "/volo.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(db, "DROP TABLE functions; PRAGMA user_version=2", nullptr, nullptr, nullptr),
        SQLITE_OK);
    sqlite3_close(db);
  }
  {
    auto j = Journal::Open(dir_);
    ASSERT_TRUE(j.ok()) << j.status().message();
    std::vector<WorkflowRecord> log;
    ASSERT_TRUE((*j)->LoadWorkflows([&](WorkflowRecord&& r) { log.push_back(std::move(r)); }).ok());
    EXPECT_EQ(log.size(), 1u);
    (*j)->Function({"f", "{}"});
    ASSERT_TRUE(CommitAndWait(**j).ok());
  }
  auto j = Journal::Open(dir_);
  ASSERT_TRUE(j.ok());
  size_t n = 0;
  ASSERT_TRUE((*j)->LoadFunctions([&](FunctionRecord&&) { ++n; }).ok());
  EXPECT_EQ(n, 1u);
}

TEST_F(JournalTest, WorkflowLogKeepsOrderAndIsPrunedWithEndedRuns) {
  {
    auto j = Journal::Open(dir_);
    ASSERT_TRUE(j.ok());
    (*j)->Workflow({"run", 1, 10, "a"});
    (*j)->Workflow({"step", 1, 11, "b"});
    (*j)->Workflow({"run", 2, 12, "c"});
    (*j)->Workflow({"end", 1, 20, ""});
    ASSERT_TRUE(CommitAndWait(**j).ok());
    (*j)->Prune(30);  // run 1 ended at 20: its facts go; run 2 has not ended
    ASSERT_TRUE(CommitAndWait(**j).ok());
  }
  auto j = Journal::Open(dir_);
  std::vector<WorkflowRecord> log;
  ASSERT_TRUE((*j)->LoadWorkflows([&](WorkflowRecord&& r) { log.push_back(std::move(r)); }).ok());
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].run, 2u);
  EXPECT_EQ(log[0].body, "c");
}

}  // namespace
}  // namespace volo::journal
