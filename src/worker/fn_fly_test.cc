// FlyInstance's worker side with the answers read on an io_context's thread (as the worker's io
// thread reads them), against a stand-in child: a shell script that speaks the protocol from
// prepared frames. Answers that arrive in one read each reach their own caller, on the loop's
// thread; an answer split across reads is put together; a child that ends mid-answer or breaks
// the protocol ends the instance (reported once) and the test process lives on.
#include "worker/fn_fly.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "exec/frame.h"

namespace volo::worker {
namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
using namespace std::chrono_literals;

std::string Frame(const exec::FrameWriter& w) {
  std::string out;
  exec::AppendFrame(out, w.payload());
  return out;
}

std::string AnswerFrame(uint64_t call, const std::string& body) {
  exec::FrameWriter w;
  w.Add("answer").Add(static_cast<int64_t>(call)).Add(int64_t{0}).Add(int64_t{200});
  w.Add("text/plain").Add(int64_t{0}).Add(body).Add(int64_t{1000}).Add(int64_t{4096});
  return Frame(w);
}

wire::FnCall MakeCall(uint64_t call) {
  wire::FnCall m;
  m.instance = 1;
  m.call = call;
  m.method = "POST";
  m.path = "/";
  m.body = "request-" + std::to_string(call);
  return m;
}

// The bytes FlyInstance writes for `m` (so that the stand-in reads exactly its calls).
std::string CallFrame(const wire::FnCall& m) {
  exec::FrameWriter w;
  w.Add("call").Add(static_cast<int64_t>(m.call)).Add(m.method).Add(m.path).Add(m.query);
  w.Add(int64_t{0}).Add(m.body);
  return Frame(w);
}

class FlyInstanceIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/volo-fnfly-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    io_thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    inst_.reset();
    guard_.reset();
    io_thread_.join();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  void Write(const std::string& name, const std::string& bytes) {
    std::ofstream(root_ + "/" + name, std::ios::binary) << bytes;
  }
  // Starts the stand-in: it reads the init frame, says ready, then runs `script` (in root_).
  void StartChild(const std::string& script) {
    FlyInstanceOptions o;
    o.launcher = MakeDirectLauncher();
    o.file = "f.fly";
    o.source = "fn F() { return 1 }";
    o.function = "F";
    o.kill_grace = 500ms;
    o.io = &io_;
    exec::FrameWriter init;
    init.Add("init").Add(o.file).Add(o.source).Add(o.function).Add(int64_t{1}).Add(int64_t{0});
    exec::FrameWriter ready;
    ready.Add("ready");
    Write("ready", Frame(ready));
    o.spec.argv = {
        "/bin/sh", "-c",
        "head -c " + std::to_string(Frame(init).size()) + " >/dev/null && cat ready && " + script};
    o.spec.env = {"PATH=/usr/bin:/bin"};
    o.spec.task_dir = root_;
    o.spec.cwd = root_;
    o.on_exit = [this](const std::string& why) {
      std::lock_guard<std::mutex> lock(mu_);
      exits_.push_back(why);
      cv_.notify_all();
    };
    auto started = FlyInstance::Start(std::move(o));
    ASSERT_TRUE(started.ok()) << started.status().message();
    inst_ = std::move(started).value();
    Status ready_status = inst_->WaitReady(30);
    ASSERT_TRUE(ready_status.ok()) << ready_status.message();
  }
  FlyInstance::Answered Recorder() {
    return [this](wire::FnAnswer a) {
      std::lock_guard<std::mutex> lock(mu_);
      on_loop_.push_back(std::this_thread::get_id() == io_thread_.get_id());
      answers_[a.call] = std::move(a);
      cv_.notify_all();
    };
  }
  // Waits up to 30 s for `pred` (under mu_).
  bool WaitFor(const std::function<bool()>& pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 30s, pred);
  }
  // The calls 1..n sent in one write.
  void CallMany(int n) {
    calls_.clear();
    for (int i = 1; i <= n; ++i) calls_.push_back(MakeCall(static_cast<uint64_t>(i)));
    std::vector<std::pair<const wire::FnCall*, FlyInstance::Answered>> batch;
    for (const auto& c : calls_) batch.emplace_back(&c, Recorder());
    inst_->CallMany(std::move(batch));
  }
  std::string CallsBytes(int n) {
    std::string all;
    for (int i = 1; i <= n; ++i) all += CallFrame(MakeCall(static_cast<uint64_t>(i)));
    return all;
  }

  std::string root_;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_ = asio::make_work_guard(io_);
  std::thread io_thread_;
  std::unique_ptr<FlyInstance> inst_;
  std::vector<wire::FnCall> calls_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, wire::FnAnswer> answers_;  // GUARDED_BY(mu_)
  std::vector<bool> on_loop_;                   // GUARDED_BY(mu_)
  std::vector<std::string> exits_;              // GUARDED_BY(mu_)
};

TEST_F(FlyInstanceIoTest, AnswersInOneReadEachReachTheirOwnCallerOnTheLoopsThread) {
  // Four answers, out of order, in one write (so mostly one read).
  Write("answers", AnswerFrame(3, "three") + AnswerFrame(1, "one") + AnswerFrame(4, "four") +
                       AnswerFrame(2, "two"));
  StartChild("head -c " + std::to_string(CallsBytes(4).size()) +
             " >/dev/null && cat answers && cat >/dev/null");
  CallMany(4);
  ASSERT_TRUE(WaitFor([&] { return answers_.size() == 4; }));
  std::lock_guard<std::mutex> lock(mu_);
  const std::map<uint64_t, std::string> want = {{1, "one"}, {2, "two"}, {3, "three"}, {4, "four"}};
  for (const auto& [call, body] : want) {
    const wire::FnAnswer& a = answers_[call];
    EXPECT_TRUE(a.ok) << call;
    EXPECT_EQ(a.instance, 1u);
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(a.body, body);
    EXPECT_EQ(a.max_rss, 4096);
  }
  for (bool b : on_loop_) EXPECT_TRUE(b) << "an answer was not handled on the io thread";
  EXPECT_TRUE(exits_.empty());
}

TEST_F(FlyInstanceIoTest, AnAnswerSplitAcrossReadsIsPutTogether) {
  std::string both = AnswerFrame(1, std::string(100 << 10, 'x')) + AnswerFrame(2, "two");
  const size_t cut = 7;  // inside the first frame's first field
  Write("part1", both.substr(0, cut));
  Write("part2", both.substr(cut, 50 << 10));
  Write("part3", both.substr(cut + (50 << 10)));
  // The child waits at a gate (a FIFO the test opens and closes) after each part, so the parts
  // reach the worker as separate writes.
  for (const char* gate : {"gate1", "gate2"}) {
    ASSERT_EQ(::mkfifo((root_ + "/" + gate).c_str(), 0600), 0);
  }
  StartChild("head -c " + std::to_string(CallsBytes(2).size()) +
             " >/dev/null && cat part1 && cat gate1 && cat part2 && cat gate2 && cat part3 && "
             "cat >/dev/null");
  CallMany(2);
  for (const char* gate : {"gate1", "gate2"}) {
    // Opens once the child waits there (its part before is written), within a deadline.
    const std::string path = root_ + "/" + gate;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    int fd;
    while ((fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0 && errno == ENXIO &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    ASSERT_GE(fd, 0) << "the child never reached " << gate;
    ::close(fd);
  }
  ASSERT_TRUE(WaitFor([&] { return answers_.size() == 2; }));
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(answers_[1].body, std::string(100 << 10, 'x'));
  EXPECT_EQ(answers_[2].body, "two");
  EXPECT_TRUE(exits_.empty());
}

TEST_F(FlyInstanceIoTest, AChildEndingMidAnswerEndsTheInstanceOnceAndItsCallIsNotAnswered) {
  std::string answers = AnswerFrame(1, "one") + AnswerFrame(2, "two");
  // Call 1's answer whole, call 2's cut short, then the child exits.
  Write("part", answers.substr(0, answers.size() - 2));
  StartChild("head -c " + std::to_string(CallsBytes(2).size()) + " >/dev/null && cat part");
  CallMany(2);
  ASSERT_TRUE(WaitFor([&] { return !exits_.empty(); }));
  EXPECT_TRUE(inst_->exited());
  // What the child wrote before it ended was taken first.
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(answers_.size(), 1u);
    EXPECT_EQ(answers_[1].body, "one");
    EXPECT_EQ(exits_.size(), 1u);
  }
  // A call now is refused at once, naming the end.
  wire::FnCall late = MakeCall(9);
  inst_->Call(late, Recorder());
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(answers_.count(9), 1u);
  EXPECT_FALSE(answers_[9].ok);
  EXPECT_NE(answers_[9].error.find("its instance has ended"), std::string::npos)
      << answers_[9].error;
  EXPECT_EQ(answers_.count(2), 0u);
}

TEST_F(FlyInstanceIoTest, AChildThatBreaksTheProtocolIsKilledAndTheEndSaysSo) {
  exec::FrameWriter bogus;
  bogus.Add("bogus");
  Write("bogus", Frame(bogus));
  StartChild("head -c " + std::to_string(CallsBytes(1).size()) +
             " >/dev/null && cat bogus && cat >/dev/null");
  CallMany(1);
  ASSERT_TRUE(WaitFor([&] { return !exits_.empty(); }));
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_NE(exits_[0].find("broke the protocol"), std::string::npos) << exits_[0];
  EXPECT_TRUE(answers_.empty());
}

}  // namespace
}  // namespace volo::worker
