// The FLY virtual machine: runs bytecode on one thread. One Vm per executor: the top-level
// code has one, and each smp worker thread has one per fly job (reset for every instance).
//
// The operand stack and the frames' locals share one array; a frame's slots start at its
// base (parameters first) and its operands sit above them. The dispatch loop (vm.cc) uses
// computed goto and keeps ints and doubles free of any refcount traffic.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fly/chunk.h"
#include "fly/runtime.h"
#include "fly/value.h"

namespace volo::fly {

class Vm {
 public:
  // `instance`: -1 for the top-level code, else the fly instance index (for seeds and errors).
  Vm(Runtime& runtime, int64_t instance = -1);
  ~Vm();
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  // Calls function `fn` with `argc` arguments (references moved in). On success *result holds
  // an owned reference; on failure error() has the message and FLY stack trace.
  bool Call(int fn, const Value* args, int argc, Value* result);
  const std::string& error() const { return error_; }

  Runtime& runtime() { return rt_; }
  const Program& program() const { return program_; }
  int64_t instance() const { return instance_; }
  // Starts a new fly instance on this Vm: new index, fresh random streams.
  void BeginInstance(int64_t index);
  bool in_instance() const { return instance_ >= 0; }

  // Globals (consts and top-level domain objects), owned by this Vm.
  std::vector<Value>& globals() { return globals_; }
  void ResetGlobals();

  // A new random stream for this executor (deterministic given the seed and instance).
  Value NewRandom(bool has_seed, uint64_t seed);
  RandomObj* MathRandom();

  // While set and *flag is true, running code fails with "cancelled" at its next loop turn or
  // call (checked every few thousand, so the cost stays out of the hot loop). For executors
  // whose work was cancelled from outside (a cluster worker's chunk). Not owned. By default the
  // Runtime's stop flag (Runtime::Stop), which fails with the Runtime's stop reason. The
  // Runtime's interrupt flag (Ctrl-C at the REPL) is polled as well, whatever is set here.
  void SetInterrupt(const std::atomic<bool>* flag) { interrupt_ = flag; }

  // Records a runtime error message (the caller then returns false up to the dispatch loop).
  bool Fail(std::string message);
  std::string& error_message() { return message_; }

 private:
  struct Frame {
    const Function* fn;
    const uint32_t* ip;
    Value* base;
  };

  bool Run(size_t entry_frames);
  std::string InterruptMessage();
  void Print(Value v, bool newline);
  std::string Trace(size_t entry_frames) const;

  Runtime& rt_;
  const Program& program_;
  int64_t instance_;
  uint64_t random_counter_ = 0;
  Value math_random_;
  std::vector<Value> globals_;
  Value* stack_ = nullptr;
  Value* stack_end_ = nullptr;
  Value* sp_ = nullptr;
  std::vector<Frame> frames_;
  const std::atomic<bool>* interrupt_ = nullptr;
  std::string message_;  // the pending runtime error
  std::string error_;    // the formatted error with its trace
};

}  // namespace volo::fly
