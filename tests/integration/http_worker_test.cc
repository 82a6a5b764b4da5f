// How volo's planner drives seed-style HTTP workers (the in-test fakes): busy answers backed
// off, an add and a mult at once where the worker allows it, 404s learned once.

#include <fstream>
#include <future>
#include <sstream>

#include "fakes.h"
#include "harness.h"

namespace volo::itest {
namespace {

class HttpWorkerTest : public VoloTest {
 protected:
  void Register(const PlannerProc& planner, const FakeHttpWorker& worker, const std::string& id) {
    const Reply r = RegisterFake(planner, worker, id);
    ASSERT_EQ(r.status, 200) << "register " << id << ": " << r.Describe();
  }
  static std::string Log(const Child& c) {
    std::ifstream f(c.log_path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  static size_t Count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }
};

// The worker is busy with someone else's request for 3 s. The planner used to ask again every
// 20-50 ms (349 busy answers for 4 tasks in one probe); now it backs off.
TEST_F(HttpWorkerTest, BusyWorkerIsAskedAgainWithBackoff) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  FakeHttpWorker fake({.delay = milliseconds(3000)});
  ASSERT_NO_FATAL_FAILURE(Register(planner, fake, "busy-seed"));
  auto other = std::async(std::launch::async, [&] {
    return Post(fake.url() + "/add", R"({"a":1,"b":1})", seconds(30));
  });
  ASSERT_TRUE(PollUntil([&] { return fake.requests() >= 1; }, seconds(10)));
  const uint64_t id = Submit(planner, SeedTask("add", 2, 3));
  ASSERT_NE(id, 0u);
  ExpectDoneWithRightResult(WaitFinished(planner, {id})[0]);
  EXPECT_EQ(other.get().status, 200);
  EXPECT_GE(fake.busy_answers(), 1);
  // 20 ms doubling to a 1 s cap over ~3 s is about 8 asks; a fixed 20-50 ms pause is 60+.
  EXPECT_LE(fake.busy_answers(), 20) << "busy answers: " << fake.busy_answers();
}

// A seed worker runs an add and a mult at once (it is busy per operation): it gets both.
TEST_F(HttpWorkerTest, WorkerGetsAnAddAndAMultAtOnce) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  FakeHttpWorker fake({.delay = milliseconds(1000), .busy_per_op = true});
  ASSERT_NO_FATAL_FAILURE(Register(planner, fake, "both"));
  const auto ids = SubmitMany(planner, MixedTasks(4));
  ASSERT_EQ(ids.size(), 4u);
  for (const auto& t : WaitFinished(planner, ids)) ExpectDoneWithRightResult(t);
  EXPECT_EQ(fake.max_running(), 2);
  EXPECT_EQ(fake.busy_answers(), 0) << "two tasks of one operation were sent at once";
}

TEST_F(HttpWorkerTest, NotFoundIsLoggedOnce) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  FakeHttpWorker adder({.ops = {"add"}});
  ASSERT_NO_FATAL_FAILURE(Register(planner, adder, "adder"));
  const auto ids = SubmitMany(
      planner, json::array{SeedTask("mult", 1, 2), SeedTask("mult", 3, 4), SeedTask("mult", 5, 6)});
  ASSERT_EQ(ids.size(), 3u);
  ASSERT_TRUE(PollUntil(
      [&] {
        const auto w = FindWorker(planner, "adder");
        return w && !StrSet(*w, "ops").contains("mult");
      },
      seconds(15)));
  const uint64_t add = Submit(planner, SeedTask("add", 1, 2));
  ExpectDoneWithRightResult(WaitFinished(planner, {add})[0]);
  const std::string log = Log(*planner.child);
  EXPECT_EQ(Count(log, "does not run 'mult'"), 1u) << log;
}

}  // namespace
}  // namespace volo::itest
