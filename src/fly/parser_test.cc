#include "fly/parser.h"

#include <gtest/gtest.h>

namespace volo::fly {
namespace {

ParsedProgram Parse(std::string_view src, std::vector<Diagnostic>* diags = nullptr) {
  Parser p(src);
  ParsedProgram prog = p.ParseProgram();
  if (diags) *diags = p.diagnostics();
  return prog;
}

TEST(Parser, PrecedenceAndCasts) {
  auto prog = Parse("println 1 + 2 * 3 as Integer");
  ASSERT_EQ(prog.stmts.size(), 1u);
  Expr& e = *prog.stmts[0]->value;
  ASSERT_EQ(e.kind, ExprKind::kBinary);
  EXPECT_EQ(e.op, Tok::kPlus);
  Expr& mul = *e.kids[1];
  EXPECT_EQ(mul.op, Tok::kStar);
  EXPECT_EQ(mul.kids[1]->kind, ExprKind::kCast);  // the cast binds to 3 only
}

TEST(Parser, BracketForms) {
  auto prog =
      Parse("var a = [k=\"v\", n=1] var b = [0:10] var c = [[1, 2], [3, 4]] var d = {x=1, 2}");
  ASSERT_EQ(prog.stmts.size(), 4u);
  EXPECT_EQ(prog.stmts[0]->value->kind, ExprKind::kDecl);
  EXPECT_EQ(prog.stmts[1]->value->kind, ExprKind::kRange);
  EXPECT_EQ(prog.stmts[2]->value->kind, ExprKind::kArray);
  EXPECT_EQ(prog.stmts[2]->value->kids[0]->kind, ExprKind::kArray);
  Expr& m = *prog.stmts[3]->value;
  EXPECT_EQ(m.kind, ExprKind::kMap);
  EXPECT_EQ(m.keys, (std::vector<std::string>{"x", ""}));
}

TEST(Parser, StatementsFromIdentifiers) {
  auto prog = Parse("x = 1 x += 2 x++ f(1) ch!1 on e ch? m.put(1, 2) a[0] = 1 m.k = 2");
  std::vector<StmtKind> kinds;
  for (auto& s : prog.stmts) kinds.push_back(s->kind);
  EXPECT_EQ(kinds, (std::vector<StmtKind>{StmtKind::kAssign, StmtKind::kAssign, StmtKind::kIncr,
                                          StmtKind::kExpr, StmtKind::kExpr, StmtKind::kExpr,
                                          StmtKind::kExpr, StmtKind::kAssign, StmtKind::kAssign}));
  EXPECT_EQ(prog.stmts[4]->value->kind, ExprKind::kSend);
  EXPECT_EQ(prog.stmts[5]->value->kind, ExprKind::kRecv);
}

TEST(Parser, FlyForms) {
  auto prog = Parse(
      "fly f in [0:10] on e then g thenall h\n"
      "var hd = async fly f(1, 2) on e\n"
      "fly f in m by col on e");
  ASSERT_EQ(prog.stmts.size(), 3u);
  FlySpec& a = *prog.stmts[0]->value->fly;
  EXPECT_EQ(a.input, FlyInput::kIn);
  EXPECT_EQ(a.then_fn, "g");
  EXPECT_EQ(a.thenall_fn, "h");
  FlySpec& b = *prog.stmts[1]->value->fly;
  EXPECT_TRUE(b.is_async);
  EXPECT_EQ(b.input, FlyInput::kArgs);
  EXPECT_EQ(b.args.size(), 2u);
  EXPECT_EQ(prog.stmts[2]->value->fly->split, FlySplit::kCol);
}

TEST(Parser, DanglingElseBindsToNearestIf) {
  auto prog = Parse("if (a) if (b) f() else g()");
  Stmt& outer = *prog.stmts[0];
  ASSERT_EQ(outer.body.size(), 1u);
  EXPECT_EQ(outer.body[0]->body.size(), 2u);
}

TEST(Parser, RecoversAndReportsSeveralErrors) {
  std::vector<Diagnostic> diags;
  Parse("var a = = 1\nprintln 2\nvar b = )\nprintln 3\n", &diags);
  ASSERT_EQ(diags.size(), 2u);
  EXPECT_EQ(diags[0].pos.line, 1);
  EXPECT_EQ(diags[0].pos.col, 9);
  EXPECT_EQ(diags[1].pos.line, 3);
}

TEST(Parser, IncompleteInputIsFlagged) {
  Parser p("func f() {\n  println 1\n");
  p.ParseProgram();
  EXPECT_TRUE(p.hit_eof());
  Parser q("println 1 )");
  q.ParseProgram();
  EXPECT_FALSE(q.hit_eof());
}

TEST(Diagnostic, FormatsWithCaret) {
  Diagnostic d{{2, 5}, "oops"};
  EXPECT_EQ(FormatDiagnostic("p.fly", "a\nbcdefg\n", d),
            "p.fly:2:5: oops\n    bcdefg\n        ^\n");
}

}  // namespace
}  // namespace volo::fly
