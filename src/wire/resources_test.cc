// Resource requests on the wire: the task field, the register field, the assignment field.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "wire/messages.h"

namespace volo::wire {
namespace {

Status SubmitError(std::string_view body) {
  auto r = ParseSubmitBody(body, nullptr);
  return r.ok() ? Status::Ok() : r.status();
}

TEST(ResourcesTest, ATaskAsksForCpusMemoryAndNamedResources) {
  auto r = ParseSubmitBody(
      R"({"op":"noop","resources":{"memory":512,"gpus":1,"cpus":0.5,"licence":2,"fpga":0}})",
      nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Resources& res = (*r)[0].resources;
  EXPECT_EQ(res.millicpus, 500);
  EXPECT_EQ(res.memory_mib, 512);
  // Sorted by name; a zero amount is no request.
  EXPECT_EQ(res.named, (std::vector<std::pair<std::string, int64_t>>{{"gpus", 1}, {"licence", 2}}));
  std::string text;
  AppendResources(text, res);
  EXPECT_EQ(text, R"({"cpus":0.5,"memory":512,"gpus":1,"licence":2})");
  EXPECT_EQ(DescribeResources(res), "0.5 cpus, 512 MiB memory, gpus=1, licence=2");
  EXPECT_TRUE(ParseSubmitBody(R"({"op":"noop"})", nullptr)->at(0).resources.empty());
}

TEST(ResourcesTest, CpusAreCountedInThousandthsRoundedUp) {
  auto r = ParseSubmitBody(R"({"op":"noop","resources":{"cpus":0.0015}})", nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].resources.millicpus, 2);
  r = ParseSubmitBody(R"({"op":"noop","resources":{"cpus":0.1}})", nullptr);
  EXPECT_EQ((*r)[0].resources.millicpus, 100);
}

TEST(ResourcesTest, BadRequestsNameTheField) {
  EXPECT_EQ(SubmitError(R"({"op":"noop","resources":{"memory":-1}})").message(),
            "resources.memory: must be a whole number of MiB from 0 to 1099511627776");
  EXPECT_EQ(SubmitError(R"({"op":"noop","resources":{"cpus":-2}})").message(),
            "resources.cpus: must be a number of CPUs from 0 to 1000000 (0.5 is half a CPU)");
  EXPECT_EQ(SubmitError(R"({"op":"noop","resources":{"memory":1.5}})").message(),
            "resources.memory: must be a whole number of MiB from 0 to 1099511627776");
  EXPECT_EQ(SubmitError(R"({"op":"noop","resources":{"cpus":"two"}})").message(),
            "resources.cpus: must be a number of CPUs from 0 to 1000000 (0.5 is half a CPU)");
  EXPECT_EQ(
      SubmitError(R"({"tasks":[{"op":"noop"},{"op":"noop","resources":{"gpus":-1}}]})").message(),
      "tasks[1].resources.gpus: must be a whole number from 0 to 1125899906842624");
  EXPECT_EQ(SubmitError(R"({"op":"noop","resources":[1]})").message(),
            R"(resources: must be an object like {"cpus": 2, "memory": 512, "gpus": 1})");
  EXPECT_EQ(SubmitError(R"({"op":"noop","resources":{"a b":1}})").message(),
            "resources: resource name 'a b' must be 1-128 characters of letters, digits, _ . : -");
}

TEST(ResourcesTest, AnExecCommandsOwnRequestCountsForPlacement) {
  auto r = ParseSubmitBody(
      R"({"op":"exec","args":{"cmd":["x"],"cpus":0.5,"memory":64,"resources":{"gpus":1}}})",
      nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(DescribeResources((*r)[0].resources), "0.5 cpus, 64 MiB memory, gpus=1");
  // Both places, the same amounts: fine; merged with the task's other requests.
  r = ParseSubmitBody(
      R"({"op":"exec","args":{"cmd":["x"],"memory":64},"resources":{"memory":64,"licence":2}})",
      nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(DescribeResources((*r)[0].resources), "64 MiB memory, licence=2");
  // Different amounts: the user is told where it belongs.
  EXPECT_EQ(
      SubmitError(R"({"op":"exec","args":{"cmd":["x"],"memory":64},"resources":{"memory":32}})")
          .message(),
      "args.memory: 64 MiB memory here but 32 MiB memory in the task's resources; give it once, "
      "in \"resources\"");
  EXPECT_EQ(SubmitError(R"({"tasks":[{"op":"exec","args":{"cmd":["x"],"memory":1.5}}]})").message(),
            "tasks[0].args.memory: must be a whole number of MiB from 0 to 1099511627776");
  EXPECT_EQ(SubmitError(R"({"op":"exec","args":{"cmd":["x"],"resources":{"gpus":1}},)"
                        R"("resources":{"gpus":2}})")
                .message(),
            "args.resources.gpus: gpus=1 here but 2 in the task's resources; give it once, in "
            "\"resources\"");
}

TEST(ResourcesTest, WorkersAdvertiseInRegisterAndTasksCarryTheirRequest) {
  Register reg{"w1", {"exec"}, 2, {}};
  reg.resources.millicpus = 4000;
  reg.resources.memory_mib = 8192;
  reg.resources.named = {{"gpus", 2}};
  auto m = ParseWorkerMessage(EncodeRegister(reg));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(std::get<Register>(*m).resources, reg.resources);
  auto bad = ParseWorkerMessage(
      R"({"t":"register","v":1,"id":"w","ops":["x"],"resources":{"memory":-5}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("register.resources.memory"), std::string::npos);

  TasksEncoder enc;
  Resources need;
  need.memory_mib = 64;
  enc.Add(7, "exec", "{}", 0, &need);
  enc.Add(8, "exec", "{}", 0, nullptr);
  auto p = ParsePlannerMessage(enc.Finish());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const auto& tasks = std::get<Tasks>(*p).tasks;
  EXPECT_EQ(tasks[0].resources.memory_mib, 64);
  EXPECT_TRUE(tasks[1].resources.empty());
}

TEST(ResourcesTest, TheCliFormNameEqualsAmount) {
  Resources r;
  ASSERT_TRUE(AddResourceText(r, "gpus=2").ok());
  ASSERT_TRUE(AddResourceText(r, "memory=512").ok());
  ASSERT_TRUE(AddResourceText(r, "cpus=1.5").ok());
  ASSERT_TRUE(AddResourceText(r, "gpus=3").ok());  // the last one counts
  EXPECT_EQ(r.millicpus, 1500);
  EXPECT_EQ(r.memory_mib, 512);
  EXPECT_EQ(r.named, (std::vector<std::pair<std::string, int64_t>>{{"gpus", 3}}));
  EXPECT_FALSE(AddResourceText(r, "gpus").ok());
  EXPECT_FALSE(AddResourceText(r, "gpus=-1").ok());
  EXPECT_FALSE(AddResourceText(r, "gpus=lots").ok());
}

}  // namespace
}  // namespace volo::wire
