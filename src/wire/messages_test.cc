#include "wire/messages.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace volo::wire {
namespace {

TEST(TaskSpecTest, ParsesOneTaskWithEveryField) {
  bool batch = true;
  auto r =
      ParseSubmitBody(R"({"op":"add","args":{"a":1,"b":2},"retries":3,"timeout":1.5,"priority":7,)"
                      R"("labels":{"team":"x"}})",
                      &batch);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(batch);
  ASSERT_EQ(r->size(), 1u);
  const TaskSpec& t = (*r)[0];
  EXPECT_EQ(t.op, "add");
  EXPECT_EQ(t.args, R"({"a":1,"b":2})");
  EXPECT_EQ(t.retries, 3);
  EXPECT_DOUBLE_EQ(t.timeout, 1.5);
  EXPECT_EQ(t.priority, 7);
  ASSERT_EQ(t.labels.size(), 1u);
  EXPECT_EQ(t.labels[0].second, "x");
}

TEST(TaskSpecTest, BatchErrorsNameTheField) {
  bool batch = false;
  auto r = ParseSubmitBody(R"({"tasks":[{"op":"noop"},{"op":"add","args":[1]}]})", &batch);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "tasks[1].args: must be an object");
}

TEST(TaskSpecTest, RejectsBadInput) {
  bool batch;
  EXPECT_NE(ParseSubmitBody("{nope", &batch).status().message().find("malformed JSON"),
            std::string::npos);
  EXPECT_EQ(ParseSubmitBody(R"({"args":{}})", &batch).status().message(), "op: required");
  EXPECT_EQ(ParseSubmitBody(R"({"op":"a b"})", &batch).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_NE(ParseSubmitBody(R"({"op":"x","colour":1})", &batch)
                .status()
                .message()
                .find("unknown field 'colour'"),
            std::string::npos);
  EXPECT_FALSE(ParseSubmitBody(R"({"op":"x","retries":-1})", &batch).ok());
  EXPECT_FALSE(ParseSubmitBody(R"({"tasks":[]})", &batch).ok());
  EXPECT_FALSE(ParseSubmitBody("[1,2]", &batch).ok());
}

TEST(WorkerMessageTest, ResultsFarLargerThanTheParsersFirstBlockRoundTrip) {
  // ParseWorkerMessage parses into an arena whose first block is small; what it returns must
  // own its data (copied out of the arena) however large the message.
  ResultsEncoder encoder;
  std::vector<TaskResult> sent;
  for (uint64_t i = 1; i <= 300; ++i) {
    TaskResult r;
    r.id = i;
    r.ok = i % 7 != 0;
    r.value = r.ok ? "{\"n\":" + std::to_string(i) + ",\"s\":\"" + std::string(i * 3, 'v') + "\"}"
                   : "error " + std::string(i, 'e');
    r.started = static_cast<double>(i);
    r.finished = static_cast<double>(i) + 0.5;
    encoder.Add(r);
    sent.push_back(r);
  }
  auto m = ParseWorkerMessage(encoder.Finish());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const auto& got = std::get<Results>(*m).results;
  ASSERT_EQ(got.size(), sent.size());
  for (size_t k = 0; k < got.size(); ++k) {
    EXPECT_EQ(got[k].id, sent[k].id);
    EXPECT_EQ(got[k].ok, sent[k].ok);
    EXPECT_EQ(got[k].value, sent[k].value) << k;
    EXPECT_EQ(got[k].finished, sent[k].finished);
  }
}

TEST(WorkerMessageTest, RegisterRoundTrips) {
  std::string text = EncodeRegister({"w-1", {"add", "mult"}, 4, {}, 0});
  auto m = ParseWorkerMessage(text);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const auto& r = std::get<Register>(*m);
  EXPECT_EQ(r.id, "w-1");
  EXPECT_EQ(r.ops, (std::vector<std::string>{"add", "mult"}));
  EXPECT_EQ(r.slots, 4);
}

TEST(WorkerMessageTest, RegisterRejectsOtherVersions) {
  auto m = ParseWorkerMessage(R"({"t":"register","v":3,"id":"w","ops":["add"]})");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("version 3"), std::string::npos);
  EXPECT_FALSE(ParseWorkerMessage(R"({"t":"register","v":0,"id":"w","ops":["add"]})").ok());
}

// Version 1 workers still join (they host no functions); version 2 ones say how many.
TEST(WorkerMessageTest, RegisterVersionsAndFunctions) {
  auto v1 = ParseWorkerMessage(R"({"t":"register","v":1,"id":"w","ops":["add"],"functions":4})");
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  EXPECT_EQ(std::get<Register>(*v1).functions, 0);
  Register r{"w", {"exec"}, 2, {}, 16};
  auto v2 = ParseWorkerMessage(EncodeRegister(r));
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(std::get<Register>(*v2).functions, 16);
  EXPECT_FALSE(
      ParseWorkerMessage(R"({"t":"register","v":2,"id":"w","ops":["add"],"functions":-1})").ok());
}

TEST(FunctionMessageTest, RoundTrip) {
  FnStart start;
  start.instance = 9;
  start.function = "resize";
  start.revision = "abc";
  start.argv = {"sh", "-c", "cat \"$1\""};
  start.bundle = std::string(64, 'f');
  start.env = {{"MODE", "fast"}};
  start.timeout = 2.5;
  start.memory_mib = 64;
  auto m = ParsePlannerMessage(EncodeFnStart(start));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(std::get<FnStart>(*m), start);
  FnStart http = start;
  http.runner = "http";
  http.ready = "/healthz";
  http.ready_timeout = 4.5;
  auto hm = ParsePlannerMessage(EncodeFnStart(http));
  ASSERT_TRUE(hm.ok()) << hm.status().ToString();
  EXPECT_EQ(std::get<FnStart>(*hm), http);
  EXPECT_FALSE(ParsePlannerMessage(R"({"t":"fn_start","instance":1,"function":"f","runner":"http",
      "argv":["x"],"ready":"nope"})")
                   .ok());
  FnStart fly = start;
  fly.runner = "fly";
  fly.argv.clear();
  fly.fly_file = "h.fly";
  fly.fly_source = "func handle(b) {\n  return \"\\u00e9\" + b\n}\n";
  fly.fly_function = "handle";
  fly.concurrency = 3;
  auto fm = ParsePlannerMessage(EncodeFnStart(fly));
  ASSERT_TRUE(fm.ok()) << fm.status().ToString();
  EXPECT_EQ(std::get<FnStart>(*fm), fly);
  EXPECT_FALSE(ParsePlannerMessage(R"({"t":"fn_start","instance":1,"function":"f","runner":"fly",
      "argv":[],"fly":{"file":"a","source":"x","function":"","concurrency":1}})")
                   .ok());
  EXPECT_FALSE(ParsePlannerMessage(R"({"t":"fn_start","instance":1,"function":"f","runner":"cmd",
      "argv":[]})")
                   .ok());

  std::string binary("\0\xff\x01 body", 8);
  FnCall plain;
  plain.instance = 9;
  plain.call = 77;
  plain.body = binary;
  auto call = ParsePlannerMessage(EncodeFnCall(plain));
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  EXPECT_EQ(std::get<FnCall>(*call).call, 77u);
  EXPECT_EQ(std::get<FnCall>(*call).body, binary);
  EXPECT_EQ(std::get<FnCall>(*call).method, "POST");
  FnCall req{9, 78, "b", "GET", "/a b/c", "x=1&y", {{"Accept", "text/plain"}, {"X-Q", "\"q\""}}};
  auto req_back = ParsePlannerMessage(EncodeFnCall(req));
  ASSERT_TRUE(req_back.ok()) << req_back.status().message();
  EXPECT_EQ(std::get<FnCall>(*req_back).method, "GET");
  EXPECT_EQ(std::get<FnCall>(*req_back).path, "/a b/c");
  EXPECT_EQ(std::get<FnCall>(*req_back).query, "x=1&y");
  EXPECT_EQ(std::get<FnCall>(*req_back).headers, req.headers);
  EXPECT_FALSE(
      ParsePlannerMessage(R"({"t":"fn_call","instance":1,"call":2,"body":"","headers":[["a"]]})")
          .ok());
  auto stop = ParsePlannerMessage(EncodeFnStop({9}));
  ASSERT_TRUE(stop.ok());
  EXPECT_EQ(std::get<FnStop>(*stop).instance, 9u);

  FnAnswer a;
  a.call = 77;
  a.instance = 9;
  a.ok = false;
  a.error = "killed by SIGSEGV";
  a.crashed = true;
  a.body = binary;
  a.wall = 0.25;
  a.cpu = 0.125;
  a.max_rss = 1 << 20;
  auto ans = ParseWorkerMessage(EncodeFnAnswer(a));
  ASSERT_TRUE(ans.ok()) << ans.status().ToString();
  const auto& got = std::get<FnAnswer>(*ans);
  EXPECT_FALSE(got.ok);
  EXPECT_TRUE(got.crashed);
  EXPECT_EQ(got.body, binary);
  EXPECT_EQ(got.error, a.error);
  EXPECT_EQ(got.max_rss, a.max_rss);
  EXPECT_DOUBLE_EQ(got.wall, 0.25);
  EXPECT_TRUE(got.headers.empty());
  a.ok = true;
  a.headers = {{"Content-Type", "text/html"}, {"Set-Cookie", "a=1"}};
  auto with_headers = ParseWorkerMessage(EncodeFnAnswer(a));
  ASSERT_TRUE(with_headers.ok()) << with_headers.status().ToString();
  EXPECT_EQ(std::get<FnAnswer>(*with_headers).headers, a.headers);
  auto ready = ParseWorkerMessage(EncodeFnReady({9, 1.5}));
  ASSERT_TRUE(ready.ok());
  EXPECT_DOUBLE_EQ(std::get<FnReady>(*ready).start_ms, 1.5);
  auto exited = ParseWorkerMessage(EncodeFnExited({9, "no bundle"}));
  ASSERT_TRUE(exited.ok());
  EXPECT_EQ(std::get<FnExited>(*exited).error, "no bundle");
  auto log = ParseWorkerMessage(EncodeFnLog({9, "f", "r1", "a \"line\"\n"}));
  ASSERT_TRUE(log.ok()) << log.status().message();
  EXPECT_EQ(std::get<FnLog>(*log).function, "f");
  EXPECT_EQ(std::get<FnLog>(*log).revision, "r1");
  EXPECT_EQ(std::get<FnLog>(*log).text, "a \"line\"\n");
  EXPECT_FALSE(ParseWorkerMessage(R"({"t":"fn_log","instance":1,"text":3})").ok());
}

TEST(FunctionMessageTest, BadMessagesNameTheField) {
  auto m = ParsePlannerMessage(R"({"t":"fn_start","instance":1,"function":"f","argv":[]})");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("argv"), std::string::npos);
  EXPECT_FALSE(ParsePlannerMessage(R"({"t":"fn_call","instance":1,"call":2,"body":"!!"})").ok());
  EXPECT_FALSE(ParseWorkerMessage(R"({"t":"fn_answer","instance":1,"call":2})").ok());
  EXPECT_FALSE(ParseWorkerMessage(R"({"t":"fn_nothing","instance":1})").ok());
}

TEST(FunctionMessageTest, BatchesRoundTripInOrder) {
  // Planner -> worker: a start, calls and a stop in one fn_batch, in the order they were made.
  FnBatcher out;
  FnStart start;
  start.instance = 3;
  start.function = "f";
  start.argv = {"cat"};
  out.Add(EncodeFnStart(start));
  for (uint64_t c = 1; c <= 3; ++c) {
    FnCall call;
    call.instance = 3;
    call.call = c;
    call.body = "body " + std::to_string(c) + std::string(1, '\0');
    out.Add(EncodeFnCall(call));
  }
  out.Add(EncodeFnStop({3}));
  std::vector<std::string> sent = out.Finish();
  EXPECT_TRUE(out.empty());
  ASSERT_EQ(sent.size(), 1u);
  auto pm = ParsePlannerMessage(sent[0]);
  ASSERT_TRUE(pm.ok()) << pm.status().ToString();
  const auto& pb = std::get<FnPlannerBatch>(*pm);
  ASSERT_EQ(pb.messages.size(), 5u);
  EXPECT_EQ(std::get<FnStart>(pb.messages[0]), start);
  for (uint64_t c = 1; c <= 3; ++c) {
    const auto& call = std::get<FnCall>(pb.messages[c]);
    EXPECT_EQ(call.call, c);
    EXPECT_EQ(call.instance, 3u);
    EXPECT_EQ(call.body, "body " + std::to_string(c) + std::string(1, '\0'));
  }
  EXPECT_EQ(std::get<FnStop>(pb.messages[4]).instance, 3u);

  // Worker -> planner: answers, a log and an exit.
  FnBatcher back;
  FnAnswer a;
  a.instance = 3;
  a.call = 1;
  a.body = "hello";
  back.Add(EncodeFnAnswer(a));
  a.call = 2;
  a.ok = false;
  a.error = "boom";
  back.Add(EncodeFnAnswer(a));
  back.Add(EncodeFnLog({3, "f", "r", "line\n"}));
  back.Add(EncodeFnExited({3, "gone"}));
  sent = back.Finish();
  ASSERT_EQ(sent.size(), 1u);
  auto wm = ParseWorkerMessage(sent[0]);
  ASSERT_TRUE(wm.ok()) << wm.status().ToString();
  const auto& wb = std::get<FnWorkerBatch>(*wm);
  ASSERT_EQ(wb.messages.size(), 4u);
  EXPECT_EQ(std::get<FnAnswer>(wb.messages[0]).body, "hello");
  EXPECT_TRUE(std::get<FnAnswer>(wb.messages[0]).ok);
  EXPECT_EQ(std::get<FnAnswer>(wb.messages[1]).call, 2u);
  EXPECT_EQ(std::get<FnAnswer>(wb.messages[1]).error, "boom");
  EXPECT_EQ(std::get<FnLog>(wb.messages[2]).text, "line\n");
  EXPECT_EQ(std::get<FnExited>(wb.messages[3]).error, "gone");
}

TEST(FunctionMessageTest, BatcherSendsALoneMessageAsItIsAndSplitsLargeBatches) {
  FnBatcher one;
  one.Add(EncodeFnStop({4}));
  std::vector<std::string> sent = one.Finish();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0], EncodeFnStop({4}));  // an older peer reads it

  // Three calls of 300 KiB (400 KiB in base64): no message goes over kFnBatchBytes but for a single
  // message larger than it, and the order holds across the pieces.
  FnBatcher big;
  for (uint64_t c = 1; c <= 3; ++c) {
    FnCall call;
    call.instance = 1;
    call.call = c;
    call.body = std::string(300 << 10, 'a');
    big.Add(EncodeFnCall(call));
  }
  FnCall huge;
  huge.instance = 1;
  huge.call = 4;
  huge.body = std::string(kFnBatchBytes, 'b');
  big.Add(EncodeFnCall(huge));
  sent = big.Finish();
  ASSERT_EQ(sent.size(), 3u);
  std::vector<uint64_t> order;
  for (const std::string& m : sent) {
    auto p = ParsePlannerMessage(m);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    if (auto* b = std::get_if<FnPlannerBatch>(&*p)) {
      EXPECT_LE(m.size(), kFnBatchBytes + 64);
      for (const auto& x : b->messages) order.push_back(std::get<FnCall>(x).call);
    } else {
      order.push_back(std::get<FnCall>(*p).call);
    }
  }
  EXPECT_EQ(order, (std::vector<uint64_t>{1, 2, 3, 4}));
}

TEST(FunctionMessageTest, BadBatchesAreRefused) {
  EXPECT_FALSE(ParsePlannerMessage(R"({"t":"fn_batch"})").ok());
  EXPECT_FALSE(ParsePlannerMessage(R"({"t":"fn_batch","messages":[]})").ok());
  EXPECT_FALSE(ParsePlannerMessage(R"({"t":"fn_batch","messages":[3]})").ok());
  // No nesting, no other messages, and each message is checked as it would be alone.
  auto nested = ParsePlannerMessage(
      R"({"t":"fn_batch","messages":[{"t":"fn_batch","messages":[{"t":"fn_stop","instance":1}]}]})");
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.status().message().find("fn_batch"), std::string::npos);
  EXPECT_FALSE(
      ParsePlannerMessage(R"({"t":"fn_batch","messages":[{"t":"tasks","tasks":[]}]})").ok());
  auto bad = ParsePlannerMessage(
      R"({"t":"fn_batch","messages":[{"t":"fn_stop","instance":1},{"t":"fn_call","instance":1,"call":2,"body":"!!"}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("body"), std::string::npos);
  // A worker's batch holds worker messages only.
  EXPECT_FALSE(
      ParseWorkerMessage(R"({"t":"fn_batch","messages":[{"t":"fn_stop","instance":1}]})").ok());
}

TEST(FunctionMessageTest, RegisterAndWelcomeSayWhetherTheyReadBatches) {
  Register r{"w-1", {"exec"}, 1, {}, 2, true};
  auto m = ParseWorkerMessage(EncodeRegister(r));
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(std::get<Register>(*m).fn_batch);
  // An older worker says nothing: false.
  auto old = ParseWorkerMessage(R"({"t":"register","v":2,"id":"w","ops":["exec"],"functions":1})");
  ASSERT_TRUE(old.ok());
  EXPECT_FALSE(std::get<Register>(*old).fn_batch);
  auto w = ParsePlannerMessage(EncodeWelcome({500, true}));
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(std::get<Welcome>(*w).fn_batch);
  auto old_w = ParsePlannerMessage(R"({"t":"welcome","v":2,"heartbeat_ms":500})");
  ASSERT_TRUE(old_w.ok());
  EXPECT_FALSE(std::get<Welcome>(*old_w).fn_batch);
}

TEST(WorkerMessageTest, ResultsRoundTrip) {
  ResultsEncoder enc;
  enc.Add({7, true, R"({"res":3})", 1.5, 2.5});
  enc.Add({8, false, "bad \"input\"\n", 0, 0});
  auto m = ParseWorkerMessage(enc.Finish());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const auto& r = std::get<Results>(*m).results;
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].id, 7u);
  EXPECT_TRUE(r[0].ok);
  EXPECT_EQ(r[0].value, R"({"res":3})");
  EXPECT_DOUBLE_EQ(r[0].finished, 2.5);
  EXPECT_FALSE(r[1].ok);
  EXPECT_EQ(r[1].value, "bad \"input\"\n");
  EXPECT_FALSE(r[1].crashed);
  EXPECT_TRUE(enc.empty());
}

TEST(WorkerMessageTest, ACrashIsToldApartFromAnError) {
  ResultsEncoder enc;
  enc.Add({9, false, "instance 3: killed by SIGFPE", 1, 2, true});
  auto m = ParseWorkerMessage(enc.Finish());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const auto& r = std::get<Results>(*m).results;
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].ok);
  EXPECT_TRUE(r[0].crashed);
  EXPECT_EQ(r[0].value, "instance 3: killed by SIGFPE");
  // Older workers send no field: an ordinary error.
  auto old = ParseWorkerMessage(R"({"t":"results","results":[{"id":1,"ok":false,"error":"x"}]})");
  ASSERT_TRUE(old.ok());
  EXPECT_FALSE(std::get<Results>(*old).results[0].crashed);
}

TEST(WorkerMessageTest, GarbageIsAnError) {
  EXPECT_FALSE(ParseWorkerMessage("hello").ok());
  EXPECT_FALSE(ParseWorkerMessage(R"({"t":"dance"})").ok());
  EXPECT_FALSE(ParseWorkerMessage(R"({"x":1})").ok());
  EXPECT_FALSE(ParseWorkerMessage(R"({"t":"results","results":[{"id":"x"}]})").ok());
}

TEST(PlannerMessageTest, TasksRoundTrip) {
  TasksEncoder enc;
  enc.Add(1, "add", R"({"a":1,"b":2})", 0);
  enc.Add(2, "sleep", R"({"seconds":0.5})", 3);
  auto m = ParsePlannerMessage(enc.Finish());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const auto& t = std::get<Tasks>(*m).tasks;
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[1].op, "sleep");
  EXPECT_EQ(t[1].args, R"({"seconds":0.5})");
  EXPECT_DOUBLE_EQ(t[1].timeout, 3);
  EXPECT_DOUBLE_EQ(t[0].timeout, 0);
}

TEST(PlannerMessageTest, CancelAndWelcome) {
  auto c = ParsePlannerMessage(EncodeCancel({3, 4}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(std::get<Cancel>(*c).ids, (std::vector<uint64_t>{3, 4}));
  auto w = ParsePlannerMessage(EncodeWelcome({250}));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(std::get<Welcome>(*w).heartbeat_ms, 250);
}

TEST(StreamTest, OutputRoundTripsBothWays) {
  OutputEncoder enc;
  EXPECT_TRUE(enc.empty());
  enc.Add(5, 0, "first line\n");
  enc.Add(5, 11, "quote \" and \\ and tab\t\n");
  EXPECT_FALSE(enc.empty());
  std::string text = enc.Finish();
  EXPECT_TRUE(enc.empty());
  for (int way = 0; way < 2; ++way) {
    std::vector<TaskOutput> got;
    if (way == 0) {
      auto m = ParseWorkerMessage(text);
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      got = std::get<Output>(*m).output;
    } else {
      auto m = ParseStreamMessage(text);
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      got = std::get<Output>(*m).output;
    }
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].id, 5u);
    EXPECT_EQ(got[1].offset, 11u);
    EXPECT_EQ(got[1].text, "quote \" and \\ and tab\t\n");
  }
  for (const char* bad : {R"({"t":"output"})", R"({"t":"output","output":[1]})",
                          R"({"t":"output","output":[{"id":1,"offset":-1,"text":"x"}]})",
                          R"({"t":"output","output":[{"id":1,"offset":0}]})"}) {
    EXPECT_FALSE(ParseWorkerMessage(bad).ok()) << bad;
    EXPECT_FALSE(ParseStreamMessage(bad).ok()) << bad;
  }
}

TEST(StreamTest, SubmitAndResultsRoundTrip) {
  TaskSpec t;
  t.op = "noop";
  t.retries = 2;
  t.labels = {{"team", "physics"}};
  int64_t tag = 0;
  auto s = ParseClientMessage(EncodeSubmit(42, {t, t}), &tag);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(tag, 42);
  EXPECT_EQ(s->tasks.size(), 2u);
  EXPECT_EQ(s->tasks[1].retries, 2);
  ASSERT_EQ(s->tasks[1].labels.size(), 1u);
  EXPECT_EQ(s->tasks[1].labels[0].second, "physics");

  ClientResultsEncoder enc;
  enc.Add(5, "done", "3", "", "w1");
  enc.Add(6, "failed", "", "boom", "w2");
  auto r = ParseStreamMessage(enc.Finish());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& rs = std::get<ClientResults>(*r).results;
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].result, "3");
  EXPECT_EQ(rs[1].error, "boom");
  EXPECT_EQ(rs[1].result, "null");

  auto sub = ParseStreamMessage(EncodeSubmitted(42, 100, 2));
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(std::get<Submitted>(*sub).first, 100u);
}

TEST(JsonTest, StringsAreEscaped) {
  std::string out;
  AppendJsonString(out, "a\"b\\c\x01");
  EXPECT_EQ(out, R"("a\"b\\c\u0001")");
  out.clear();
  AppendJsonNumber(out, 0.1);
  EXPECT_EQ(out, "0.1");
}

}  // namespace
}  // namespace volo::wire

namespace volo::wire {
namespace {
TEST(TaskSpecTest, BuiltinArgumentsAreChecked) {
  bool batch;
  auto r = ParseSubmitBody(R"({"op":"add","args":{"a":"x","b":2}})", &batch);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "args.a: add needs a number here");
  EXPECT_FALSE(ParseSubmitBody(R"({"op":"mult","args":{"a":1}})", &batch).ok());
  EXPECT_FALSE(ParseSubmitBody(R"({"op":"sleep","args":{"seconds":-1}})", &batch).ok());
  EXPECT_TRUE(ParseSubmitBody(R"({"op":"sleep","args":{"seconds":0.1}})", &batch).ok());
  EXPECT_TRUE(ParseSubmitBody(R"({"op":"custom","args":{"a":"x"}})", &batch).ok());
}
}  // namespace
}  // namespace volo::wire

namespace volo::wire {
namespace {
TEST(LogsTest, ChunksRoundTripEveryByte) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  LogsEncoder enc;
  enc.Add(7, 1, bytes);
  enc.Add(7, 2, "x");
  enc.Add(8, 1, "");
  enc.Add(9, 2, "ab");
  auto m = ParseWorkerMessage(enc.Finish());
  ASSERT_TRUE(m.ok()) << m.status().message();
  const auto& logs = std::get<Logs>(*m);
  ASSERT_EQ(logs.chunks.size(), 4u);
  EXPECT_EQ(logs.chunks[0].id, 7u);
  EXPECT_EQ(logs.chunks[0].stream, 1);
  EXPECT_EQ(logs.chunks[0].data, bytes);
  EXPECT_EQ(logs.chunks[1].data, "x");
  EXPECT_EQ(logs.chunks[2].data, "");
  EXPECT_EQ(logs.chunks[3].stream, 2);
  EXPECT_EQ(logs.chunks[3].data, "ab");
  EXPECT_TRUE(enc.empty());
  EXPECT_FALSE(ParseWorkerMessage(R"({"t":"logs","logs":[[1,3,""]]})").ok());
  EXPECT_FALSE(ParseWorkerMessage(R"({"t":"logs","logs":[[1,1,"a"]]})").ok());
  EXPECT_FALSE(ParseWorkerMessage(R"({"t":"logs","logs":[[1,1,"a=bc"]]})").ok());
}

TEST(TaskSpecTest, ExecArgumentsAreChecked) {
  bool batch;
  auto err = [&](const char* body) {
    auto r = ParseSubmitBody(body, &batch);
    return r.ok() ? std::string("ok") : std::string(r.status().message());
  };
  EXPECT_EQ(err(R"({"op":"exec","args":{"cmd":["ls","-l"],"env":{"A":"b"},"cwd":"x/../y"}})"),
            "ok");
  EXPECT_EQ(err(R"({"op":"exec","args":{"cmd":[]}})"),
            "args.cmd: must not be empty: the first element is the program");
  EXPECT_EQ(err(R"({"op":"exec","args":{"cmd":["ls",{}]}})"), "args.cmd[1]: must be a string");
  EXPECT_EQ(err(R"({"op":"exec","args":{"shell":"true","cwd":"a/../.."}})"),
            "args.cwd: 'a/../..' escapes the task's directory");
  EXPECT_EQ(err(R"({"op":"exec","args":{"shell":"true","stdin":5}})"),
            "args.stdin: must be a string (the command's standard input)");
  EXPECT_NE(err(R"({"op":"exec","args":{"shell":"x","bogus":1}})").find("args.bogus: unknown"),
            std::string::npos);
}
}  // namespace
}  // namespace volo::wire
