#include "api/views.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace volo::api {
namespace {

namespace json = boost::json;

json::value Json(std::string_view text) { return ParseText(text).value(); }

TEST(ViewsTest, TaskRoundTrips) {
  TaskView t;
  t.id = 17;
  t.op = "add";
  t.args = Json(R"({"a":1,"b":2.5})");
  t.state = TaskStatus::kDone;
  t.result = Json("3.5");
  t.worker = "w-3";
  t.attempts = 1;
  t.priority = -2;
  t.labels = {{"team", "x"}};
  t.submitted = 1763900000.12;
  t.started = 1763900000.13;
  t.finished = 1763900000.18;
  std::string text = Encode(t);
  EXPECT_EQ(text,
            R"({"id":17,"op":"add","args":{"a":1,"b":2.5},"state":"done","result":3.5,)"
            R"("error":null,"worker":"w-3","attempts":1,"retries":0,"priority":-2,"timeout":null,)"
            R"("labels":{"team":"x"},"submitted":1763900000.12,"started":1763900000.13,)"
            R"("finished":1763900000.18,"resources":{},"waiting":null})");
  auto back = ParseTask(Json(text));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(Encode(*back), text);
}

TEST(ViewsTest, PrunedTaskIsIdAndState) {
  TaskView t;
  t.id = 4;
  t.state = TaskStatus::kPruned;
  EXPECT_EQ(Encode(t), R"({"id":4,"state":"pruned"})");
  auto back = ParseTask(Json(Encode(t)));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->state, TaskStatus::kPruned);
}

TEST(ViewsTest, WorkerStatesAreTheOnesTheServerSends) {
  WorkerListView l;
  l.workers.push_back({"a", WorkerKind::kNative, {"add", "fly"}, 4, 1, 2, 0.5, WorkerState::kLive});
  l.workers.push_back({"b", WorkerKind::kHttp, {"mult"}, 1, 0, 0, 0, WorkerState::kDraining});
  l.workers.push_back({"c", WorkerKind::kNative, {"noop"}, 1, 0, 0, 0, WorkerState::kGone});
  auto back = ParseWorkerList(Json(Encode(l)));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->workers.size(), 3u);
  EXPECT_EQ(back->workers[1].state, WorkerState::kDraining);
  EXPECT_EQ(back->workers[1].kind, WorkerKind::kHttp);
  EXPECT_EQ(back->workers[0].ops, (std::vector<std::string>{"add", "fly"}));
  // States the server never sends are an error, named by field.
  auto idle = ParseWorkerList(
      Json(R"({"workers":[{"id":"a","kind":"native","ops":[],"slots":1,"running":0,"done":0,)"
           R"("busy_seconds":0,"state":"idle"}]})"));
  ASSERT_FALSE(idle.ok());
  EXPECT_NE(idle.status().message().find("workers[0].state"), std::string::npos)
      << idle.status().message();
}

TEST(ViewsTest, StatusWaitAndSubmittedRoundTrip) {
  StatusView s{1, 2, 3, 4, 5, 6, {{"add", 2, "all 1 workers that run 'add' are busy"}}};
  auto sb = ParseStatus(Json(Encode(s)));
  ASSERT_TRUE(sb.ok());
  EXPECT_EQ(Encode(*sb), Encode(s));

  WaitView w;
  w.complete = true;
  w.tasks.push_back({});
  w.tasks[0].id = 1;
  w.tasks[0].op = "noop";
  w.tasks[0].args = json::object();
  auto wb = ParseWait(Json(Encode(w)));
  ASSERT_TRUE(wb.ok()) << wb.status().ToString();
  EXPECT_TRUE(wb->complete);
  EXPECT_EQ(Encode(*wb), Encode(w));

  EXPECT_EQ(Encode(SubmittedView{false, {5}}), R"({"id":5})");
  EXPECT_EQ(Encode(SubmittedView{true, {5, 6}}), R"({"ids":[5,6]})");
  EXPECT_EQ(ParseSubmitted(Json(R"({"ids":[5,6]})"))->ids, (std::vector<uint64_t>{5, 6}));
  EXPECT_EQ(ParseError(Json(R"({"error":"no"})"))->error, "no");
}

TEST(ViewsTest, ParseErrorsNameTheField) {
  auto t = ParseTask(Json(R"({"id":"x"})"));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), "id: must be a number");
  auto s = ParseStatus(Json(R"({"workers":1})"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "queued: missing");
  EXPECT_FALSE(ParseText("{nope").ok());
}

}  // namespace
}  // namespace volo::api
