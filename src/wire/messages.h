// Every message of volo's native protocol (docs/protocol.md) and its JSON codec.
//
// Parsing validates shape and types and returns InvalidArgument with a message meant for the
// sender. Encoding of the hot messages (task batches, result batches) appends to a string without
// building a JSON tree: arguments and results travel as raw JSON text that was validated once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/json_text.h"
#include "common/status.h"
#include "wire/function_messages.h"

namespace boost::json {
class value;
class object;
}  // namespace boost::json

namespace volo::wire {

// Version 2 added functions (function_messages.h); a planner still accepts version 1 workers,
// which host no function instances.
inline constexpr int kProtocolVersion = 2;
inline constexpr int kMinProtocolVersion = 1;
inline constexpr size_t kMaxBatch = 100000;

// What a task needs of a worker, or what a worker has (docs/rest-api.md, "Resources"). CPUs are
// counted in thousandths so that `"cpus": 0.5` is exact; memory in MiB; named resources
// (`gpus`, `licence`) are whole units. A zero amount is the same as none.
struct Resources {
  int64_t millicpus = 0;
  int64_t memory_mib = 0;
  std::vector<std::pair<std::string, int64_t>> named;  // sorted by name, amounts above 0
  bool empty() const { return millicpus == 0 && memory_mib == 0 && named.empty(); }
  bool operator==(const Resources&) const = default;
};
inline constexpr int64_t kMaxMillicpus = int64_t{1000000} * 1000;  // a million CPUs
inline constexpr int64_t kMaxMemoryMib = int64_t{1} << 40;         // an exbibyte
inline constexpr int64_t kMaxNamedAmount = int64_t{1} << 50;
inline constexpr size_t kMaxNamedResources = 32;

// {"cpus": 2, "memory": 512, "gpus": 1}. Errors name the field (`tasks[3].resources.memory:
// must be an integer number of MiB from 0 to ...`).
Result<Resources> ParseResources(const boost::json::value& v, std::string_view where);
// Appends the object form ParseResources reads back.
void AppendResources(std::string& out, const Resources& r);
// "2 cpus, 64 GiB memory, gpus=1" for messages; "nothing" when empty.
std::string DescribeResources(const Resources& r);
// One amount as DescribeResources writes it: "0.5 cpus", "512 MiB memory", "gpus=2".
std::string DescribeCpus(int64_t millicpus);
std::string DescribeMemory(int64_t mib);
std::string DescribeNamed(std::string_view name, int64_t amount);
// An exec task's own `cpus`, `memory` and `resources` args count for placement as the task's
// `resources` do: they are added to `r`. Set in both with different amounts is an
// InvalidArgument naming the field (`args.memory: 512 MiB memory here but 256 MiB memory in the
// task's resources; give it once, in "resources"`). `args` was validated by ValidateExecArgs.
Status AddExecRequest(const boost::json::object& args, std::string_view where, Resources& r);
// "gpus=2" (the CLI's --resource): a name and a non-negative integer, or cpus=/memory=.
Status AddResourceText(Resources& r, std::string_view text);

// What a client asks the planner to run (docs/rest-api.md, "Tasks").
struct TaskSpec {
  std::string op;
  std::string args = "{}";  // a JSON object, serialized
  int retries = 0;
  double timeout = 0;  // seconds; 0 means none
  int priority = 0;
  std::vector<std::pair<std::string, std::string>> labels;
  Resources resources;  // what it needs of a worker; empty: only a slot
};

// Validates one task object. Errors name the field (`tasks[3].args: must be an object`).
Result<TaskSpec> ParseTaskSpec(const boost::json::value& v, std::string_view where = "");
// A body that is one task or {"tasks": [...]}.
Result<std::vector<TaskSpec>> ParseSubmitBody(std::string_view body, bool* is_batch);

// The operations every volo worker runs: add, mult, sleep, echo, noop.
bool IsBuiltinOp(std::string_view op);
// Checks a built-in operation's arguments (add/mult: numbers a and b; sleep: seconds; exec:
// ValidateExecArgs). Every other operation passes.
Status ValidateBuiltinArgs(std::string_view op, const boost::json::object& args,
                           std::string_view where);

// The `exec` operation's arguments (docs/rest-api.md, "Commands"): cmd or shell, env, stdin,
// cwd (relative, never above the task's directory), timeout, and the bundle and resource fields
// the worker gives meaning to. Unknown fields are refused. ValidateBuiltinArgs("exec") calls it.
Status ValidateExecArgs(const boost::json::object& args, std::string_view where);

// Operation names and worker ids: 1..128 of [A-Za-z0-9_.:-].
bool ValidName(std::string_view s);

// ---- worker -> planner ----
struct Register {
  std::string id;
  std::vector<std::string> ops;
  int slots = 1;
  Resources resources;    // what the worker has for tasks that ask for resources
  int functions = 0;      // function instances it hosts at once (version 2); 0: none
  bool fn_batch = false;  // it reads fn_batch (function_messages.h); optional, false when absent
};
struct Heartbeat {};
struct TaskResult {
  uint64_t id = 0;
  bool ok = true;
  std::string value;  // ok: the result as JSON text; else the error text
  double started = 0;
  double finished = 0;
  // !ok only: the process that ran the task died (a signal, an exit), as opposed to the task
  // reporting an error. The planner counts crashes towards failing a poison task.
  bool crashed = false;
};
struct Results {
  std::vector<TaskResult> results;
};
struct Refused {
  std::vector<uint64_t> ids;
};
struct Leaving {};
// Output of running commands (the exec operation), in the order it was read: stream 1 is
// stdout, 2 stderr. Bytes travel base64-encoded, so binary output arrives intact.
struct LogChunk {
  uint64_t id = 0;
  int stream = 1;
  std::string data;
};
struct Logs {
  std::vector<LogChunk> chunks;
};

// Live output: what a running task printed, as it prints it (docs/protocol.md, "output").
// `text` is whole lines (or a piece of a line longer than kMaxOutputPiece) found at byte
// `offset` of the output of the task's current attempt; an attempt's pieces come in order.
// The same message goes from a worker to the planner and from the planner to the streaming
// client that submitted the task.
inline constexpr size_t kMaxOutputPiece = 64 * 1024;
struct TaskOutput {
  uint64_t id = 0;
  uint64_t offset = 0;
  std::string text;
};
struct Output {
  std::vector<TaskOutput> output;
};
// Builds an `output` message one piece at a time.
class OutputEncoder {
 public:
  void Add(uint64_t id, uint64_t offset, std::string_view text);
  bool empty() const { return count_ == 0; }
  size_t bytes() const { return buf_.size(); }
  // Returns the message and resets the encoder.
  std::string Finish();

 private:
  std::string buf_;
  size_t count_ = 0;
};
using WorkerMessage = std::variant<Register, Heartbeat, Results, Refused, Leaving, Logs, Output,
                                   FnReady, FnAnswer, FnExited, FnLog, FnWorkerBatch>;
Result<WorkerMessage> ParseWorkerMessage(std::string_view text);

std::string EncodeRegister(const Register& r);
std::string EncodeHeartbeat();
std::string EncodeRefused(const std::vector<uint64_t>& ids);
std::string EncodeLeaving();

// Builds a `results` message one result at a time.
class ResultsEncoder {
 public:
  void Add(const TaskResult& r);
  bool empty() const { return count_ == 0; }
  size_t count() const { return count_; }
  // Returns the message and resets the encoder.
  std::string Finish();

 private:
  std::string buf_;
  size_t count_ = 0;
};

// Builds a `logs` message one chunk at a time.
class LogsEncoder {
 public:
  void Add(uint64_t id, int stream, std::string_view data);
  bool empty() const { return count_ == 0; }
  size_t size() const { return buf_.size(); }
  // Returns the message and resets the encoder.
  std::string Finish();

 private:
  std::string buf_;
  size_t count_ = 0;
};

std::string Base64Encode(std::string_view data);
// False for text that is not standard base64 (with padding).
bool Base64Decode(std::string_view text, std::string* out);

// ---- planner -> worker ----
struct Welcome {
  int heartbeat_ms = 1000;
  bool fn_batch = false;  // the planner reads fn_batch (function_messages.h)
};
struct Assignment {
  uint64_t id = 0;
  std::string op;
  std::string args;  // JSON text
  double timeout = 0;
  Resources resources;  // what the task asked for: the worker's limits for it
};
struct Tasks {
  std::vector<Assignment> tasks;
};
struct Cancel {
  std::vector<uint64_t> ids;
};
struct Error {
  std::string message;
};
using PlannerMessage =
    std::variant<Welcome, Tasks, Cancel, Error, FnStart, FnCall, FnStop, FnPlannerBatch>;
Result<PlannerMessage> ParsePlannerMessage(std::string_view text);

std::string EncodeWelcome(const Welcome& w);
std::string EncodeCancel(const std::vector<uint64_t>& ids);
std::string EncodeError(std::string_view message);

// Builds a `tasks` message one assignment at a time.
class TasksEncoder {
 public:
  void Add(uint64_t id, std::string_view op, std::string_view args, double timeout,
           const Resources* resources = nullptr);
  bool empty() const { return count_ == 0; }
  std::string Finish();

 private:
  std::string buf_;
  size_t count_ = 0;
};

// ---- streaming client <-> planner (/api/v1/stream) ----
struct Submit {
  int64_t tag = 0;
  std::string key;  // idempotency key: a retried submit with the same key queues nothing new
  std::vector<TaskSpec> tasks;
};
Result<Submit> ParseClientMessage(std::string_view text, int64_t* tag_out);
std::string EncodeSubmit(int64_t tag, const std::vector<TaskSpec>& tasks);
std::string EncodeSubmitted(int64_t tag, uint64_t first, size_t count);
std::string EncodeClientError(int64_t tag, std::string_view message);

struct ClientResult {
  uint64_t id = 0;
  std::string state;   // done, failed, cancelled
  std::string result;  // JSON text or "null"
  std::string error;   // empty when none
  std::string worker;
};
class ClientResultsEncoder {
 public:
  void Add(uint64_t id, std::string_view state, std::string_view result, std::string_view error,
           std::string_view worker);
  bool empty() const { return count_ == 0; }
  std::string Finish();

 private:
  std::string buf_;
  size_t count_ = 0;
};
// What a streaming client receives: submitted acks, results, errors, its tasks' live output.
struct Submitted {
  int64_t tag = 0;
  uint64_t first = 0;
  size_t count = 0;
};
struct ClientResults {
  std::vector<ClientResult> results;
};
using StreamMessage = std::variant<Submitted, ClientResults, Error, Output>;
Result<StreamMessage> ParseStreamMessage(std::string_view text);

// Serializes a JSON value compactly, with doubles in their shortest form (0.5, not 5E-1).
std::string ToJson(const boost::json::value& v);
// The common escaper, under the name wire's callers use.
using ::volo::AppendJsonString;
// Appends a double so it reads back the same (JSON has no NaN/Inf: those become null).
void AppendJsonNumber(std::string& out, double d);

}  // namespace volo::wire
