#include "fly/lexer.h"

#include <array>
#include <charconv>
#include <string>

namespace volo::fly {

namespace {

struct Keyword {
  std::string_view text;
  Tok tok;
};
constexpr Keyword kKeywords[] = {
#define FLY_KW_ENTRY(name, text) {text, Tok::name},
    FLY_KEYWORDS(FLY_KW_ENTRY)
#undef FLY_KW_ENTRY
};

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '$'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || c == '_' || (c >= '0' && c <= '9'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string_view TokName(Tok t) {
  switch (t) {
    case Tok::kEof:
      return "end of file";
    case Tok::kError:
      return "error";
    case Tok::kIdent:
      return "identifier";
    case Tok::kInt:
      return "integer";
    case Tok::kFloat:
      return "number";
    case Tok::kString:
      return "string";
    case Tok::kNativeCode:
      return "native code";
    case Tok::kLParen:
      return "'('";
    case Tok::kRParen:
      return "')'";
    case Tok::kLBrace:
      return "'{'";
    case Tok::kRBrace:
      return "'}'";
    case Tok::kLBracket:
      return "'['";
    case Tok::kRBracket:
      return "']'";
    case Tok::kComma:
      return "','";
    case Tok::kDot:
      return "'.'";
    case Tok::kColon:
      return "':'";
    case Tok::kSemicolon:
      return "';'";
    case Tok::kAssign:
      return "'='";
    case Tok::kPlusAssign:
      return "'+='";
    case Tok::kMinusAssign:
      return "'-='";
    case Tok::kStarAssign:
      return "'*='";
    case Tok::kSlashAssign:
      return "'/='";
    case Tok::kPlus:
      return "'+'";
    case Tok::kMinus:
      return "'-'";
    case Tok::kStar:
      return "'*'";
    case Tok::kSlash:
      return "'/'";
    case Tok::kPercent:
      return "'%'";
    case Tok::kEq:
      return "'=='";
    case Tok::kNe:
      return "'!='";
    case Tok::kLt:
      return "'<'";
    case Tok::kLe:
      return "'<='";
    case Tok::kGt:
      return "'>'";
    case Tok::kGe:
      return "'>='";
    case Tok::kBang:
      return "'!'";
    case Tok::kQuestion:
      return "'?'";
    case Tok::kPlusPlus:
      return "'++'";
    case Tok::kMinusMinus:
      return "'--'";
#define FLY_KW_NAME(name, text) \
  case Tok::name:               \
    return "'" text "'";
      FLY_KEYWORDS(FLY_KW_NAME)
#undef FLY_KW_NAME
  }
  return "?";
}

void Lexer::Advance() {
  if (src_[pos_] == '\n') {
    ++line_;
    col_ = 1;
  } else {
    ++col_;
  }
  ++pos_;
}

Token Lexer::Make(Tok t, size_t start, int line, int col) {
  Token tok;
  tok.type = t;
  tok.text = src_.substr(start, pos_ - start);
  tok.line = line;
  tok.col = col;
  return tok;
}

Token Lexer::Error(std::string_view msg, int line, int col) {
  Token tok;
  tok.type = Tok::kError;
  tok.value = std::string(msg);
  tok.line = line;
  tok.col = col;
  return tok;
}

// Returns false (and fills *error) for an unterminated block comment.
bool Lexer::SkipSpace(Token* error) {
  for (;;) {
    char c = Peek();
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
      Advance();
    } else if (c == '#' || (c == '/' && Peek(1) == '/')) {
      while (pos_ < src_.size() && Peek() != '\n') Advance();
    } else if (c == '/' && Peek(1) == '*') {
      int line = line_, col = col_;
      Advance();
      Advance();
      while (pos_ < src_.size() && !(Peek() == '*' && Peek(1) == '/')) Advance();
      if (pos_ >= src_.size()) {
        *error = Error("unterminated comment: '/*' has no matching '*/'", line, col);
        return false;
      }
      Advance();
      Advance();
    } else {
      return true;
    }
  }
}

Token Lexer::String(char quote, int line, int col) {
  size_t start = pos_;
  Advance();  // opening quote
  std::string value;
  for (;;) {
    if (pos_ >= src_.size() || Peek() == '\n')
      return Error("unterminated string: missing closing " + std::string(1, quote), line, col);
    char c = Peek();
    if (c == quote) {
      Advance();
      break;
    }
    if (c == '\\') {
      int eline = line_, ecol = col_;
      Advance();
      if (pos_ >= src_.size()) return Error("unterminated string", line, col);
      char e = Peek();
      Advance();
      switch (e) {
        case 'n':
          value += '\n';
          break;
        case 't':
          value += '\t';
          break;
        case 'r':
          value += '\r';
          break;
        case 'b':
          value += '\b';
          break;
        case 'f':
          value += '\f';
          break;
        case '0':
          value += '\0';
          break;
        case '\\':
          value += '\\';
          break;
        case '"':
          value += '"';
          break;
        case '\'':
          value += '\'';
          break;
        case 'u': {
          unsigned cp = 0;
          for (int k = 0; k < 4; ++k) {
            char h = Peek();
            int d = IsDigit(h)               ? h - '0'
                    : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                    : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                             : -1;
            if (d < 0) return Error("bad \\u escape: expected 4 hex digits", eline, ecol);
            cp = cp * 16 + d;
            Advance();
          }
          if (cp < 0x80) {
            value += static_cast<char>(cp);
          } else if (cp < 0x800) {
            value += static_cast<char>(0xC0 | (cp >> 6));
            value += static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            value += static_cast<char>(0xE0 | (cp >> 12));
            value += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            value += static_cast<char>(0x80 | (cp & 0x3F));
          }
          break;
        }
        default:
          return Error(std::string("unknown escape sequence '\\") + e + "'", eline, ecol);
      }
      continue;
    }
    value += c;
    Advance();
  }
  Token t = Make(Tok::kString, start, line, col);
  t.value = std::move(value);
  return t;
}

Token Lexer::Number(int line, int col) {
  size_t start = pos_;
  while (IsDigit(Peek())) Advance();
  bool is_float = false;
  if (Peek() == '.' && IsDigit(Peek(1))) {
    is_float = true;
    Advance();
    while (IsDigit(Peek())) Advance();
  }
  if (IsIdentStart(Peek()) || Peek() == '_') {
    return Error("malformed number: a letter follows the digits", line, col);
  }
  Token t = Make(is_float ? Tok::kFloat : Tok::kInt, start, line, col);
  if (is_float) {
    t.double_value = std::strtod(std::string(t.text).c_str(), nullptr);
  } else {
    auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), t.int_value);
    if (r.ec != std::errc()) {
      return Error("integer literal too large (the limit is 9223372036854775807)", line, col);
    }
  }
  return t;
}

Token Lexer::Next() {
  Token err;
  if (!SkipSpace(&err)) return err;
  int line = line_, col = col_;
  size_t start = pos_;
  if (pos_ >= src_.size()) return Make(Tok::kEof, start, line, col);
  char c = Peek();
  if (IsIdentStart(c)) {
    while (IsIdentChar(Peek())) Advance();
    std::string_view word = src_.substr(start, pos_ - start);
    for (const auto& k : kKeywords) {
      if (k.text == word) {
        if (k.tok == Tok::kNative) {
          // native <<< ... >>>: the whole block is one token after the keyword.
          Token kw = Make(Tok::kNative, start, line, col);
          return kw;
        }
        return Make(k.tok, start, line, col);
      }
    }
    return Make(Tok::kIdent, start, line, col);
  }
  if (IsDigit(c)) return Number(line, col);
  if (c == '"' || c == '\'') return String(c, line, col);
  auto one = [&](Tok t) {
    Advance();
    return Make(t, start, line, col);
  };
  auto two = [&](Tok t) {
    Advance();
    Advance();
    return Make(t, start, line, col);
  };
  char n = Peek(1);
  switch (c) {
    case '(':
      return one(Tok::kLParen);
    case ')':
      return one(Tok::kRParen);
    case '{':
      return one(Tok::kLBrace);
    case '}':
      return one(Tok::kRBrace);
    case '[':
      return one(Tok::kLBracket);
    case ']':
      return one(Tok::kRBracket);
    case ',':
      return one(Tok::kComma);
    case '.':
      return one(Tok::kDot);
    case ':':
      return one(Tok::kColon);
    case ';':
      return one(Tok::kSemicolon);
    case '?':
      return one(Tok::kQuestion);
    case '%':
      return one(Tok::kPercent);
    case '=':
      return n == '=' ? two(Tok::kEq) : one(Tok::kAssign);
    case '!':
      return n == '=' ? two(Tok::kNe) : one(Tok::kBang);
    case '<':
      if (n == '<' && Peek(2) == '<') {
        // A native code block: everything up to the first ">>>".
        size_t end = src_.find(">>>", pos_ + 3);
        if (end == std::string_view::npos) {
          while (pos_ < src_.size()) Advance();
          return Error("unterminated native block: '<<<' has no matching '>>>'", line, col);
        }
        std::string body(src_.substr(pos_ + 3, end - pos_ - 3));
        while (pos_ < end + 3) Advance();
        Token t = Make(Tok::kNativeCode, start, line, col);
        t.value = std::move(body);
        return t;
      }
      return n == '=' ? two(Tok::kLe) : one(Tok::kLt);
    case '>':
      return n == '=' ? two(Tok::kGe) : one(Tok::kGt);
    case '+':
      if (n == '+') return two(Tok::kPlusPlus);
      return n == '=' ? two(Tok::kPlusAssign) : one(Tok::kPlus);
    case '-':
      if (n == '-') return two(Tok::kMinusMinus);
      return n == '=' ? two(Tok::kMinusAssign) : one(Tok::kMinus);
    case '*':
      return n == '=' ? two(Tok::kStarAssign) : one(Tok::kStar);
    case '/':
      return n == '=' ? two(Tok::kSlashAssign) : one(Tok::kSlash);
    default:
      break;
  }
  Advance();
  if (c == '_') return Error("identifiers cannot start with '_'", line, col);
  if (static_cast<unsigned char>(c) >= 0x80) {
    while (pos_ < src_.size() && (static_cast<unsigned char>(Peek()) & 0xC0) == 0x80) Advance();
    return Error("unexpected non-ASCII character outside a string", line, col);
  }
  char buf[64];
  if (static_cast<unsigned char>(c) < 0x20) {
    snprintf(buf, sizeof buf, "unexpected control character 0x%02x", c);
  } else {
    snprintf(buf, sizeof buf, "unexpected character '%c'", c);
  }
  return Error(buf, line, col);
}

}  // namespace volo::fly
