#include "journal/journal.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace volo::journal {
namespace {

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS tasks (
  id INTEGER PRIMARY KEY,
  op TEXT NOT NULL,
  args TEXT NOT NULL,
  retries INTEGER NOT NULL,
  timeout REAL NOT NULL,
  priority INTEGER NOT NULL,
  labels TEXT NOT NULL,
  submitted REAL NOT NULL,
  key TEXT,
  key_count INTEGER NOT NULL DEFAULT 0,
  state INTEGER NOT NULL DEFAULT 0,
  result TEXT NOT NULL DEFAULT '',
  worker TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  started REAL NOT NULL DEFAULT 0,
  finished REAL NOT NULL DEFAULT 0,
  resources TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS tasks_finished ON tasks(finished) WHERE state >= 2;
CREATE TABLE IF NOT EXISTS http_workers (
  id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  ops TEXT NOT NULL
);
)sql";

// Format 2: the workflow log.
const char* kSchema2 = R"sql(
CREATE TABLE IF NOT EXISTS workflow_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  run INTEGER NOT NULL DEFAULT 0,
  at REAL NOT NULL DEFAULT 0,
  body TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS workflow_log_run ON workflow_log(run) WHERE run > 0;
)sql";

// Format 3: functions, one row each (their revisions as JSON).
const char* kSchema3 = R"sql(
CREATE TABLE IF NOT EXISTS functions (
  name TEXT PRIMARY KEY,
  state TEXT NOT NULL
);
)sql";

Status SqlError(sqlite3* db, const std::string& what) {
  return IoError(what + ": " + (db ? sqlite3_errmsg(db) : "cannot open"));
}

// A prepared statement that resets itself after each use.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) s_ = nullptr;
  }
  ~Stmt() { sqlite3_finalize(s_); }
  bool ok() const { return s_ != nullptr; }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& Bind(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Stmt& BindNullable(int i, const std::string& v) {
    if (v.empty()) {
      sqlite3_bind_null(s_, i);
      return *this;
    }
    return Bind(i, v);
  }
  Status Run(const char* what) {
    int rc = sqlite3_step(s_);
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    if (rc != SQLITE_DONE) return SqlError(db_, what);
    return Status::Ok();
  }
  sqlite3_stmt* get() { return s_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

std::string Text(sqlite3_stmt* s, int col) {
  const unsigned char* t = sqlite3_column_text(s, col);
  return t ? std::string(reinterpret_cast<const char*>(t),
                         static_cast<size_t>(sqlite3_column_bytes(s, col)))
           : std::string();
}

// Runs the query `sql` on `db` (the journal at `path`) and calls row(statement) for each row;
// a failure to read names `what`.
Status EachRow(sqlite3* db, const std::string& path, const char* sql, const std::string& what,
               const std::function<void(sqlite3_stmt*)>& row) {
  Stmt q(db, sql);
  if (!q.ok()) return SqlError(db, "reading " + path);
  int rc;
  while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) row(q.get());
  if (rc != SQLITE_DONE) return SqlError(db, "reading " + what + " from " + path);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Journal>> Journal::Open(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return IoError("cannot create the data directory " + dir + ": " + std::strerror(errno));
  }
  std::string path = dir + "/volo.db";
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    Status s = SqlError(db, "cannot open " + path);
    sqlite3_close(db);
    return s;
  }
  sqlite3_busy_timeout(db, 5000);
  // WAL with full sync: a commit is on disk when it returns, and readers never block the writer.
  const char* pragmas =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;";
  char* err = nullptr;
  auto fail = [&](const std::string& what) {
    std::string msg = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    sqlite3_close(db);
    return Corruption(path + " is not a usable volo journal: " + what + msg);
  };
  if (sqlite3_exec(db, pragmas, nullptr, nullptr, &err) != SQLITE_OK) return fail("");
  int format = 0;
  {
    Stmt v(db, "PRAGMA user_version");
    if (!v.ok() || sqlite3_step(v.get()) != SQLITE_ROW) return fail("");
    format = sqlite3_column_int(v.get(), 0);
  }
  if (format > kFormat) {
    sqlite3_close(db);
    return FailedPrecondition(path + " was written by a newer volo (journal format " +
                              std::to_string(format) + "; this volo reads up to " +
                              std::to_string(kFormat) +
                              "): run that version, or give --data another directory");
  }
  // Format 0 is a new file, or one written before formats had numbers (then: format 1, which
  // the same statements create). Each step up runs in the one transaction that records it.
  std::string upgrade = "BEGIN IMMEDIATE;";
  if (format < 1) upgrade += kSchema;
  if (format < 2) upgrade += kSchema2;
  if (format < 3) upgrade += kSchema3;
  upgrade += "PRAGMA user_version=" + std::to_string(kFormat) + "; COMMIT;";
  if (format < kFormat && sqlite3_exec(db, upgrade.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return fail("upgrading it from format " + std::to_string(format) + ": ");
  }
  // Journals written before tasks had resource requests gain the column (empty: none).
  if (sqlite3_exec(db, "SELECT resources FROM tasks LIMIT 0", nullptr, nullptr, nullptr) !=
      SQLITE_OK) {
    if (sqlite3_exec(db, "ALTER TABLE tasks ADD COLUMN resources TEXT NOT NULL DEFAULT ''", nullptr,
                     nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      sqlite3_close(db);
      return Corruption(path + " is not a usable volo journal: " + msg);
    }
  }
  return std::unique_ptr<Journal>(new Journal(path, db));
}

Journal::Journal(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {
  writer_ = std::thread([this] { WriterLoop(); });
}

Journal::~Journal() { Close(); }

Status Journal::Load(const std::function<void(TaskRecord&&)>& task,
                     const std::function<void(HttpWorkerRecord&&)>& worker) {
  VOLO_RETURN_IF_ERROR(EachRow(
      db_, path_,
      "SELECT id, op, args, retries, timeout, priority, labels, submitted, key, key_count, "
      "state, result, worker, attempts, started, finished, resources FROM tasks ORDER BY id",
      "tasks", [&](sqlite3_stmt* s) {
        TaskRecord r;
        r.id = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
        r.op = Text(s, 1);
        r.args = Text(s, 2);
        r.retries = sqlite3_column_int(s, 3);
        r.timeout = sqlite3_column_double(s, 4);
        r.priority = sqlite3_column_int(s, 5);
        r.labels = Text(s, 6);
        r.submitted = sqlite3_column_double(s, 7);
        r.key = Text(s, 8);
        r.key_count = sqlite3_column_int(s, 9);
        // A number this version does not know (a newer file, or damage) reads as queued: the task
        // runs again rather than being lost.
        int state = sqlite3_column_int(s, 10);
        r.state = state >= 0 && state <= static_cast<int>(StoredState::kCancelled)
                      ? static_cast<StoredState>(state)
                      : StoredState::kQueued;
        r.result = Text(s, 11);
        r.worker = Text(s, 12);
        r.attempts = sqlite3_column_int(s, 13);
        r.started = sqlite3_column_double(s, 14);
        r.finished = sqlite3_column_double(s, 15);
        r.resources = Text(s, 16);
        task(std::move(r));
      }));
  return EachRow(db_, path_, "SELECT id, url, ops FROM http_workers ORDER BY id", "workers",
                 [&](sqlite3_stmt* s) {
                   worker({Text(s, 0), Text(s, 1), Text(s, 2)});
                 });
}

Status Journal::LoadWorkflows(const std::function<void(WorkflowRecord&&)>& record) {
  return EachRow(db_, path_, "SELECT kind, run, at, body FROM workflow_log ORDER BY seq",
                 "the workflow log", [&](sqlite3_stmt* s) {
                   record({Text(s, 0), static_cast<uint64_t>(sqlite3_column_int64(s, 1)),
                           sqlite3_column_double(s, 2), Text(s, 3)});
                 });
}

Status Journal::LoadFunctions(const std::function<void(FunctionRecord&&)>& record) {
  return EachRow(db_, path_, "SELECT name, state FROM functions ORDER BY name", "functions",
                 [&](sqlite3_stmt* s) {
                   record({Text(s, 0), Text(s, 1)});
                 });
}

void Journal::Function(FunctionRecord r) { batch_.emplace_back(std::move(r)); }
void Journal::Submitted(TaskRecord r) { batch_.emplace_back(std::move(r)); }
void Journal::Workflow(WorkflowRecord r) { batch_.emplace_back(std::move(r)); }
void Journal::Finished(FinishRecord r) { batch_.emplace_back(std::move(r)); }
void Journal::HttpWorker(HttpWorkerRecord r) { batch_.emplace_back(std::move(r)); }
void Journal::Prune(double finished_before) { batch_.emplace_back(PruneRecord{finished_before}); }

void Journal::Commit(std::function<void(const Status&)> done) {
  Batch b{std::move(batch_), std::move(done)};
  batch_.clear();
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(b));
  }
  cv_.notify_one();
}

void Journal::WriterLoop() {
  while (true) {
    std::vector<Batch> work;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty() && closing_) return;
      work.swap(queue_);
    }
    // Every batch that arrived while the last transaction ran goes into this one.
    Status s = Apply(work);
    for (auto& b : work) {
      if (b.done) b.done(s);
    }
  }
}

Status Journal::Apply(std::vector<Batch>& batches) {
  char* err = nullptr;
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, &err) != SQLITE_OK) {
    sqlite3_free(err);
    return SqlError(db_, "journal begin");
  }
  Stmt insert(db_,
              "INSERT OR REPLACE INTO tasks (id, op, args, retries, timeout, priority, labels, "
              "submitted, key, key_count, resources) VALUES (?,?,?,?,?,?,?,?,?,?,?)");
  Stmt finish(db_,
              "UPDATE tasks SET state=?, result=?, worker=?, attempts=?, started=?, finished=? "
              "WHERE id=?");
  Stmt worker(db_, "INSERT OR REPLACE INTO http_workers (id, url, ops) VALUES (?,?,?)");
  Stmt prune(db_, "DELETE FROM tasks WHERE state >= 2 AND finished > 0 AND finished < ?");
  Stmt wf(db_, "INSERT INTO workflow_log (kind, run, at, body) VALUES (?,?,?,?)");
  Stmt fn_put(db_, "INSERT OR REPLACE INTO functions (name, state) VALUES (?,?)");
  Stmt fn_del(db_, "DELETE FROM functions WHERE name=?");
  // A run's facts go once it ended before the cutoff, as its tasks do.
  Stmt prune_runs(db_,
                  "DELETE FROM workflow_log WHERE run IN (SELECT run FROM workflow_log WHERE "
                  "kind = 'end' AND at < ?)");
  Status s;
  for (auto& b : batches) {
    for (auto& rec : b.records) {
      if (!s.ok()) break;
      if (auto* t = std::get_if<TaskRecord>(&rec)) {
        s = insert.Bind(1, static_cast<int64_t>(t->id))
                .Bind(2, t->op)
                .Bind(3, t->args)
                .Bind(4, static_cast<int64_t>(t->retries))
                .Bind(5, t->timeout)
                .Bind(6, static_cast<int64_t>(t->priority))
                .Bind(7, t->labels)
                .Bind(8, t->submitted)
                .BindNullable(9, t->key)
                .Bind(10, static_cast<int64_t>(t->key_count))
                .Bind(11, t->resources)
                .Run("journal insert");
      } else if (auto* f = std::get_if<FinishRecord>(&rec)) {
        s = finish.Bind(1, static_cast<int64_t>(f->state))
                .Bind(2, f->result)
                .Bind(3, f->worker)
                .Bind(4, static_cast<int64_t>(f->attempts))
                .Bind(5, f->started)
                .Bind(6, f->finished)
                .Bind(7, static_cast<int64_t>(f->id))
                .Run("journal finish");
      } else if (auto* w = std::get_if<HttpWorkerRecord>(&rec)) {
        s = worker.Bind(1, w->id).Bind(2, w->url).Bind(3, w->ops).Run("journal worker");
      } else if (auto* p = std::get_if<PruneRecord>(&rec)) {
        s = prune.Bind(1, p->finished_before).Run("journal prune");
        if (s.ok()) s = prune_runs.Bind(1, p->finished_before).Run("journal prune runs");
      } else if (auto* r = std::get_if<WorkflowRecord>(&rec)) {
        s = wf.Bind(1, r->kind)
                .Bind(2, static_cast<int64_t>(r->run))
                .Bind(3, r->at)
                .Bind(4, r->body)
                .Run("journal workflow");
      } else if (auto* fn = std::get_if<FunctionRecord>(&rec)) {
        s = fn->state.empty() ? fn_del.Bind(1, fn->name).Run("journal function")
                              : fn_put.Bind(1, fn->name).Bind(2, fn->state).Run("journal function");
      }
    }
  }
  const char* end = s.ok() ? "COMMIT" : "ROLLBACK";
  if (sqlite3_exec(db_, end, nullptr, nullptr, &err) != SQLITE_OK) {
    sqlite3_free(err);
    if (s.ok()) s = SqlError(db_, "journal commit");
  }
  return s;
}

void Journal::Close() {
  if (!db_) return;
  if (!batch_.empty()) Commit(nullptr);
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  cv_.notify_one();
  if (writer_.joinable()) writer_.join();
  sqlite3_close(db_);
  db_ = nullptr;
}

}  // namespace volo::journal
