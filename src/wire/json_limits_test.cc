#include "wire/json_limits.h"

#include <gtest/gtest.h>

#include <string>

namespace volo::wire {
namespace {

TEST(JsonLimitsTest, AcceptsOrdinaryBodies) {
  EXPECT_TRUE(CheckJson(R"({"op":"add","args":{"a":1,"b":2}})").ok());
  EXPECT_TRUE(CheckJson(R"({"tasks":[{"op":"noop"},{"op":"noop"}]})").ok());
  EXPECT_TRUE(CheckJson(R"({"a":{"x":1},"b":{"x":2}})").ok());  // same key, other objects
}

TEST(JsonLimitsTest, RejectsDuplicateKeysByName) {
  Status s = CheckJson(R"({"op":"add","op":"mult"})");
  EXPECT_EQ(s.message(), "duplicate key \"op\": each key may appear once in an object");
  EXPECT_FALSE(CheckJson(R"({"args":{"a":1,"b":2,"a":3}})").ok());
  // Past the linear scan's few keys, the set still catches it.
  std::string many = "{";
  for (int i = 0; i < 40; ++i) many += "\"k" + std::to_string(i) + "\":1,";
  many += "\"k7\":2}";
  EXPECT_NE(CheckJson(many).message().find("\"k7\""), std::string::npos);
}

TEST(JsonLimitsTest, CountsTheBatchWhileScanning) {
  JsonLimits limits;
  limits.max_batch = 3;
  EXPECT_TRUE(CheckJson(R"({"tasks":[1,2,3]})", limits).ok());
  Status s = CheckJson(R"({"tasks":[1,2,3,4]})", limits);
  EXPECT_EQ(s.message(), "tasks: at most 3 elements");
  // Deeper arrays (a task's arguments) are not batches.
  EXPECT_TRUE(CheckJson(R"({"tasks":[{"args":{"v":[1,2,3,4,5]}}]})", limits).ok());
  // The scan stops at the first element past the limit: the rest may even be malformed.
  EXPECT_EQ(CheckJson(R"({"tasks":[1,2,3,4,garbage)", limits).message(),
            "tasks: at most 3 elements");
}

TEST(JsonLimitsTest, BoundsValuesAndDepth) {
  JsonLimits limits;
  limits.max_values = 5;
  EXPECT_FALSE(CheckJson("[[1,2],[3,4]]", limits).ok());
  limits = {};
  limits.max_depth = 3;
  EXPECT_TRUE(CheckJson("[[[1]]]", limits).ok());
  EXPECT_FALSE(CheckJson("[[[[1]]]]", limits).ok());
  EXPECT_NE(CheckJson("{nope").message().find("malformed JSON"), std::string::npos);
  EXPECT_FALSE(CheckJson("{} {}").ok());
}

}  // namespace
}  // namespace volo::wire
