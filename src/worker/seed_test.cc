#include "worker/seed.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace volo::worker {
namespace {

using Ops = std::vector<std::string>;
std::optional<std::string> Unset() { return std::nullopt; }

TEST(SeedOpsTest, UnsetVariablesKeepTheDefaultOperations) {
  auto r = SeedOps(Unset(), Unset());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  // The seed treats an empty variable as unset.
  r = SeedOps(std::string(""), std::string(""));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
}

TEST(SeedOpsTest, BothDefaultToTrueAsInTheSeed) {
  // MULT=false alone: the seed's add-only worker (it used to run everything).
  auto r = SeedOps(Unset(), std::string("false"));
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ(**r, Ops{"add"});
  r = SeedOps(std::string("false"), Unset());
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ(**r, Ops{"mult"});
  // ADD=true alone: MULT stays true, a general seed worker.
  r = SeedOps(std::string("true"), Unset());
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ(**r, (Ops{"add", "mult"}));
  r = SeedOps(std::string("true"), std::string("false"));
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ(**r, Ops{"add"});
}

TEST(SeedOpsTest, OneZeroAndOtherSpellingsStillWork) {
  auto r = SeedOps(std::string("1"), std::string("0"));
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ(**r, Ops{"add"});
  r = SeedOps(std::string("No"), std::string("YES"));
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ(**r, Ops{"mult"});
  r = SeedOps(std::string("off"), std::string("on "));
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ(**r, Ops{"mult"});
}

TEST(SeedOpsTest, BadValuesAndNothingToRunAreErrors) {
  auto r = SeedOps(std::string("maybe"), Unset());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("ADD must be true or false"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("'maybe'"), std::string::npos);
  r = SeedOps(Unset(), std::string("2"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("MULT"), std::string::npos);
  r = SeedOps(std::string("false"), std::string("0"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nothing to run"), std::string::npos);
}

TEST(AdvertiseUrlTest, GivenUrlsAndBareHosts) {
  EXPECT_EQ(AdvertiseUrl("http://worker-3:8080", "0.0.0.0", 9000), "http://worker-3:8080");
  EXPECT_EQ(AdvertiseUrl("http://worker-3:8080/", "0.0.0.0", 9000), "http://worker-3:8080");
  EXPECT_EQ(AdvertiseUrl("worker-3:8080", "0.0.0.0", 9000), "http://worker-3:8080");
  EXPECT_EQ(AdvertiseUrl("worker-3", "0.0.0.0", 9000), "http://worker-3:9000");
  EXPECT_EQ(AdvertiseUrl("10.1.2.3", "0.0.0.0", 8080), "http://10.1.2.3:8080");
  EXPECT_EQ(AdvertiseUrl("[fd00::1]", "::", 8080), "http://[fd00::1]:8080");
  EXPECT_EQ(AdvertiseUrl("https://w.example", "0.0.0.0", 8080), "https://w.example");
}

TEST(AdvertiseUrlTest, DefaultsToTheBoundAddress) {
  EXPECT_EQ(AdvertiseUrl("", "127.0.0.1", 4567), "http://127.0.0.1:4567");
  EXPECT_EQ(AdvertiseUrl("", "::1", 4567), "http://[::1]:4567");
  char host[256] = "";
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  EXPECT_EQ(AdvertiseUrl("", "0.0.0.0", 4567), "http://" + std::string(host) + ":4567");
}

TEST(SeedRegisterTest, BodyIsTheSeedsShape) {
  EXPECT_EQ(SeedRegisterBody("http://w:1", "w\"1"), R"({"url":"http://w:1","id":"w\"1"})");
}

TEST(RefusedUpgradeTest, ReadsTheStatusOfARefusedUpgradeOnly) {
  EXPECT_EQ(RefusedUpgradeStatus(FailedPrecondition(
                "WebSocket upgrade to ws://h:1/api/v1/workers/connect refused: HTTP 404: "
                "Cannot GET /api/v1/workers/connect")),
            404);
  EXPECT_EQ(RefusedUpgradeStatus(FailedPrecondition("x refused: HTTP 401: ")), 401);
  EXPECT_EQ(RefusedUpgradeStatus(Unavailable("x refused: HTTP 404: ")), std::nullopt);
  EXPECT_EQ(RefusedUpgradeStatus(FailedPrecondition("something else")), std::nullopt);
  EXPECT_EQ(RefusedUpgradeStatus(FailedPrecondition("refused: HTTP 40")), std::nullopt);
}

TEST(RefusedUpgradeTest, OnlyClientErrorsOtherThanAuthMeanAnotherProtocol) {
  EXPECT_TRUE(MeansNoNativeProtocol(404));
  EXPECT_TRUE(MeansNoNativeProtocol(400));
  EXPECT_TRUE(MeansNoNativeProtocol(405));
  EXPECT_TRUE(MeansNoNativeProtocol(426));
  EXPECT_FALSE(MeansNoNativeProtocol(401));  // a volo planner refusing the join token
  EXPECT_FALSE(MeansNoNativeProtocol(403));
  EXPECT_FALSE(MeansNoNativeProtocol(429));
  EXPECT_FALSE(MeansNoNativeProtocol(503));  // a volo planner stopping
  EXPECT_FALSE(MeansNoNativeProtocol(200));
}

}  // namespace
}  // namespace volo::worker
