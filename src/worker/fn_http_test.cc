#include "worker/fn_http.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace volo::worker {
namespace {

TEST(FnHttpTest, EncodePathPercentEncodesWhatAPathCannotHold) {
  EXPECT_EQ(EncodePath(""), "/");
  EXPECT_EQ(EncodePath("/a/b.png"), "/a/b.png");
  EXPECT_EQ(EncodePath("/a b/c?d#e"), "/a%20b/c%3Fd%23e");
  EXPECT_EQ(EncodePath("/caf\xc3\xa9"), "/caf%C3%A9");
  EXPECT_EQ(EncodePath("/x%y"), "/x%25y");
  EXPECT_EQ(EncodePath("/~user/a-b_c.d;p=1,2@x:y"), "/~user/a-b_c.d;p=1,2@x:y");
  EXPECT_EQ(EncodePath("no-slash"), "/no-slash");
  EXPECT_EQ(EncodePath(std::string("/a\0b", 4)), "/a%00b");
}

TEST(FnHttpTest, PickPortAvoidsTakenPorts) {
  std::vector<uint16_t> taken;
  for (int i = 0; i < 20; ++i) {
    uint16_t p = PickPort(taken);
    ASSERT_NE(p, 0);
    EXPECT_EQ(std::count(taken.begin(), taken.end(), p), 0);
    taken.push_back(p);
  }
}

}  // namespace
}  // namespace volo::worker
