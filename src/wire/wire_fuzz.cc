// libFuzzer target: every parser in wire/messages.h on arbitrary bytes. None may crash; what
// parses is encoded again (where an encoder exists) and must parse back to the same value.
// Encoders state what they normalise (a timeout of 0 or less is omitted, an empty JSON text is
// written as null); the comparisons apply the same normalisation and nothing more.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "wire/messages.h"
// The implementation is compiled into this file so that it gets the fuzzer's coverage and
// sanitizer instrumentation (volo_module instruments only *_fuzz.cc); the linker then takes
// nothing from libvolo_wire.a.
#include "wire/messages.cc"  // NOLINT(bugprone-suspicious-include)

namespace volo::wire {
namespace {

#define WIRE_FUZZ_CHECK(cond)                                                             \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "wire_fuzz: round trip broken: %s (%s:%d)\n", #cond, __FILE__, \
                   __LINE__);                                                             \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

std::string NullIfEmpty(const std::string& json) { return json.empty() ? "null" : json; }
double Positive(double timeout) { return timeout > 0 ? timeout : 0; }

// Labels are compared too: this target's first run found EncodeSubmit dropping them (input
// {"op":"mult","args":{"a":3,"b":4},"labels":{"x":"y"}}), since fixed.
#ifndef WIRE_FUZZ_CHECK_LABELS
#define WIRE_FUZZ_CHECK_LABELS 1
#endif

bool SameSpec(const TaskSpec& a, const TaskSpec& b) {
  return a.op == b.op && a.args == b.args && a.retries == b.retries &&
         Positive(a.timeout) == Positive(b.timeout) && a.priority == b.priority &&
         (!WIRE_FUZZ_CHECK_LABELS || a.labels == b.labels);
}

// The streaming submit is how a parsed body travels on; it must carry every field.
void CheckSubmitRoundTrip(int64_t tag, const std::vector<TaskSpec>& tasks) {
  if (tasks.empty()) return;  // a submit needs at least one task
  int64_t tag_back = 0;
  auto back = ParseClientMessage(EncodeSubmit(tag, tasks), &tag_back);
  WIRE_FUZZ_CHECK(back.ok());
  WIRE_FUZZ_CHECK(tag_back == tag && back->tag == tag);
  WIRE_FUZZ_CHECK(back->tasks.size() == tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) WIRE_FUZZ_CHECK(SameSpec(back->tasks[i], tasks[i]));
}

void FuzzWorker(std::string_view text) {
  auto parsed = ParseWorkerMessage(text);
  if (!parsed.ok()) return;
  if (auto* r = std::get_if<Register>(&*parsed)) {
    auto back = ParseWorkerMessage(EncodeRegister(*r));
    WIRE_FUZZ_CHECK(back.ok());
    auto* r2 = std::get_if<Register>(&*back);
    WIRE_FUZZ_CHECK(r2 && r2->id == r->id && r2->ops == r->ops && r2->slots == r->slots);
  } else if (std::holds_alternative<Heartbeat>(*parsed)) {
    auto back = ParseWorkerMessage(EncodeHeartbeat());
    WIRE_FUZZ_CHECK(back.ok() && std::holds_alternative<Heartbeat>(*back));
  } else if (auto* results = std::get_if<Results>(&*parsed)) {
    if (results->results.empty()) return;  // the encoder makes only non-empty batches
    ResultsEncoder encoder;
    for (const TaskResult& tr : results->results) encoder.Add(tr);
    auto back = ParseWorkerMessage(encoder.Finish());
    WIRE_FUZZ_CHECK(back.ok());
    auto* r2 = std::get_if<Results>(&*back);
    WIRE_FUZZ_CHECK(r2 && r2->results.size() == results->results.size());
    for (size_t i = 0; i < r2->results.size(); ++i) {
      const TaskResult& a = results->results[i];
      const TaskResult& b = r2->results[i];
      WIRE_FUZZ_CHECK(a.id == b.id && a.ok == b.ok);
      WIRE_FUZZ_CHECK(a.ok ? NullIfEmpty(a.value) == b.value : a.value == b.value);
      WIRE_FUZZ_CHECK(a.started == b.started && a.finished == b.finished);
    }
  } else if (auto* refused = std::get_if<Refused>(&*parsed)) {
    auto back = ParseWorkerMessage(EncodeRefused(refused->ids));
    WIRE_FUZZ_CHECK(back.ok());
    auto* r2 = std::get_if<Refused>(&*back);
    WIRE_FUZZ_CHECK(r2 && r2->ids == refused->ids);
  } else if (std::holds_alternative<Leaving>(*parsed)) {
    auto back = ParseWorkerMessage(EncodeLeaving());
    WIRE_FUZZ_CHECK(back.ok() && std::holds_alternative<Leaving>(*back));
  }
}

void FuzzPlanner(std::string_view text) {
  auto parsed = ParsePlannerMessage(text);
  if (!parsed.ok()) return;
  if (auto* w = std::get_if<Welcome>(&*parsed)) {
    WIRE_FUZZ_CHECK(w->heartbeat_ms > 0);
    auto back = ParsePlannerMessage(EncodeWelcome(*w));
    WIRE_FUZZ_CHECK(back.ok());
    auto* w2 = std::get_if<Welcome>(&*back);
    WIRE_FUZZ_CHECK(w2 && w2->heartbeat_ms == w->heartbeat_ms);
  } else if (auto* tasks = std::get_if<Tasks>(&*parsed)) {
    if (tasks->tasks.empty()) return;
    TasksEncoder encoder;
    for (const Assignment& a : tasks->tasks) encoder.Add(a.id, a.op, a.args, a.timeout);
    auto back = ParsePlannerMessage(encoder.Finish());
    WIRE_FUZZ_CHECK(back.ok());
    auto* t2 = std::get_if<Tasks>(&*back);
    WIRE_FUZZ_CHECK(t2 && t2->tasks.size() == tasks->tasks.size());
    for (size_t i = 0; i < t2->tasks.size(); ++i) {
      const Assignment& a = tasks->tasks[i];
      const Assignment& b = t2->tasks[i];
      WIRE_FUZZ_CHECK(a.id == b.id && a.op == b.op && a.args == b.args);
      WIRE_FUZZ_CHECK(Positive(a.timeout) == b.timeout);
    }
  } else if (auto* cancel = std::get_if<Cancel>(&*parsed)) {
    auto back = ParsePlannerMessage(EncodeCancel(cancel->ids));
    WIRE_FUZZ_CHECK(back.ok());
    auto* c2 = std::get_if<Cancel>(&*back);
    WIRE_FUZZ_CHECK(c2 && c2->ids == cancel->ids);
  } else if (auto* error = std::get_if<Error>(&*parsed)) {
    auto back = ParsePlannerMessage(EncodeError(error->message));
    WIRE_FUZZ_CHECK(back.ok());
    auto* e2 = std::get_if<Error>(&*back);
    WIRE_FUZZ_CHECK(e2 && e2->message == error->message);
  }
}

void FuzzClient(std::string_view text) {
  int64_t tag = 0;
  auto parsed = ParseClientMessage(text, &tag);
  if (!parsed.ok()) return;
  WIRE_FUZZ_CHECK(tag == parsed->tag);
  CheckSubmitRoundTrip(parsed->tag, parsed->tasks);
}

// ClientResultsEncoder writes `state` verbatim: the planner only ever passes its own state
// names, so only those are expected to survive.
bool KnownState(const std::string& state) {
  return state == "done" || state == "failed" || state == "cancelled" || state == "queued" ||
         state == "running";
}

void FuzzStream(std::string_view text) {
  auto parsed = ParseStreamMessage(text);
  if (!parsed.ok()) return;
  if (auto* s = std::get_if<Submitted>(&*parsed)) {
    auto back = ParseStreamMessage(EncodeSubmitted(s->tag, s->first, s->count));
    WIRE_FUZZ_CHECK(back.ok());
    auto* s2 = std::get_if<Submitted>(&*back);
    WIRE_FUZZ_CHECK(s2 && s2->tag == s->tag && s2->first == s->first && s2->count == s->count);
  } else if (auto* results = std::get_if<ClientResults>(&*parsed)) {
    if (results->results.empty()) return;
    for (const ClientResult& r : results->results) {
      if (!KnownState(r.state)) return;
    }
    ClientResultsEncoder encoder;
    for (const ClientResult& r : results->results) {
      encoder.Add(r.id, r.state, r.result, r.error, r.worker);
    }
    auto back = ParseStreamMessage(encoder.Finish());
    WIRE_FUZZ_CHECK(back.ok());
    auto* r2 = std::get_if<ClientResults>(&*back);
    WIRE_FUZZ_CHECK(r2 && r2->results.size() == results->results.size());
    for (size_t i = 0; i < r2->results.size(); ++i) {
      const ClientResult& a = results->results[i];
      const ClientResult& b = r2->results[i];
      WIRE_FUZZ_CHECK(a.id == b.id && a.state == b.state && a.error == b.error &&
                      a.worker == b.worker);
      WIRE_FUZZ_CHECK(NullIfEmpty(a.result) == b.result);
    }
  } else if (auto* error = std::get_if<Error>(&*parsed)) {
    auto back = ParseStreamMessage(EncodeClientError(7, error->message));
    WIRE_FUZZ_CHECK(back.ok());
    auto* e2 = std::get_if<Error>(&*back);
    WIRE_FUZZ_CHECK(e2 && e2->message == error->message);
  }
}

void FuzzSubmitBody(std::string_view text) {
  bool is_batch = false;
  auto parsed = ParseSubmitBody(text, &is_batch);
  if (!parsed.ok()) return;
  WIRE_FUZZ_CHECK(is_batch || parsed->size() == 1);
  CheckSubmitRoundTrip(-3, *parsed);
}

}  // namespace
}  // namespace volo::wire

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  volo::wire::FuzzWorker(text);
  volo::wire::FuzzPlanner(text);
  volo::wire::FuzzClient(text);
  volo::wire::FuzzStream(text);
  volo::wire::FuzzSubmitBody(text);
  return 0;
}
