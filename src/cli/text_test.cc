#include "cli/text.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace volo::cli {
namespace {

TEST(TextTest, CountPluralises) {
  EXPECT_EQ(Count(1, "worker"), "1 worker");
  EXPECT_EQ(Count(0, "worker"), "0 workers");
  EXPECT_EQ(Count(4, "task"), "4 tasks");
  EXPECT_EQ(Count(2, "retry", "retries"), "2 retries");
  EXPECT_EQ(Count(1, "retry", "retries"), "1 retry");
}

TEST(TextTest, ArticleFollowsTheFirstLetter) {
  EXPECT_EQ(Article("Integer"), "an");
  EXPECT_EQ(Article("Double"), "a");
  EXPECT_EQ(Article("array"), "an");
}

TEST(TextTest, NaturalOrderComparesNumbersAsNumbers) {
  std::vector<std::string> ids = {"add-10", "add-2", "w-1", "add-1", "mult-3", "add-02x"};
  std::sort(ids.begin(), ids.end(), [](const auto& a, const auto& b) { return NaturalLess(a, b); });
  EXPECT_EQ(ids,
            (std::vector<std::string>{"add-1", "add-2", "add-02x", "add-10", "mult-3", "w-1"}));
  EXPECT_FALSE(NaturalLess("a", "a"));
  EXPECT_TRUE(NaturalLess("a", "ab"));
  EXPECT_TRUE(NaturalLess("w9", "w10"));
}

TEST(TextTest, ClosestFindsTyposOnly) {
  std::vector<std::string> cmds = {"run", "submit", "status", "tasks", "task", "worker"};
  EXPECT_EQ(Closest("sumbit", cmds), "submit");
  EXPECT_EQ(Closest("statsu", cmds), "status");
  EXPECT_EQ(Closest("work", cmds), "worker");
  EXPECT_EQ(Closest("xyzzyqwerty", cmds), "");
}

TEST(TextTest, PlainDecimalHasNoExponent) {
  EXPECT_EQ(PlainDecimal(1764633600.25), "1764633600.25");
  EXPECT_EQ(PlainDecimal(1e-9), "0.000000001");
  EXPECT_EQ(PlainDecimal(12.0), "12");
  EXPECT_EQ(PlainDecimal(0.123456789, 3), "0.123");
  EXPECT_EQ(PlainDecimal(2.5, 3), "2.5");
  EXPECT_EQ(PlainDecimal(-0.0001, 2), "0");
}

TEST(TextTest, ShortDurationAndBar) {
  EXPECT_EQ(ShortDuration(4.2), "4s");
  EXPECT_EQ(ShortDuration(75), "1m15s");
  EXPECT_EQ(ShortDuration(3725), "1h02m");
  EXPECT_EQ(ShortDuration(-1), "?");
  EXPECT_EQ(Bar(5, 10, 10), "[#####.....]");
  EXPECT_EQ(Bar(0, 0, 4), "[####]");
}

TEST(TextTest, FitToTerminalKeepsTheHeaderTheMarkedLinesAndSaysWhatIsLeftOut) {
  std::vector<std::string> lines{"run 1", "a", "b", "c", "d", "e", "f"};
  std::vector<bool> keep{false, false, false, true, false, true, false};
  // 6 rows: the header, 3 lines (c and e first, then a), the "more" line.
  EXPECT_EQ(FitToTerminal(lines, keep, 6, 80, "steps"),
            (std::vector<std::string>{"run 1", "a", "c", "e", "... 3 more steps"}));
  EXPECT_EQ(FitToTerminal(lines, keep, 0, 0, "steps"), lines);   // unknown size: as it is
  EXPECT_EQ(FitToTerminal(lines, keep, 8, 80, "steps"), lines);  // it fits
  // Lines are cut so that none wraps, never inside a UTF-8 character.
  EXPECT_EQ(FitToTerminal({"abcdef", "ab\u00e9cd"}, {}, 0, 4, "x"),
            (std::vector<std::string>{"abc", "ab"}));
}

}  // namespace
}  // namespace volo::cli
