#include "common/status.h"

#include <gtest/gtest.h>

#include "common/ids.h"

namespace volo {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  VOLO_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(StatusTest, CarriesCodeAndMessage) {
  Status s = NotFound("task 7");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "not found: task 7");
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(StatusTest, AssignOrReturnPropagates) {
  EXPECT_EQ(Quarter(8).value(), 2);
  Result<int> r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "odd");
}

TEST(IdsTest, StrongIdsCompareByValue) {
  EXPECT_EQ(TaskId(3), TaskId(3));
  EXPECT_LT(TaskId(2), TaskId(3));
  EXPECT_EQ(WorkerId("w1").value(), "w1");
}

}  // namespace
}  // namespace volo

#include "common/sha256.h"

namespace volo {
namespace {
TEST(Sha256Test, KnownDigest) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
}  // namespace
}  // namespace volo

#include "common/json_text.h"

namespace volo {
namespace {
TEST(JsonTextTest, EscapesQuotesBackslashesAndControls) {
  std::string out = "x=";
  AppendJsonString(out, "a\"b\\c\n\t\x01é");
  EXPECT_EQ(out, "x=\"a\\\"b\\\\c\\n\\t\\u0001é\"");
}
}  // namespace
}  // namespace volo
