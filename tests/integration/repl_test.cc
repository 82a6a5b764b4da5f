// `volo repl` as a user drives it: through a pseudo-terminal (prompts, line editing, Ctrl-C,
// Ctrl-D, history) and through piped stdin (a script: no prompts, exit code 1 when an input
// failed). Every wait is for output to appear, with a deadline.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "harness.h"

extern char** environ;

namespace volo::itest {
namespace {

using Clock = std::chrono::steady_clock;

// One `volo repl` child. With a pty its stdin, stdout and stderr are one terminal (so `out`
// holds both); with pipes, stdout and stderr are read apart.
class ReplProc {
 public:
  ReplProc(bool pty, const std::string& home, const std::vector<std::string>& extra_args = {})
      : pty_(pty) {
    std::vector<std::string> args = {VoloBinary(), "repl"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry(*e);
      if (entry.rfind("HOME=", 0) == 0 || entry.rfind("TERM=", 0) == 0) continue;
      env.push_back(entry);
    }
    env.push_back("HOME=" + home);
    env.push_back("TERM=xterm");
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const pid_t parent = getpid();
    if (pty_) {
      struct winsize ws {};
      ws.ws_row = 40;
      ws.ws_col = 200;
      pid_ = forkpty(&in_fd_, nullptr, nullptr, &ws);
      if (pid_ == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(126);
        execve(argv[0], argv.data(), envp.data());
        _exit(127);
      }
      out_fd_ = in_fd_;
    } else {
      int in[2], out[2], err[2];
      if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
        ADD_FAILURE() << "pipe: " << std::strerror(errno);
        return;
      }
      pid_ = fork();
      if (pid_ == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(126);
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        execve(argv[0], argv.data(), envp.data());
        _exit(127);
      }
      close(in[0]);
      close(out[1]);
      close(err[1]);
      in_fd_ = in[1];
      out_fd_ = out[0];
      err_fd_ = err[0];
    }
    if (pid_ < 0) ADD_FAILURE() << "fork: " << std::strerror(errno);
    fcntl(out_fd_, F_SETFL, fcntl(out_fd_, F_GETFL) | O_NONBLOCK);
    if (err_fd_ >= 0) fcntl(err_fd_, F_SETFL, fcntl(err_fd_, F_GETFL) | O_NONBLOCK);
  }

  ~ReplProc() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (in_fd_ >= 0 && in_fd_ != out_fd_) close(in_fd_);
    if (out_fd_ >= 0) close(out_fd_);
    if (err_fd_ >= 0) close(err_fd_);
  }

  void Send(const std::string& text) {
    size_t at = 0;
    while (at < text.size()) {
      ssize_t n = write(in_fd_, text.data() + at, text.size() - at);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ADD_FAILURE() << "write to the repl: " << std::strerror(errno);
        return;
      }
      at += static_cast<size_t>(n);
    }
  }

  // Pipes: end of input. A pty: Ctrl-D at an empty prompt.
  void EndInput() {
    if (pty_) {
      Send("\x04");
    } else if (in_fd_ >= 0) {
      close(in_fd_);
      in_fd_ = -1;
    }
  }

  // Ctrl-C: typed on the terminal, or SIGINT as a shell sends it to a piped command.
  void CtrlC() {
    if (pty_) {
      Send("\x03");
    } else {
      kill(pid_, SIGINT);
    }
  }

  // Waits until stdout (pty: the terminal) holds `needle` after the position `*from` (then
  // moved past it). False at the deadline.
  bool WaitOut(const std::string& needle, size_t* from = nullptr,
               milliseconds timeout = seconds(30)) {
    return WaitFor(out_, needle, from, timeout);
  }
  bool WaitErr(const std::string& needle, size_t* from = nullptr,
               milliseconds timeout = seconds(30)) {
    return WaitFor(pty_ ? out_ : err_, needle, from, timeout);
  }

  // Waits for the exit; the exit code, or -1 at the deadline.
  int WaitExit(milliseconds timeout = seconds(30)) {
    auto deadline = Clock::now() + timeout;
    while (!exited_) {
      Pump(milliseconds(50));
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        Pump(milliseconds(0));
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      }
      if (Clock::now() > deadline) return -1;
    }
    return -1;
  }

  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }
  std::string Transcript() const {
    return "\n--- stdout ---\n" + out_ + "\n--- stderr ---\n" + err_;
  }

 private:
  bool WaitFor(std::string& buf, const std::string& needle, size_t* from, milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    size_t start = from != nullptr ? *from : 0;
    for (;;) {
      size_t at = buf.find(needle, start);
      if (at != std::string::npos) {
        if (from != nullptr) *from = at + needle.size();
        return true;
      }
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      Pump(std::min(left, milliseconds(200)));
    }
  }

  // Reads what is available, waiting up to `wait` for something to arrive.
  void Pump(milliseconds wait) {
    pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    int n = err_fd_ >= 0 ? 2 : 1;
    if (poll(fds, n, static_cast<int>(wait.count())) <= 0) return;
    char chunk[4096];
    for (int k = 0; k < n; ++k) {
      if ((fds[k].revents & (POLLIN | POLLHUP)) == 0) continue;
      for (;;) {
        ssize_t r = read(fds[k].fd, chunk, sizeof chunk);
        if (r <= 0) break;
        (k == 0 ? out_ : err_).append(chunk, static_cast<size_t>(r));
      }
    }
  }

  bool pty_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int in_fd_ = -1, out_fd_ = -1, err_fd_ = -1;
  std::string out_, err_;
};

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ReplTest : public ::testing::Test {
 protected:
  Harness harness_;
};

TEST_F(ReplTest, PipedInputKeepsStateAndPrintsOnlyWhatTheInputsPrint) {
  std::string lib = harness_.TempPath("lib.fly");
  {
    std::ofstream f(lib);
    f << "func twice(n) {\n    return 2 * n\n}\n";
  }
  ReplProc repl(false, harness_.dir());
  repl.Send(
      "var x = 10\n"
      "println x + 1\n"
      "const k = 3\n"
      "func f(a) {\n"
      "    return a * x + k\n"
      "}\n"
      "f(2)\n"
      "1 + 2\n"
      "var quiet = [1, 2]\n"
      ":load " +
      lib +
      "\n"
      "twice(x)\n"
      "var e = [type=\"smp\", nthread=2]\n"
      ":env\n");
  repl.EndInput();
  ASSERT_EQ(repl.WaitExit(), 0) << repl.Transcript();
  EXPECT_EQ(repl.out(), "11\n23\n3\n20\ne  smp:2  (declared type \"smp\")\n") << repl.Transcript();
  EXPECT_EQ(repl.err(), "") << repl.Transcript();
}

TEST_F(ReplTest, PipedInputReportsErrorsKeepsGoingAndExitsOne) {
  ReplProc repl(false, harness_.dir());
  repl.Send(
      "var hits = 5\n"
      "println hit\n"
      "1 +\n"
      "2\n"
      "println hits\n"
      "func open() {\n");
  repl.EndInput();
  ASSERT_EQ(repl.WaitExit(), 1) << repl.Transcript();
  EXPECT_EQ(repl.out(), "3\n5\n") << repl.Transcript();
  EXPECT_NE(repl.err().find("<repl>:1:9: undefined name 'hit' (did you mean 'hits'?)"),
            std::string::npos)
      << repl.Transcript();
  // The input ended inside a function: said once, at the end.
  EXPECT_NE(repl.err().find("'{' is never closed"), std::string::npos) << repl.Transcript();
}

TEST_F(ReplTest, PipedCtrlCStopsALoopAndFlyInstancesAndKeepsState) {
  ReplProc repl(false, harness_.dir());
  repl.Send(
      "var n = 0\n"
      "var e = [type=\"smp\", nthread=2]\n"
      "func spin(i) {\n"
      "    println \"instance \" + i\n"
      "    while (true) { }\n"
      "}\n"
      "if (true) {\n"
      "    println \"looping\"\n"
      "    while (true) { n = n + 1 }\n"
      "}\n");
  size_t out_at = 0, err_at = 0;
  ASSERT_TRUE(repl.WaitOut("looping\n", &out_at)) << repl.Transcript();
  repl.CtrlC();
  ASSERT_TRUE(repl.WaitErr("interrupted\n", &err_at)) << repl.Transcript();
  repl.Send("fly spin in [0:2] on e\n");
  ASSERT_TRUE(repl.WaitOut("instance ", &out_at)) << repl.Transcript();
  repl.CtrlC();
  ASSERT_TRUE(repl.WaitErr("interrupted\n", &err_at)) << repl.Transcript();
  repl.Send("println n > 0\n");
  ASSERT_TRUE(repl.WaitOut("true\n", &out_at)) << repl.Transcript();
  repl.EndInput();
  EXPECT_EQ(repl.WaitExit(), 1) << repl.Transcript();
}

// A Ctrl-C typed before the continuation prompt shows (typed ahead, or the REPL is slow to
// print it) still drops the unfinished input: at the prompt it is a key, not a signal that
// could come before the read.
TEST_F(ReplTest, CtrlCTypedAheadOfTheContinuationPromptDropsTheInput) {
  ReplProc repl(true, harness_.dir());
  size_t at = 0;
  ASSERT_TRUE(repl.WaitOut("fly> ", &at)) << repl.Transcript();
  repl.Send("func dropped() {\n\x03");
  ASSERT_TRUE(repl.WaitOut("...> ", &at)) << repl.Transcript();
  ASSERT_TRUE(repl.WaitOut("fly> ", &at)) << repl.Transcript();
  repl.Send("dropped()\n");
  ASSERT_TRUE(repl.WaitOut("undefined function 'dropped'", &at)) << repl.Transcript();
  ASSERT_TRUE(repl.WaitOut("fly> ", &at)) << repl.Transcript();
  repl.EndInput();
  EXPECT_EQ(repl.WaitExit(), 0) << repl.Transcript();
}

TEST_F(ReplTest, TerminalPromptsEchoesCancelsWithCtrlCAndQuitsWithCtrlD) {
  ReplProc repl(true, harness_.dir());
  size_t at = 0;
  ASSERT_TRUE(repl.WaitOut("fly> ", &at)) << repl.Transcript();
  repl.Send("var x = 41\n");
  ASSERT_TRUE(repl.WaitOut("fly> ", &at)) << repl.Transcript();
  repl.Send("x + 1\n");
  ASSERT_TRUE(repl.WaitOut("42\r\n", &at)) << repl.Transcript();
  ASSERT_TRUE(repl.WaitOut("fly> ", &at)) << repl.Transcript();

  // An unfinished input continues on a "...>" line; Ctrl-C drops all of it.
  repl.Send("func dropped() {\n");
  ASSERT_TRUE(repl.WaitOut("...> ", &at)) << repl.Transcript();
  repl.CtrlC();
  ASSERT_TRUE(repl.WaitOut("fly> ", &at)) << repl.Transcript();
  repl.Send("dropped()\n");
  ASSERT_TRUE(repl.WaitOut("undefined function 'dropped'", &at)) << repl.Transcript();
  ASSERT_TRUE(repl.WaitOut("fly> ", &at)) << repl.Transcript();

  // Ctrl-C while an input runs stops it and returns to the prompt with the state kept.
  repl.Send("if (true) {\nprintln \"looping\"\nwhile (true) { x = x + 1 }\n}\n");
  ASSERT_TRUE(repl.WaitOut("looping\r\n", &at)) << repl.Transcript();
  repl.CtrlC();
  ASSERT_TRUE(repl.WaitOut("interrupted", &at)) << repl.Transcript();
  ASSERT_TRUE(repl.WaitOut("fly> ", &at)) << repl.Transcript();
  repl.Send("x > 42\n");
  ASSERT_TRUE(repl.WaitOut("true\r\n", &at)) << repl.Transcript();
  ASSERT_TRUE(repl.WaitOut("fly> ", &at)) << repl.Transcript();

  repl.Send(":help\n");
  ASSERT_TRUE(repl.WaitOut(":load FILE", &at)) << repl.Transcript();
  ASSERT_TRUE(repl.WaitOut("fly> ", &at)) << repl.Transcript();

  repl.EndInput();
  EXPECT_EQ(repl.WaitExit(), 0) << repl.Transcript();
  // The history file has the inputs (libedit writes a space as \040).
  std::string history = ReadText(harness_.dir() + "/.volo_history");
  EXPECT_TRUE(history.find("x\\040+\\0401") != std::string::npos ||
              history.find("x + 1") != std::string::npos)
      << history;
}

}  // namespace
}  // namespace volo::itest
