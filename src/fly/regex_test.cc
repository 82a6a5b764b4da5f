#include "fly/regex.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace volo::fly {
namespace {

using Parts = std::vector<std::string>;

Parts Split(const std::string& s, const std::string& pattern) {
  std::string error;
  auto re = Regex::Compile(pattern, &error);
  EXPECT_NE(re, nullptr) << error;
  return re ? re->Split(s) : Parts{};
}

std::string Replace(const std::string& s, const std::string& pattern, const std::string& with) {
  std::string error, out;
  auto re = Regex::Compile(pattern, &error);
  EXPECT_NE(re, nullptr) << error;
  if (!re) return "<no pattern>";
  if (!re->ReplaceAll(s, with, &out, &error)) return "error: " + error;
  return out;
}

std::string CompileError(const std::string& pattern) {
  std::string error;
  auto re = Regex::Compile(pattern, &error);
  return re ? "" : error;
}

TEST(Regex, SplitsAsJava) {
  EXPECT_EQ(Split("a,b,,c,,", ","), (Parts{"a", "b", "", "c"}));
  EXPECT_EQ(Split("", ","), (Parts{""}));
  EXPECT_EQ(Split("abc", ","), (Parts{"abc"}));
  EXPECT_EQ(Split(",", ","), (Parts{}));
  EXPECT_EQ(Split(",a", ","), (Parts{"", "a"}));
  EXPECT_EQ(Split("abc", ""), (Parts{"a", "b", "c"}));
  EXPECT_EQ(Split("a1b22c", "\\d+"), (Parts{"a", "b", "c"}));
  // The examples of Java's String.split documentation.
  EXPECT_EQ(Split("boo:and:foo", ":"), (Parts{"boo", "and", "foo"}));
  EXPECT_EQ(Split("boo:and:foo", "o"), (Parts{"b", "", ":and:f"}));
  EXPECT_EQ(Split("héllo wörld", "\\s"), (Parts{"héllo", "wörld"}));
  EXPECT_EQ(Split("é", ""), (Parts{"é"}));
}

TEST(Regex, ReplacesAsJava) {
  EXPECT_EQ(Replace("hello", "l*", "X"), "XhXeXXoX");
  EXPECT_EQ(Replace("a-b c-d", "(\\w)-(\\w)", "$2-$1"), "b-a d-c");
  EXPECT_EQ(Replace("a-b", "(?<left>\\w)-(?<right>\\w)", "${right}+${left}"), "b+a");
  EXPECT_EQ(Replace("price", "price", "\\$5"), "$5");
  EXPECT_EQ(Replace("a/b", "/", "\\\\"), "a\\b");
  EXPECT_EQ(Replace("é", "", "-"), "-é-");
  EXPECT_EQ(Replace("aaa", "a", ""), "");
  // $12 with one group is group 1 then a literal 2, as Java reads it.
  EXPECT_EQ(Replace("x", "(x)", "$12"), "x2");
  EXPECT_EQ(Replace("x", "(x)", "$2"), "error: replaceAll: no group $2 in the pattern (it has 1)");
  EXPECT_EQ(Replace("x", "x", "$"),
            "error: replaceAll: '$' must be followed by a group number or {name} (write \\$ for "
            "a dollar sign)");
  EXPECT_EQ(Replace("x", "x", "a\\"),
            "error: replaceAll: the replacement ends with a lone '\\' (write \\\\ for a "
            "backslash)");
}

TEST(Regex, MatchesTheWholeString) {
  std::string error;
  auto re = Regex::Compile("[a-z]+\\d", &error);
  ASSERT_NE(re, nullptr) << error;
  EXPECT_TRUE(re->FullMatch("abc1"));
  EXPECT_FALSE(re->FullMatch("abc1x"));
  EXPECT_FALSE(re->FullMatch("1abc1"));
}

TEST(Regex, RefusesWhatRe2CannotRun) {
  EXPECT_EQ(CompileError("(a)\\1"),
            "regular expression '(a)\\1': backreferences (\\1) are not supported (FLY regular "
            "expressions are RE2: no backreferences or lookaround)");
  EXPECT_NE(CompileError("a(?=b)").find("lookaround (?=...) is not supported"), std::string::npos);
  EXPECT_NE(CompileError("(?<!a)b").find("lookaround (?<!...) is not supported"),
            std::string::npos);
  EXPECT_NE(CompileError("(?<n>a)\\k<n>").find("backreferences (\\k<name>)"), std::string::npos);
  EXPECT_EQ(CompileError("(a"), "bad regular expression '(a': missing ): (a");
  // Inside a class or \Q...\E, these are plain characters.
  EXPECT_EQ(CompileError("[\\1(?=]"), "");
  EXPECT_EQ(CompileError("\\Q(?=\\1\\E"), "");
}

TEST(Regex, LongInputsRunInConstantStack) {
  std::string s(1 << 20, 'a');
  for (size_t k = 1; k < s.size(); k += 2) s[k] = 'b';
  EXPECT_EQ(Replace(s, "(a|b)+", "x"), "x");
  EXPECT_EQ(Replace(s, "(ab)*", ""), "");
  EXPECT_EQ(Split(s, "b").size(), s.size() / 2);
}

}  // namespace
}  // namespace volo::fly
