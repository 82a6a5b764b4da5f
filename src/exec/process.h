// Starting and stopping child processes: posix_spawn (never fork, which is unsafe in a
// multithreaded parent and copies its page tables), each child in its own process group so the
// whole tree it starts can be signalled at once, and how a child ended in words a user reads
// ("killed by SIGSEGV", "exited with status 3").
//
// Used by the worker to run fly chunks in runner processes (src/worker/fly_executor.h), and
// meant for running users' commands (run.h adds output capture and timeouts).
//
// Threading: a Process is owned by one thread at a time; Spawn may be called from any thread.
// Every descriptor this library creates is close-on-exec, so concurrent spawns from several
// threads never leak each other's pipes.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace volo::exec {

// "SIGSEGV" for 11; "signal 77" for a number the C library has no name for.
std::string SignalName(int sig);

// How a child process ended.
struct ExitStatus {
  int code = 0;    // the exit status, when it exited
  int signal = 0;  // the signal that killed it, 0 when it exited
  bool exited() const { return signal == 0; }
  bool ok() const { return signal == 0 && code == 0; }
  // "exited with status 3", "killed by SIGFPE" (with " (core dumped)" never added: the dump
  // is not the user's business here).
  std::string Describe() const;
  // From a waitpid() status word.
  static ExitStatus FromWait(int wstatus);
};

enum class Stdio : uint8_t {
  kInherit,  // the parent's descriptor
  kNull,     // /dev/null
  kPipe,     // a pipe whose other end the Process holds
  kFd,       // a descriptor of the caller's (SpawnOptions::in_fd/out_fd/err_fd), still its own
};

struct SpawnOptions {
  // argv[0] is the program: a path, or a name looked up on PATH when search_path is set.
  std::vector<std::string> argv;
  bool search_path = false;
  // When set, the program to run, and argv[0] only the name it sees (and `ps` shows).
  std::string path;
  // The child's environment as NAME=VALUE entries; unset: the parent's.
  std::optional<std::vector<std::string>> env;
  std::string cwd;  // empty: the parent's
  Stdio in = Stdio::kNull, out = Stdio::kInherit, err = Stdio::kInherit;
  int in_fd = -1, out_fd = -1, err_fd = -1;  // with Stdio::kFd
  // More descriptors for the child: (descriptor here, number in the child), numbers above 2.
  // Every other descriptor is closed in the child.
  std::vector<std::pair<int, int>> fds;
  // The child leads a new process group, so Signal reaches everything it starts (that does not
  // leave the group itself) and a terminal's Ctrl-C, meant for the parent, does not reach it.
  bool new_process_group = true;
};

class Process {
 public:
  Process() = default;
  // A child still running when its Process is destroyed is killed (SIGKILL to its group) and
  // reaped, so no child outlives its owner by accident. Release() opts out.
  ~Process();
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool valid() const { return pid_ > 0; }
  // The parent's ends of kPipe stdio (-1 otherwise); owned by the Process, closed with it.
  int stdin_fd() const { return in_; }
  int stdout_fd() const { return out_; }
  int stderr_fd() const { return err_; }
  // Closes the parent's end of the child's stdin (the child then reads end of file).
  void CloseStdin();

  // Blocks until the child ends and reaps it. Calling it again returns the same status.
  ExitStatus Wait();
  // The status if the child has ended (and reaps it), nullopt while it runs.
  std::optional<ExitStatus> TryWait();
  // Sends `sig` to the child's process group (to the child alone without one). A child already
  // reaped is not signalled (its pid may belong to another process by now).
  Status Signal(int sig);
  // SIGKILL to the whole group, then Wait.
  ExitStatus Kill();
  // Forgets the child without killing or reaping it; returns its pid.
  pid_t Release();

 private:
  friend Result<Process> Spawn(const SpawnOptions& options);
  void CloseFds();

  pid_t pid_ = -1;
  bool group_ = false;
  std::optional<ExitStatus> status_;
  int in_ = -1, out_ = -1, err_ = -1;
};

// Starts a child. InvalidArgument for an empty argv or a bad descriptor mapping; NotFound or
// IoError (with the program's name) when it cannot be started.
Result<Process> Spawn(const SpawnOptions& options);

}  // namespace volo::exec
