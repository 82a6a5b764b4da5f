// The REST handlers over a real Core, a fake clock and fake timers: no sockets, no threads.
#include "planner/rest.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <optional>
#include <vector>

#include "common/sha256.h"
#include "planner/rest_testing.h"

namespace volo::planner {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

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
  FakeRestEnv env_{clock_, &core_};
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

TEST_F(RestTest, PagesAreServedWithoutATokenAndNeverInsteadOfTheApi) {
  ctx_.api_token = Token("api");
  std::vector<std::string> asked;
  std::function<std::optional<net::HttpResponse>(const net::HttpRequest&)> pages =
      [&](const net::HttpRequest& req) -> std::optional<net::HttpResponse> {
    asked.push_back(req.method + " " + req.path);
    if (req.path != "/playground/") return std::nullopt;
    return net::HttpResponse::Json(200, R"({"page":true})");
  };
  ctx_.pages = &pages;
  auto page = Send("GET", "/playground/");
  ASSERT_EQ(page->status, 200);
  EXPECT_TRUE(page->body.at("page").as_bool());
  EXPECT_EQ(Send("GET", "/playground/missing")->status, 401);  // then the API's answer
  EXPECT_EQ(Send("GET", "/api/v1/status")->status, 401);       // never asked for /api/
  EXPECT_EQ(Send("POST", "/playground/")->status, 401);        // GET and HEAD only
  EXPECT_EQ(asked, (std::vector<std::string>{"GET /playground/", "GET /playground/missing"}));
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

class RestBundleTest : public RestTest {
 protected:
  RestBundleTest() {
    store_ = std::move(BundleStore::Open("", 1000, 0)).value();
    ctx_.bundles = store_.get();
  }
  std::unique_ptr<BundleStore> store_;
};

TEST_F(RestBundleTest, UploadCheckFetchListRemove) {
  std::string bytes = "an archive";
  std::string id = Sha256Hex(bytes);
  std::string path = "/api/v1/bundles/" + id;
  EXPECT_EQ(Send("HEAD", path)->status, 404);
  auto missing = Send("GET", path);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(std::string(missing->body.at("error").as_string()).find("volo bundle push"),
            std::string::npos);
  // The hash is checked: bytes that are not the named bundle are refused.
  EXPECT_EQ(Send("PUT", path, "other bytes")->status, 400);
  auto put = Send("PUT", path, bytes);
  ASSERT_EQ(put->status, 200);
  EXPECT_EQ(put->body.at("id").as_string(), id);
  EXPECT_EQ(put->body.at("bytes").to_number<int>(), 10);
  EXPECT_EQ(Send("HEAD", path)->status, 200);
  EXPECT_EQ(Send("GET", path)->status, 200);  // the body is not JSON; the status says enough
  auto list = Send("GET", "/api/v1/bundles");
  ASSERT_EQ(list->status, 200);
  auto parsed = api::ParseBundleList(list->body);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  ASSERT_EQ(parsed->bundles.size(), 1u);
  EXPECT_EQ(parsed->bundles[0].id, id);
  EXPECT_EQ(parsed->bytes, 10u);
  EXPECT_EQ(parsed->max_bytes, 1000u);
  EXPECT_EQ(Send("DELETE", path)->status, 200);
  EXPECT_EQ(Send("HEAD", path)->status, 404);
  EXPECT_EQ(Send("DELETE", path)->status, 404);
  EXPECT_EQ(Send("GET", "/api/v1/bundles/not-a-hash")->status, 400);
  EXPECT_EQ(Send("POST", path)->status, 405);
}

TEST_F(RestBundleTest, FullStoreAnswers413) {
  std::string big(1001, 'x');
  auto r = Send("PUT", "/api/v1/bundles/" + Sha256Hex(big), big);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(std::string(r->body.at("error").as_string()).find("--max-bundle-bytes"),
            std::string::npos);
}

TEST_F(RestBundleTest, SubmitNamingAnUnknownBundleIsRefused) {
  std::string id = Sha256Hex("nothing uploaded");
  auto r = Send("POST", "/api/v1/tasks",
                R"({"op":"exec","args":{"cmd":["true"],"bundle":")" + id + R"("}})");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(std::string(r->body.at("error").as_string())
                .find("args.bundle: the planner has no "
                      "bundle " +
                      id),
            std::string::npos);
  // Other operations may carry a "bundle" argument of their own.
  EXPECT_EQ(Send("POST", "/api/v1/tasks", R"({"op":"echo","args":{"bundle":"x"}})")->status, 201);
}

TEST_F(RestBundleTest, ABundleAQueuedTaskNeedsCannotBeRemoved) {
  std::string bytes = "code";
  std::string id = Sha256Hex(bytes);
  ASSERT_EQ(Send("PUT", "/api/v1/bundles/" + id, bytes)->status, 200);
  ASSERT_TRUE(core_.AddWorker(WorkerId("w"), WorkerKind::kHttp, {"exec"}, 1, &env_.link).ok());
  ASSERT_EQ(Send("POST", "/api/v1/tasks",
                 R"({"op":"exec","args":{"cmd":["true"],"bundle":")" + id + R"("}})")
                ->status,
            201);
  auto list = api::ParseBundleList(Send("GET", "/api/v1/bundles")->body);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->bundles.at(0).tasks, 1u);
  auto r = Send("DELETE", "/api/v1/bundles/" + id);
  EXPECT_EQ(r->status, 409);
  EXPECT_NE(std::string(r->body.at("error").as_string()).find("task 1 (running)"),
            std::string::npos);
  EXPECT_EQ(Send("POST", "/api/v1/tasks/1/cancel")->status, 200);
  EXPECT_EQ(Send("DELETE", "/api/v1/bundles/" + id)->status, 200);
}

}  // namespace
}  // namespace volo::planner
