// Every example holds on every placement (docs/placement.md, "Decomposition and placement"):
// `volo run examples/X.fly` on smp:1, 2, 3 and 8 and on fleets of 1 and 3 fly workers, with
// several seeds. Each answer is checked for a property computed another way (OneMax's solution
// is all ones, a colouring has no conflict and uses the colours it reports, pi is within 0.01,
// the word counts and averages are recomputed here from the data files), and one seed gives the
// same bytes on every placement.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"

namespace volo::itest {
namespace {

std::string Examples() { return std::string(VOLO_SOURCE_DIR) + "/examples/"; }

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(f, line)) lines.push_back(line);
  return lines;
}

struct Example {
  std::string file;  // under examples/
  std::string env;   // the environment a placement rebinds
  std::vector<uint64_t> seeds;
  // Adds failures when `out` is not a right answer.
  std::function<void(const std::string& out)> check;
};

void CheckPi(const std::string& out) {
  std::smatch m;
  ASSERT_TRUE(std::regex_match(out, m, std::regex("pi estimation: ([0-9.]+)\n"))) << out;
  EXPECT_NEAR(std::stod(m[1]), M_PI, 0.01) << out;
}

// The words of examples/data/words.txt counted here: lower case, letters only.
std::string ExpectedWordCount() {
  std::map<std::string, int> counts;
  int total = 0;
  for (const auto& line : ReadLines(Examples() + "data/words.txt")) {
    std::string word;
    for (size_t k = 0; k <= line.size(); ++k) {
      char c = k < line.size() ? static_cast<char>(std::tolower(line[k])) : ' ';
      if (c >= 'a' && c <= 'z') {
        word += c;
      } else if (!word.empty()) {
        ++counts[word];
        ++total;
        word.clear();
      }
    }
  }
  std::vector<std::pair<std::string, int>> ranked(counts.begin(), counts.end());
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out =
      "words: " + std::to_string(total) + "\ndistinct: " + std::to_string(counts.size()) + "\n";
  for (size_t k = 0; k < 5 && k < ranked.size(); ++k) {
    out += ranked[k].first + " " + std::to_string(ranked[k].second) + "\n";
  }
  return out;
}

// The mean temperature per province of examples/data/temperature.csv, rounded to hundredths
// and printed as FLY prints a Double (12.38, 13.3, 12.0).
std::string ExpectedTemperatures() {
  std::map<std::string, std::pair<double, int>> sums;
  auto lines = ReadLines(Examples() + "data/temperature.csv");
  for (size_t k = 1; k < lines.size(); ++k) {
    std::vector<std::string> cells;
    std::stringstream ss(lines[k]);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    if (cells.size() < 4) continue;
    sums[cells[3]].first += std::stod(cells[1]);
    sums[cells[3]].second += 1;
  }
  std::string out;
  for (const auto& [province, s] : sums) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", std::round(s.first / s.second * 100) / 100.0);
    std::string v = buf;
    while (v.back() == '0' && v[v.size() - 2] != '.') v.pop_back();
    out += province + " " + v + "\n";
  }
  return out;
}

// The generations count up from 1, and the last line reports an individual of all ones.
void CheckOneMax(const std::string& out) {
  std::stringstream ss(out);
  std::string line, last;
  int g = 0;
  while (std::getline(ss, line)) {
    if (line.rfind("---Generation ", 0) == 0) {
      EXPECT_EQ(line, "---Generation " + std::to_string(++g) + "---");
    }
    last = line;
  }
  std::smatch m;
  ASSERT_TRUE(std::regex_match(
      last, m, std::regex("Optimal solution found at index ([0-9]+) \\[([01]+)\\]")))
      << out;
  EXPECT_LT(std::stoi(m[1]), 50);
  EXPECT_EQ(m[2].str(), "1111111111") << out;
}

// A colouring of the example's graph (edges 0-1, 0-3, 1-2, 1-4, 3-4) with no edge between two
// vertices of one colour, using as many colours as reported.
void CheckColouring(const std::string& out) {
  std::string last = out.substr(out.rfind('\n', out.size() - 2) + 1);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(
      last, m,
      std::regex("Optimal solution found at index [0-9]+ \\[([0-4]{5})\\] Colours: "
                 "([0-9]+)\n")))
      << out;
  std::string c = m[1];
  for (auto [a, b] : {std::pair{0, 1}, {0, 3}, {1, 2}, {1, 4}, {3, 4}}) {
    EXPECT_NE(c[a], c[b]) << "vertices " << a << " and " << b << " share a colour in " << c;
  }
  std::sort(c.begin(), c.end());
  size_t used = static_cast<size_t>(std::unique(c.begin(), c.end()) - c.begin());
  EXPECT_EQ(std::to_string(used), m[2].str()) << out;
}

class ExamplesTest : public VoloTest {
 protected:
  // `volo run examples/FILE --env ENV=SPEC [--seed S]`; its standard output.
  std::string Run(const Example& ex, const std::string& spec, std::optional<uint64_t> seed) {
    std::vector<std::string> args = {"run", Examples() + ex.file, "--env", ex.env + "=" + spec};
    if (seed) {
      args.push_back("--seed");
      args.push_back(std::to_string(*seed));
    }
    CommandResult r = h_.RunVolo(args, {}, seconds(120));
    EXPECT_TRUE(r.finished) << ex.file << " on " << spec;
    EXPECT_EQ(r.exit_code, 0) << ex.file << " on " << spec << ":\n" << r.err;
    return r.out;
  }

  Child* FlyWorker(const PlannerProc& p, const std::string& id) {
    return StartWorker(p, {.id = id, .args = {"--ops", "fly", "--slots", "1", "--port", "-1"}});
  }

  // Runs `ex` with each of its seeds on smp:1, 2, 3 and 8, then on a fleet of one worker and of
  // three (one slot each); checks every answer, and that a seed gives the same output on every
  // placement. One unseeded run on smp:3 is checked too.
  void RunEverywhere(const Example& ex) {
    std::map<uint64_t, std::string> first;
    auto run_on = [&](const std::string& spec, const std::string& where) {
      for (uint64_t seed : ex.seeds) {
        SCOPED_TRACE(ex.file + " on " + where + " with --seed " + std::to_string(seed));
        std::string out = Run(ex, spec, seed);
        ex.check(out);
        auto [it, fresh] = first.emplace(seed, out);
        if (!fresh) {
          EXPECT_EQ(out, it->second) << "the same seed must give the same answer";
        }
      }
    };
    for (int threads : {1, 2, 3, 8}) {
      std::string spec = "smp:" + std::to_string(threads);
      run_on(spec, spec);
    }
    {
      SCOPED_TRACE(ex.file + " on smp:3 without a seed");
      ex.check(Run(ex, "smp:3", std::nullopt));
    }
    PlannerProc p = StartPlanner();
    ASSERT_NE(p.port, 0);
    ASSERT_NE(FlyWorker(p, "w1"), nullptr);
    run_on("cluster:" + p.url, "a fleet of 1 worker");
    ASSERT_NE(FlyWorker(p, "w2"), nullptr);
    ASSERT_NE(FlyWorker(p, "w3"), nullptr);
    run_on("cluster:" + p.url, "a fleet of 3 workers");
  }
};

TEST_F(ExamplesTest, OneMaxReportsASolutionOfAllOnesOnEveryPlacement) {
  RunEverywhere({"onemax.fly", "local", {1, 2, 5}, CheckOneMax});
}

TEST_F(ExamplesTest, KColoringReportsAConflictFreeColouringOnEveryPlacement) {
  RunEverywhere({"kcoloring.fly", "local", {1, 3, 4}, CheckColouring});
}

TEST_F(ExamplesTest, PiIsWithinAHundredthOnEveryPlacement) {
  RunEverywhere({"pi.fly", "local", {7}, CheckPi});
}

TEST_F(ExamplesTest, TheSlidesPiIsWithinAHundredthOnEveryPlacement) {
  RunEverywhere({"pi_slides.fly", "cloud", {11}, CheckPi});
}

TEST_F(ExamplesTest, ThePre2019PiIsWithinAHundredthOnEveryPlacement) {
  RunEverywhere({"pi_2018.fly", "local", {3}, CheckPi});
}

TEST_F(ExamplesTest, SumOfIndicesIsRightOnEveryPlacement) {
  RunEverywhere({"sum_indices.fly", "local", {1}, [](const std::string& out) {
                   EXPECT_EQ(out, "sum of indices: 4950\n");
                 }});
}

TEST_F(ExamplesTest, WordCountsMatchACountMadeHereOnEveryPlacement) {
  std::string expected = ExpectedWordCount();
  ASSERT_NE(expected.find("words: "), std::string::npos);
  RunEverywhere(
      {"wordcount.fly", "local", {1}, [&](const std::string& out) { EXPECT_EQ(out, expected); }});
}

TEST_F(ExamplesTest, AverageTemperaturesMatchTheCsvOnEveryPlacement) {
  std::string expected = ExpectedTemperatures();
  ASSERT_EQ(std::count(expected.begin(), expected.end(), '\n'), 3) << expected;
  RunEverywhere(
      {"temperature.fly", "local", {1}, [&](const std::string& out) { EXPECT_EQ(out, expected); }});
}

// `volo up -- run` binds every environment to a fresh fleet: the decomposition stays the
// program's (4 portions over 2 workers), so the answer is the one smp gives.
TEST_F(ExamplesTest, VoloUpRunsTheGeneticAlgorithmsWithTheSameAnswerAsSmp) {
  for (const char* file : {"onemax.fly", "kcoloring.fly"}) {
    Example ex{file, "local", {}, nullptr};
    std::string smp = Run(ex, "smp:2", 3);
    CommandResult r = h_.RunVolo(
        {"up", "--workers", "2", "--", "run", Examples() + file, "--seed", "3"}, {}, seconds(120));
    ASSERT_TRUE(r.finished);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, smp) << file;
  }
}

}  // namespace
}  // namespace volo::itest
