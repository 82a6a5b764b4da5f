// Bundles against real processes: `volo bundle push | ls | rm`, the planner's store on disk
// across a restart, tokens, large uploads, collection after the grace period.

#include <filesystem>
#include <fstream>
#include <random>

#include "common/sha256.h"
#include "harness.h"
#include "net/client.h"

namespace volo::itest {
namespace {

namespace fs = std::filesystem;

class BundleTest : public VoloTest {
 protected:
  // A small project directory.
  std::string MakeProject(const std::string& name, size_t random_bytes = 0) {
    std::string dir = TempPath(name);
    fs::create_directories(dir + "/src");
    std::ofstream(dir + "/src/main.sh") << "echo hello from the bundle\n";
    std::ofstream(dir + "/README") << name << "\n";
    if (random_bytes) {
      std::mt19937_64 rng(42);
      std::string data(random_bytes, '\0');
      for (auto& c : data) c = static_cast<char>(rng());
      std::ofstream(dir + "/data.bin", std::ios::binary) << data;
    }
    return dir;
  }
  static std::string LastLine(const std::string& s) {
    std::string t = s;
    while (!t.empty() && t.back() == '\n') t.pop_back();
    return t.substr(t.rfind('\n') == std::string::npos ? 0 : t.rfind('\n') + 1);
  }
};

TEST_F(BundleTest, PushOnceListRemoveAndSurviveARestart) {
  const std::string data = TempPath("data");
  PlannerProc planner = StartPlanner({"--data", data});
  ASSERT_NE(planner.port, 0);
  const EnvOverrides env = {{"VOLO_PLANNER", planner.url}};
  const std::string project = MakeProject("proj");

  CommandResult first = h_.RunVolo({"bundle", "push", project}, env);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string id = LastLine(first.out);
  ASSERT_EQ(id.size(), 64u) << first.out;
  EXPECT_NE(first.err.find("uploaded"), std::string::npos) << first.err;
  // The id is the SHA-256 of what the planner serves.
  Reply got = Get(planner.Api("/bundles/" + id));
  ASSERT_EQ(got.status, 200) << got.Describe();
  EXPECT_EQ(Sha256Hex(got.body), id);

  // The same tree again (touched, so times differ): the same id, and nothing uploaded.
  std::ofstream(project + "/README") << "proj\n";
  CommandResult again = h_.RunVolo({"bundle", "push", project}, env);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(LastLine(again.out), id);
  EXPECT_NE(again.err.find("already on the planner"), std::string::npos) << again.err;

  CommandResult ls = h_.RunVolo({"bundle", "ls"}, env);
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find(id), std::string::npos) << ls.out;

  // Restarted on the same directory, the planner still has it.
  h_.Signal(*planner.child, SIGTERM);
  ASSERT_TRUE(h_.WaitExit(*planner.child, seconds(30)));
  planner = StartPlanner({"--data", data}, {}, planner.port);
  ASSERT_NE(planner.port, 0);
  EXPECT_EQ(Http("HEAD", planner.Api("/bundles/" + id)).status, 200);

  CommandResult rm = h_.RunVolo({"bundle", "rm", id.substr(0, 10)}, env);
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(Http("HEAD", planner.Api("/bundles/" + id)).status, 404);
  EXPECT_FALSE(fs::exists(data + "/bundles/" + id));
  CommandResult rm_again = h_.RunVolo({"bundle", "rm", id}, env);
  EXPECT_EQ(rm_again.exit_code, 1);
  EXPECT_NE(rm_again.err.find("no bundle"), std::string::npos) << rm_again.err;
}

TEST_F(BundleTest, UploadsNeedTheApiTokenAndWorkersFetchWithTheJoinToken) {
  const std::string api_file = TempPath("api"), join_file = TempPath("join");
  std::ofstream(api_file) << "api-secret-1\n";
  std::ofstream(join_file) << "join-secret-2\n";
  PlannerProc planner = StartPlanner({"--token-file", api_file, "--join-token-file", join_file});
  ASSERT_NE(planner.port, 0);
  const std::string project = MakeProject("tok");
  CommandResult refused = h_.RunVolo({"bundle", "push", project, "--planner", planner.url});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("token"), std::string::npos) << refused.err;
  CommandResult pushed =
      h_.RunVolo({"bundle", "push", project, "--planner", planner.url, "--token-file", api_file});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
  const std::string id = LastLine(pushed.out);
  auto fetch = [&](const std::string& method, const std::string& token, const std::string& body) {
    net::Headers h{{"Authorization", "Bearer " + token}};
    auto r = net::HttpFetch(method, planner.Api("/bundles/" + id), body, h);
    return r.ok() ? r->status : 0;
  };
  EXPECT_EQ(fetch("GET", "join-secret-2", ""), 200);
  EXPECT_EQ(fetch("GET", "wrong", ""), 401);
  EXPECT_EQ(fetch("DELETE", "join-secret-2", ""), 401);
  EXPECT_EQ(fetch("PUT", "join-secret-2", "x"), 401);
}

TEST_F(BundleTest, LargeBundlesPassTheBodyLimitButNotTheStoreLimit) {
  PlannerProc planner =
      StartPlanner({"--max-body", "65536", "--max-bundle-bytes", std::to_string(3 << 20)});
  ASSERT_NE(planner.port, 0);
  const EnvOverrides env = {{"VOLO_PLANNER", planner.url}};
  CommandResult ok = h_.RunVolo({"bundle", "push", MakeProject("two-mib", 2 << 20)}, env);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  CommandResult full = h_.RunVolo({"bundle", "push", MakeProject("another", 2 << 20)}, env);
  EXPECT_EQ(full.exit_code, 1);
  EXPECT_NE(full.err.find("the bundle store is full"), std::string::npos) << full.err;
  // Other requests keep the small body limit.
  Reply big = Post(planner.Api("/tasks"), std::string(100000, ' ') + "{}");
  EXPECT_EQ(big.status, 413) << big.Describe();
}

TEST_F(BundleTest, BadBundlesAndUnknownIdsGetClearErrors) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  const std::string id = Sha256Hex("never uploaded");
  Reply submit = Post(planner.Api("/tasks"),
                      R"({"op":"exec","args":{"cmd":["true"],"bundle":")" + id + R"("}})");
  EXPECT_EQ(submit.status, 400) << submit.Describe();
  EXPECT_NE(submit.body.find("the planner has no bundle " + id), std::string::npos) << submit.body;
  Reply mismatch = Http("PUT", planner.Api("/bundles/" + id), "other bytes");
  EXPECT_EQ(mismatch.status, 400) << mismatch.Describe();
  CommandResult missing =
      h_.RunVolo({"bundle", "push", TempPath("nope"), "--planner", planner.url});
  EXPECT_EQ(missing.exit_code, 2) << missing.err;  // a usage error: no such directory
}

TEST_F(BundleTest, UnreferencedBundlesAreCollectedAfterTheGrace) {
  PlannerProc planner = StartPlanner({"--bundle-grace", "1"});
  ASSERT_NE(planner.port, 0);
  CommandResult pushed =
      h_.RunVolo({"bundle", "push", MakeProject("short-lived"), "--planner", planner.url});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
  const std::string id = LastLine(pushed.out);
  EXPECT_TRUE(PollUntil([&] { return Http("HEAD", planner.Api("/bundles/" + id)).status == 404; },
                        seconds(30)))
      << "bundle " << id << " was never collected";
}

}  // namespace
}  // namespace volo::itest
