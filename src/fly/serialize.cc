#include "fly/serialize.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <vector>

#include "common/json_text.h"
#include "fly/shortest_double.h"

namespace volo::fly {

namespace {

void Quote(const std::string& s, std::string* out) { AppendJsonString(*out, s); }

bool ToCell(Value v, Cell* c) {
  if (v.IsNull()) {
    c->kind = Cell::kNull;
  } else if (v.IsInt()) {
    c->kind = Cell::kInt;
    c->i = v.i;
  } else if (v.tag == Tag::kDouble) {
    c->kind = Cell::kDouble;
    c->d = v.d;
  } else if (v.Is(ObjKind::kString)) {
    c->kind = Cell::kString;
    c->s = AsStr(v)->s;
  } else {
    return false;
  }
  return true;
}

bool AppendCellText(const Cell& c, std::string* out, std::string* error) {
  switch (c.kind) {
    case Cell::kNull:
      *out += "null";
      return true;
    case Cell::kInt:
      return SerializeValue(Value::Int(c.i), out, error);
    case Cell::kDouble:
      return SerializeValue(Value::Double(c.d), out, error);
    case Cell::kString:
      Quote(c.s, out);
      return true;
  }
  return true;
}

// Strings of an array value; false when it is not an array of strings.
bool Strings(Value v, std::vector<std::string>* out) {
  if (!v.Is(ObjKind::kArray)) return false;
  for (Value e : AsArray(v)->v) {
    if (!e.Is(ObjKind::kString)) return false;
    out->push_back(AsStr(e)->s);
  }
  return true;
}

class Reader {
 public:
  Reader(std::string_view s, bool tagged) : s_(s), tagged_(tagged) {}
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
    // A little above kMaxTransferDepth: the tagged forms wrap their payload in one or two
    // levels of their own, and whatever SerializeValue wrote must parse.
    if (depth > kMaxTransferDepth + 8) {
      return Fail("nested more than " + std::to_string(kMaxTransferDepth) + " levels deep");
    }
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
    if (c == '@') {
      if (!tagged_) return Fail("unexpected character '@'");
      return Tagged(out, depth);
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

  // '@word' and its payload (serialize.h lists the forms).
  bool Tagged(Value* out, int depth) {
    size_t at = p_++;
    size_t start = p_;
    while (p_ < s_.size() && s_[p_] >= 'a' && s_[p_] <= 'z') ++p_;
    std::string tag(s_.substr(start, p_ - start));
    Value payload;
    if (!Val(&payload, depth + 1)) return false;
    bool ok = Build(tag, payload, out);
    Release(payload);
    if (!ok) {
      p_ = at;
      return Fail("malformed @" + tag + " value");
    }
    return true;
  }

  static bool Build(const std::string& tag, Value p, Value* out) {
    auto ints = [](Value a, size_t n) {
      if (!a.Is(ObjKind::kArray) || AsArray(a)->v.size() < n) return false;
      for (size_t k = 0; k < n; ++k)
        if (!AsArray(a)->v[k].IsInt()) return false;
      return true;
    };
    if (tag == "range") {
      if (!ints(p, 2) || AsArray(p)->v.size() != 2) return false;
      *out = Value::Object(new RangeObj(AsArray(p)->v[0].i, AsArray(p)->v[1].i));
      return true;
    }
    if (tag == "portion") {
      if (!ints(p, 2) || AsArray(p)->v.size() != 3 || !AsArray(p)->v[2].Is(ObjKind::kArray))
        return false;
      auto& parts = AsArray(p)->v;
      auto* a = new ArrayObj();
      a->portion_index = parts[0].i;
      a->portion_displacement = parts[1].i;
      a->v = std::move(AsArray(parts[2])->v);
      AsArray(parts[2])->v.clear();
      *out = Value::Object(a);
      return true;
    }
    if (tag == "double") {
      if (!p.Is(ObjKind::kString)) return false;
      const std::string& s = AsStr(p)->s;
      double inf = std::numeric_limits<double>::infinity();
      if (s == "NaN") {
        *out = Value::Double(std::numeric_limits<double>::quiet_NaN());
      } else if (s == "Infinity") {
        *out = Value::Double(inf);
      } else if (s == "-Infinity") {
        *out = Value::Double(-inf);
      } else {
        return false;
      }
      return true;
    }
    if (tag == "file") {
      Value path = MapField(p, "path"), lines = MapField(p, "lines"), index = MapField(p, "index");
      if (!path.Is(ObjKind::kString) || !index.IsInt()) return false;
      auto* f = new FileObj();
      Value fv = Value::Object(f);
      f->path = AsStr(path)->s;
      f->is_dir = MapField(p, "dir").IsBool() && MapField(p, "dir").b;
      f->portion_index = index.i;
      if (!lines.IsNull()) {
        auto text = std::make_shared<std::vector<std::string>>();
        if (!Strings(lines, text.get())) return Release(fv), false;
        f->lines = std::move(text);
      }
      *out = fv;
      return true;
    }
    if (tag == "dataframe" || tag == "row") {
      Value index = MapField(p, tag == "row" ? "number" : "index");
      auto table = std::make_shared<Table>();
      if (!index.IsInt() || !Strings(MapField(p, "columns"), &table->columns)) return false;
      std::vector<Value> rows;
      if (tag == "row") {
        rows.push_back(MapField(p, "cells"));
      } else if (MapField(p, "rows").Is(ObjKind::kArray)) {
        rows = AsArray(MapField(p, "rows"))->v;
      } else {
        return false;
      }
      for (Value r : rows) {
        if (!r.Is(ObjKind::kArray) || AsArray(r)->v.size() != table->columns.size()) return false;
        std::vector<Cell> cells(table->columns.size());
        for (size_t c = 0; c < cells.size(); ++c)
          if (!ToCell(AsArray(r)->v[c], &cells[c])) return false;
        table->rows.push_back(std::move(cells));
      }
      if (tag == "row") {
        auto* row = new RowObj();
        row->table = std::move(table);
        row->row = 0;
        row->number = index.i;
        *out = Value::Object(row);
      } else {
        auto* df = new DataframeObj();
        df->end = table->rows.size();
        df->table = std::move(table);
        df->portion_index = index.i;
        *out = Value::Object(df);
      }
      return true;
    }
    return false;
  }

  std::string_view s_;
  bool tagged_;
  size_t p_ = 0;
  std::string error_;
};

}  // namespace

namespace {

bool SerializeLevel(Value v, std::string* out, std::string* error, std::vector<const Obj*>& path);

// One recursion per nesting level: bounded by kMaxTransferDepth (ParseValue's bound too), and
// a container inside itself is an error rather than endless output.
bool SerializeInto(Value v, std::string* out, std::string* error, std::vector<const Obj*>& path) {
  if (!v.Is(ObjKind::kArray) && !v.Is(ObjKind::kMap)) return SerializeLevel(v, out, error, path);
  if (std::find(path.begin(), path.end(), v.o) != path.end()) {
    *error = std::string(v.Is(ObjKind::kArray) ? "an array" : "a map") +
             " that contains itself cannot be serialized";
    return false;
  }
  if (path.size() >= static_cast<size_t>(kMaxTransferDepth)) {
    *error = "a value nested more than " + std::to_string(kMaxTransferDepth) +
             " levels deep cannot be serialized";
    return false;
  }
  path.push_back(v.o);
  bool ok = SerializeLevel(v, out, error, path);
  path.pop_back();
  return ok;
}

bool SerializeLevel(Value v, std::string* out, std::string* error, std::vector<const Obj*>& path) {
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
        *out += std::isnan(v.d) ? "@double\"NaN\""
                : v.d > 0       ? "@double\"Infinity\""
                                : "@double\"-Infinity\"";
        return true;
      }
#ifdef __EMSCRIPTEN__
      std::string s = ShortestScientific(v.d);  // no floating-point to_chars there
#else
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, v.d);
      std::string s(buf, r.ptr);
#endif
      if (s.find_first_of(".eE") == std::string::npos) s += ".0";
      *out += s;
      return true;
    }
    case Tag::kChannel:
    case Tag::kEnv:
      *error = ATypeName(v) + " cannot be serialized";
      return false;
    case Tag::kObj:
      break;
  }
  switch (v.o->kind) {
    case ObjKind::kString:
      Quote(AsStr(v)->s, out);
      return true;
    case ObjKind::kArray: {
      auto* a = AsArray(v);
      if (a->portion_index >= 0) {
        *out += "@portion[" + std::to_string(a->portion_index) + ',' +
                std::to_string(a->portion_displacement) + ',';
      }
      *out += '[';
      bool first = true;
      for (Value x : a->v) {
        if (!first) *out += ',';
        first = false;
        if (!SerializeInto(x, out, error, path)) return false;
      }
      *out += ']';
      if (a->portion_index >= 0) *out += ']';
      return true;
    }
    case ObjKind::kMap: {
      *out += '{';
      bool first = true;
      for (const auto& e : AsMap(v)->m.entries()) {
        if (e.key.IsNull()) continue;
        if (!first) *out += ',';
        first = false;
        if (!SerializeInto(e.key, out, error, path)) return false;
        *out += ':';
        if (!SerializeInto(e.val, out, error, path)) return false;
      }
      *out += '}';
      return true;
    }
    case ObjKind::kRange: {
      auto* r = static_cast<RangeObj*>(v.o);
      *out += "@range[" + std::to_string(r->lo) + "," + std::to_string(r->hi) + "]";
      return true;
    }
    case ObjKind::kFile: {
      auto* f = static_cast<FileObj*>(v.o);
      *out += "@file{\"path\":";
      Quote(f->path, out);
      *out += std::string(",\"dir\":") + (f->is_dir ? "true" : "false") +
              ",\"index\":" + std::to_string(f->portion_index) + ",\"lines\":";
      if (!f->lines) {
        *out += "null}";
        return true;
      }
      *out += '[';
      for (size_t k = 0; k < f->lines->size(); ++k) {
        if (k) *out += ',';
        Quote((*f->lines)[k], out);
      }
      *out += "]}";
      return true;
    }
    case ObjKind::kDataframe:
    case ObjKind::kRow: {
      const bool is_row = v.o->kind == ObjKind::kRow;
      const Table* t;
      size_t begin, end;
      int64_t number;
      if (is_row) {
        auto* r = static_cast<RowObj*>(v.o);
        t = r->table.get();
        begin = r->row;
        end = r->row + 1;
        number = r->number;
      } else {
        auto* df = static_cast<DataframeObj*>(v.o);
        t = df->table.get();
        begin = df->begin;
        end = df->end;
        number = df->portion_index;
      }
      *out += is_row ? "@row{\"number\":" : "@dataframe{\"index\":";
      *out += std::to_string(number) + ",\"columns\":[";
      for (size_t c = 0; c < t->columns.size(); ++c) {
        if (c) *out += ',';
        Quote(t->columns[c], out);
      }
      *out += is_row ? "],\"cells\":" : "],\"rows\":[";
      for (size_t r = begin; r < end && r < t->rows.size(); ++r) {
        if (r > begin) *out += ',';
        *out += '[';
        for (size_t c = 0; c < t->rows[r].size(); ++c) {
          if (c) *out += ',';
          if (!AppendCellText(t->rows[r][c], out, error)) return false;
        }
        *out += ']';
      }
      *out += is_row ? "}" : "]}";
      return true;
    }
    default:
      *error = ATypeName(v) + " cannot be serialized";
      return false;
  }
}

}  // namespace

bool SerializeValue(Value v, std::string* out, std::string* error) {
  std::vector<const Obj*> path;
  return SerializeInto(v, out, error, path);
}

bool ParseValue(std::string_view text, Value* out, std::string* error) {
  Reader r(text, /*tagged=*/true);
  return r.Parse(out, error);
}

bool ParseJson(std::string_view text, Value* out, std::string* error) {
  Reader r(text, /*tagged=*/false);
  return r.Parse(out, error);
}

}  // namespace volo::fly
