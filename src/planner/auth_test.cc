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

net::HttpRequest FromBrowser(std::string method, std::string host, std::string origin) {
  net::HttpRequest req;
  req.method = std::move(method);
  req.headers.emplace_back("Host", std::move(host));
  if (!origin.empty()) req.headers.emplace_back("Origin", std::move(origin));
  req.headers.emplace_back("Sec-Fetch-Site", "same-origin");
  return req;
}

TEST(AuthTest, PagesFromOtherSitesCannotChangeAnything) {
  Token none, token("s3cret");
  for (const Token* t : {&none, &token}) {
    // Another site's page (or a sandboxed one, "null") posting to the planner.
    auto evil = RefuseForeignBrowser(FromBrowser("POST", "127.0.0.1:3000", "http://evil.example"),
                                     *t, false);
    ASSERT_TRUE(evil.has_value());
    EXPECT_EQ(evil->status, 403);
    EXPECT_NE(evil->body.find("http://evil.example"), std::string::npos) << evil->body;
    EXPECT_TRUE(RefuseForeignBrowser(FromBrowser("DELETE", "127.0.0.1:3000", "null"), *t, false));
    // Another port is another origin.
    EXPECT_TRUE(RefuseForeignBrowser(FromBrowser("PUT", "127.0.0.1:3000", "http://127.0.0.1:8000"),
                                     *t, false));
    // The planner's own page; a GET (a link followed from elsewhere); a program (no Origin).
    EXPECT_FALSE(RefuseForeignBrowser(
        FromBrowser("POST", "127.0.0.1:3000", "http://127.0.0.1:3000"), *t, false));
    EXPECT_FALSE(RefuseForeignBrowser(FromBrowser("GET", "127.0.0.1:3000", "http://evil.example"),
                                      *t, false));
    net::HttpRequest program;
    program.method = "POST";
    program.headers.emplace_back("Host", "127.0.0.1:3000");
    EXPECT_FALSE(RefuseForeignBrowser(program, *t, false));
    // A WebSocket from another site, whatever its method.
    EXPECT_TRUE(RefuseForeignBrowser(FromBrowser("GET", "127.0.0.1:3000", "http://evil.example"),
                                     *t, true));
  }
}

TEST(AuthTest, WithoutATokenBrowsersAreAnsweredOnlyAtLoopbackNames) {
  Token none;
  for (std::string host : {"127.0.0.1:3000", "localhost:3000", "LOCALHOST", "[::1]:3000",
                           "127.0.1.1:80", "app.localhost:3000"}) {
    EXPECT_FALSE(RefuseForeignBrowser(FromBrowser("GET", host, ""), none, false)) << host;
  }
  // DNS rebinding: evil.example resolves to 127.0.0.1 after the page loaded, so its requests
  // are same-origin, but their Host is not a loopback name.
  for (std::string host : {"evil.example:3000", "127.evil.example:3000", "10.0.0.5:3000"}) {
    auto r = RefuseForeignBrowser(FromBrowser("POST", host, "http://" + host), none, false);
    ASSERT_TRUE(r.has_value()) << host;
    EXPECT_EQ(r->status, 403);
    EXPECT_NE(r->body.find("--token-file"), std::string::npos) << r->body;
  }
  // Programs (no Origin, no Sec-Fetch-Site) at any name; browsers too once there is a token.
  net::HttpRequest program;
  program.method = "POST";
  program.headers.emplace_back("Host", "myhost:3000");
  EXPECT_FALSE(RefuseForeignBrowser(program, none, false));
  EXPECT_FALSE(RefuseForeignBrowser(
      FromBrowser("POST", "volo.example:443", "https://volo.example:443"), Token("s3cret"), false));
}

}  // namespace
}  // namespace volo::planner
