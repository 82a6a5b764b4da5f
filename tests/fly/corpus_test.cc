// Runs every tests/fly/**/*.fly through the interpreter (in-process) and compares with the
// expectations written in its comments:
//
//   // expect: TEXT                 the next line of standard output is exactly TEXT
//   // expect-regex: RE             the next line of standard output matches RE (ECMAScript)
//   // expect-error: L:C: MESSAGE   a compile error at line L, column C (several allowed);
//                                   the run must fail with exit code 1 and print nothing
//   // expect-runtime-error: TEXT   the run fails with exit code 1 and stderr contains TEXT
//   // expect-stderr: TEXT          stderr contains TEXT (warnings, environment errors)
//   // expect-exit: N               the exit code (default 0, or 1 with an error expectation)
//   // args: --env NAME=smp:N --seed S --max-memory SIZE --timeout DURATION
//
// Standard output must match the expect lines exactly: no line missing, none extra.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "fly/interpreter.h"
#include "fly/memory.h"

namespace volo::fly {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> CorpusFiles() {
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(FLY_CORPUS_DIR)) {
    if (e.is_regular_file() && e.path().extension() == ".fly") {
      files.push_back(fs::relative(e.path(), FLY_CORPUS_DIR).string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) lines.push_back(line);
  return lines;
}

struct Expectations {
  struct OutLine {
    std::string text;
    bool regex = false;
  };
  std::vector<OutLine> out;
  std::vector<std::string> compile_errors;
  std::vector<std::string> runtime_errors;
  std::vector<std::string> stderr_contains;
  int exit_code = -1;
  std::vector<std::string> args;
};

Expectations Parse(const std::string& source) {
  Expectations x;
  auto take = [](const std::string& line, const std::string& tag, std::string* rest) {
    size_t p = line.find("// " + tag);
    if (p == std::string::npos) return false;
    *rest = line.substr(p + 3 + tag.size());
    return true;
  };
  for (const auto& line : Lines(source)) {
    std::string rest;
    if (take(line, "expect: ", &rest)) {
      x.out.push_back({rest, false});
    } else if (line.find("// expect:") != std::string::npos &&
               line.substr(line.find("// expect:") + 10).empty()) {
      x.out.push_back({"", false});
    } else if (take(line, "expect-regex: ", &rest)) {
      x.out.push_back({rest, true});
    } else if (take(line, "expect-error: ", &rest)) {
      x.compile_errors.push_back(rest);
    } else if (take(line, "expect-runtime-error: ", &rest)) {
      x.runtime_errors.push_back(rest);
    } else if (take(line, "expect-stderr: ", &rest)) {
      x.stderr_contains.push_back(rest);
    } else if (take(line, "expect-exit: ", &rest)) {
      x.exit_code = std::stoi(rest);
    } else if (take(line, "args: ", &rest)) {
      std::stringstream ss(rest);
      std::string a;
      while (ss >> a) x.args.push_back(a);
    }
  }
  if (x.exit_code < 0) {
    x.exit_code = x.compile_errors.empty() && x.runtime_errors.empty() ? 0 : 1;
  }
  return x;
}

class Corpus : public ::testing::TestWithParam<std::string> {};

TEST_P(Corpus, Runs) {
  std::string path = std::string(FLY_CORPUS_DIR) + "/" + GetParam();
  std::string source = ReadAll(path);
  Expectations x = Parse(source);
  ASSERT_TRUE(!x.out.empty() || !x.compile_errors.empty() || !x.runtime_errors.empty() ||
              !x.stderr_contains.empty())
      << GetParam() << " has no expectations";
  RunOptions options;
  options.file = path;
  for (size_t k = 0; k < x.args.size(); ++k) {
    if (x.args[k] == "--env" && k + 1 < x.args.size()) {
      options.env_bindings.push_back(x.args[++k]);
    } else if (x.args[k] == "--seed" && k + 1 < x.args.size()) {
      options.has_seed = true;
      options.seed = std::stoull(x.args[++k]);
    } else if (x.args[k] == "--max-memory" && k + 1 < x.args.size()) {
      ASSERT_TRUE(ParseByteSize(x.args[++k], &options.max_memory)) << x.args[k];
    } else if (x.args[k] == "--timeout" && k + 1 < x.args.size()) {
      ASSERT_TRUE(ParseDuration(x.args[++k], &options.timeout_ms)) << x.args[k];
    }
  }
  std::ostringstream out, err;
  int code = RunSource(options, source, out, err);
  std::string context = "\n--- stdout ---\n" + out.str() + "--- stderr ---\n" + err.str();
  EXPECT_EQ(code, x.exit_code) << context;
  for (const auto& e : x.compile_errors) {
    EXPECT_NE(err.str().find(path + ":" + e), std::string::npos)
        << "missing compile error '" << e << "'" << context;
  }
  if (!x.compile_errors.empty()) {
    // Every reported error must be expected.
    size_t reported = 0;
    for (const auto& l : Lines(err.str())) {
      if (l.rfind(path + ":", 0) == 0 && l.find(": warning: ") == std::string::npos) ++reported;
    }
    EXPECT_EQ(reported, x.compile_errors.size()) << "unexpected extra errors" << context;
  }
  for (const auto& e : x.runtime_errors) {
    EXPECT_NE(err.str().find(e), std::string::npos)
        << "missing runtime error '" << e << "'" << context;
  }
  for (const auto& e : x.stderr_contains) {
    EXPECT_NE(err.str().find(e), std::string::npos) << "missing on stderr '" << e << "'" << context;
  }
  auto lines = Lines(out.str());
  ASSERT_EQ(lines.size(), x.out.size()) << "stdout line count" << context;
  for (size_t k = 0; k < lines.size(); ++k) {
    if (x.out[k].regex) {
      EXPECT_TRUE(std::regex_match(lines[k], std::regex(x.out[k].text)))
          << "line " << k + 1 << ": '" << lines[k] << "' !~ /" << x.out[k].text << "/" << context;
    } else {
      EXPECT_EQ(lines[k], x.out[k].text) << "line " << k + 1 << context;
    }
  }
}

std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Fly, Corpus, ::testing::ValuesIn(CorpusFiles()), TestName);

// ---- The examples ----

std::string RunExample(const std::string& name, std::vector<std::string> envs, bool seeded,
                       uint64_t seed, int* code, std::string* err_text = nullptr) {
  RunOptions options;
  options.file = std::string(FLY_EXAMPLES_DIR) + "/" + name;
  options.env_bindings = std::move(envs);
  options.has_seed = seeded;
  options.seed = seed;
  std::ostringstream out, err;
  *code = RunFile(options, out, err);
  if (err_text) *err_text = err.str();
  return out.str();
}

TEST(Examples, SeededPiIsTheSameOnOneTwoAndEightThreads) {
  int code;
  std::string one = RunExample("pi.fly", {"local=smp:1"}, true, 7, &code);
  ASSERT_EQ(code, 0);
  EXPECT_TRUE(std::regex_match(one, std::regex("pi estimation: 3\\.1[34][0-9]*\n"))) << one;
  EXPECT_EQ(RunExample("pi.fly", {"local=smp:2"}, true, 7, &code), one);
  EXPECT_EQ(RunExample("pi.fly", {"local=smp:8"}, true, 7, &code), one);
  EXPECT_NE(RunExample("pi.fly", {"local=smp:2"}, true, 8, &code), one);
}

TEST(Examples, SlidesPiRunsUnchangedOnceRebound) {
  int code;
  std::string err;
  std::string out = RunExample("pi_slides.fly", {"cloud=smp:4"}, false, 0, &code, &err);
  EXPECT_EQ(code, 0) << err;
  EXPECT_TRUE(std::regex_match(out, std::regex("pi estimation: 3\\.1[34][0-9]*\n"))) << out;
  out = RunExample("pi_slides.fly", {}, false, 0, &code, &err);
  EXPECT_NE(code, 0);
  EXPECT_NE(err.find("--env cloud="), std::string::npos) << err;
}

}  // namespace
}  // namespace volo::fly

namespace volo::fly {
namespace {

TEST(Examples, SumIndices) {
  int code;
  EXPECT_EQ(RunExample("sum_indices.fly", {}, false, 0, &code), "sum of indices: 4950\n");
  EXPECT_EQ(code, 0);
}

TEST(Examples, OneMaxFindsAllOnes) {
  for (uint64_t seed : {1, 2, 3}) {
    int code;
    std::string out = RunExample("onemax.fly", {}, true, seed, &code);
    EXPECT_EQ(code, 0);
    EXPECT_TRUE(std::regex_search(
        out, std::regex("Optimal solution found at index [0-9]+ \\[1111111111\\]\n$")))
        << out;
  }
}

TEST(Examples, KColoringIsConflictFree) {
  const int edges[][2] = {{0, 1}, {0, 3}, {1, 2}, {1, 4}, {3, 4}};
  for (uint64_t seed : {1, 2, 3, 4}) {
    int code;
    std::string out = RunExample("kcoloring.fly", {}, true, seed, &code);
    EXPECT_EQ(code, 0);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        out, m,
        std::regex("Optimal solution found at index [0-9]+ \\[([0-4]{5})\\] Colours: ([0-9])\n$")))
        << out;
    std::string c = m[1];
    for (auto& e : edges) EXPECT_NE(c[e[0]], c[e[1]]) << c;
  }
}

TEST(Examples, TemperaturePerProvince) {
  for (const char* env : {"local=smp:1", "local=smp:2", "local=smp:4"}) {
    int code;
    EXPECT_EQ(RunExample("temperature.fly", {env}, false, 0, &code),
              "Caserta 12.38\nNapoli 13.3\nSalerno 11.5\n");
    EXPECT_EQ(code, 0);
  }
}

TEST(Examples, WordCount) {
  for (const char* env : {"local=smp:1", "local=smp:3"}) {
    int code;
    EXPECT_EQ(RunExample("wordcount.fly", {env}, false, 0, &code),
              "words: 85\ndistinct: 34\nthe 11\nit 10\nof 10\nwas 10\nwe 4\n");
    EXPECT_EQ(code, 0);
  }
}

TEST(Examples, EveryExampleChecks) {
  for (const auto& e : fs::directory_iterator(FLY_EXAMPLES_DIR)) {
    if (e.path().extension() != ".fly") continue;
    std::ostringstream out, err;
    EXPECT_EQ(CheckFile(e.path().string(), out, err), 0) << err.str();
  }
}

}  // namespace
}  // namespace volo::fly
