#include "worker/builtin.h"

#include <gtest/gtest.h>

namespace volo::worker {
namespace {

TEST(BuiltinTest, AddAndMultComputeWithSeedDurations) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100; ++i) {
    auto add = PlanBuiltin("add", R"({"a":2,"b":3})", 1.0, rng);
    ASSERT_TRUE(add.ok());
    EXPECT_EQ(add->result, "5");
    EXPECT_GE(add->seconds, 3.0);
    EXPECT_LE(add->seconds, 7.0);
    auto mult = PlanBuiltin("mult", R"({"a":2,"b":3.5})", 0.01, rng);
    ASSERT_TRUE(mult.ok());
    EXPECT_EQ(mult->result, "7");
    EXPECT_GE(mult->seconds, 0.03);
    EXPECT_LE(mult->seconds, 0.12);
  }
}

TEST(BuiltinTest, FixedDurationOverridesTheRandomOne) {
  std::mt19937_64 rng(1);
  auto r = PlanBuiltin("mult", R"({"a":2,"b":3,"duration":0.042})", 1.0, rng);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->result, "6");
  EXPECT_DOUBLE_EQ(r->seconds, 0.042);
  EXPECT_FALSE(PlanBuiltin("add", R"({"a":2,"b":3,"duration":-1})", 1.0, rng).ok());
}

TEST(BuiltinTest, ScaleZeroIsInstant) {
  std::mt19937_64 rng(1);
  EXPECT_EQ(PlanBuiltin("add", R"({"a":1,"b":1})", 0, rng)->seconds, 0);
}

TEST(BuiltinTest, OtherOps) {
  std::mt19937_64 rng(1);
  EXPECT_EQ(PlanBuiltin("noop", "{}", 1, rng)->result, "null");
  EXPECT_EQ(PlanBuiltin("echo", R"({"x":[1]})", 1, rng)->result, R"({"x":[1]})");
  EXPECT_DOUBLE_EQ(PlanBuiltin("sleep", R"({"seconds":0.25})", 1, rng)->seconds, 0.25);
}

TEST(BuiltinTest, BadArgumentsAreErrors) {
  std::mt19937_64 rng(1);
  EXPECT_EQ(PlanBuiltin("add", R"({"a":"x","b":1})", 1, rng).status().message(),
            "args.a: add needs a number here");
  EXPECT_EQ(PlanBuiltin("add", "[]", 1, rng).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanBuiltin("paint", "{}", 1, rng).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(PlanBuiltin("mult", R"({"a":1e300,"b":1e300})", 0, rng).ok());
}

TEST(BuiltinTest, IntegerOverflowFallsBackToDouble) {
  std::mt19937_64 rng(1);
  auto r = PlanBuiltin("add", R"({"a":9223372036854775807,"b":1})", 0, rng);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->result, "9223372036854775808");  // as a double, not a wrapped int
}

}  // namespace
}  // namespace volo::worker
