#include "fly/repl.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace volo::fly {
namespace {

using Outcome = ReplSession::Outcome;

// A session with its output captured; Take() returns what was printed since the last call.
class Session {
 public:
  explicit Session(RunOptions options = {}) : repl_(options, out_, err_) {}
  Outcome In(const std::string& text) { return repl_.Input(text); }
  std::string Out() { return Take(out_); }
  std::string Err() { return Take(err_); }
  ReplSession& repl() { return repl_; }

 private:
  static std::string Take(std::ostringstream& s) {
    std::string text = s.str();
    s.str("");
    return text;
  }
  std::ostringstream out_, err_;
  ReplSession repl_;
};

TEST(Repl, VarsConstsAndFunctionsPersistAndFunctionsSeeThem) {
  Session s;
  EXPECT_EQ(s.In("var x = 10\n"), Outcome::kOk);
  EXPECT_EQ(s.In("println x + 1\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "11\n");
  EXPECT_EQ(s.In("const k = 3\n"), Outcome::kOk);
  EXPECT_EQ(s.In("func f(a) { return a * x + k }\n"), Outcome::kOk);
  EXPECT_EQ(s.In("println f(2)\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "23\n");
  // A function sees the var's current value, and may change it.
  EXPECT_EQ(s.In("x = 100\n"), Outcome::kOk);
  EXPECT_EQ(s.In("func bump() { x = x + 1 }\n"), Outcome::kOk);
  EXPECT_EQ(s.In("bump()\n"), Outcome::kOk);
  EXPECT_EQ(s.In("println f(1)\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "104\n");
  EXPECT_EQ(s.Err(), "");
}

TEST(Repl, OneInputMayDeclareAVarAndAFunctionThatUsesIt) {
  Session s;
  EXPECT_EQ(s.In("var base = 7\nfunc plus(n) { return base + n }\nprintln plus(1)\n"),
            Outcome::kOk);
  EXPECT_EQ(s.Out(), "8\n");
  EXPECT_EQ(s.Err(), "");
}

TEST(Repl, BareExpressionPrintsItsValueAndStatementsPrintNothing) {
  Session s;
  EXPECT_EQ(s.In("1 + 2\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "3\n");
  EXPECT_EQ(s.In("var a = [1, 2, 3]\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "");
  EXPECT_EQ(s.In("a\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "[1, 2, 3]\n");
  EXPECT_EQ(s.In("\"ab\".toUpperCase()\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "AB\n");
  EXPECT_EQ(s.In("(2 + 3) * 4\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "20\n");
  EXPECT_EQ(s.In("a[1] = 7\n"), Outcome::kOk);
  EXPECT_EQ(s.In("a[1]\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "7\n");
  // A call that returns nothing prints nothing.
  EXPECT_EQ(s.In("func quiet() { var z = 1 }\n"), Outcome::kOk);
  EXPECT_EQ(s.In("quiet()\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "");
  // Expressions inside a block are evaluated, not echoed.
  EXPECT_EQ(s.In("if (true) {\n  1 + 1\n}\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "");
}

TEST(Repl, AnErrorKeepsTheSessionsState) {
  Session s;
  EXPECT_EQ(s.In("var total = 5\n"), Outcome::kOk);
  EXPECT_EQ(s.In("println totl\n"), Outcome::kError);
  EXPECT_NE(s.Err().find("<repl>:1:9: undefined name 'totl' (did you mean 'total'?)"),
            std::string::npos);
  // A runtime error stops the input where it failed; what ran before stays.
  EXPECT_EQ(s.In("total = total + 1\nvar arr = [1]\nprintln arr[5]\n"), Outcome::kError);
  EXPECT_NE(s.Err().find("runtime error"), std::string::npos);
  EXPECT_EQ(s.In("println total\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "6\n");
}

TEST(Repl, AnInputThatDoesNotCompileDefinesNothing) {
  Session s;
  EXPECT_EQ(s.In("func good() { return 1 }\nfunc bad() { return nope }\n"), Outcome::kError);
  EXPECT_NE(s.Err().find("undefined name 'nope'"), std::string::npos);
  EXPECT_EQ(s.In("good()\n"), Outcome::kError);
  EXPECT_NE(s.Err().find("undefined function 'good'"), std::string::npos);
  // The names are free for the next input.
  EXPECT_EQ(s.In("func good() { return 2 }\ngood()\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "2\n");
}

TEST(Repl, RedefiningAFunctionReplacesItForEarlierCallersToo) {
  Session s;
  EXPECT_EQ(s.In("func unit() { return \"m\" }\n"), Outcome::kOk);
  EXPECT_EQ(s.In("func show(n) { return n + unit() }\n"), Outcome::kOk);
  EXPECT_EQ(s.In("show(3)\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "3m\n");
  EXPECT_EQ(s.In("func unit() { return \"km\" }\n"), Outcome::kOk);
  EXPECT_EQ(s.In("show(3)\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "3km\n");
  // A new parameter list: callers compiled against the old one get a clear error.
  EXPECT_EQ(s.In("func unit(long) { return \"kilometres\" }\n"), Outcome::kOk);
  EXPECT_EQ(s.In("show(3)\n"), Outcome::kError);
  EXPECT_NE(s.Err().find("'unit' takes 1 argument, 0 given"), std::string::npos);
  // Twice in one input is still an error.
  EXPECT_EQ(s.In("func twice() { return 1 }\nfunc twice() { return 2 }\n"), Outcome::kError);
  EXPECT_NE(s.Err().find("function 'twice' is already defined"), std::string::npos);
}

TEST(Repl, DeclaringANameAgainReplacesIt) {
  Session s;
  EXPECT_EQ(s.In("const n = 1\n"), Outcome::kOk);
  EXPECT_EQ(s.In("const n = 2\n"), Outcome::kOk);
  EXPECT_EQ(s.In("var v = \"a\"\n"), Outcome::kOk);
  EXPECT_EQ(s.In("var v = v + \"b\"\n"), Outcome::kOk);
  EXPECT_EQ(s.In("println n + v\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "2ab\n");
}

TEST(Repl, ChannelsAndEnvironmentsPersist) {
  Session s;
  EXPECT_EQ(s.In("var ch = [type=\"channel\"]\n"), Outcome::kOk);
  EXPECT_EQ(s.In("var e = [type=\"smp\", nthread=2]\n"), Outcome::kOk);
  EXPECT_EQ(s.In("var scale = 10\n"), Outcome::kOk);
  EXPECT_EQ(s.In("func work(i) { ch!(i * scale) }\n"), Outcome::kOk);
  EXPECT_EQ(s.In("fly work in [0:4] on e\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "");
  EXPECT_EQ(s.In("var sum = 0\nfor i in [0:4] { sum = sum + ch? }\nsum\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "60\n");
  EXPECT_EQ(s.Err(), "");
  // A receive that can never be satisfied fails, and the session goes on.
  EXPECT_EQ(s.In("ch?\n"), Outcome::kError);
  EXPECT_NE(s.Err().find("'ch'"), std::string::npos);
  EXPECT_EQ(s.In("sum\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "60\n");
}

TEST(Repl, EnvListsTheEnvironmentsAndTheirBindings) {
  RunOptions options;
  options.env_bindings = {"big=smp:3"};
  Session s(options);
  EXPECT_EQ(s.In(":env\n"), Outcome::kOk);
  EXPECT_NE(s.Out().find("no environments yet"), std::string::npos);
  EXPECT_EQ(s.In("var e = [type=\"smp\", nthread=2]\n"), Outcome::kOk);
  EXPECT_EQ(s.In("var big = [type=\"smp\", nthread=1]\n"), Outcome::kOk);
  EXPECT_EQ(s.In(":env\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "e  smp:2  (declared type \"smp\")\nbig  smp:3  (--env big=smp:3)\n");
  // Declared again with another size: a new environment.
  EXPECT_EQ(s.In("var e = [type=\"smp\", nthread=4]\n"), Outcome::kOk);
  EXPECT_EQ(s.In(":env\n"), Outcome::kOk);
  EXPECT_NE(s.Out().find("e  smp:4"), std::string::npos);
}

TEST(Repl, IncompleteInputAsksForMore) {
  Session s;
  EXPECT_EQ(s.In("func sq(n) {\n"), Outcome::kIncomplete);
  EXPECT_EQ(s.In("func sq(n) {\n  return n * n\n"), Outcome::kIncomplete);
  EXPECT_EQ(s.In("func sq(n) {\n  return n * n\n}\n"), Outcome::kOk);
  EXPECT_EQ(s.In("sq(7)\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "49\n");
  EXPECT_EQ(s.In("1 +\n"), Outcome::kIncomplete);
  EXPECT_EQ(s.Err(), "");
  // At the end of the input an unfinished construct is an error.
  EXPECT_EQ(s.repl().Eval("if (true) {\n", /*at_end=*/true), Outcome::kError);
  EXPECT_NE(s.Err().find("'{' is never closed"), std::string::npos);
}

TEST(Repl, CommandsHelpLoadAndUnknown) {
  Session s;
  EXPECT_EQ(s.In(":help\n"), Outcome::kOk);
  std::string help = s.Out();
  EXPECT_NE(help.find(":load FILE"), std::string::npos);
  EXPECT_NE(help.find(":env"), std::string::npos);
  EXPECT_EQ(s.In(":frobnicate\n"), Outcome::kError);
  EXPECT_NE(s.Err().find("unknown command ':frobnicate'"), std::string::npos);
  EXPECT_EQ(s.In(":quit\n"), Outcome::kQuit);

  std::string path = (std::filesystem::temp_directory_path() /
                      ("repl_load_" + std::to_string(::getpid()) + ".fly"))
                         .string();
  {
    std::ofstream f(path);
    f << "const greeting = \"hi\"\nfunc greet(who) { return greeting + \" \" + who }\n"
         "println \"loaded\"\n";
  }
  EXPECT_EQ(s.In(":load " + path + "\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "loaded\n");
  EXPECT_EQ(s.In("greet(\"ann\")\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "hi ann\n");
  // Errors in a loaded file name the file.
  {
    std::ofstream f(path);
    f << "func broken() {\n  return 1\n";
  }
  EXPECT_EQ(s.In(":load " + path + "\n"), Outcome::kError);
  EXPECT_NE(s.Err().find(path + ":1:15: '{' is never closed"), std::string::npos);
  std::filesystem::remove(path);
  EXPECT_EQ(s.In(":load " + path + "\n"), Outcome::kError);
  EXPECT_NE(s.Err().find("cannot read " + path), std::string::npos);
}

TEST(Repl, InterruptStopsALoopAndItsFlyInstancesAndKeepsState) {
  Session s;
  EXPECT_EQ(s.In("var n = 0\nvar e = [type=\"smp\", nthread=2]\n"), Outcome::kOk);
  EXPECT_EQ(s.In("func spin(i) { while (true) { } }\n"), Outcome::kOk);
  for (const char* input : {"while (true) { n = n + 1 }\n", "fly spin in [0:8] on e\n"}) {
    std::atomic<bool> done{false};
    std::thread stopper([&] {
      // Interrupt until the input has stopped: an interrupt that lands before the input starts
      // running is dropped (as a Ctrl-C at the prompt is).
      while (!done.load()) {
        s.repl().Interrupt();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
    Outcome o = s.In(input);
    done = true;
    stopper.join();
    EXPECT_EQ(o, Outcome::kInterrupted) << input;
    EXPECT_EQ(s.Err(), "interrupted\n");
  }
  EXPECT_EQ(s.In("n > 0\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "true\n");
  // Not sticky: the next input runs to its end.
  EXPECT_EQ(s.In("var m = 0\nwhile (m < 100000) { m = m + 1 }\nm\n"), Outcome::kOk);
  EXPECT_EQ(s.Out(), "100000\n");
}

}  // namespace
}  // namespace volo::fly
