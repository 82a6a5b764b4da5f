// The native protocol's function messages (docs/protocol.md, "Functions", protocol version 2):
// the planner starts, calls and stops function instances on workers that advertised room for
// them in `register` (`functions`: how many instances they host).
//
//   planner -> worker   fn_start {instance, function, revision, runner, argv, bundle, env,
//                                  timeout, memory, cpus, ready, ready_timeout,
//                                  fly: {file, source, function, concurrency}}
//                       fn_call  {instance, call, body (base64), method, path, query,
//                                  headers: [[name, value], ...]}
//                       fn_stop  {instance}
//   worker -> planner   fn_ready  {instance, start_ms}
//                       fn_answer {call, instance, ok, status, body (base64), error, wall, cpu,
//                                  max_rss, crashed, headers: [[name, value], ...]}
//                       fn_exited {instance, error}
//                       fn_log    {instance, function, revision, text}
//   either way          fn_batch  {messages: [fn_* message, ...]}
//
// fn_batch carries several of the other fn_* messages of one direction, each as it would be
// sent alone (its `t` included), in order: what one side made in one turn of its event loop
// leaves in one WebSocket message (one send, one receive) instead of one each. A side sends it
// only to a peer that said it reads it (`fn_batch: true` in register and welcome).
//
// Bodies travel base64-encoded, so binary requests and answers arrive intact. Parsing validates
// shape and types and returns InvalidArgument naming the field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/status.h"

namespace boost::json {
class object;
}

namespace volo::wire {

// ---- planner -> worker ----
struct FnStart {
  uint64_t instance = 0;
  std::string function;           // the function's name, for logs and the process's environment
  std::string revision;           // its revision id
  std::string runner = "cmd";     // "cmd", "http" or "fly"
  std::vector<std::string> argv;  // the program and its arguments (not for "fly")
  std::string bundle;             // sha256 of the bundle, or empty
  std::vector<std::pair<std::string, std::string>> env;  // what the function sets
  double timeout = 0;                                    // seconds per call; 0: none
  int64_t memory_mib = 0;                                // per call's process tree; 0: none
  double cpus = 0;                                       // counted, not enforced (limits.h)
  // The http runner: the path its readiness check GETs, and how long the instance may take to
  // answer it before it is stopped and reported (seconds).
  std::string ready = "/";
  double ready_timeout = 30;
  // The fly runner (argv is empty): the program's file name (for messages) and text, the
  // function each call calls, and the calls an instance runs at once (one VM each).
  std::string fly_file, fly_source, fly_function;
  int concurrency = 1;
  bool operator==(const FnStart&) const = default;
};
struct FnCall {
  uint64_t instance = 0;
  uint64_t call = 0;
  std::string body;
  // The HTTP request (all optional on the wire): its method, the decoded path after
  // /fn/NAME ("" or "/..."), the query string as sent (without '?'), and its headers but the
  // Authorization one.
  std::string method = "POST";
  std::string path;
  std::string query;
  std::vector<std::pair<std::string, std::string>> headers;
};
struct FnStop {
  uint64_t instance = 0;
};

// ---- worker -> planner ----
struct FnReady {
  uint64_t instance = 0;
  double start_ms = 0;  // how long the instance took to start on the worker
};
struct FnAnswer {
  uint64_t call = 0;
  uint64_t instance = 0;
  bool ok = true;    // false: the call failed (`error` says how); the planner answers 502
  int status = 200;  // the HTTP status of a successful call
  std::string body;  // the response body (ok)
  // The response's headers (the http runner; the cmd runner answers application/octet-stream).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string error;     // "exited with status 3: <stderr tail>", "killed by SIGSEGV", ...
  bool crashed = false;  // the process died of a signal (not a plain non-zero exit)
  double wall = 0;       // seconds the call took on the worker
  double cpu = 0;        // CPU seconds of its process tree
  int64_t max_rss = 0;   // bytes, the largest resident set of its processes
};
struct FnExited {
  uint64_t instance = 0;
  std::string error;  // why it could not start or stopped on its own
};

// Output an instance wrote on stderr (an http instance's server as it runs, each call of a cmd
// instance): whole lines (a line longer than kFnLogMaxText is cut), at most kFnLogMaxText bytes
// of them per message. Valid UTF-8 (the worker replaces other bytes with '?').
struct FnLog {
  uint64_t instance = 0;
  std::string function;
  std::string revision;
  std::string text;
};
inline constexpr size_t kFnLogMaxText = 16 << 10;

std::string EncodeFnStart(const FnStart& m);
std::string EncodeFnCall(const FnCall& m);
std::string EncodeFnStop(const FnStop& m);
std::string EncodeFnReady(const FnReady& m);
std::string EncodeFnAnswer(const FnAnswer& m);
std::string EncodeFnExited(const FnExited& m);
std::string EncodeFnLog(const FnLog& m);

using FnPlannerMessage = std::variant<FnStart, FnCall, FnStop>;
using FnWorkerMessage = std::variant<FnReady, FnAnswer, FnExited, FnLog>;
// An fn_batch, parsed: its messages in order (never another fn_batch).
struct FnPlannerBatch {
  std::vector<FnPlannerMessage> messages;
};
struct FnWorkerBatch {
  std::vector<FnWorkerMessage> messages;
};
// `t` is the message's type ("fn_start", ...); `o` the whole message. An fn_batch is parsed by
// ParseFnPlannerBatch / ParseFnWorkerBatch.
Result<FnPlannerMessage> ParseFnPlannerMessage(std::string_view t, const boost::json::object& o);
Result<FnWorkerMessage> ParseFnWorkerMessage(std::string_view t, const boost::json::object& o);
Result<FnPlannerBatch> ParseFnPlannerBatch(const boost::json::object& o);
Result<FnWorkerBatch> ParseFnWorkerBatch(const boost::json::object& o);

// Joins encoded fn_* messages (each as Encode* made it) into fn_batch messages of at most about
// kFnBatchBytes each, in order; a lone message (or one larger than the limit) stays as it was.
inline constexpr size_t kFnBatchBytes = 1 << 20;
class FnBatcher {
 public:
  void Add(std::string message);
  bool empty() const { return pending_.empty(); }
  // The messages to send, in order; the batcher is empty after.
  std::vector<std::string> Finish();

 private:
  std::vector<std::string> pending_;
};

}  // namespace volo::wire
