// The native worker protocol (docs/protocol.md) and the streaming API, spoken by in-test
// WebSocket clients: well-formed, malformed, duplicated and abandoned.

#include <chrono>
#include <map>

#include "fakes.h"
#include "harness.h"

namespace volo::itest {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string RegisterMessage(const std::string& id, const std::string& op, int slots = 1) {
  return json::serialize(json::object{{"t", "register"},
                                      {"v", 1},
                                      {"id", id},
                                      {"ops", json::array{json::value(op)}},
                                      {"slots", slots}});
}

std::string ResultMessage(uint64_t id, const json::value& result) {
  const double now = Now();
  return json::serialize(json::object{{"t", "results"},
                                      {"results", json::array{json::object{{"id", id},
                                                                           {"ok", true},
                                                                           {"result", result},
                                                                           {"started", now - 0.01},
                                                                           {"finished", now}}}}});
}

class ProtocolTest : public VoloTest {
 protected:
  std::string WorkerUrl(const PlannerProc& p) const {
    return "ws://127.0.0.1:" + std::to_string(p.port) + "/api/v1/workers/connect";
  }

  // Connects and registers; the client has its welcome when this returns without failure.
  void ConnectAndRegister(FakeWsClient& client, const PlannerProc& planner, const std::string& id,
                          const std::string& op) {
    ASSERT_EQ(client.Connect(WorkerUrl(planner)), "");
    client.Send(RegisterMessage(id, op));
    ASSERT_TRUE(PollUntil(
        [&] { return !client.MessagesOfType("welcome").empty() || client.closed(); }, seconds(10)));
    ASSERT_FALSE(client.MessagesOfType("welcome").empty())
        << "no welcome for " << id << "; got " << ::testing::PrintToString(client.messages());
  }

  // Task ids the planner has sent to `client` so far.
  static std::vector<uint64_t> TasksSentTo(const FakeWsClient& client) {
    std::vector<uint64_t> ids;
    for (const auto& m : client.MessagesOfType("tasks")) {
      const auto* tasks = m.if_contains("tasks");
      if (!tasks || !tasks->is_array()) continue;
      for (const auto& t : tasks->as_array()) {
        if (t.is_object()) ids.push_back(static_cast<uint64_t>(NumAt(t.as_object(), "id")));
      }
    }
    return ids;
  }

  static void ExpectErrorThenClose(FakeWsClient& client, const std::string& what) {
    EXPECT_TRUE(PollUntil([&] { return client.closed(); }, seconds(10)))
        << what << ": the planner kept the connection open";
    const auto errors = client.MessagesOfType("error");
    ASSERT_FALSE(errors.empty()) << what << ": no error message; got "
                                 << ::testing::PrintToString(client.messages());
    EXPECT_FALSE(Str(errors[0], "message").empty()) << what;
  }
};

TEST_F(ProtocolTest, GarbageFromWorkerGetsErrorAndCloseOthersStillServed) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);

  FakeWsClient not_json;
  ASSERT_EQ(not_json.Connect(WorkerUrl(planner)), "");
  not_json.Send("this is not json {");
  ExpectErrorThenClose(not_json, "not JSON");

  FakeWsClient missing_fields;
  ASSERT_EQ(missing_fields.Connect(WorkerUrl(planner)), "");
  missing_fields.Send(R"({"t": "register"})");
  ExpectErrorThenClose(missing_fields, "register without id/ops/slots");

  FakeWsClient unknown_type;
  ASSERT_EQ(unknown_type.Connect(WorkerUrl(planner)), "");
  unknown_type.Send(R"({"t": "no-such-message", "x": 1})");
  ExpectErrorThenClose(unknown_type, "unknown message type");

  FakeWsClient registered_then_garbage;
  ASSERT_NO_FATAL_FAILURE(ConnectAndRegister(registered_then_garbage, planner, "flaky", "add"));
  registered_then_garbage.Send("\x01\x02 garbage");
  ExpectErrorThenClose(registered_then_garbage, "garbage after register");

  // The planner still serves a real worker.
  StartWorker(planner, {.id = "real", .args = {"--duration-scale", "0.01"}});
  const auto ids = SubmitMany(planner, MixedTasks(4));
  ASSERT_EQ(ids.size(), 4u);
  for (const auto& t : WaitFinished(planner, ids)) {
    ExpectDoneWithRightResult(t);
    EXPECT_EQ(Str(t, "worker"), "real");
  }
}

TEST_F(ProtocolTest, SecondWorkerWithLiveIdIsRefused) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  StartWorker(planner, {.id = "dup", .args = {"--duration-scale", "0.01"}});
  ASSERT_FALSE(HasFailure());

  FakeWsClient impostor;
  ASSERT_EQ(impostor.Connect(WorkerUrl(planner)), "");
  impostor.Send(RegisterMessage("dup", "add"));
  ExpectErrorThenClose(impostor, "duplicate id");
  EXPECT_TRUE(impostor.MessagesOfType("welcome").empty());

  const uint64_t id = Submit(planner, SeedTask("add", 4, 4));
  const auto tasks = WaitFinished(planner, {id});
  ExpectDoneWithRightResult(tasks[0]);
  EXPECT_TRUE(TasksSentTo(impostor).empty());
}

TEST_F(ProtocolTest, DuplicateAndStrayResultsAreRecordedOnce) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  FakeWsClient worker;
  ASSERT_NO_FATAL_FAILURE(ConnectAndRegister(worker, planner, "native-fake", "fakeop"));

  // An operation only this worker offers.
  const uint64_t id = Submit(planner, json::object{{"op", "fakeop"}, {"args", {{"x", 1}}}});
  ASSERT_NE(id, 0u);
  ASSERT_TRUE(PollUntil([&] { return !TasksSentTo(worker).empty(); }, seconds(10)));
  EXPECT_EQ(TasksSentTo(worker), std::vector<uint64_t>{id});

  worker.Send(ResultMessage(id, 42));
  worker.Send(ResultMessage(id, 43));      // again: ignored
  worker.Send(ResultMessage(987654, 44));  // a task it never held: ignored
  const auto tasks = WaitFinished(planner, {id});
  EXPECT_EQ(Str(tasks[0], "state"), "done") << json::serialize(tasks[0]);
  EXPECT_EQ(NumAt(tasks[0], "result"), 42) << json::serialize(tasks[0]);
  EXPECT_EQ(Str(tasks[0], "worker"), "native-fake");

  // A barrier: the planner handles one connection's messages in order, so once a later task's
  // result (sent after the duplicates) is recorded, the duplicates have been handled too.
  const uint64_t barrier =
      Submit(planner, json::object{{"op", "fakeop"}, {"args", json::object{}}});
  ASSERT_TRUE(PollUntil([&] { return TasksSentTo(worker).size() >= 2; }, seconds(10)));
  worker.Send(ResultMessage(barrier, 1));
  WaitFinished(planner, {barrier});

  const json::object again = GetTask(planner, id);
  EXPECT_EQ(NumAt(again, "result"), 42) << "a duplicate result overwrote the first";
  const auto me = FindWorker(planner, "native-fake");
  ASSERT_TRUE(me.has_value());
  EXPECT_EQ(NumAt(*me, "done"), 2) << json::serialize(*me);
  EXPECT_EQ(NumAt(Status(planner), "done"), 2);
  EXPECT_FALSE(worker.closed()) << "stray results should be ignored, not punished";
}

TEST_F(ProtocolTest, ClosedConnectionRequeuesHeldTask) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  auto first = std::make_unique<FakeWsClient>();
  ASSERT_NO_FATAL_FAILURE(ConnectAndRegister(*first, planner, "first", "fakeop"));
  const uint64_t id = Submit(planner, json::object{{"op", "fakeop"}, {"args", json::object{}}});
  ASSERT_TRUE(PollUntil([&] { return !TasksSentTo(*first).empty(); }, seconds(10)));
  first->Close();
  first.reset();

  EXPECT_TRUE(
      PollUntil([&] { return Str(GetTask(planner, id), "state") == "queued"; }, seconds(10)))
      << json::serialize(GetTask(planner, id));

  FakeWsClient second;
  ASSERT_NO_FATAL_FAILURE(ConnectAndRegister(second, planner, "second", "fakeop"));
  ASSERT_TRUE(PollUntil([&] { return !TasksSentTo(second).empty(); }, seconds(10)));
  EXPECT_EQ(TasksSentTo(second), std::vector<uint64_t>{id});
  second.Send(ResultMessage(id, "from second"));
  const auto tasks = WaitFinished(planner, {id});
  EXPECT_EQ(Str(tasks[0], "state"), "done") << json::serialize(tasks[0]);
  EXPECT_EQ(Str(tasks[0], "result"), "from second");
  EXPECT_EQ(Str(tasks[0], "worker"), "second");
}

TEST_F(ProtocolTest, RefusedTasksGoBackToQueueUnfailed) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  FakeWsClient picky;
  ASSERT_NO_FATAL_FAILURE(ConnectAndRegister(picky, planner, "picky", "fakeop"));
  const uint64_t id = Submit(planner, json::object{{"op", "fakeop"}, {"args", json::object{}}});
  ASSERT_TRUE(PollUntil([&] { return !TasksSentTo(picky).empty(); }, seconds(10)));
  picky.Send(json::serialize(json::object{{"t", "refused"}, {"ids", json::array{id}}}));

  // It comes back (to the only worker that can run it) and then succeeds.
  ASSERT_TRUE(PollUntil([&] { return TasksSentTo(picky).size() >= 2; }, seconds(10)))
      << "a refused task was not offered again; task: " << json::serialize(GetTask(planner, id));
  picky.Send(ResultMessage(id, 7));
  const auto tasks = WaitFinished(planner, {id});
  EXPECT_EQ(Str(tasks[0], "state"), "done") << json::serialize(tasks[0]);
  EXPECT_EQ(NumAt(tasks[0], "result"), 7);
}

TEST_F(ProtocolTest, StreamingClientSubmitsAndReceivesResults) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  StartWorker(planner, {.id = "w", .args = {"--slots", "2", "--duration-scale", "0.01"}});

  FakeWsClient stream;
  ASSERT_EQ(stream.Connect("ws://127.0.0.1:" + std::to_string(planner.port) + "/api/v1/stream"),
            "");
  stream.Send(R"({"t": "submit", "tag": 5, "tasks": [{"op": "add"}]})");  // add without args
  stream.Send("nonsense");
  ASSERT_TRUE(PollUntil([&] { return stream.MessagesOfType("error").size() >= 2; }, seconds(10)))
      << ::testing::PrintToString(stream.messages());
  EXPECT_FALSE(stream.closed()) << "a streaming client's bad message should not close it";

  json::array batch = MixedTasks(4);
  stream.Send(json::serialize(json::object{{"t", "submit"}, {"tag", 9}, {"tasks", batch}}));
  ASSERT_TRUE(PollUntil([&] { return !stream.MessagesOfType("submitted").empty(); }, seconds(10)));
  const json::object submitted = stream.MessagesOfType("submitted")[0];
  EXPECT_EQ(NumAt(submitted, "tag"), 9);
  EXPECT_EQ(NumAt(submitted, "count"), 4);
  const auto first = static_cast<uint64_t>(NumAt(submitted, "first"));

  std::map<uint64_t, json::object> results;
  ASSERT_TRUE(PollUntil(
      [&] {
        for (const auto& m : stream.MessagesOfType("results")) {
          for (const auto& r : m.at("results").as_array()) {
            results[static_cast<uint64_t>(NumAt(r.as_object(), "id"))] = r.as_object();
          }
        }
        return results.size() >= 4;
      },
      seconds(30)))
      << ::testing::PrintToString(stream.messages());
  EXPECT_EQ(results.size(), 4u) << "results for tasks this client did not submit";
  for (uint64_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(results.contains(first + i)) << "no result for " << first + i;
    const json::object& r = results[first + i];
    const json::object& task = batch[i].as_object();
    EXPECT_EQ(Str(r, "state"), "done") << json::serialize(r);
    EXPECT_DOUBLE_EQ(NumAt(r, "result"),
                     ExpectedResult(Str(task, "op"), task.at("args").as_object()))
        << json::serialize(r);
  }
}

}  // namespace
}  // namespace volo::itest
