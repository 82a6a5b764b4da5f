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

TEST(FormatResponseHeadTest, WritesStatusLineFieldsAndLength) {
  HttpResponse response = HttpResponse::Json(200, "{\"ok\":true}");
  response.headers.emplace_back("X-Volo-Call", "abc");
  std::string head = "left over from the last response";
  internal::FormatResponseHead(response, "volo", /*keep_alive=*/true, 11, &head);
  EXPECT_EQ(head,
            "HTTP/1.1 200 OK\r\nServer: volo\r\nContent-Type: application/json\r\n"
            "X-Volo-Call: abc\r\nContent-Length: 11\r\n\r\n");
  response.status = 404;
  response.content_type.clear();
  response.body.clear();
  internal::FormatResponseHead(response, "s", /*keep_alive=*/false, 11, &head);
  EXPECT_EQ(head,
            "HTTP/1.1 404 Not Found\r\nServer: s\r\nX-Volo-Call: abc\r\n"
            "Connection: close\r\nContent-Length: 0\r\n\r\n");
}

TEST(FormatResponseHeadTest, Http10SaysKeepAliveAndClosesByDefault) {
  HttpResponse response = HttpResponse::Json(201, "x");
  std::string head;
  internal::FormatResponseHead(response, "v", /*keep_alive=*/true, 10, &head);
  EXPECT_EQ(head,
            "HTTP/1.0 201 Created\r\nServer: v\r\nContent-Type: application/json\r\n"
            "Connection: keep-alive\r\nContent-Length: 1\r\n\r\n");
  internal::FormatResponseHead(response, "v", /*keep_alive=*/false, 10, &head);
  EXPECT_EQ(head.find("Connection"), std::string::npos) << head;
}

TEST(FormatResponseHeadTest, NoLengthWhereThereIsNoBodyAndBadStatusIs500) {
  HttpResponse response;
  response.status = 204;
  response.content_type.clear();
  std::string head;
  internal::FormatResponseHead(response, "v", true, 11, &head);
  EXPECT_EQ(head, "HTTP/1.1 204 No Content\r\nServer: v\r\n\r\n");
  response.status = 304;
  internal::FormatResponseHead(response, "v", true, 11, &head);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
  response.status = 42;
  internal::FormatResponseHead(response, "v", true, 11, &head);
  EXPECT_TRUE(head.starts_with("HTTP/1.1 500 Internal Server Error\r\n")) << head;
  EXPECT_NE(head.find("Content-Length: 0\r\n"), std::string::npos) << head;
}

TEST(FormatResponseHeadTest, DropsFramingFieldsAndLineBreaks) {
  HttpResponse response = HttpResponse::Json(200, "abc");
  response.headers = {{"content-length", "99"}, {"Transfer-Encoding", "chunked"},
                      {"Connection", "close"},  {"X-Evil", "a\r\nSet-Cookie: b"},
                      {"X-Bad\nName", "c"},     {"", "empty"},
                      {"X-Good", "d"}};
  std::string head;
  internal::FormatResponseHead(response, "v", true, 11, &head);
  EXPECT_EQ(head,
            "HTTP/1.1 200 OK\r\nServer: v\r\nContent-Type: application/json\r\n"
            "X-Good: d\r\nContent-Length: 3\r\n\r\n");
}

}  // namespace
}  // namespace volo::net
