// A remote chunk's output: handed on live, line by line, with the unterminated rest kept for
// the chunk's result (src/fly/remote.h).
#include "fly/remote.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace volo::fly {
namespace {

constexpr const char* kProgram = R"(func f(i) {
  println "line " + i
  print "part"
  println " whole " + i
  if (i == 2) { print "no newline" }
  return i
}
)";

// Instance i of `fly f in [0:n]`.
constexpr const char* kSpec =
    R"({"file":"t.fly","function":"f","then":null,"keep_results":true,"range_lo":0})";

std::shared_ptr<const RemoteProgram> Compile(const char* source) {
  auto p = RemoteProgram::Compile("t.fly", source);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : nullptr;
}

TEST(RemoteOutputTest, WholeLinesGoLiveInOrderAndTheRestComesWithTheResult) {
  auto program = Compile(kProgram);
  ASSERT_NE(program, nullptr);
  std::vector<std::pair<uint64_t, std::string>> live;
  const LiveOutputFn hook = [&](uint64_t offset, std::string_view text) {
    live.emplace_back(offset, std::string(text));
  };
  ChunkResult r = program->RunChunk(kSpec, 0, 3, {}, nullptr, nullptr, &hook);
  ASSERT_TRUE(r.ok) << r.error;
  std::string streamed;
  for (const auto& [offset, text] : live) {
    EXPECT_EQ(offset, streamed.size());  // contiguous pieces, in order
    EXPECT_EQ(text.back(), '\n');        // whole lines only
    streamed += text;
  }
  EXPECT_EQ(streamed, "line 0\npart whole 0\nline 1\npart whole 1\nline 2\npart whole 2\n");
  EXPECT_EQ(r.output, "no newline");
  EXPECT_EQ(r.output_offset, streamed.size());

  // Without a hook everything stays for the result, as before.
  ChunkResult whole = program->RunChunk(kSpec, 0, 3, {});
  ASSERT_TRUE(whole.ok) << whole.error;
  EXPECT_EQ(whole.output, streamed + "no newline");
  EXPECT_EQ(whole.output_offset, 0u);
}

TEST(RemoteOutputTest, ALongLineWithoutANewlineIsHandedOnInPieces) {
  auto program = Compile(R"(func f(i) {
  var s = "x"
  for k in [0:17] { s = s + s }
  print s
  return 0
}
)");
  ASSERT_NE(program, nullptr);
  size_t held_max = 0, total = 0;
  const LiveOutputFn hook = [&](uint64_t offset, std::string_view text) {
    EXPECT_EQ(offset, total);
    total += text.size();
    held_max = std::max(held_max, text.size());
  };
  ChunkResult r = program->RunChunk(kSpec, 0, 1, {}, nullptr, nullptr, &hook);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(total + r.output.size(), size_t{1} << 17);
  EXPECT_GT(total, 0u);
  EXPECT_LT(r.output.size(), kLiveOutputPiece);
}

TEST(FailedChunkResultsTest, TheNamedInstanceFailsThoseBeforeRanThoseAfterDidNot) {
  auto r = FailedChunkResults("instance 12: division by zero\n  at f (t.fly:3:5)", 10, 4);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(*r[0], "null");
  EXPECT_EQ(*r[1], "null");
  ASSERT_FALSE(r[2].ok());
  EXPECT_EQ(r[2].status().code(), StatusCode::kInternal);
  EXPECT_EQ(r[2].status().message(), "division by zero\n  at f (t.fly:3:5)");
  ASSERT_FALSE(r[3].ok());
  EXPECT_EQ(r[3].status().code(), StatusCode::kCancelled);
  EXPECT_EQ(r[3].status().message(), "not run: instance 12 failed");
}

TEST(FailedChunkResultsTest, ACrashHistoryNamesTheInstanceAndLosesTheTag) {
  auto r = FailedChunkResults(
      "crashed 2 times: instance 5: killed by SIGFPE on w1; instance 5: killed by SIGFPE on w2", 4,
      3);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(*r[0], "null");
  ASSERT_FALSE(r[1].ok());
  EXPECT_EQ(r[1].status().message(),
            "crashed 2 times: killed by SIGFPE on w1; killed by SIGFPE on w2");
  EXPECT_EQ(r[2].status().code(), StatusCode::kCancelled);
}

TEST(FailedChunkResultsTest, AnErrorNamingNoInstanceOfTheChunkFailsTheFirst) {
  for (const char* error : {"the chunk was cancelled", "instance 99: outside the chunk",
                            "see instance 2: not after a colon", "instance x: no number"}) {
    auto r = FailedChunkResults(error, 0, 3);
    ASSERT_EQ(r.size(), 3u) << error;
    ASSERT_FALSE(r[0].ok()) << error;
    EXPECT_EQ(r[0].status().message(), error);
    EXPECT_EQ(r[1].status().message(), "not run: instance 0 failed") << error;
  }
}

}  // namespace
}  // namespace volo::fly
