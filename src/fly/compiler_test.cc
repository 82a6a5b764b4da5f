#include "fly/compiler.h"

#include <gtest/gtest.h>

#include <limits>
#include <memory>

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

// Serializes, parses back, serializes again: the texts must match (and equal `expect`).
std::string RoundTrip(Value v, const std::string& expect) {
  std::string text, again, error;
  EXPECT_TRUE(SerializeValue(v, &text, &error)) << error;
  EXPECT_EQ(text, expect);
  Value w;
  EXPECT_TRUE(ParseValue(text, &w, &error)) << error;
  EXPECT_EQ(w.tag, v.tag);
  if (w.tag == Tag::kObj) {
    EXPECT_EQ(w.o->kind, v.o->kind);
  }
  EXPECT_TRUE(SerializeValue(w, &again, &error)) << error;
  EXPECT_EQ(again, text);
  Release(w);
  return text;
}

TEST(Values, TaggedFormsKeepTypesJsonHasNoFormFor) {
  Value range = Value::Object(new RangeObj(2, 7));
  RoundTrip(range, "@range[2,7]");
  Release(range);

  auto* portion = new ArrayObj();
  portion->portion_index = 1;
  portion->portion_displacement = 3;
  portion->v = {Value::Int(4), MakeString("x")};
  Value pv = Value::Object(portion);
  RoundTrip(pv, R"(@portion[1,3,[4,"x"]])");
  Release(pv);

  auto* file = new FileObj();
  file->path = "data/a.txt";
  file->portion_index = 0;
  file->lines =
      std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"one", "t\"wo"});
  Value fv = Value::Object(file);
  RoundTrip(fv, R"(@file{"path":"data/a.txt","dir":false,"index":0,"lines":["one","t\"wo"]})");
  Release(fv);

  auto table = std::make_shared<Table>();
  table->columns = {"n", "x", "s"};
  for (int r = 0; r < 4; ++r) {
    std::vector<Cell> row(3);
    row[0].kind = Cell::kInt;
    row[0].i = r;
    row[1].kind = Cell::kDouble;
    row[1].d = r + 0.5;
    row[2].kind = r == 2 ? Cell::kNull : Cell::kString;
    row[2].s = "s" + std::to_string(r);
    table->rows.push_back(row);
  }
  auto* df = new DataframeObj();
  df->table = table;
  df->begin = 1;
  df->end = 3;
  df->portion_index = 5;
  Value dv = Value::Object(df);
  RoundTrip(dv,
            R"(@dataframe{"index":5,"columns":["n","x","s"],"rows":[[1,1.5,"s1"],[2,2.5,null]]})");
  Release(dv);
  auto* row = new RowObj();
  row->table = table;
  row->row = 3;
  row->number = 1;
  Value rv = Value::Object(row);
  RoundTrip(rv, R"(@row{"number":1,"columns":["n","x","s"],"cells":[3,3.5,"s3"]})");
  Release(rv);

  Value nan = Value::Double(std::numeric_limits<double>::quiet_NaN());
  RoundTrip(nan, R"(@double"NaN")");
  RoundTrip(Value::Double(-std::numeric_limits<double>::infinity()), R"(@double"-Infinity")");
}

TEST(Values, TagsAreRejectedInPlainJsonAndWhenMalformed) {
  Value v;
  std::string error;
  EXPECT_FALSE(ParseJson("@range[1,2]", &v, &error));
  EXPECT_NE(error.find("unexpected character '@'"), std::string::npos) << error;
  for (const char* bad :
       {"@range[1]", "@range[1,\"a\"]", "@portion[0,0]", "@nothing[1]",
        R"(@file{"path":3,"index":0})", R"(@dataframe{"index":0,"columns":["a"],"rows":[[1,2]]})",
        R"(@double"Pi")", "@range"}) {
    error.clear();
    EXPECT_FALSE(ParseValue(bad, &v, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  // Plain JSON still parses in both modes.
  ASSERT_TRUE(ParseJson(R"({"a": [1, 2]})", &v, &error)) << error;
  Release(v);
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
