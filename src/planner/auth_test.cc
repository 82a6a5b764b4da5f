#include "planner/auth.h"

#include <gtest/gtest.h>

namespace volo::planner {
namespace {

net::HttpRequest WithAuthorization(std::string value) {
  net::HttpRequest req;
  req.headers.emplace_back("authorization", std::move(value));
  return req;
}

TEST(AuthTest, EmptyTokenMatchesEverything) {
  Token none;
  EXPECT_TRUE(none.empty());
  EXPECT_TRUE(BearerMatches(net::HttpRequest{}, none));
}

TEST(AuthTest, MatchesOnlyTheSecret) {
  Token t("s3cret");
  EXPECT_TRUE(t.Matches("s3cret"));
  EXPECT_FALSE(t.Matches("s3cre"));
  EXPECT_FALSE(t.Matches("s3cret "));
  EXPECT_FALSE(t.Matches(""));
  EXPECT_FALSE(t.Matches(std::string(1000, 'x')));
}

TEST(AuthTest, BearerSchemeIsCaseInsensitive) {
  Token t("abc");
  EXPECT_TRUE(BearerMatches(WithAuthorization("Bearer abc"), t));
  EXPECT_TRUE(BearerMatches(WithAuthorization("bearer abc"), t));
  EXPECT_TRUE(BearerMatches(WithAuthorization("BEARER   abc "), t));
  EXPECT_FALSE(BearerMatches(WithAuthorization("Bearerabc"), t));
  EXPECT_FALSE(BearerMatches(WithAuthorization("Basic abc"), t));
  EXPECT_FALSE(BearerMatches(WithAuthorization("Bearer "), t));
  EXPECT_FALSE(BearerMatches(net::HttpRequest{}, t));
  EXPECT_EQ(BearerToken(WithAuthorization("bEaReR xyz")), "xyz");
}

}  // namespace
}  // namespace volo::planner
