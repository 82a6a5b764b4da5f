// A remote chunk's output: handed on live, line by line, with the unterminated rest kept for
// the chunk's result (src/fly/remote.h).
#include "fly/remote.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "fly/environment.h"

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

// The launching side: what a chunk's task carries.

// A job with the given arguments (an argument "channel" cannot be serialized), source and spec.
class ArgsJob : public FlyJob {
 public:
  explicit ArgsJob(std::vector<std::string> args, std::string source = "println 1",
                   std::string spec = "{}")
      : args_(std::move(args)), source_(std::move(source)), spec_(std::move(spec)) {}
  size_t instance_count() const override { return args_.size(); }
  const std::string& function_name() const override { return name_; }
  const std::string& program_source() const override { return source_; }
  uint64_t seed() const override { return 0; }
  Result<std::string> SerializedArgument(size_t i) const override {
    if (args_[i] == "channel") return InvalidArgument("a channel cannot leave this process");
    return args_[i];
  }
  std::unique_ptr<InstanceRunner> NewRunner() override { return nullptr; }
  void Complete(size_t, Result<std::string>) override {}
  std::string RemoteSpec() const override { return spec_; }

 private:
  std::vector<std::string> args_;
  std::string source_, spec_;
  std::string name_ = "f";
};

TEST(ChunkLaunchTest, ChunksAreSmallerThanTheSlotsShareAndAtMostKMaxChunk) {
  EXPECT_EQ(ChunkSize(1000, 4), 15u);  // 16 chunks a slot
  EXPECT_EQ(ChunkSize(3, 8), 1u);
  EXPECT_EQ(ChunkSize(size_t{1} << 30, 1), kMaxChunk);
}

TEST(ChunkLaunchTest, TheProgramGoesToTheBlobStoreAndALargeSpecToo) {
  std::map<std::string, std::string> blobs;
  auto hash = [](const std::string& bytes) { return "h" + std::to_string(bytes.size()); };
  auto put = [&](const std::string& h, const std::string& bytes) {
    blobs[h] = bytes;
    return Status::Ok();
  };
  auto small = StoreChunkBlobs(ArgsJob({}, "println 1", R"({"file":"a\b.fly"})"), hash, put);
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_EQ(small->spec, R"({"file":"a\b.fly"})");
  EXPECT_EQ(small->program_hash, "h9");
  EXPECT_EQ(small->spec_field, R"("spec":"{\"file\":\"a\\b.fly\"}")");
  EXPECT_EQ(blobs.size(), 1u);
  EXPECT_EQ(blobs["h9"], "println 1");

  const std::string large(kInlineSpecBytes + 1, ' ');
  auto big = StoreChunkBlobs(ArgsJob({}, "println 1", large), hash, put);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->spec_field, "\"spec_blob\":\"h" + std::to_string(large.size()) + "\"");
  EXPECT_EQ(blobs.size(), 2u);
  EXPECT_EQ(blobs["h" + std::to_string(large.size())], large);

  auto refused = StoreChunkBlobs(ArgsJob({}), hash, [](const std::string&, const std::string&) {
    return Unavailable("the planner refused the program");
  });
  EXPECT_EQ(refused.status().message(), "the planner refused the program");
  auto local = StoreChunkBlobs(ArgsJob({}, "println 1", ""), hash, put);
  EXPECT_EQ(local.status().code(), StatusCode::kFailedPrecondition);
}

TEST(ChunkLaunchTest, AChunksArgsNameTheProgramAndCarryItsInstancesArguments) {
  ChunkCommon common{"{}", "abc", R"("spec":"{}")"};
  ArgsJob job({"1", "\"two\"", "3", "channel"});
  auto ranged = ChunkArgs(common, R"("t.fly")", /*ship_args=*/false, job, 3, 1);
  ASSERT_TRUE(ranged.ok());
  EXPECT_EQ(*ranged, R"({"program":"abc","file":"t.fly","spec":"{}","first":3,"count":1})");
  auto shipped = ChunkArgs(common, R"("t.fly")", /*ship_args=*/true, job, 0, 3);
  ASSERT_TRUE(shipped.ok());
  EXPECT_EQ(*shipped, R"({"program":"abc","file":"t.fly","spec":"{}","first":0,"count":3,)"
                      R"("args":["1","\"two\"","3"]})");
  auto bad = ChunkArgs(common, R"("t.fly")", /*ship_args=*/true, job, 2, 2);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace volo::fly
