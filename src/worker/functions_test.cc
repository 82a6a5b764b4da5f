// FunctionHost with real processes (the direct launcher): instances start, calls answer with
// their stdout, failures and crashes say what happened, a stopped instance takes no calls, and
// StopAll drops what the old connection was owed.
#include "worker/functions.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>

#include "wire/messages.h"

namespace volo::worker {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// What the host sent, parsed, with a wait for the next one; fn_log messages apart.
class Outbox {
 public:
  void Send(std::string msg, uint64_t epoch) {
    std::lock_guard<std::mutex> lock(mu_);
    auto m = wire::ParseWorkerMessage(msg);
    ASSERT_TRUE(m.ok()) << m.status().message() << ": " << msg;
    if (auto* log = std::get_if<wire::FnLog>(&*m)) {
      logs_.push_back(*log);
      return;
    }
    got_.push_back({std::move(*m), epoch});
    cv_.notify_all();
  }
  std::vector<wire::FnLog> logs() {
    std::lock_guard<std::mutex> lock(mu_);
    return logs_;
  }
  // The next message, waiting up to 30 s (a failure and nullopt after).
  std::optional<std::pair<wire::WorkerMessage, uint64_t>> Next() {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, 30s, [&] { return read_ < got_.size(); })) {
      ADD_FAILURE() << "no message from the host";
      return std::nullopt;
    }
    return got_[read_++];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<wire::WorkerMessage, uint64_t>> got_;
  std::vector<wire::FnLog> logs_;
  size_t read_ = 0;
};

wire::FnCall MakeCall(uint64_t instance, uint64_t call, std::string body) {
  wire::FnCall m;
  m.instance = instance;
  m.call = call;
  m.body = std::move(body);
  return m;
}

class FunctionHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/volo-fnhost-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    FunctionHostOptions o;
    o.work_dir = root_ + "/calls";
    o.launcher = MakeDirectLauncher();
    o.kill_grace = 200ms;
    o.max_response = 1 << 16;
    auto h = FunctionHost::Create(
        std::move(o), [this](std::string m, uint64_t epoch) { out_.Send(std::move(m), epoch); });
    ASSERT_TRUE(h.ok()) << h.status().message();
    host_ = std::move(h).value();
  }
  void TearDown() override {
    host_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  // Starts instance `id` running `sh -c script` and waits for it to be ready.
  void StartShell(uint64_t id, const std::string& script, double timeout = 0) {
    wire::FnStart s;
    s.instance = id;
    s.function = "f";
    s.revision = "r";
    s.argv = {"/bin/sh", "-c", script};
    s.env = {{"GREETING", "hi"}};
    s.timeout = timeout;
    host_->Start(s);
    auto m = out_.Next();
    ASSERT_TRUE(m);
    auto* ready = std::get_if<wire::FnReady>(&m->first);
    ASSERT_NE(ready, nullptr);
    EXPECT_EQ(ready->instance, id);
  }
  wire::FnAnswer Call(uint64_t instance, uint64_t call, std::string body) {
    host_->Call(MakeCall(instance, call, std::move(body)));
    auto m = out_.Next();
    if (!m) return {};
    auto* a = std::get_if<wire::FnAnswer>(&m->first);
    EXPECT_NE(a, nullptr);
    return a ? *a : wire::FnAnswer{};
  }

  std::string root_;
  Outbox out_;
  std::unique_ptr<FunctionHost> host_;
};

TEST_F(FunctionHostTest, TheBodyIsStdinAndStdoutTheAnswer) {
  StartShell(1, "printf '%s:' \"$GREETING\"; cat; printf ':%s' \"$VOLO_FUNCTION\"");
  std::string binary("a\0b\xff", 4);
  wire::FnAnswer a = Call(1, 7, binary);
  EXPECT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.call, 7u);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "hi:" + binary + ":f");
  EXPECT_GT(a.wall, 0);
  EXPECT_GT(a.max_rss, 0);
  EXPECT_EQ(host_->stats().calls, 1);
  // Each call's directory is gone afterwards.
  EXPECT_TRUE(fs::is_empty(root_ + "/calls"));
}

TEST_F(FunctionHostTest, FailuresCrashesAndTimeoutsSayWhat) {
  StartShell(1,
             "read x; case $x in fail) echo 'no good' >&2; exit 3;; crash) kill -SEGV $$;; "
             "slow) sleep 30;; big) head -c 100000 /dev/zero;; esac; echo fine",
             /*timeout=*/1);
  wire::FnAnswer fail = Call(1, 1, "fail\n");
  EXPECT_FALSE(fail.ok);
  EXPECT_FALSE(fail.crashed);
  EXPECT_EQ(fail.error, "exited with status 3: no good");
  wire::FnAnswer crash = Call(1, 2, "crash\n");
  EXPECT_FALSE(crash.ok);
  EXPECT_TRUE(crash.crashed);
  EXPECT_EQ(crash.error, "killed by SIGSEGV");
  wire::FnAnswer slow = Call(1, 3, "slow\n");
  EXPECT_FALSE(slow.ok);
  EXPECT_NE(slow.error.find("timed out after 1 s"), std::string::npos) << slow.error;
  wire::FnAnswer big = Call(1, 4, "big\n");
  EXPECT_FALSE(big.ok);
  EXPECT_NE(big.error.find("larger than"), std::string::npos) << big.error;
  wire::FnAnswer fine = Call(1, 5, "ok\n");
  EXPECT_TRUE(fine.ok) << fine.error;
  EXPECT_EQ(fine.body, "fine\n");
}

TEST_F(FunctionHostTest, ACallsStderrIsSentAsWholeLines) {
  // A line, a line of 20,000 bytes (cut at the message's limit), bytes that are not UTF-8 and
  // a last line without its newline; the answer comes after all of it was sent.
  StartShell(1,
             "echo first >&2; head -c 20000 /dev/zero | tr '\\0' x >&2; echo >&2; "
             "printf 'bad \\377 byte\\nlast' >&2; echo out");
  wire::FnAnswer a = Call(1, 1, "");
  EXPECT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.body, "out\n");
  std::string all;
  for (const wire::FnLog& log : out_.logs()) {
    EXPECT_EQ(log.instance, 1u);
    EXPECT_EQ(log.function, "f");
    EXPECT_EQ(log.revision, "r");
    EXPECT_LE(log.text.size(), wire::kFnLogMaxText);
    ASSERT_FALSE(log.text.empty());
    EXPECT_EQ(log.text.back(), '\n');
    all += log.text;
  }
  const std::string xs(20000, 'x');
  const size_t cut = wire::kFnLogMaxText - 1;
  EXPECT_EQ(all, "first\n" + xs.substr(0, cut) + "\n" + xs.substr(cut) + "\nbad ? byte\nlast\n");
}

TEST_F(FunctionHostTest, AStoppedOrUnknownInstanceTakesNoCalls) {
  StartShell(1, "cat");
  host_->Stop(1);
  wire::FnAnswer a = Call(1, 9, "x");
  EXPECT_FALSE(a.ok);
  EXPECT_NE(a.error.find("not running"), std::string::npos) << a.error;
  EXPECT_FALSE(Call(42, 10, "x").ok);
}

TEST_F(FunctionHostTest, AMissingBundleEndsTheInstance) {
  wire::FnStart s;
  s.instance = 3;
  s.function = "f";
  s.argv = {"cat"};
  s.bundle = std::string(64, 'a');
  host_->Start(s);  // the host was given no bundle cache
  auto m = out_.Next();
  ASSERT_TRUE(m);
  auto* exited = std::get_if<wire::FnExited>(&m->first);
  ASSERT_NE(exited, nullptr);
  EXPECT_EQ(exited->instance, 3u);
  EXPECT_NE(exited->error.find("bundles"), std::string::npos) << exited->error;
}

TEST_F(FunctionHostTest, StopAllKillsCallsAndStartsANewEpoch) {
  StartShell(1, "sleep 30");
  host_->Call(MakeCall(1, 1, ""));
  // The call is running (a thread took it); StopAll kills it without an answer.
  host_->StopAll();
  StartShell(2, "echo after");
  wire::FnAnswer a = Call(2, 2, "");
  EXPECT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.body, "after\n");
  EXPECT_FALSE(Call(1, 3, "").ok);  // instance 1 went with the old epoch
}

}  // namespace
}  // namespace volo::worker
