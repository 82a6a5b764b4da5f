// Functions as a service in the planner (docs/functions.md): the registry of functions and
// their revisions, the instances that run them on workers, and a bounded hold queue per
// function, beside Core.
//
// A call (`POST /fn/NAME`) goes to a ready instance of the function with room (fewer calls in
// flight than its `concurrency`); without one it is held in the function's queue (up to
// `queue` calls, then 429 with Retry-After) while the scaler starts instances, and is answered
// once one is ready: a function is never an error for being cold. The scaling decisions are
// pure functions of (calls in flight, queued, instances, min/max, concurrency, idle time)
// below, unit-tested with a fake clock and a fake transport (functions_test.cc).
//
// A new deploy is a new revision (named by the SHA-256 of its spec, which holds the bundle's
// hash). Calls keep going to instances of the previous revision until one of the new revision
// is ready; those then take no new calls and stop once their calls in flight have finished.
//
// Threading: the planner's io thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "net/http.h"
#include "wire/function_messages.h"

namespace volo::planner {

// What `volo fn deploy` sets (docs/functions.md, "Deploy").
struct FunctionSpec {
  std::string name;
  // "cmd": one process per call, body on stdin, stdout the answer; "http": a long-lived server
  // on $PORT, calls proxied to it; "fly": a FLY function called in warm VMs.
  std::string runner = "cmd";
  std::vector<std::string> argv;  // the program and its arguments
  std::string bundle;             // sha256 of a bundle the planner has, or empty
  std::vector<std::pair<std::string, std::string>> env;  // sorted by name
  int min = 0;                                           // instances kept running with no calls
  int max = 10;                                          // instances at most
  int concurrency = 1;                                   // calls one instance takes at once
  double idle = 300;       // seconds without calls before an instance stops
  double timeout = 60;     // seconds per call, holding included
  int64_t memory_mib = 0;  // per call's processes; 0: no limit
  double cpus = 0;         // counted by the worker, not enforced
  bool is_public = false;  // callable without the API token
  int queue = 100;         // calls held while no instance has room; then 429
  // The http runner: an instance is ready once it answers `GET ready` (a status below 500),
  // and is stopped and reported when it has not within `ready_timeout` seconds.
  std::string ready = "/";
  double ready_timeout = 30;
  // The fly runner (argv empty): the program's file name and text, and the function each call
  // calls (F(), F(body) or F(body, request) by its arity).
  std::string fly_file, fly_source, fly_function;

  // The spec as canonical JSON (fixed field order, sorted env): what a revision is named by.
  std::string ToJson() const;
};

// The body of PUT /api/v1/functions/NAME (the fields of FunctionSpec, `cmd` for argv). Errors
// name the field: `max: must be an integer from 1 to 1000`.
Result<FunctionSpec> ParseFunctionSpec(std::string_view name, std::string_view body);
// Whether a fly function can start: `source` compiles and has `function` with at most two
// parameters. What is wrong ("hello.fly:3:5: expected ..."), or "" when nothing is.
std::string CheckFlyFunction(const std::string& file, const std::string& source,
                             const std::string& function);
// The largest FLY program a function may hold (it travels in the spec and the journal).
inline constexpr size_t kMaxFlySource = 1 << 20;
// Function names: 1-64 of [a-z0-9-], starting with a letter or digit (they appear in URLs).
bool ValidFunctionName(std::string_view name);
// The SHA-256 (hex) of spec.ToJson().
std::string RevisionOf(const FunctionSpec& spec);

// ---- the scaling decisions (pure) ----
struct ScaleInput {
  int ready = 0;     // instances of the current revision taking calls
  int starting = 0;  // instances of the current revision starting
  int inflight = 0;  // calls running on the current revision's instances
  int queued = 0;    // calls held
  int min = 0, max = 1, concurrency = 1;
};
// How many instances to start now: enough for every call in flight or held at `concurrency`
// each, at least `min`, at most `max` in all.
int InstancesToStart(const ScaleInput& in);
// Whether an instance with no call in flight, idle for `idle_for` seconds, stops: when it has
// been idle for `idle_limit` and stopping it leaves at least `min` instances (`instances`
// counts it).
bool StopWhenIdle(double idle_for, double idle_limit, int instances, int min);
// The Retry-After (whole seconds, at least 1) a full queue answers with: about the time for
// the calls ahead to drain at the function's capacity.
int RetryAfterSeconds(int queued, int capacity, double mean_call_seconds);
// The calls a ready instance is sent beyond its concurrency, to wait at the instance: a `fly`
// instance whose function's recent calls were short (under kPrefetchBelowSeconds on the worker,
// waiting there included, over at least kPrefetchAfterCalls answered calls) takes as many more
// as it runs at once, so that a VM that ends a call finds the next one there instead of waiting
// a round trip through the planner, and calls that arrive together travel together
// (fn_batch). Otherwise none: behind a long call a waiting call would be held while another
// instance may be free sooner.
inline constexpr double kPrefetchBelowSeconds = 0.002;
inline constexpr uint64_t kPrefetchAfterCalls = 20;
int PrefetchCalls(const std::string& runner, int concurrency, double recent_call_seconds,
                  uint64_t answered);

// How the service reaches workers (the server sends protocol messages; tests record them).
class FunctionTransport {
 public:
  virtual ~FunctionTransport() = default;
  virtual void Start(WorkerIndex w, const wire::FnStart& m) = 0;
  virtual void Call(WorkerIndex w, const wire::FnCall& m) = 0;
  virtual void Stop(WorkerIndex w, uint64_t instance) = 0;
};

// One call as metered (docs/functions.md, "Metering").
struct CallRecord {
  double at = 0;    // wall time the call arrived
  double wall = 0;  // seconds from arrival to answer, holding included
  double run = 0;   // seconds the call ran on the worker
  double cpu = 0;   // CPU seconds
  int64_t max_rss = 0;
  bool cold = false;   // it waited for an instance to start
  int status = 0;      // the HTTP status it was answered with
  std::string caller;  // the token's name: "api", or "public" for a call without one
  std::string revision;
};

struct FunctionCounters {
  uint64_t calls = 0, errors = 0, cold_starts = 0, rejected = 0;
  uint64_t instances_started = 0, instances_stopped = 0, crashes = 0;
};

class FunctionService {
 public:
  using Reply = std::function<void(net::HttpResponse)>;

  FunctionService(const Clock& clock, FunctionTransport& transport);
  ~FunctionService();
  FunctionService(const FunctionService&) = delete;
  FunctionService& operator=(const FunctionService&) = delete;

  struct Deployed {
    std::string revision;
    bool changed = false;  // false: the same spec was already the current revision
  };
  // Adds the function or a new revision of it (the current one from now on).
  Deployed Deploy(FunctionSpec spec);
  // Makes the revision before the current one current again. FailedPrecondition without one.
  Result<std::string> Rollback(const std::string& name);
  // Stops its instances, answers its held and running calls 503, and forgets it.
  Status Remove(const std::string& name);

  // Durability (with --data): after each deploy, rollback and removal, `record` gets the
  // function's name and its whole state as JSON (empty when removed), for the journal. Restore
  // rebuilds a function from such a state at start, before any call.
  void SetRecorder(std::function<void(const std::string& name, const std::string& state)> record) {
    record_ = std::move(record);
  }
  Status Restore(const std::string& name, std::string_view state);

  // Workers that host instances (their `register` said `functions: capacity`).
  void AddWorker(WorkerIndex w, std::string id, int capacity);
  // The worker is gone: its instances are forgotten and their calls in flight answered 502.
  void RemoveWorker(WorkerIndex w);
  // The worker drains: no new instances go there, and its instances stop as soon as their
  // calls in flight are done (new calls wait for instances elsewhere).
  void WorkerLeaving(WorkerIndex w);

  // Answers `reply` once the call is done (or at once: 404, 429).
  // `request` holds the body, method, path after /fn/NAME, query string and headers (its
  // instance and call ids are set here).
  void Invoke(const std::string& name, wire::FnCall request, std::string caller, Reply reply);
  void Invoke(const std::string& name, std::string body, std::string caller, Reply reply) {
    wire::FnCall request;
    request.body = std::move(body);
    Invoke(name, std::move(request), std::move(caller), std::move(reply));
  }
  // Whether a call needs no token (the function is public).
  bool IsPublic(const std::string& name) const;

  // `POST /fn/NAME?async=1`: runs the call as Invoke does and keeps its answer under a new
  // random id (32 hex digits) for AsyncResult. `accepted` gets the id, or, when the call is
  // answered at once without running (404, 429), that answer instead.
  void InvokeAsync(
      const std::string& name, wire::FnCall request, std::string caller,
      const std::function<void(Result<std::string> id, net::HttpResponse now)>& accepted);
  // The answer of an async call of function `name`: nullopt when no such id is kept (never
  // made, of another function, or dropped: answers are kept kAsyncKeepSeconds after they
  // are done, at most kAsyncKeepCalls of them and kAsyncKeepBytes of bodies, the oldest
  // dropped first); `done` false while the call runs.
  struct AsyncState {
    bool done = false;
    net::HttpResponse response;
  };
  std::optional<AsyncState> AsyncResult(const std::string& name, const std::string& id) const;
  static constexpr double kAsyncKeepSeconds = 3600;
  static constexpr size_t kAsyncKeepCalls = 10000;
  static constexpr size_t kAsyncKeepBytes = 256 << 20;

  void OnReady(WorkerIndex w, const wire::FnReady& m);
  void OnAnswer(WorkerIndex w, const wire::FnAnswer& m);
  void OnExited(WorkerIndex w, const wire::FnExited& m);
  // Stderr of an instance (fn_log): kept in the function's log (FunctionLog), each line
  // prefixed with the time it arrived, the revision and the instance. Dropped when no such
  // function is deployed.
  void OnLog(WorkerIndex w, const wire::FnLog& m);

  // A slice of a function's log (`GET /api/v1/functions/NAME/logs`). Offsets count the bytes
  // the log ever held; the oldest lines go once it holds more than log_limit() bytes.
  struct LogSlice {
    std::string text;    // from max(offset, start), at most `max` bytes
    uint64_t start = 0;  // the offset of the oldest byte kept (the bytes dropped so far)
    uint64_t next = 0;   // the offset after `text`
    uint64_t end = 0;    // the log's size: the offset of its next byte
  };
  // NotFound: no such function; InvalidArgument: `offset` lies beyond the log's end.
  Result<LogSlice> Logs(const std::string& name, uint64_t offset, size_t max) const;
  static constexpr size_t kLogBytes = 1 << 20;
  size_t log_limit() const { return log_limit_; }
  void set_log_limit(size_t bytes) { log_limit_ = bytes; }
  // Expires held calls and slow starts, stops idle instances, keeps `min` running.
  void Tick();

  // The API's views (JSON text).
  std::string ListJson() const;
  std::optional<std::string> GetJson(const std::string& name) const;
  // Totals of the calls that arrived in [from, to) (wall seconds), in all and per caller.
  std::optional<std::string> UsageJson(const std::string& name, double from, double to) const;
  // Prometheus text for /metrics.
  std::string MetricsText() const;

  // The bundles every revision of every function names (kept from collection).
  std::vector<std::string> Bundles() const;

  // For `--provision` (provisioning.h): the instances the scaler wants that no worker has
  // room to host, over all functions, and the instances worker `w` hosts.
  int UnhostedInstances() const;
  int HostedOn(WorkerIndex w) const;

  // For tests.
  size_t instances(const std::string& name) const;
  size_t queued(const std::string& name) const;

 private:
  struct Instance;
  struct Function;
  struct Held;
  struct Worker;
  Function* Find(const std::string& name);
  // What Scale weighs for `f` (and UnhostedInstances with it, so the two count alike).
  ScaleInput ScaleInputOf(const Function& f) const;
  void Scale(Function& f);
  void Dispatch(Function& f);
  void Send(Function& f, Instance& inst, Held call);
  void StopInstance(Instance& inst);
  void Finish(uint64_t call_id, net::HttpResponse r, const wire::FnAnswer* answer);
  void ForgetInstance(uint64_t id);
  std::optional<WorkerIndex> PickWorker();
  void Record(const std::string& name);
  void DropOldAsync();
  std::function<void(const std::string&, const std::string&)> record_;

  const Clock& clock_;
  FunctionTransport& transport_;
  std::map<std::string, std::unique_ptr<Function>> functions_;
  std::unordered_map<uint64_t, std::unique_ptr<Instance>> instances_;
  struct Running;
  std::unordered_map<uint64_t, std::unique_ptr<Running>> calls_;
  std::map<WorkerIndex, Worker> workers_;
  struct Async {
    std::string function;
    bool done = false;
    net::HttpResponse response;
    TimePoint finished;
  };
  std::unordered_map<std::string, Async> async_;
  std::deque<std::string> async_done_;  // ids of finished async calls, oldest first
  size_t async_bytes_ = 0;              // their bodies' bytes
  uint64_t next_instance_ = 1;
  uint64_t next_call_ = 1;
  size_t log_limit_ = kLogBytes;
};

}  // namespace volo::planner
