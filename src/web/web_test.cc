#include "web/web.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <sstream>
#include <string>

namespace volo::web {
namespace {

std::string ReadSource(const std::string& rel) {
  std::ifstream f(std::string(VOLO_WEB_TESTDATA) + "/" + rel, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string Gunzip(std::string_view gz) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  std::string out;
  char buf[4096];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK);
  EXPECT_EQ(rc, Z_STREAM_END);
  inflateEnd(&z);
  return out;
}

std::string HeaderOf(const net::HttpResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

TEST(WebTest, EmbedsEveryFileUnderItsPrefixByteForByte) {
  for (const char* rel : {"index.html", "app.js", "sub/index.html"}) {
    const Asset* a = Find(std::string("/t/") + rel);
    ASSERT_NE(a, nullptr) << rel;
    EXPECT_EQ(a->body(), ReadSource(rel)) << rel;
  }
  EXPECT_STREQ(Find("/t/app.js")->content_type, "text/javascript; charset=utf-8");
  EXPECT_STREQ(Find("/t/index.html")->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(All().size(), 3u);
}

TEST(WebTest, DirectoryPathsServeTheirIndex) {
  ASSERT_NE(Find("/t/"), nullptr);
  EXPECT_EQ(Find("/t/"), Find("/t/index.html"));
  EXPECT_EQ(Find("/t/sub/"), Find("/t/sub/index.html"));
  EXPECT_EQ(Find("/t/missing.js"), nullptr);
  EXPECT_EQ(Find("/nothing/"), nullptr);
  EXPECT_EQ(Find(""), nullptr);
}

TEST(WebTest, LargeTextFilesCarryAGzipFormThatInflatesToTheFile) {
  const Asset* a = Find("/t/app.js");
  ASSERT_NE(a->gzip, nullptr);
  EXPECT_LT(a->gzip_size, a->size / 4);
  EXPECT_EQ(Gunzip(a->gzipped()), ReadSource("app.js"));
  // A tiny file is not worth compressing.
  EXPECT_EQ(Find("/t/sub/index.html")->gzip, nullptr);
}

TEST(WebTest, ServeAnswersGzipOnlyWhenAccepted) {
  const Asset* a = Find("/t/app.js");
  net::HttpRequest req;
  req.method = "GET";
  auto plain = Serve(*a, req);
  EXPECT_EQ(plain.status, 200);
  EXPECT_EQ(plain.body, a->body());
  EXPECT_EQ(HeaderOf(plain, "Content-Encoding"), "");
  req.headers.emplace_back("Accept-Encoding", "deflate, gzip;q=0.8, br");
  auto gz = Serve(*a, req);
  EXPECT_EQ(HeaderOf(gz, "Content-Encoding"), "gzip");
  EXPECT_EQ(gz.body, a->gzipped());
  req.headers.back().second = "gzip;q=0";
  EXPECT_EQ(HeaderOf(Serve(*a, req), "Content-Encoding"), "");
}

TEST(WebTest, ServeAnswers304ForTheCurrentETag) {
  const Asset* a = Find("/t/index.html");
  net::HttpRequest req;
  req.method = "GET";
  auto first = Serve(*a, req);
  std::string etag = HeaderOf(first, "ETag");
  ASSERT_EQ(etag.size(), 34u);  // quoted hex
  EXPECT_EQ(HeaderOf(first, "Cache-Control"), "no-cache");
  req.headers.emplace_back("If-None-Match", "\"old\", " + etag);
  auto again = Serve(*a, req);
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  req.headers.back().second = "\"old\"";
  EXPECT_EQ(Serve(*a, req).status, 200);
  // Another file has another ETag.
  EXPECT_NE(HeaderOf(Serve(*Find("/t/app.js"), net::HttpRequest{}), "ETag"), etag);
}

}  // namespace
}  // namespace volo::web
