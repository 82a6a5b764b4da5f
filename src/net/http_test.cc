#include "net/http.h"

#include <gtest/gtest.h>

#include "net/internal.h"

namespace volo::net {
namespace {

TEST(ParseUrlTest, SplitsHostPortAndTarget) {
  Url url;
  ASSERT_TRUE(ParseUrl("http://127.0.0.1:3000/api/v1/tasks?state=running", &url));
  EXPECT_EQ(url.scheme, "http");
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.port, 3000);
  EXPECT_EQ(url.target, "/api/v1/tasks?state=running");
}

TEST(ParseUrlTest, DefaultsPortAndTarget) {
  Url url;
  ASSERT_TRUE(ParseUrl("http://example.com", &url));
  EXPECT_EQ(url.port, 80);
  EXPECT_EQ(url.target, "/");
  ASSERT_TRUE(ParseUrl("wss://example.com?x=1", &url));
  EXPECT_EQ(url.scheme, "wss");
  EXPECT_EQ(url.port, 443);
  EXPECT_EQ(url.target, "/?x=1");
  ASSERT_TRUE(ParseUrl("ws://localhost:9000/ws", &url));
  EXPECT_EQ(url.host, "localhost");
  EXPECT_EQ(url.port, 9000);
  EXPECT_EQ(url.target, "/ws");
  ASSERT_TRUE(ParseUrl("https://h/", &url));
  EXPECT_EQ(url.port, 443);
}

TEST(ParseUrlTest, StripsIpv6Brackets) {
  Url url;
  ASSERT_TRUE(ParseUrl("http://[::1]:8080/x", &url));
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, 8080);
}

TEST(ParseUrlTest, RejectsBadUrls) {
  Url url;
  url.host = "untouched";
  EXPECT_FALSE(ParseUrl("", &url));
  EXPECT_FALSE(ParseUrl("127.0.0.1:3000/x", &url));
  EXPECT_FALSE(ParseUrl("ftp://host/x", &url));
  EXPECT_FALSE(ParseUrl("http:///nohost", &url));
  EXPECT_FALSE(ParseUrl("http://host:99999/", &url));
  EXPECT_FALSE(ParseUrl("http://host:0/", &url));
  EXPECT_FALSE(ParseUrl("http://ho st/", &url));
  EXPECT_EQ(url.host, "untouched");
}

TEST(HttpRequestTest, HeaderLookupIgnoresCase) {
  HttpRequest request;
  request.headers = {{"Content-Type", "text/plain"}, {"X-Token", "abc"}};
  EXPECT_EQ(request.Header("content-type"), "text/plain");
  EXPECT_EQ(request.Header("X-TOKEN"), "abc");
  EXPECT_EQ(request.Header("x-missing"), "");
}

TEST(HttpResponseTest, ErrorIsEscapedJson) {
  HttpResponse response = HttpResponse::Error(404, "no \"task\" here\n\\");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(response.body, R"({"error":"no \"task\" here\n\\"})");
  EXPECT_EQ(HttpResponse::Error(400, std::string_view("\x01", 1)).body, R"({"error":"\u0001"})");
}

TEST(ParseTargetTest, DecodesPathAndQuery) {
  std::string path;
  std::map<std::string, std::string> query;
  ASSERT_TRUE(internal::ParseTarget("/a%2Fb/c%20d?k%3D=v%26w&flag&k=1&k=2", &path, &query));
  EXPECT_EQ(path, "/a/b/c d");
  EXPECT_EQ(query.at("k="), "v&w");
  EXPECT_EQ(query.at("flag"), "");
  EXPECT_EQ(query.at("k"), "2");
  EXPECT_FALSE(internal::ParseTarget("no-slash", &path, &query));
  EXPECT_FALSE(internal::ParseTarget("/bad%zz", &path, &query));
}

}  // namespace
}  // namespace volo::net
