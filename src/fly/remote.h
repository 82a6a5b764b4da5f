// The executor side of remote fly execution (cluster workers, k8s pods): a compiled program
// that runs chunks of one fly statement's instances exactly as the smp environment would.
//
// A chunk needs the program source (compiled once per worker, see RemoteProgram::Compile), the
// job's spec (FlyJob::RemoteSpec(), a JSON object) and, unless the fly is over a range, one
// serialized argument per instance (FlyJob::SerializedArgument). The spec's fields:
//
//   file          the program's file name, for error messages
//   function      the function each instance runs; then: its `then` callback or null
//   keep_results  whether return values are needed (else they come back as null)
//   seed, seed_forced   the launching Runtime's seed() and seed_forced() (FLY.md Part A 8)
//   range_lo      for `fly f in [lo:hi]`: lo (instance i gets lo + i); else null
//   globals       {name: value}: the consts snapshot (FLY.md Part A 7) and other shippable globals
//   randoms       {name: [has_decl_seed, decl_seed]}: random objects, re-derived per instance
//   channels      {name: number}: the instance's sends on these come back as messages
//   envs          {name: [description, nthread]}: environments (instances read nthread)
//   init          optional, true for a workflow step: the program's top level runs once before
//                 the instances, and the consts it leaves are their starting values
//
// An instance's messages are captured, not delivered: they come back with the chunk, in the
// order the instance sent them per channel (seq counts an instance's messages), for the
// launching side to hand to FlyJob::Deliver. A receive inside a remote instance sees only the
// instance's own sends (other senders are on other machines), so it fails when they are used up.
// Relative file paths resolve against the executor's working directory.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace volo::fly {

struct Program;

// A serialized argument that starts with this carries several arguments as a list
// (`fly f(a, b) on env`); any other is the one argument (SerializeValue text).
inline constexpr std::string_view kArgsTag = "@args";

struct RemoteMessage {
  size_t instance = 0;
  uint32_t seq = 0;   // the instance's messages count from 0
  int channel = 0;    // the number the spec's `channels` gave it
  std::string value;  // SerializeValue text
};

struct ChunkResult {
  bool ok = true;
  // ok: one serialized return value per instance, in order. Else the instances before the
  // failed one.
  std::vector<std::string> returns;
  std::vector<RemoteMessage> messages;  // in (instance, seq) order
  // What the instances printed; with a live-output hook only the part not yet handed to it
  // (an unterminated last line), which starts at byte output_offset of the chunk's output.
  std::string output;
  uint64_t output_offset = 0;
  size_t failed_instance = 0;  // !ok: the instance that failed ...
  std::string error;           // ... and its error (message and FLY stack trace)
};

// The launching side's reading of a failed chunk (instances first .. first + count - 1): the
// error names the failed instance as "instance I: message", possibly inside a crash history
// ("crashed 2 times: instance I: killed by SIGFPE on w1; ..."). Instance I gets the error without
// that tag, the instances before it ran (null: their results are lost with the chunk, but the
// fly fails anyway), those after it did not (cancelled). An error that names no instance of the
// chunk fails the first. One result per instance, in order.
std::vector<Result<std::string>> FailedChunkResults(const std::string& error, size_t first,
                                                    size_t count);

// Receives a chunk's output as it is printed: `text` is whole lines (or a piece of a line
// longer than kLiveOutputPiece) starting at byte `offset` of the chunk's output.
using LiveOutputFn = std::function<void(uint64_t offset, std::string_view text)>;
inline constexpr size_t kLiveOutputPiece = 64 * 1024;

// Whether `func` of the program can be a workflow step (docs/workflows.md): the program
// compiles and the function exists and takes one parameter (the step's inputs) or none. Returns
// what is wrong ("score.fly:3:5: ..." for compile errors), or "" when nothing is.
std::string CheckStepFunction(const std::string& file, const std::string& source,
                              const std::string& func);

// ---- the launching side (src/cluster's environment and the playground's web/playground/wasm/
// fleet.cc): a fly goes to a fleet as `fly` tasks, each a chunk of consecutive instances with
// the arguments {"program": the source's SHA-256, "file": ..., "spec": ... or "spec_blob": the
// spec's SHA-256, "first": F, "count": C, "args": [one serialized argument per instance]}
// ("args" only when the fly is not over a range), the program and a large spec stored in the
// planner's blob store first.

// Specs above this size go to the blob store instead of into every chunk's args.
inline constexpr size_t kInlineSpecBytes = 16 << 10;
inline constexpr size_t kMaxChunk = 10000;  // instances in one chunk

class FlyJob;

// Instances per chunk for `instances` over `slots` fleet slots: many chunks per slot keep the
// tail short when workers run at different speeds.
size_t ChunkSize(size_t instances, int slots);

// What every chunk of one job carries: the job's spec (FlyJob::RemoteSpec()), the program's
// hash and the spec's field, "spec":SPEC or "spec_blob":"HASH" (JSON text).
struct ChunkCommon {
  std::string spec;
  std::string program_hash;
  std::string spec_field;
};

// Stores the job's program and, when it is larger than kInlineSpecBytes, its spec with
// put_blob(hash(bytes), bytes) and returns what the job's chunks carry. FailedPrecondition when
// the job cannot run remotely (no spec); put_blob's error when a store fails.
Result<ChunkCommon> StoreChunkBlobs(
    const FlyJob& job, const std::function<std::string(const std::string&)>& hash,
    const std::function<Status(const std::string& hash, const std::string& bytes)>& put_blob);

// The args of the chunk of instances first .. first + count - 1: `file` is the program's file
// name as a JSON string; with `ship_args` each instance's SerializedArgument from `job`.
Result<std::string> ChunkArgs(const ChunkCommon& common, const std::string& file, bool ship_args,
                              const FlyJob& job, size_t first, size_t count);

class RemoteProgram {
 public:
  ~RemoteProgram();
  // Compiles `source`; InvalidArgument carries the diagnostics.
  static Result<std::shared_ptr<const RemoteProgram>> Compile(const std::string& file,
                                                              const std::string& source);

  // Runs instances first .. first + count - 1 of the job `spec` describes. `args` holds one
  // serialized argument per instance of the chunk, or is empty (a range fly, or a function
  // without parameters). Stops before the next instance once *stop is true (the result then
  // fails with "cancelled"). A malformed spec fails the chunk at its first instance.
  // `current`, when given, is set to each instance's index as it starts (a worker's runner
  // keeps it in memory its parent reads, so a crash can name the instance).
  // `live`, when given, receives the output as the instances print it (the runner forwards it
  // to the worker at once); the result's `output` then holds only what it has not received.
  // Thread-safe: every call has its own Runtime and Vm.
  ChunkResult RunChunk(std::string_view spec, size_t first, size_t count,
                       const std::vector<std::string>& args,
                       const std::atomic<bool>* stop = nullptr,
                       std::atomic<int64_t>* current = nullptr,
                       const LiveOutputFn* live = nullptr) const;

 private:
  RemoteProgram() = default;
  std::unique_ptr<Program> program_;
};

}  // namespace volo::fly
