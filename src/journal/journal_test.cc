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
  std::string dir_;
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
  std::filesystem::copy_file(
      std::string(VOLO_SOURCE_DIR) + "/tests/durability/fixtures/journal-v1/volo.db",
      dir_ + "/volo.db");
  {
    auto j = Journal::Open(dir_);
    ASSERT_TRUE(j.ok()) << j.status().message();
    std::vector<TaskRecord> tasks;
    std::vector<HttpWorkerRecord> workers;
    ASSERT_TRUE((*j)->Load([&](TaskRecord&& r) { tasks.push_back(std::move(r)); },
                           [&](HttpWorkerRecord&& w) { workers.push_back(std::move(w)); })
                    .ok());
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
    (*j)->Workflow({"define", 0, 5, R"({"text":"x"})"});
    ASSERT_TRUE(CommitAndWait(**j).ok());
  }
  auto j = Journal::Open(dir_);
  ASSERT_TRUE(j.ok());
  std::vector<WorkflowRecord> log;
  ASSERT_TRUE((*j)->LoadWorkflows([&](WorkflowRecord&& r) { log.push_back(std::move(r)); }).ok());
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].kind, "define");
  EXPECT_EQ(log[0].body, R"({"text":"x"})");
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
