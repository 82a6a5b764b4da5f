#include "fly/compiler.h"

#include <gtest/gtest.h>

#include "fly/serialize.h"

namespace volo::fly {
namespace {

std::string Disasm(std::string_view src) {
  std::vector<Diagnostic> diags;
  auto program = CompileSource("t.fly", src, diags);
  EXPECT_FALSE(HasErrors(diags)) << FormatDiagnostics("t.fly", src, diags);
  return Disassemble(*program);
}

TEST(Compiler, ForRangeLoopSnapshot) {
  EXPECT_EQ(Disasm("var s = 0\nfor i in [0:10] {\n  s = s + i * 2\n}\nprintln s\n"),
            "== <top level> (arity 0, locals 6, stack 5) ==\n"
            "0000    1 Int          0\n"
            "0001    | SetLocal     slot 0\n"
            "0002    2 Int          0\n"
            "0003    | SetLocal     slot 1\n"
            "0004    | Int          10\n"
            "0005    | SetLocal     slot 2\n"
            "0006    | ForLt        slot 1 < slot 2, else -> 15\n"
            "0009    3 MulLK        slot 1, 2\n"
            "0011    | AddLocal     slot 0\n"
            "0012    2 ForLoop      slot 1 += 1, while < slot 2 -> 9\n"
            "0015    5 GetLocal     slot 0\n"
            "0016    | Println\n"
            "0017    0 Null\n"
            "0018    | Return\n");
}

TEST(Compiler, FunctionAndCompareBranchSnapshot) {
  EXPECT_EQ(
      Disasm("func fib(n) {\n  if (n < 2) { return n }\n  return fib(n - 1) + fib(n - 2)\n}\n"),
      "== <top level> (arity 0, locals 0, stack 5) ==\n"
      "0000    0 Null\n"
      "0001    | Return\n"
      "\n"
      "== fib (arity 1, locals 1, stack 6) ==\n"
      "0000    2 JumpIfNotLtLK slot 0, 2 -> 5\n"
      "0003    | GetLocal     slot 0\n"
      "0004    | Return\n"
      "0005    3 SubLK        slot 0, 1\n"
      "0007    | Call         fib (1 args)\n"
      "0009    | SubLK        slot 0, 2\n"
      "0011    | Call         fib (1 args)\n"
      "0013    | Add\n"
      "0014    | Return\n"
      "0015    1 Null\n"
      "0016    | Return\n");
}

TEST(Compiler, FlyAndDeclarationsSnapshot) {
  EXPECT_EQ(Disasm("var e = [type=\"smp\", nthread=2]\nfunc f(i) { return i }\n"
                   "fly f in [0:4] on e thenall f\n"),
            "== <top level> (arity 0, locals 0, stack 7) ==\n"
            "0000    1 Const        0 (smp)\n"
            "0001    | Int          2\n"
            "0002    | Decl         [type, nthread]\n"
            "0003    | SetGlobal    0 (e)\n"
            "0004    3 GetGlobal    0 (e)\n"
            "0005    | Int          0\n"
            "0006    | Int          4\n"
            "0007    | Range\n"
            "0008    | Fly          f in <collection> thenall f\n"
            "0009    | Pop\n"
            "0010    0 Null\n"
            "0011    | Return\n"
            "\n"
            "== f (arity 1, locals 1, stack 5) ==\n"
            "0000    2 GetLocal     slot 0\n"
            "0001    | Return\n"
            "0002    | Null\n"
            "0003    | Return\n");
}

TEST(Compiler, StackEffectsNeverGoNegative) {
  std::vector<Diagnostic> diags;
  auto program = CompileSource(
      "t.fly",
      "var m = {a = 1, 2}\nvar x = [1, 2, 3]\nx[0] += m.a\nprintln Math.max(1, 2) + time()\n"
      "for e in m { println e.k }\n",
      diags);
  ASSERT_FALSE(HasErrors(diags));
  for (const auto& f : program->functions) {
    int depth = 0;
    const Chunk& c = f->chunk;
    for (size_t i = 0; i < c.code.size(); i += 1 + kOpExtra[c.code[i] & 0xff]) {
      depth += StackEffect(*program, c, i);
      EXPECT_GE(depth, 0) << DisassembleFunction(*program, *f);
    }
  }
}

TEST(Values, DoubleFormattingFollowsJava) {
  EXPECT_EQ(FormatDouble(4.0), "4.0");
  EXPECT_EQ(FormatDouble(3.14159), "3.14159");
  EXPECT_EQ(FormatDouble(1e10), "1.0E10");
  EXPECT_EQ(FormatDouble(1e7), "1.0E7");
  EXPECT_EQ(FormatDouble(9999999.0), "9999999.0");
  EXPECT_EQ(FormatDouble(0.001), "0.001");
  EXPECT_EQ(FormatDouble(1e-4), "1.0E-4");
  EXPECT_EQ(FormatDouble(-2.5), "-2.5");
  EXPECT_EQ(FormatDouble(123456.789), "123456.789");
}

TEST(Values, SerializeRoundTrip) {
  Value v;
  std::string error;
  ASSERT_TRUE(ParseValue(R"({"a": [1, 2.5, "x\n"], 0: true, "n": null})", &v, &error)) << error;
  std::string text;
  ASSERT_TRUE(SerializeValue(v, &text, &error));
  EXPECT_EQ(text, R"({"a":[1,2.5,"x\n"],0:true,"n":null})");
  Value w;
  ASSERT_TRUE(ParseValue(text, &w, &error));
  EXPECT_TRUE(ValuesEqual(v, w));
  Release(v);
  Release(w);
  EXPECT_FALSE(ParseValue("[1, 2", &v, &error));
}

TEST(Values, OrderedMapDenseThenHashed) {
  OrderedMap m;
  for (int k = 0; k < 100; ++k) m.Set(Value::Int(k), Value::Int(k * k));
  m.Set(MakeString("s"), Value::Int(-1));
  m.Set(Value::Int(1000), Value::Int(7));
  EXPECT_EQ(m.size(), 102u);
  EXPECT_EQ(m.Find(Value::Int(9))->i, 81);
  Value key = MakeString("s");
  EXPECT_EQ(m.Find(key)->i, -1);
  EXPECT_TRUE(m.Remove(key));
  EXPECT_EQ(m.Find(key), nullptr);
  Release(key);
  EXPECT_EQ(m.entries()[0].key.i, 0);  // insertion order kept
  EXPECT_EQ(m.Find(Value::Int(1000))->i, 7);
}

}  // namespace
}  // namespace volo::fly
