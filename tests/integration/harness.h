// Integration-test harness: real `volo` processes on ephemeral ports.
//
// A Harness owns the child processes a test starts. Each child runs in its own process group
// (so `volo up` and its planner/workers die together), with stdout and stderr going to one log
// file in the test's temporary directory, and dies with the test process (PR_SET_PDEATHSIG).
// Synchronisation is always "poll a condition until a deadline" (PollUntil), never a fixed
// pause. VoloTest, the fixture, kills every child in TearDown and prints every child's log when
// the test failed.
//
// Threading: a Harness and its Children are used from the test's main thread only.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace volo::itest {

namespace json = boost::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Path of the volo binary under test: $VOLO_BINARY if set, else the one CMake built.
const char* VoloBinary();

// Calls `done` every `interval` until it returns true or `timeout` has passed. Returns whether
// the condition became true. The pause between polls is a bounded condition-variable wait.
bool PollUntil(const std::function<bool()>& done, milliseconds timeout,
               milliseconds interval = milliseconds(20));

// Environment overrides for a child: a value sets the variable, nullopt removes it.
using EnvOverrides = std::map<std::string, std::optional<std::string>>;

struct Child {
  std::string name;
  pid_t pid = -1;
  std::string log_path;  // stdout + stderr (for RunVolo: stderr only)
  std::string out_path;  // RunVolo only: stdout
  bool exited = false;
  int wait_status = 0;  // valid once exited

  // The exit code when the child exited normally, or -signal when a signal ended it.
  int ExitCode() const;
};

// A finished short-lived command (RunVolo).
struct CommandResult {
  bool finished = false;  // false: it overran its timeout and was killed
  pid_t pid = -1;         // also its process group
  int exit_code = -1;
  std::string out;
  std::string err;
};

class Harness {
 public:
  Harness();
  ~Harness();
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  // A path inside this test's temporary directory (not created).
  std::string TempPath(const std::string& name) const;

  // Starts `binary args...`. Variables volo reads (PORT, PLANNER, ADD, MULT, ADDRESS, TASKS,
  // VOLO_*) are removed from the inherited environment before `env` is applied, so the test's
  // own environment never leaks in. Returns nullptr (and adds a failure) if the child cannot start.
  Child* Spawn(const std::string& name, const std::vector<std::string>& args,
               const EnvOverrides& env = {}, const std::string& binary = VoloBinary());

  // Sends `sig` to the child's pid (only while it has not been reaped).
  void Signal(Child& child, int sig);
  // Reaps the child if it exited; true when it has.
  bool Reap(Child& child);
  // Waits up to `timeout` for the child to exit; true when it did.
  bool WaitExit(Child& child, milliseconds timeout);
  // SIGKILL to the child's process group and pid, then reaps it.
  void Kill(Child& child);
  // Kills every child still running (SIGKILL, whole process groups) and reaps them.
  void KillAll();

  // Runs `volo args...` to completion (at most `timeout`) and returns its output.
  CommandResult RunVolo(const std::vector<std::string>& args, const EnvOverrides& env = {},
                        milliseconds timeout = seconds(60));

  // Waits until `path` holds a complete port number (written by --port-file) and returns it.
  // Gives up early, returning nullopt, if `child` exits first.
  std::optional<uint16_t> ReadPortFile(const std::string& path, Child& child,
                                       milliseconds timeout = seconds(20));

  // Writes every child's log (the tail of large ones) to `out`.
  void PrintLogs(std::ostream& out) const;

  const std::vector<std::unique_ptr<Child>>& children() const { return children_; }
  // Keep the temporary directory (logs, port files) after the test, for a failed test.
  void KeepFiles() { keep_ = true; }
  const std::string& dir() const { return dir_; }

 private:
  Child* SpawnWithFiles(const std::string& name, const std::vector<std::string>& argv,
                        const EnvOverrides& env, const std::string& out_path,
                        const std::string& err_path);

  std::string dir_;
  bool keep_ = false;
  std::vector<std::unique_ptr<Child>> children_;
};

// ---- files ----------------------------------------------------------------------------------

// The whole file ("" when it cannot be read).
std::string ReadFile(const std::string& path);
// Replaces the file's contents with `text`.
void WriteFile(const std::string& path, const std::string& text);

// ---- HTTP and JSON --------------------------------------------------------------------------

struct Reply {
  int status = 0;    // 0: no HTTP answer (refused, timeout); see `transport_error`
  std::string body;  // raw body
  json::value json;  // parsed body, or null when it is not JSON
  std::string transport_error;

  // The body as an object ({} when it is not one).
  const json::object& obj() const;
  // A short description for failure messages.
  std::string Describe() const;
};

Reply Http(const std::string& method, const std::string& url, const std::string& body = "",
           milliseconds timeout = seconds(10));
inline Reply Get(const std::string& url, milliseconds timeout = seconds(10)) {
  return Http("GET", url, "", timeout);
}
inline Reply Post(const std::string& url, const std::string& body,
                  milliseconds timeout = seconds(10)) {
  return Http("POST", url, body, timeout);
}

// Calls `call` over and over on its own thread until Stop() (or destruction), counting the
// answers `good` accepts and the others, keeping the last refused one for failure messages.
class CallStream {
 public:
  CallStream(std::function<Reply()> call, std::function<bool(const Reply&)> good);
  ~CallStream() { Stop(); }
  CallStream(const CallStream&) = delete;
  CallStream& operator=(const CallStream&) = delete;
  int ok() const { return ok_; }
  int failed() const { return failed_; }
  std::string last_failure() const;
  void Stop();

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0}, failed_{0};
  mutable std::mutex mu_;
  std::string last_failure_;  // guarded by mu_
  std::thread thread_;
};

// Parses `text`; null on error.
json::value ParseJson(const std::string& text);
// A JSON number of any representation as a double (NaN when `v` is not a number).
double Num(const json::value& v);
// The string at `key`, or "" when absent or not a string.
std::string Str(const json::object& o, const std::string& key);
// The number at `key`, or NaN.
double NumAt(const json::object& o, const std::string& key);
// The string array at `key` as a set.
std::set<std::string> StrSet(const json::object& o, const std::string& key);

// The expected result of the seed operations (NaN for any other op).
double ExpectedResult(const std::string& op, const json::object& args);

// ---- the fixture ----------------------------------------------------------------------------

struct PlannerProc {
  Child* child = nullptr;
  uint16_t port = 0;
  std::string url;  // http://127.0.0.1:PORT
  std::string Api(const std::string& path) const { return url + "/api/v1" + path; }
};

struct WorkerSpec {
  std::string id;
  std::vector<std::string> args;  // extra flags: --ops, --slots, --duration-scale, ...
  EnvOverrides env;
  bool wait_registered = true;  // wait until the planner lists it
};

class VoloTest : public ::testing::Test {
 protected:
  void TearDown() override;

  std::string TempPath(const std::string& name) const;

  // Starts `volo planner --port 0 --port-file F` and waits for the port and /healthz. On
  // failure adds a (non-fatal) failure and returns port 0: callers ASSERT_NE(p.port, 0).
  // `port` 0 picks a free one; a restart passes the previous planner's port.
  PlannerProc StartPlanner(const std::vector<std::string>& extra = {}, const EnvOverrides& env = {},
                           uint16_t port = 0);
  // Starts `volo worker --planner URL --id ID args...` and (by default) waits until the planner
  // lists the worker.
  Child* StartWorker(const PlannerProc& planner, const WorkerSpec& spec);

  // POST /api/v1/tasks with one task; returns its id (0 and a failure when refused).
  uint64_t Submit(const PlannerProc& planner, const json::object& task);
  std::vector<uint64_t> SubmitMany(const PlannerProc& planner, const json::array& tasks);
  json::object GetTask(const PlannerProc& planner, uint64_t id);
  json::array Workers(const PlannerProc& planner);
  // The worker with `id` from GET /api/v1/workers, or nullopt.
  std::optional<json::object> FindWorker(const PlannerProc& planner, const std::string& id);
  json::object Status(const PlannerProc& planner);

  // Waits (long-polling POST /api/v1/wait) until every task is finished or `timeout` passes;
  // records a failure listing unfinished tasks when they do not all finish. Returns the tasks
  // as last seen, in the order of `ids`.
  std::vector<json::object> WaitFinished(const PlannerProc& planner,
                                         const std::vector<uint64_t>& ids,
                                         milliseconds timeout = seconds(60));

  Harness h_;
};

// A task object {"op": op, "args": {"a": a, "b": b}}.
json::object SeedTask(const std::string& op, double a, double b);
// `n` add/mult tasks with distinct small integer arguments, alternating ops.
json::array MixedTasks(int n);
// Checks a finished task: state done, no error, result equals the seed operation's result.
void ExpectDoneWithRightResult(const json::object& task);

}  // namespace volo::itest
