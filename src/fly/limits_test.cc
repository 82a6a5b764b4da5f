// The interpreter's limits: long and deep programs, the memory limit's sizes, values that
// nest deeply or contain themselves.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "fly/compiler.h"
#include "fly/interpreter.h"
#include "fly/memory.h"
#include "fly/serialize.h"
#include "fly/value.h"

namespace volo::fly {
namespace {

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int k = 0; k < n; ++k) out += s;
  return out;
}

int RunText(const std::string& source, std::string* out, std::string* err,
            RunOptions options = {}) {
  options.file = "t.fly";
  std::ostringstream o, e;
  int code = RunSource(options, source, o, e);
  *out = o.str();
  *err = e.str();
  return code;
}

TEST(Limits, LongLeftAssociativeChainsCompileAndRun) {
  std::string out, err;
  std::string sum = "var s = 1" + Repeat(" + 1", 199'999) + "\nprintln s\n";
  EXPECT_EQ(RunText(sum, &out, &err), 0) << err;
  EXPECT_EQ(out, "200000\n");
  std::string mixed = "var x = 2\nvar s = x" + Repeat(" * 1 - x + x", 30'000) + "\nprintln s\n";
  EXPECT_EQ(RunText(mixed, &out, &err), 0) << err;
  EXPECT_EQ(out, "2\n");
  std::string logic = "var t = true\nprintln t" + Repeat(" and t or false", 50'000) + "\n";
  EXPECT_EQ(RunText(logic, &out, &err), 0) << err;
  EXPECT_EQ(out, "true\n");
  std::string strings = "var s = \"\"" + Repeat(" + \"ab\"", 50'000) + "\nprintln s.length()\n";
  EXPECT_EQ(RunText(strings, &out, &err), 0) << err;
  EXPECT_EQ(out, "100000\n");
  std::ostringstream o, e;
  EXPECT_EQ(CheckSource("t.fly", sum, o, e), 0) << e.str();
}

TEST(Limits, DeepNestingIsAnErrorNotACrash) {
  for (const std::string& src :
       {"var x = " + Repeat("(", 50'000) + "1" + Repeat(")", 50'000) + "\n",
        "var x = " + Repeat("- ", 50'000) + "1\n", "var x = " + Repeat("[", 50'000) + "\n",
        "var m = {}\nvar x = m" + Repeat(".a", 50'000) + "\n",
        "var m = [1]\nvar x = m" + Repeat("[0]", 50'000) + "\n",
        "var x = 1" + Repeat(" as String", 50'000) + "\n", Repeat("if (true) {\n", 50'000)}) {
    std::vector<Diagnostic> diags;
    auto program = CompileSource("t.fly", src, diags);
    ASSERT_TRUE(HasErrors(diags)) << src.substr(0, 40);
    EXPECT_NE(FormatDiagnostics("t.fly", src, diags).find("nests too deeply"), std::string::npos)
        << FormatDiagnostics("t.fly", src, diags).substr(0, 300);
  }
}

TEST(Limits, ANumberAndItsUnitSplit) {
  double v = 0;
  std::string_view unit;
  EXPECT_TRUE(SplitNumberAndUnit("1.5 GiB", &v, &unit));
  EXPECT_EQ(v, 1.5);
  EXPECT_EQ(unit, " GiB");
  EXPECT_TRUE(SplitNumberAndUnit("30", &v, &unit));
  EXPECT_EQ(v, 30);
  EXPECT_EQ(unit, "");
  EXPECT_FALSE(SplitNumberAndUnit("", &v, &unit));
  EXPECT_FALSE(SplitNumberAndUnit("s", &v, &unit));
  EXPECT_FALSE(SplitNumberAndUnit("-1s", &v, &unit));
  EXPECT_FALSE(SplitNumberAndUnit("1.2.3s", &v, &unit));
}

TEST(Limits, ByteSizesParseAndPrint) {
  uint64_t v = 0;
  EXPECT_TRUE(ParseByteSize("512M", &v));
  EXPECT_EQ(v, 512u << 20);
  EXPECT_TRUE(ParseByteSize("2G", &v));
  EXPECT_EQ(v, uint64_t{2} << 30);
  EXPECT_TRUE(ParseByteSize("2GiB", &v));
  EXPECT_EQ(v, uint64_t{2} << 30);
  EXPECT_TRUE(ParseByteSize("1.5g", &v));
  EXPECT_EQ(v, uint64_t{3} << 29);
  EXPECT_TRUE(ParseByteSize("64k", &v));
  EXPECT_EQ(v, 64u << 10);
  EXPECT_TRUE(ParseByteSize("1000", &v));
  EXPECT_EQ(v, 1000u);
  EXPECT_FALSE(ParseByteSize("", &v));
  EXPECT_FALSE(ParseByteSize("lots", &v));
  EXPECT_FALSE(ParseByteSize("2X", &v));
  EXPECT_FALSE(ParseByteSize("-1G", &v));
  EXPECT_EQ(FormatByteSize(uint64_t{2} << 30), "2 GiB");
  EXPECT_EQ(FormatByteSize(512u << 20), "512 MiB");
  EXPECT_EQ(FormatByteSize(uint64_t{3} << 29), "1.5 GiB");
  EXPECT_EQ(FormatByteSize(900), "900 bytes");
  EXPECT_GT(DefaultMemoryLimit(), 0u);
  EXPECT_LE(DefaultMemoryLimit(), MachineMemory());
}

TEST(Limits, DurationsParseAndPrint) {
  int64_t ms = 0;
  EXPECT_TRUE(ParseDuration("30s", &ms));
  EXPECT_EQ(ms, 30'000);
  EXPECT_TRUE(ParseDuration("500ms", &ms));
  EXPECT_EQ(ms, 500);
  EXPECT_TRUE(ParseDuration("5m", &ms));
  EXPECT_EQ(ms, 300'000);
  EXPECT_TRUE(ParseDuration("1h", &ms));
  EXPECT_EQ(ms, 3'600'000);
  EXPECT_TRUE(ParseDuration("1.5", &ms));
  EXPECT_EQ(ms, 1'500);
  EXPECT_FALSE(ParseDuration("soon", &ms));
  EXPECT_FALSE(ParseDuration("5d", &ms));
  EXPECT_EQ(FormatDuration(200), "200ms");
  EXPECT_EQ(FormatDuration(1500), "1.5s");
  EXPECT_EQ(FormatDuration(30'000), "30s");
  EXPECT_EQ(FormatDuration(120'000), "2m");
}

TEST(Limits, MemoryIsCountedOnlyUnderALimit) {
  SetMemoryLimit(0);
  EXPECT_EQ(MemoryLimit(), 0u);
  SetMemoryLimit(uint64_t{1} << 30);
  auto big = std::make_unique<char[]>(4 << 20);
  big[0] = 1;
  EXPECT_GE(MemoryInUse(), 4u << 20);
  {
    MemoryLimitScope armed(true);
    EXPECT_THROW((void)std::make_unique<char[]>(size_t{2} << 30), MemoryLimitExceeded);
  }
  // Unarmed threads and scopes count but are never refused.
  EXPECT_THROW((void)std::make_unique<char[]>(size_t{1} << 50), std::bad_alloc);
  SetMemoryLimit(0);
  EXPECT_TRUE(MemoryFits(1 << 20));
  EXPECT_FALSE(MemoryFits(uint64_t{1} << 60));
}

TEST(Limits, DeepValuesFreeWithoutRecursion) {
  Value v = MakeArray();
  for (int k = 0; k < 1'000'000; ++k) v = MakeArray({v});
  Value w = MakeMap();
  for (int k = 0; k < 1'000'000; ++k) {
    Value m = MakeMap();
    AsMap(m)->m.Set(MakeString("in"), w);
    w = m;
  }
  Release(v);
  Release(w);
  SUCCEED();
}

TEST(Limits, SerializationIsBoundedAndRoundTripsWhatItAccepts) {
  Value v = MakeArray({Value::Int(7)});
  for (int k = 1; k < kMaxTransferDepth; ++k) v = MakeArray({v});
  std::string text, error;
  ASSERT_TRUE(SerializeValue(v, &text, &error)) << error;
  Value back;
  ASSERT_TRUE(ParseValue(text, &back, &error)) << error;
  EXPECT_TRUE(ValuesEqual(v, back));
  Value copy;
  ASSERT_TRUE(CopyForTransfer(v, &copy, &error)) << error;
  Release(copy);
  Release(back);
  v = MakeArray({v});  // one level too many
  text.clear();
  EXPECT_FALSE(SerializeValue(v, &text, &error));
  EXPECT_EQ(error, "a value nested more than 1000 levels deep cannot be serialized");
  EXPECT_FALSE(CopyForTransfer(v, &copy, &error));
  EXPECT_EQ(error, "a value nested more than 1000 levels deep cannot leave its fly instance");
  Release(v);
  Value m = MakeMap();
  Retain(m);
  AsMap(m)->m.Set(MakeString("self"), m);
  text.clear();
  EXPECT_FALSE(SerializeValue(m, &text, &error));
  EXPECT_EQ(error, "a map that contains itself cannot be serialized");
  EXPECT_EQ(ToString(m), "{self={...}}");
  AsMap(m)->m.Clear();  // breaks the cycle
  Release(m);
}

TEST(Limits, CyclesPrintCompareAndRefuseToTravel) {
  Value a = MakeArray({Value::Int(1)});
  Retain(a);
  AsArray(a)->v.push_back(a);
  EXPECT_EQ(ToString(a), "[1, [...]]");
  EXPECT_TRUE(ValuesEqual(a, a));
  Value copy;
  std::string error;
  EXPECT_FALSE(CopyForTransfer(a, &copy, &error));
  EXPECT_NE(error.find("contains itself"), std::string::npos) << error;
  // Break the cycle so the array can be freed.
  Release(AsArray(a)->v.back());
  AsArray(a)->v.pop_back();
  Release(a);
}

}  // namespace
}  // namespace volo::fly
