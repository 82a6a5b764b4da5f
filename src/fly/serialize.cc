#include "fly/serialize.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "common/json_text.h"

namespace volo::fly {

namespace {

void Quote(const std::string& s, std::string* out) { AppendJsonString(*out, s); }

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool Parse(Value* out, std::string* error) {
    if (!Val(out, 0)) {
      *error = error_.empty() ? "malformed text" : error_;
      return false;
    }
    Space();
    if (p_ != s_.size()) {
      Release(*out);
      *error = "unexpected text after the value at offset " + std::to_string(p_);
      return false;
    }
    return true;
  }

 private:
  void Space() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\n' || s_[p_] == '\t' || s_[p_] == '\r'))
      ++p_;
  }
  bool Fail(std::string m) {
    if (error_.empty()) error_ = m + " at offset " + std::to_string(p_);
    return false;
  }
  bool Lit(std::string_view w) {
    if (s_.substr(p_, w.size()) != w) return false;
    p_ += w.size();
    return true;
  }
  bool Str(std::string* out) {
    ++p_;
    while (p_ < s_.size() && s_[p_] != '"') {
      char c = s_[p_++];
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (p_ >= s_.size()) break;
      char e = s_[p_++];
      switch (e) {
        case 'n':
          *out += '\n';
          break;
        case 't':
          *out += '\t';
          break;
        case 'r':
          *out += '\r';
          break;
        case 'b':
          *out += '\b';
          break;
        case 'f':
          *out += '\f';
          break;
        case 'u': {
          if (p_ + 4 > s_.size()) return Fail("bad \\u escape");
          unsigned cp = 0;
          auto r = std::from_chars(s_.data() + p_, s_.data() + p_ + 4, cp, 16);
          if (r.ptr != s_.data() + p_ + 4) return Fail("bad \\u escape");
          p_ += 4;
          if (cp < 0x80) {
            *out += static_cast<char>(cp);
          } else if (cp < 0x800) {
            *out += static_cast<char>(0xC0 | (cp >> 6));
            *out += static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            *out += static_cast<char>(0xE0 | (cp >> 12));
            *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            *out += static_cast<char>(0x80 | (cp & 0x3F));
          }
          break;
        }
        default:
          *out += e;
      }
    }
    if (p_ >= s_.size()) return Fail("unterminated string");
    ++p_;
    return true;
  }
  bool Val(Value* out, int depth) {
    if (depth > 200) return Fail("nesting too deep");
    Space();
    if (p_ >= s_.size()) return Fail("unexpected end");
    char c = s_[p_];
    if (c == '"') {
      std::string s;
      if (!Str(&s)) return false;
      *out = MakeString(std::move(s));
      return true;
    }
    if (c == '[') {
      ++p_;
      auto* a = new ArrayObj();
      Value av = Value::Object(a);
      Space();
      if (p_ < s_.size() && s_[p_] == ']') {
        ++p_;
        *out = av;
        return true;
      }
      for (;;) {
        Value e;
        if (!Val(&e, depth + 1)) {
          Release(av);
          return false;
        }
        a->v.push_back(e);
        Space();
        if (p_ < s_.size() && s_[p_] == ',') {
          ++p_;
          continue;
        }
        if (p_ < s_.size() && s_[p_] == ']') {
          ++p_;
          *out = av;
          return true;
        }
        Release(av);
        return Fail("expected ',' or ']'");
      }
    }
    if (c == '{') {
      ++p_;
      auto* m = new MapObj();
      Value mv = Value::Object(m);
      Space();
      if (p_ < s_.size() && s_[p_] == '}') {
        ++p_;
        *out = mv;
        return true;
      }
      for (;;) {
        Value k, v;
        if (!Val(&k, depth + 1)) {
          Release(mv);
          return false;
        }
        Space();
        if (p_ >= s_.size() || s_[p_] != ':') {
          Release(k);
          Release(mv);
          return Fail("expected ':'");
        }
        ++p_;
        if (!Val(&v, depth + 1)) {
          Release(k);
          Release(mv);
          return false;
        }
        m->m.Set(k, v);
        Space();
        if (p_ < s_.size() && s_[p_] == ',') {
          ++p_;
          continue;
        }
        if (p_ < s_.size() && s_[p_] == '}') {
          ++p_;
          *out = mv;
          return true;
        }
        Release(mv);
        return Fail("expected ',' or '}'");
      }
    }
    if (Lit("true")) {
      *out = Value::Bool(true);
      return true;
    }
    if (Lit("false")) {
      *out = Value::Bool(false);
      return true;
    }
    if (Lit("null")) {
      *out = Value();
      return true;
    }
    size_t start = p_;
    if (p_ < s_.size() && (s_[p_] == '-' || s_[p_] == '+')) ++p_;
    bool is_double = false;
    while (p_ < s_.size() &&
           ((s_[p_] >= '0' && s_[p_] <= '9') || s_[p_] == '.' || s_[p_] == 'e' || s_[p_] == 'E' ||
            ((s_[p_] == '-' || s_[p_] == '+') && (s_[p_ - 1] == 'e' || s_[p_ - 1] == 'E')))) {
      if (s_[p_] == '.' || s_[p_] == 'e' || s_[p_] == 'E') is_double = true;
      ++p_;
    }
    std::string num(s_.substr(start, p_ - start));
    if (num.empty() || num == "-" || num == "+") return Fail("unexpected character");
    if (num[0] == '+') num.erase(0, 1);
    char* end = nullptr;
    if (!is_double) {
      errno = 0;
      long long n = std::strtoll(num.c_str(), &end, 10);
      if (*end == 0 && errno == 0) {
        *out = Value::Int(n);
        return true;
      }
    }
    double d = std::strtod(num.c_str(), &end);
    if (*end != 0) return Fail("bad number");
    *out = Value::Double(d);
    return true;
  }

  std::string_view s_;
  size_t p_ = 0;
  std::string error_;
};

}  // namespace

bool SerializeValue(Value v, std::string* out, std::string* error) {
  switch (v.tag) {
    case Tag::kNull:
      *out += "null";
      return true;
    case Tag::kBool:
      *out += v.b ? "true" : "false";
      return true;
    case Tag::kInt:
      *out += std::to_string(v.i);
      return true;
    case Tag::kDouble: {
      if (!std::isfinite(v.d)) {
        *out += std::isnan(v.d) ? "\"NaN\"" : v.d > 0 ? "\"Infinity\"" : "\"-Infinity\"";
        return true;
      }
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, v.d);
      std::string s(buf, r.ptr);
      if (s.find_first_of(".eE") == std::string::npos) s += ".0";
      *out += s;
      return true;
    }
    case Tag::kChannel:
    case Tag::kEnv:
      *error = std::string("a ") + TypeName(v) + " cannot be serialized";
      return false;
    case Tag::kObj:
      break;
  }
  switch (v.o->kind) {
    case ObjKind::kString:
      Quote(AsStr(v)->s, out);
      return true;
    case ObjKind::kArray: {
      *out += '[';
      bool first = true;
      for (Value x : AsArray(v)->v) {
        if (!first) *out += ',';
        first = false;
        if (!SerializeValue(x, out, error)) return false;
      }
      *out += ']';
      return true;
    }
    case ObjKind::kMap: {
      *out += '{';
      bool first = true;
      for (const auto& e : AsMap(v)->m.entries()) {
        if (e.key.IsNull()) continue;
        if (!first) *out += ',';
        first = false;
        if (!SerializeValue(e.key, out, error)) return false;
        *out += ':';
        if (!SerializeValue(e.val, out, error)) return false;
      }
      *out += '}';
      return true;
    }
    case ObjKind::kRange: {
      auto* r = static_cast<RangeObj*>(v.o);
      *out += "[" + std::to_string(r->lo) + "," + std::to_string(r->hi) + "]";
      return true;
    }
    default:
      *error = std::string("a ") + TypeName(v) + " cannot be serialized";
      return false;
  }
}

bool ParseValue(std::string_view text, Value* out, std::string* error) {
  Reader r(text);
  return r.Parse(out, error);
}

}  // namespace volo::fly
