// The planner's durable state in SQLite (WAL): one row per task, plus registered HTTP workers.
//
// Writes are grouped: the planner appends records during one turn of its event loop and calls
// Commit() once at the end of the turn; a writer thread applies every pending batch in one
// transaction and then runs the batches' callbacks (on the writer thread). A submission is
// acknowledged from such a callback, so it is never acknowledged before it is on disk.
//
// Threading: Open, Load and the append methods run on the planner's thread; Commit hands the
// batch over; Close drains the writer and may be called once from the planner's thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "common/status.h"

struct sqlite3;

namespace volo::journal {

// A task's state as stored. The numbers are the file format: never renumber.
enum class StoredState : int { kQueued = 0, kRunning = 1, kDone = 2, kFailed = 3, kCancelled = 4 };
inline bool IsFinal(StoredState s) { return s >= StoredState::kDone; }

// A task as stored.
struct TaskRecord {
  uint64_t id = 0;
  std::string op;
  std::string args;
  int retries = 0;
  double timeout = 0;
  int priority = 0;
  std::string labels;     // JSON object text
  std::string resources;  // the task's resource request as a JSON object; empty: none
  double submitted = 0;
  std::string key;    // idempotency key, on the first task of the submission that had one
  int key_count = 0;  // how many tasks that submission had
  StoredState state = StoredState::kQueued;
  std::string result;
  std::string worker;
  int attempts = 0;
  double started = 0;
  double finished = 0;
};

struct FinishRecord {
  uint64_t id = 0;
  StoredState state = StoredState::kQueued;
  std::string result;
  std::string worker;
  int attempts = 0;
  double started = 0;
  double finished = 0;
};

struct HttpWorkerRecord {
  std::string id;
  std::string url;
  std::string ops;  // comma-separated
};

// One fact about workflows (src/planner/workflows.h), replayed in order: a definition applied,
// a run created, a step's task submitted or finished, a run ended, a schedule fired. `run` is
// 0 for facts that belong to no run; `at` is wall time (Unix seconds).
struct WorkflowRecord {
  std::string kind;
  uint64_t run = 0;
  double at = 0;
  std::string body;  // JSON text
};

// A function (src/planner/functions.h) as stored: its revisions and which is current, as the
// JSON text FunctionService writes; an empty `state` removes it.
struct FunctionRecord {
  std::string name;
  std::string state;
};

struct PruneRecord {
  double finished_before = 0;  // delete finished tasks that ended before this
};

class Journal {
 public:
  // The file format this build writes (SQLite `user_version`). 1: tasks and HTTP workers
  // (before the format had a number); 2: and the workflow log; 3: and functions.
  static constexpr int kFormat = 3;

  // Opens (creating if needed) DIR/volo.db, bringing an older format up to kFormat in one
  // transaction. IoError or Corruption with the path on failure; FailedPrecondition when a
  // newer volo wrote the file (this one would lose what it cannot read).
  static Result<std::unique_ptr<Journal>> Open(const std::string& dir);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Reads everything back, tasks in id order. Call before any append.
  Status Load(const std::function<void(TaskRecord&&)>& task,
              const std::function<void(HttpWorkerRecord&&)>& worker);

  // The workflow log in the order it was written; call before any append.
  Status LoadWorkflows(const std::function<void(WorkflowRecord&&)>& record);
  // The functions, by name; call before any append.
  Status LoadFunctions(const std::function<void(FunctionRecord&&)>& record);
  void Function(FunctionRecord r);
  void Submitted(TaskRecord r);
  void Workflow(WorkflowRecord r);
  void Finished(FinishRecord r);
  void HttpWorker(HttpWorkerRecord r);
  void Prune(double finished_before);
  bool has_pending() const { return !batch_.empty(); }

  // Hands the records appended so far to the writer; `done` runs on the writer thread once
  // they are committed (or with the error that stopped them).
  void Commit(std::function<void(const Status&)> done);
  // Commits what is pending, stops the writer, closes the database.
  void Close();
  const std::string& path() const { return path_; }

 private:
  using Record = std::variant<TaskRecord, FinishRecord, HttpWorkerRecord, PruneRecord,
                              WorkflowRecord, FunctionRecord>;
  struct Batch {
    std::vector<Record> records;
    std::function<void(const Status&)> done;
  };
  explicit Journal(std::string path, sqlite3* db);
  void WriterLoop();
  Status Apply(std::vector<Batch>& batches);

  std::string path_;
  sqlite3* db_;
  std::vector<Record> batch_;  // planner thread only

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Batch> queue_;  // guarded by mu_
  bool closing_ = false;      // guarded by mu_
  std::thread writer_;
};

}  // namespace volo::journal
