#include "fly/lexer.h"

#include <gtest/gtest.h>

#include <vector>

namespace volo::fly {
namespace {

std::vector<Tok> Kinds(std::string_view src) {
  Lexer lexer(src);
  std::vector<Tok> out;
  for (;;) {
    Token t = lexer.Next();
    out.push_back(t.type);
    if (t.type == Tok::kEof || t.type == Tok::kError) return out;
  }
}

TEST(Lexer, KeywordsIdentifiersAndPunctuation) {
  EXPECT_EQ(Kinds("var x = [type=\"smp\"] on local"),
            (std::vector<Tok>{Tok::kVar, Tok::kIdent, Tok::kAssign, Tok::kLBracket, Tok::kIdent,
                              Tok::kAssign, Tok::kString, Tok::kRBracket, Tok::kOn, Tok::kIdent,
                              Tok::kEof}));
  EXPECT_EQ(
      Kinds("ch!msg ch? x++ y-- a+=1 b-=2 c*=3 d/=4"),
      (std::vector<Tok>{Tok::kIdent,      Tok::kBang,        Tok::kIdent,      Tok::kIdent,
                        Tok::kQuestion,   Tok::kIdent,       Tok::kPlusPlus,   Tok::kIdent,
                        Tok::kMinusMinus, Tok::kIdent,       Tok::kPlusAssign, Tok::kInt,
                        Tok::kIdent,      Tok::kMinusAssign, Tok::kInt,        Tok::kIdent,
                        Tok::kStarAssign, Tok::kInt,         Tok::kIdent,      Tok::kSlashAssign,
                        Tok::kInt,        Tok::kEof}));
  EXPECT_EQ(Kinds("== != <= >= < > % not and or"),
            (std::vector<Tok>{Tok::kEq, Tok::kNe, Tok::kLe, Tok::kGe, Tok::kLt, Tok::kGt,
                              Tok::kPercent, Tok::kNot, Tok::kAnd, Tok::kOr, Tok::kEof}));
}

TEST(Lexer, CommentsAreSkipped) {
  EXPECT_EQ(Kinds("# hash\n// line\n/* block\n */ 1"), (std::vector<Tok>{Tok::kInt, Tok::kEof}));
}

TEST(Lexer, Numbers) {
  Lexer lexer("42 3.25 034 9223372036854775807");
  Token a = lexer.Next(), b = lexer.Next(), c = lexer.Next(), d = lexer.Next();
  EXPECT_EQ(a.int_value, 42);
  EXPECT_EQ(b.type, Tok::kFloat);
  EXPECT_DOUBLE_EQ(b.double_value, 3.25);
  EXPECT_EQ(c.int_value, 34);
  EXPECT_EQ(d.int_value, 9223372036854775807LL);
  EXPECT_EQ(Kinds("9223372036854775808").back(), Tok::kError);
  EXPECT_EQ(Kinds("1.").size(), 3u);  // 1 then '.'
}

TEST(Lexer, StringsUnescapeOnce) {
  Lexer lexer(R"("a\nb" 'it\'s' "\\n")");
  EXPECT_EQ(lexer.Next().value, "a\nb");
  EXPECT_EQ(lexer.Next().value, "it's");
  EXPECT_EQ(lexer.Next().value, "\\n");
}

TEST(Lexer, PositionsAreOneBased) {
  Lexer lexer("a\n  bb");
  Token a = lexer.Next();
  Token b = lexer.Next();
  EXPECT_EQ(a.line, 1);
  EXPECT_EQ(a.col, 1);
  EXPECT_EQ(b.line, 2);
  EXPECT_EQ(b.col, 3);
}

TEST(Lexer, Errors) {
  Lexer l1("\"open");
  Token t = l1.Next();
  EXPECT_EQ(t.type, Tok::kError);
  EXPECT_EQ(t.value, "unterminated string: missing closing \"");
  Lexer l2("@");
  EXPECT_EQ(l2.Next().value, "unexpected character '@'");
  Lexer l3("/* x");
  EXPECT_EQ(l3.Next().value, "unterminated comment: '/*' has no matching '*/'");
}

TEST(Lexer, NativeBlock) {
  Lexer lexer("native <<< console.log(1) >>> x");
  EXPECT_EQ(lexer.Next().type, Tok::kNative);
  Token code = lexer.Next();
  EXPECT_EQ(code.type, Tok::kNativeCode);
  EXPECT_EQ(code.value, " console.log(1) ");
  EXPECT_EQ(lexer.Next().type, Tok::kIdent);
}

}  // namespace
}  // namespace volo::fly
