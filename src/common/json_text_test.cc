#include "common/json_text.h"

#include <gtest/gtest.h>

namespace volo {
namespace {

std::string Quote(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

TEST(JsonTextTest, WellFormedUtf8PassesThrough) {
  EXPECT_EQ(Quote("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\"");
}

TEST(JsonTextTest, InvalidUtf8BecomesReplacementCharacter) {
  EXPECT_EQ(Quote("a\xFF"
                  "b"),
            "\"a\\ufffdb\"");
  EXPECT_EQ(Quote("\x80"), "\"\\ufffd\"");                        // stray continuation byte
  EXPECT_EQ(Quote("\xC0\xAF"), "\"\\ufffd\\ufffd\"");             // overlong '/'
  EXPECT_EQ(Quote("\xED\xA0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // a surrogate
  EXPECT_EQ(Quote("x\xE2\x82"), "\"x\\ufffd\\ufffd\"");           // truncated at the end
  EXPECT_EQ(Quote("\xF4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // > U+10FFFF
}

}  // namespace
}  // namespace volo
