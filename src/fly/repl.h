// The `volo repl` session: FLY typed at a prompt. One Program grows with every input; one
// Runtime (channels, environments) and one Vm (the globals) live for the whole session, so
// whatever an input declares at its top level (var, const, func, channels, environments) stays
// and later functions see it. An expression alone prints its value; an input that fails
// prints its error and leaves the session as it was before it (a compile error) or as far as
// it got (a runtime error). The terminal side (line editing, history, Ctrl-C) is in
// src/cli/fly_commands.cc; this class does no I/O of its own besides `out` and `err`.
//
// Thread-safety: one thread calls everything except Interrupt, which any thread or a signal
// handler may call.
#pragma once

#include <memory>
#include <ostream>
#include <string>

#include "fly/interpreter.h"

namespace volo::fly {

class ReplSession {
 public:
  enum class Outcome {
    kOk,
    kError,        // the message went to `err`
    kIncomplete,   // the input ends inside a construct: read another line, call again with both
    kInterrupted,  // stopped by Interrupt ("interrupted" went to `err`)
    kQuit,         // :quit
  };

  ReplSession(const RunOptions& options, std::ostream& out, std::ostream& err);
  ~ReplSession();
  ReplSession(const ReplSession&) = delete;
  ReplSession& operator=(const ReplSession&) = delete;

  // One input as typed (one or more lines): a `:command` or FLY.
  Outcome Input(const std::string& text);
  // Runs FLY text in the session. `at_end`: no more input follows, so text that ends inside a
  // construct is an error instead of kIncomplete.
  Outcome Eval(const std::string& text, bool at_end = false);
  // `:load FILE`: runs a file's text in the session (its definitions stay). An unfinished
  // file is an error, not kIncomplete.
  Outcome Load(const std::string& path);
  // `:env`: every environment declared so far and what it is bound to.
  std::string DescribeEnvironments();
  // Stops the input that is running (its fly instances too) at its next loop turn.
  // Async-signal-safe. A no-op when nothing runs; returns whether an input was running.
  bool Interrupt();

  static const char* Help();

 private:
  struct State;
  Outcome Run(const std::string& text, const std::string& file, bool whole);
  std::unique_ptr<State> state_;
};

}  // namespace volo::fly
