// The FLY scanner: source text to tokens. Whitespace and comments (`//`, `/* */` and, for the
// seed programs, `#` to end of line) are skipped. Errors come back as kError tokens whose text
// is the message; the parser reports them with their position.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace volo::fly {

// Keywords, in FLY's spelling. The original reserves all of these; volo adds break/continue.
// clang-format off
#define FLY_KEYWORDS(X) \
  X(kVar, "var") \
  X(kConst, "const") \
  X(kFunc, "func") \
  X(kReturn, "return") \
  X(kIf, "if") \
  X(kElse, "else") \
  X(kFor, "for") \
  X(kIn, "in") \
  X(kBy, "by") \
  X(kRow, "row") \
  X(kCol, "col") \
  X(kDelimeter, "delimeter") \
  X(kWhile, "while") \
  X(kFly, "fly") \
  X(kAsync, "async") \
  X(kOn, "on") \
  X(kThen, "then") \
  X(kThenall, "thenall") \
  X(kNative, "native") \
  X(kRequire, "require") \
  X(kSort, "sort") \
  X(kAsc, "asc") \
  X(kDesc, "desc") \
  X(kPrint, "print") \
  X(kPrintln, "println") \
  X(kAnd, "and") \
  X(kOr, "or") \
  X(kNot, "not") \
  X(kAs, "as") \
  X(kParse, "parse") \
  X(kMath, "Math") \
  X(kTime, "time") \
  X(kExecEnv, "execution_environment") \
  X(kTrue, "true") \
  X(kFalse, "false") \
  X(kTString, "String") \
  X(kTInteger, "Integer") \
  X(kTDate, "Date") \
  X(kTDat, "Dat") \
  X(kTObject, "Object") \
  X(kTDouble, "Double") \
  X(kTMatrix, "Matrix") \
  X(kTArrayList, "ArrayList") \
  X(kTArray, "Array") \
  X(kSquare, "square") \
  X(kBreak, "break") \
  X(kContinue, "continue")
// clang-format on

enum class Tok : uint8_t {
  kEof,
  kError,
  kIdent,
  kInt,
  kFloat,
  kString,
  kNativeCode,
  kLParen,
  kRParen,
  kLBrace,
  kRBrace,
  kLBracket,
  kRBracket,
  kComma,
  kDot,
  kColon,
  kSemicolon,
  kAssign,
  kPlusAssign,
  kMinusAssign,
  kStarAssign,
  kSlashAssign,
  kPlus,
  kMinus,
  kStar,
  kSlash,
  kPercent,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kBang,
  kQuestion,
  kPlusPlus,
  kMinusMinus,
#define FLY_TOK_ENUM(name, text) name,
  FLY_KEYWORDS(FLY_TOK_ENUM)
#undef FLY_TOK_ENUM
};

// "identifier", "'+'", "'while'", ...: how a token kind reads in an error message.
std::string_view TokName(Tok t);

struct Token {
  Tok type = Tok::kEof;
  std::string_view text;  // the lexeme
  std::string value;      // unescaped string literal, native code body, or kError's message
  int64_t int_value = 0;
  double double_value = 0;
  int line = 1;
  int col = 1;
};

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(source) {}
  Token Next();

 private:
  Token Make(Tok t, size_t start, int line, int col);
  Token Error(std::string_view msg, int line, int col);
  char Peek(size_t ahead = 0) const { return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : 0; }
  void Advance();
  bool SkipSpace(Token* error);
  Token String(char quote, int line, int col);
  Token Number(int line, int col);

  std::string_view src_;
  size_t pos_ = 0;
  int line_ = 1;
  int col_ = 1;
};

}  // namespace volo::fly
