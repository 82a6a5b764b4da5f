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

namespace boost::json {
class value;
class object;
}  // namespace boost::json

namespace volo::wire {

inline constexpr int kProtocolVersion = 1;
inline constexpr size_t kMaxBatch = 100000;

// What a client asks the planner to run (docs/rest-api.md, "Tasks").
struct TaskSpec {
  std::string op;
  std::string args = "{}";  // a JSON object, serialized
  int retries = 0;
  double timeout = 0;  // seconds; 0 means none
  int priority = 0;
  std::vector<std::pair<std::string, std::string>> labels;
};

// Validates one task object. Errors name the field (`tasks[3].args: must be an object`).
Result<TaskSpec> ParseTaskSpec(const boost::json::value& v, std::string_view where = "");
// A body that is one task or {"tasks": [...]}.
Result<std::vector<TaskSpec>> ParseSubmitBody(std::string_view body, bool* is_batch);

// The operations every volo worker runs: add, mult, sleep, echo, noop.
bool IsBuiltinOp(std::string_view op);
// Checks a built-in operation's arguments (add/mult: numbers a and b; sleep: seconds).
Status ValidateBuiltinArgs(std::string_view op, const boost::json::object& args,
                           std::string_view where);

// Operation names and worker ids: 1..128 of [A-Za-z0-9_.:-].
bool ValidName(std::string_view s);

// ---- worker -> planner ----
struct Register {
  std::string id;
  std::vector<std::string> ops;
  int slots = 1;
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
using WorkerMessage = std::variant<Register, Heartbeat, Results, Refused, Leaving, Output>;
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

// ---- planner -> worker ----
struct Welcome {
  int heartbeat_ms = 1000;
};
struct Assignment {
  uint64_t id = 0;
  std::string op;
  std::string args;  // JSON text
  double timeout = 0;
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
using PlannerMessage = std::variant<Welcome, Tasks, Cancel, Error>;
Result<PlannerMessage> ParsePlannerMessage(std::string_view text);

std::string EncodeWelcome(const Welcome& w);
std::string EncodeCancel(const std::vector<uint64_t>& ids);
std::string EncodeError(std::string_view message);

// Builds a `tasks` message one assignment at a time.
class TasksEncoder {
 public:
  void Add(uint64_t id, std::string_view op, std::string_view args, double timeout);
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
