#include "provision/local.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/poll_testing.h"

namespace volo::provision {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// A stand-in for `volo worker`: a script that writes its arguments and two variables to
// ID.args and then waits (ignoring SIGTERM when told to).
class LocalProvisionerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "volo-provision-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Script(const std::string& on_term) {
    std::string path = dir_ + "/fake-worker.sh";
    std::ofstream(path) << "#!/bin/sh\n"
                        << "id=$(echo \"$@\" | sed 's/.*--id \\([^ ]*\\).*/\\1/')\n"
                        << "trap '" << on_term << "' TERM\n"
                        << "echo \"$@\" \"token=$VOLO_JOIN_TOKEN\" \"port=$PORT\" > " << dir_
                        << "/$id.args.tmp && mv " << dir_ << "/$id.args.tmp " << dir_
                        << "/$id.args\n"
                        << "while :; do sleep 0.05; done\n";
    chmod(path.c_str(), 0755);
    return path;
  }
  std::unique_ptr<LocalProvisioner> Make(const std::string& on_term) {
    LocalOptions o;
    o.binary = Script(on_term);
    o.command = {};
    o.planner_url = "http://127.0.0.1:1234";
    o.join_token = "join-secret";
    o.sandbox = "none";
    return std::make_unique<LocalProvisioner>(clock_, o);
  }
  std::string Args(const std::string& id) {
    std::string path = dir_ + "/" + id + ".args";
    if (!test_util::PollUntil([&] { return fs::exists(path); }, 20s)) return "";
    std::stringstream ss;
    ss << std::ifstream(path).rdbuf();
    return ss.str();
  }
  // Polls until `id` has ended; returns how.
  std::string WaitEnded(LocalProvisioner& p, const std::string& id) {
    std::string how;
    test_util::PollUntil(
        [&] {
          for (const Ended& e : p.Poll()) {
            if (e.id == id) how = e.how;
          }
          return !how.empty();
        },
        20s);
    return how;
  }

  SteadyClock clock_;
  std::string dir_;
};

TEST_F(LocalProvisionerTest, StartsTheWorkerCommandWithTheTokenInItsEnvironment) {
  setenv("PORT", "3000", 1);  // the planner's own: a worker must not bind it
  auto p = Make("exit 0");
  ASSERT_TRUE(
      p->Start({.id = "prov-1", .ops = {"exec", "sleep"}, .slots = 2, .functions = 8}).ok());
  unsetenv("PORT");
  EXPECT_EQ(Args("prov-1"),
            "--planner http://127.0.0.1:1234 --id prov-1 --ops exec,sleep --slots 2 --port=-1 "
            "--sandbox none --functions 8 token=join-secret port=\n");
  EXPECT_EQ(p->running(), 1u);
  EXPECT_FALSE(p->Start({.id = "prov-1", .ops = {"sleep"}}).ok());  // already running
  // The real command line: `volo worker ...` with this binary.
  LocalOptions o;
  o.binary = "/usr/bin/volo";
  o.planner_url = "http://127.0.0.1:9";
  LocalProvisioner real(clock_, o);
  auto argv = real.Argv({.id = "prov-7", .ops = {"noop"}});
  ASSERT_GE(argv.size(), 3u);
  EXPECT_EQ(argv[0], "/usr/bin/volo");
  EXPECT_EQ(argv[1], "worker");
}

TEST_F(LocalProvisionerTest, StopAsksWithSigtermAndTheEndIsReaped) {
  auto p = Make("exit 0");
  ASSERT_TRUE(p->Start({.id = "prov-1", .ops = {"sleep"}}).ok());
  ASSERT_FALSE(Args("prov-1").empty());
  pid_t pid = *p->pid("prov-1");
  p->Stop("prov-1", 30s);
  EXPECT_EQ(WaitEnded(*p, "prov-1"), "exited with status 0");
  EXPECT_EQ(p->running(), 0u);
  EXPECT_NE(kill(pid, 0), 0);  // reaped: no zombie left under that pid
}

TEST_F(LocalProvisionerTest, OneThatIgnoresSigtermIsKilledAfterTheGrace) {
  auto p = Make("");  // ignores SIGTERM
  ASSERT_TRUE(p->Start({.id = "prov-1", .ops = {"sleep"}}).ok());
  ASSERT_FALSE(Args("prov-1").empty());
  p->Stop("prov-1", 100ms);
  EXPECT_EQ(WaitEnded(*p, "prov-1"), "killed by SIGKILL");
}

TEST_F(LocalProvisionerTest, AWorkerThatDiesIsReportedWithHow) {
  auto p = Make("exit 0");
  ASSERT_TRUE(p->Start({.id = "prov-1", .ops = {"sleep"}}).ok());
  ASSERT_FALSE(Args("prov-1").empty());
  kill(*p->pid("prov-1"), SIGKILL);
  EXPECT_EQ(WaitEnded(*p, "prov-1"), "killed by SIGKILL");
}

TEST_F(LocalProvisionerTest, StopAllLeavesNoProcess) {
  auto p = Make("");  // the second ignores SIGTERM: StopAll must force it
  ASSERT_TRUE(p->Start({.id = "prov-1", .ops = {"sleep"}}).ok());
  ASSERT_TRUE(p->Start({.id = "prov-2", .ops = {"sleep"}}).ok());
  ASSERT_FALSE(Args("prov-1").empty());
  ASSERT_FALSE(Args("prov-2").empty());
  pid_t a = *p->pid("prov-1"), b = *p->pid("prov-2");
  p->StopAll(200ms);
  EXPECT_EQ(p->running(), 0u);
  EXPECT_NE(kill(a, 0), 0);
  EXPECT_NE(kill(b, 0), 0);
}

TEST_F(LocalProvisionerTest, AProgramThatCannotStartIsAnError) {
  LocalOptions o;
  o.binary = dir_ + "/no-such-volo";
  LocalProvisioner p(clock_, o);
  Status s = p.Start({.id = "prov-1", .ops = {"sleep"}});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no-such-volo"), std::string::npos) << s.message();
  EXPECT_EQ(p.running(), 0u);
}

}  // namespace
}  // namespace volo::provision
