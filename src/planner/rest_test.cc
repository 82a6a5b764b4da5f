// The REST handlers over a real Core, a fake clock and fake timers: no sockets, no threads.
#include "planner/rest.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>

namespace volo::planner {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

class NullLink : public WorkerLink {
 public:
  void Assign(const Task& t, std::string_view) override { assigned.push_back(t.id.value()); }
  void Cancel(TaskId) override {}
  void Drop(std::string_view) override {}
  std::vector<uint64_t> assigned;
};

// Timers run when the test advances the fake clock past them.
class FakeEnv : public RestEnv {
 public:
  explicit FakeEnv(FakeClock& clock, Core& core) : clock_(clock), core_(core) {}
  std::function<void()> After(Nanos delay, std::function<void()> fn) override {
    uint64_t id = next_++;
    timers_.emplace(id, Timer{clock_.Now() + delay, std::move(fn)});
    return [this, id] { timers_.erase(id); };
  }
  void Durable(std::function<void(const Status&)> ack) override { ack(Status::Ok()); }
  Status EnrolHttpWorker(const std::string& id, const std::string&,
                         std::vector<std::string> ops) override {
    auto r = core_.AddWorker(WorkerId(id), WorkerKind::kHttp, ops, 1, &link);
    return r.ok() ? Status::Ok() : r.status();
  }
  bool stopping() const override { return false; }

  void Advance(Nanos d) {
    clock_.Advance(d);
    // A timer's function may cancel other timers: collect the due ones first.
    std::vector<uint64_t> due;
    for (const auto& [id, t] : timers_) {
      if (t.at <= clock_.Now()) due.push_back(id);
    }
    for (uint64_t id : due) {
      auto it = timers_.find(id);
      if (it == timers_.end()) continue;
      auto fn = std::move(it->second.fn);
      timers_.erase(it);
      fn();
    }
  }
  size_t pending_timers() const { return timers_.size(); }
  NullLink link;

 private:
  struct Timer {
    TimePoint at;
    std::function<void()> fn;
  };
  FakeClock& clock_;
  Core& core_;
  std::map<uint64_t, Timer> timers_;
  uint64_t next_ = 1;
};

struct Answer {
  bool answered = false;
  int status = 0;
  json::value body;
};

class RestTest : public ::testing::Test {
 protected:
  RestTest() : ctx_{core_, blobs_, env_, Token(), Token()} {}

  // Sends a request; the answer lands in the returned object (now or after timers fire).
  std::shared_ptr<Answer> Send(std::string method, std::string path, std::string body = "",
                               std::map<std::string, std::string> query = {},
                               net::Headers headers = {}) {
    net::HttpRequest req;
    req.method = std::move(method);
    req.path = std::move(path);
    req.body = std::move(body);
    req.query = std::move(query);
    req.headers = std::move(headers);
    auto a = std::make_shared<Answer>();
    HandleRequest(ctx_, req, [a](net::HttpResponse r) {
      EXPECT_FALSE(a->answered) << "answered twice";
      a->answered = true;
      a->status = r.status;
      boost::system::error_code ec;
      a->body = json::parse(r.body, ec);
    });
    return a;
  }
  static std::string State(const json::value& task) {
    return std::string(task.at("state").as_string());
  }

  FakeClock clock_;
  Core core_{clock_};
  BlobStore blobs_;
  FakeEnv env_{clock_, core_};
  RestContext ctx_;
};

TEST_F(RestTest, SubmitGetListCancel) {
  auto s = Send("POST", "/api/v1/tasks",
                R"({"tasks":[{"op":"noop"},{"op":"add","args":{"a":1,"b":2}}]})");
  ASSERT_EQ(s->status, 201);
  EXPECT_EQ(json::serialize(s->body), R"({"ids":[1,2]})");
  auto g = Send("GET", "/api/v1/tasks/2");
  ASSERT_EQ(g->status, 200);
  EXPECT_EQ(State(g->body), "queued");
  EXPECT_EQ(g->body.at("args").at("b").as_int64(), 2);
  EXPECT_DOUBLE_EQ(g->body.at("submitted").to_number<double>(), clock_.Wall());
  auto l = Send("GET", "/api/v1/tasks", "", {{"op", "add"}});
  ASSERT_EQ(l->status, 200);
  EXPECT_EQ(l->body.at("tasks").as_array().size(), 1u);
  auto c = Send("POST", "/api/v1/tasks/1/cancel");
  ASSERT_EQ(c->status, 200);
  EXPECT_EQ(State(c->body), "cancelled");
  EXPECT_EQ(Send("POST", "/api/v1/tasks/1/cancel")->status, 409);
  EXPECT_EQ(Send("GET", "/api/v1/tasks/9")->status, 404);
  EXPECT_EQ(Send("GET", "/api/v1/tasks/x")->status, 400);
  EXPECT_EQ(Send("DELETE", "/api/v1/tasks")->status, 405);
}

TEST_F(RestTest, WaitOneAnswersAtFinishOrTimeout) {
  ASSERT_EQ(Send("POST", "/api/v1/tasks", R"({"op":"noop"})")->status, 201);
  auto w = Send("GET", "/api/v1/tasks/1/wait", "", {{"timeout", "5"}});
  EXPECT_FALSE(w->answered);
  env_.Advance(4s);
  EXPECT_FALSE(w->answered);
  env_.Advance(2s);
  ASSERT_TRUE(w->answered);
  EXPECT_EQ(State(w->body), "queued");

  auto w2 = Send("GET", "/api/v1/tasks/1/wait");
  ASSERT_EQ(Send("POST", "/api/v1/tasks/1/cancel")->status, 200);
  ASSERT_TRUE(w2->answered);
  EXPECT_EQ(State(w2->body), "cancelled");
  EXPECT_EQ(env_.pending_timers(), 0u) << "the finished wait left its timer behind";
}

// The SIGSEGV of issue 13: a wait holding a finished task that pruning drops.
TEST_F(RestTest, WaitManySurvivesPruningOfATaskItHolds) {
  ASSERT_EQ(Send("POST", "/api/v1/tasks", R"({"op":"noop"})")->status, 201);
  ASSERT_EQ(Send("POST", "/api/v1/tasks/1/cancel")->status, 200);
  ASSERT_EQ(Send("POST", "/api/v1/tasks", R"({"op":"noop"})")->status, 201);
  auto w = Send("POST", "/api/v1/wait", R"({"ids":[1,2],"timeout":10})");
  EXPECT_FALSE(w->answered);
  clock_.Advance(2s);
  EXPECT_EQ(core_.Prune(clock_.Wall() - 1), 1u);
  ASSERT_EQ(core_.Find(TaskId(1)), nullptr);
  env_.Advance(10s);
  ASSERT_TRUE(w->answered);
  ASSERT_EQ(w->status, 200);
  const auto& tasks = w->body.at("tasks").as_array();
  EXPECT_EQ(State(tasks[0]), "cancelled");
  EXPECT_EQ(State(tasks[1]), "queued");
  EXPECT_FALSE(w->body.at("complete").as_bool());
}

TEST_F(RestTest, WaitManyCompletesWhenAllFinish) {
  NullLink link;
  ASSERT_TRUE(core_.AddWorker(WorkerId("w"), WorkerKind::kNative, {"noop"}, 4, &link).ok());
  ASSERT_EQ(Send("POST", "/api/v1/tasks", R"({"tasks":[{"op":"noop"},{"op":"noop"}]})")->status,
            201);
  auto w = Send("POST", "/api/v1/wait", R"({"ids":[1,2]})");
  std::vector<wire::TaskResult> results{{1, true, "null", 0, 0}, {2, true, "7", 0, 0}};
  core_.OnResults(WorkerIndex(0), results);
  ASSERT_TRUE(w->answered);
  EXPECT_TRUE(w->body.at("complete").as_bool());
  EXPECT_EQ(w->body.at("tasks").at(1).at("result").as_int64(), 7);
  EXPECT_EQ(env_.pending_timers(), 0u);
}

TEST_F(RestTest, WaitManyRejectsBadIds) {
  EXPECT_EQ(Send("POST", "/api/v1/wait", R"({"ids":["a"]})")->status, 400);
  EXPECT_EQ(Send("POST", "/api/v1/wait", R"({"ids":[0]})")->status, 400);
  EXPECT_EQ(Send("POST", "/api/v1/wait", R"({"ids":[3]})")->status, 404);
  EXPECT_EQ(Send("POST", "/api/v1/wait", R"({"ids":[1],"ids":[2]})")->status, 400);
}

TEST_F(RestTest, GetWorkerReturnsThatWorker) {
  NullLink a, b;
  ASSERT_TRUE(core_.AddWorker(WorkerId("a"), WorkerKind::kNative, {"add"}, 2, &a).ok());
  ASSERT_TRUE(core_.AddWorker(WorkerId("b"), WorkerKind::kNative, {"mult"}, 1, &b).ok());
  auto r = Send("GET", "/api/v1/workers/b");
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->body.at("id").as_string(), "b");
  EXPECT_EQ(r->body.at("slots").as_int64(), 1);
  EXPECT_EQ(r->body.at("state").as_string(), "live");
  EXPECT_EQ(Send("GET", "/api/v1/workers/nope")->status, 404);
  auto all = Send("GET", "/api/v1/workers");
  EXPECT_EQ(all->body.at("workers").as_array().size(), 2u);
}

TEST_F(RestTest, EnrolmentTakesTheJoinTokenOnly) {
  ctx_.api_token = Token("api");
  ctx_.join_token = Token("join");
  const std::string body = R"({"url":"http://127.0.0.1:9","id":"h1"})";
  EXPECT_EQ(
      Send("POST", "/api/v1/workers/http", body, {}, {{"Authorization", "Bearer api"}})->status,
      401);
  EXPECT_EQ(Send("POST", "/register", body, {}, {{"Authorization", "Bearer api"}})->status, 401);
  EXPECT_EQ(
      Send("POST", "/api/v1/workers/http", body, {}, {{"Authorization", "bearer join"}})->status,
      200);
  EXPECT_EQ(Send("GET", "/api/v1/status", "", {}, {{"Authorization", "Bearer join"}})->status, 401);
  auto st = Send("GET", "/api/v1/status", "", {}, {{"Authorization", "Bearer api"}});
  ASSERT_EQ(st->status, 200);
  EXPECT_EQ(st->body.at("workers").as_int64(), 1);
}

TEST_F(RestTest, BlobsByContent) {
  const std::string hash = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
  EXPECT_EQ(Send("GET", "/api/v1/blobs/" + hash)->status, 404);
  EXPECT_EQ(Send("PUT", "/api/v1/blobs/" + hash, "hellx")->status, 400);
  EXPECT_EQ(Send("PUT", "/api/v1/blobs/" + hash, "hello")->status, 200);
  EXPECT_EQ(Send("GET", "/api/v1/blobs/" + hash)->status, 200);
  EXPECT_EQ(Send("GET", "/api/v1/blobs/xyz")->status, 400);
}

TEST_F(RestTest, StatusAndMetrics) {
  ASSERT_EQ(Send("POST", "/api/v1/tasks", R"({"op":"add","args":{"a":1,"b":2}})")->status, 201);
  auto st = Send("GET", "/api/v1/status");
  ASSERT_EQ(st->status, 200);
  EXPECT_EQ(st->body.at("queued").as_int64(), 1);
  ASSERT_EQ(st->body.at("waiting").as_array().size(), 1u);
  EXPECT_EQ(st->body.at("waiting").at(0).at("op").as_string(), "add");
}

}  // namespace
}  // namespace volo::planner
