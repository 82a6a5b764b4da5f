// Methods, Math.*, casts and time().
#include "fly/stdlib.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "fly/diagnostic.h"
#include "fly/ops.h"
#include "fly/regex.h"
#include "fly/serialize.h"

namespace volo::fly {

MethodId LookupMethod(std::string_view name) {
#define FLY_METHOD_LOOKUP(n) \
  if (name == #n) return MethodId::k_##n;
  FLY_METHODS(FLY_METHOD_LOOKUP)
#undef FLY_METHOD_LOOKUP
  return MethodId::kUnknown;
}

const std::vector<std::string>& MethodNames() {
  static const std::vector<std::string> kNames = {
#define FLY_METHOD_NAME(n) #n,
      FLY_METHODS(FLY_METHOD_NAME)
#undef FLY_METHOD_NAME
  };
  return kNames;
}

bool LookupMath(std::string_view name, MathId* id, int* min_args, int* max_args) {
#define FLY_MATH_LOOKUP(n, lo, hi) \
  if (name == #n) {                \
    *id = MathId::k_##n;           \
    *min_args = lo;                \
    *max_args = hi;                \
    return true;                   \
  }
  FLY_MATH(FLY_MATH_LOOKUP)
#undef FLY_MATH_LOOKUP
  return false;
}

const char* MathName(MathId id) {
  switch (id) {
#define FLY_MATH_NAME(n, lo, hi) \
  case MathId::k_##n:            \
    return #n;
    FLY_MATH(FLY_MATH_NAME)
#undef FLY_MATH_NAME
  }
  return "?";
}

const char* CastName(CastType t) {
  switch (t) {
    case CastType::kString:
      return "String";
    case CastType::kInteger:
      return "Integer";
    case CastType::kDouble:
      return "Double";
    case CastType::kObject:
      return "Object";
    case CastType::kDate:
      return "Date";
    case CastType::kDat:
      return "Dat";
    case CastType::kMatrix:
      return "Matrix";
    case CastType::kArrayList:
      return "ArrayList";
    case CastType::kArray:
      return "Array";
  }
  return "?";
}

namespace {

int64_t WrapNeg(int64_t v) { return static_cast<int64_t>(0ULL - static_cast<uint64_t>(v)); }

// A double truncated to an Integer, as Java's (long) cast: out-of-range values saturate (a
// plain C++ cast of those is undefined).
int64_t SaturatingInt(double d) {
  if (d >= 9223372036854775807.0) return INT64_MAX;
  if (d <= -9223372036854775808.0) return INT64_MIN;
  return static_cast<int64_t>(d);
}

bool NoMethod(Vm& vm, Value recv, const std::string& name) {
  return vm.Fail(ATypeName(recv) + " has no method '" + name + "'" +
                 DidYouMean(name, MethodNames()));
}

bool Arity(Vm& vm, const std::string& name, int argc, int lo, int hi) {
  if (argc >= lo && argc <= hi) return true;
  return vm.Fail(name + "() takes " + std::to_string(lo) +
                 (hi > lo ? " to " + std::to_string(hi) : "") + " argument" + (hi == 1 ? "" : "s") +
                 ", " + std::to_string(argc) + " given");
}

bool StrArg(Vm& vm, const std::string& name, Value v, std::string* out) {
  if (!v.Is(ObjKind::kString)) {
    return vm.Fail(name + "() needs a String argument, got " + std::string(TypeName(v)));
  }
  *out = AsStr(v)->s;
  return true;
}

bool IntArg(Vm& vm, const std::string& name, Value v, int64_t* out) {
  if (!v.IsInt()) {
    return vm.Fail(name + "() needs an Integer argument, got " + std::string(TypeName(v)));
  }
  *out = v.i;
  return true;
}

Value StringArray(const std::vector<std::string>& parts) {
  std::vector<Value> vals;
  vals.reserve(parts.size());
  for (const auto& p : parts) vals.push_back(MakeString(p));
  return MakeArray(std::move(vals));
}

std::shared_ptr<const Regex> CompileRegex(Vm& vm, const std::string& pattern) {
  std::string error;
  auto re = Regex::Compile(pattern, &error);
  if (!re) vm.Fail(std::move(error));
  return re;
}

// Java's Character.isWhitespace for the code point starting at s[at] (UTF-8); its length in
// *len (0 when it is not white space).
size_t WhitespaceAt(const std::string& s, size_t at) {
  auto c = static_cast<unsigned char>(s[at]);
  if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
  auto byte = [&](size_t k) -> unsigned {
    return at + k < s.size() ? static_cast<unsigned char>(s[at + k]) : 0u;
  };
  if (c == 0xe1 && byte(1) == 0x9a && byte(2) == 0x80) return 3;  // U+1680
  if (c == 0xe3 && byte(1) == 0x80 && byte(2) == 0x80) return 3;  // U+3000
  if (c == 0xe2 && byte(1) == 0x80) {
    unsigned d = byte(2);
    // U+2000..U+2006, U+2008..U+200A (U+2007 is a non-breaking space), U+2028, U+2029.
    if ((d >= 0x80 && d <= 0x86) || (d >= 0x88 && d <= 0x8a) || d == 0xa8 || d == 0xa9) return 3;
  }
  if (c == 0xe2 && byte(1) == 0x81 && byte(2) == 0x9f) return 3;  // U+205F
  return 0;
}

// The start of the UTF-8 code point that ends at s[end - 1].
size_t CodePointStart(const std::string& s, size_t end) {
  size_t k = end - 1;
  while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xc0) == 0x80 && end - k < 4) --k;
  return k;
}

std::string StripEnds(const std::string& s, bool leading, bool trailing) {
  size_t b = 0, e = s.size();
  while (leading && b < e) {
    size_t n = WhitespaceAt(s, b);
    if (n == 0) break;
    b += n;
  }
  while (trailing && e > b) {
    size_t start = CodePointStart(s, e);
    if (start < b || WhitespaceAt(s, start) != e - start) break;
    e = start;
  }
  return s.substr(b, e - b);
}

// Java's compareTo: the difference of the first differing characters, else of the lengths.
int64_t JavaCompare(const std::string& a, const std::string& b, bool ignore_case) {
  size_t n = std::min(a.size(), b.size());
  for (size_t k = 0; k < n; ++k) {
    int x = static_cast<unsigned char>(a[k]);
    int y = static_cast<unsigned char>(b[k]);
    if (ignore_case) {
      x = std::tolower(std::toupper(x));
      y = std::tolower(std::toupper(y));
    }
    if (x != y) return x - y;
  }
  return static_cast<int64_t>(a.size()) - static_cast<int64_t>(b.size());
}

bool StringMethod(Vm& vm, MethodId id, const std::string& name, Value* a, int argc, Value* out) {
  const std::string& s = AsStr(a[0])->s;
  std::string x, y;
  int64_t i = 0, j = 0;
  switch (id) {
    case MethodId::k_length:
    case MethodId::k_size:
      if (!Arity(vm, name, argc, 0, 0)) return false;
      *out = Value::Int(static_cast<int64_t>(s.size()));
      return true;
    case MethodId::k_isEmpty:
    case MethodId::k_isBlank:
      if (!Arity(vm, name, argc, 0, 0)) return false;
      *out = Value::Bool(id == MethodId::k_isEmpty ? s.empty() : StripEnds(s, true, true).empty());
      return true;
    case MethodId::k_toString:
      *out = MakeString(s);
      return true;
    case MethodId::k_toLowerCase:
    case MethodId::k_toUpperCase: {
      x = s;
      for (char& c : x) c = id == MethodId::k_toLowerCase ? std::tolower(c) : std::toupper(c);
      *out = MakeString(std::move(x));
      return true;
    }
    case MethodId::k_trim: {
      // Java's trim: every character up to ' ' (controls included) at either end.
      if (!Arity(vm, name, argc, 0, 0)) return false;
      size_t b = 0, e = s.size();
      while (b < e && static_cast<unsigned char>(s[b]) <= ' ') ++b;
      while (e > b && static_cast<unsigned char>(s[e - 1]) <= ' ') --e;
      *out = MakeString(s.substr(b, e - b));
      return true;
    }
    case MethodId::k_strip:
    case MethodId::k_stripLeading:
    case MethodId::k_stripTrailing:
      // Java's strip: white space as Character.isWhitespace says, Unicode included.
      if (!Arity(vm, name, argc, 0, 0)) return false;
      *out =
          MakeString(StripEnds(s, id != MethodId::k_stripTrailing, id != MethodId::k_stripLeading));
      return true;
    case MethodId::k_concat:
    case MethodId::k_contains:
    case MethodId::k_endsWith:
    case MethodId::k_compareTo:
    case MethodId::k_compareToIgnoreCase:
      if (!Arity(vm, name, argc, 1, 1) || !StrArg(vm, name, a[1], &x)) return false;
      switch (id) {
        case MethodId::k_concat:
          *out = MakeString(s + x);
          break;
        case MethodId::k_contains:
          *out = Value::Bool(s.find(x) != std::string::npos);
          break;
        case MethodId::k_endsWith:
          *out =
              Value::Bool(s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0);
          break;
        default:
          *out = Value::Int(JavaCompare(s, x, id == MethodId::k_compareToIgnoreCase));
      }
      return true;
    case MethodId::k_indexOf:
    case MethodId::k_lastIndexOf:
    case MethodId::k_startsWith: {
      // indexOf(s[, from]), lastIndexOf(s[, from]), startsWith(prefix[, offset]) as in Java.
      if (!Arity(vm, name, argc, 1, 2) || !StrArg(vm, name, a[1], &x)) return false;
      bool has_from = argc == 2;
      if (has_from && !IntArg(vm, name, a[2], &i)) return false;
      auto size = static_cast<int64_t>(s.size());
      if (id == MethodId::k_startsWith) {
        int64_t at = has_from ? i : 0;
        *out = Value::Bool(at >= 0 && at <= size - static_cast<int64_t>(x.size()) &&
                           s.compare(static_cast<size_t>(at), x.size(), x) == 0);
        return true;
      }
      size_t p;
      if (id == MethodId::k_indexOf) {
        int64_t from = has_from ? std::clamp<int64_t>(i, 0, size) : 0;
        p = s.find(x, static_cast<size_t>(from));
      } else if (has_from && i < 0) {
        p = std::string::npos;
      } else {
        p = s.rfind(x, has_from ? static_cast<size_t>(std::min(i, size)) : std::string::npos);
      }
      *out = Value::Int(p == std::string::npos ? -1 : static_cast<int64_t>(p));
      return true;
    }
    case MethodId::k_equals:
    case MethodId::k_equalsIgnoreCase:
      if (!Arity(vm, name, argc, 1, 1)) return false;
      if (id == MethodId::k_equals) {
        *out = Value::Bool(ValuesEqual(a[0], a[1]));
      } else {
        *out = Value::Bool(a[1].Is(ObjKind::kString) && AsStr(a[1])->s.size() == s.size() &&
                           JavaCompare(s, AsStr(a[1])->s, true) == 0);
      }
      return true;
    case MethodId::k_matches: {
      // The whole string must match (Java's matches, not find).
      if (!Arity(vm, name, argc, 1, 1) || !StrArg(vm, name, a[1], &x)) return false;
      auto re = CompileRegex(vm, x);
      if (!re) return false;
      *out = Value::Bool(re->FullMatch(s));
      return true;
    }
    case MethodId::k_repeat: {
      if (!Arity(vm, name, argc, 1, 1) || !IntArg(vm, name, a[1], &i)) return false;
      if (i < 0) return vm.Fail("repeat(" + std::to_string(i) + "): the count is negative");
      constexpr int64_t kMaxRepeat = int64_t{1} << 30;
      if (!s.empty() && i > kMaxRepeat / static_cast<int64_t>(s.size())) {
        return vm.Fail("repeat(" + std::to_string(i) + ") of a String of length " +
                       std::to_string(s.size()) + " would exceed 1 GiB");
      }
      x.reserve(s.size() * static_cast<size_t>(i));
      for (int64_t k = 0; k < i; ++k) x += s;
      *out = MakeString(std::move(x));
      return true;
    }
    case MethodId::k_chars:
    case MethodId::k_toCharArray: {
      // FLY has no char type: chars() gives each byte's value (an Integer), toCharArray() each
      // byte as a one-character String, matching length() and charAt().
      if (!Arity(vm, name, argc, 0, 0)) return false;
      std::vector<Value> vals;
      vals.reserve(s.size());
      for (char c : s) {
        vals.push_back(id == MethodId::k_chars ? Value::Int(static_cast<unsigned char>(c))
                                               : MakeString(std::string(1, c)));
      }
      *out = MakeArray(std::move(vals));
      return true;
    }
    case MethodId::k_charAt:
      if (!Arity(vm, name, argc, 1, 1) || !IntArg(vm, name, a[1], &i)) return false;
      if (i < 0 || static_cast<uint64_t>(i) >= s.size()) {
        return vm.Fail("charAt(" + std::to_string(i) + ") out of bounds for length " +
                       std::to_string(s.size()));
      }
      *out = MakeString(std::string(1, s[i]));
      return true;
    case MethodId::k_substring:
      if (!Arity(vm, name, argc, 1, 2) || !IntArg(vm, name, a[1], &i)) return false;
      j = static_cast<int64_t>(s.size());
      if (argc == 2 && !IntArg(vm, name, a[2], &j)) return false;
      if (i < 0 || j < i || static_cast<uint64_t>(j) > s.size()) {
        return vm.Fail("substring(" + std::to_string(i) + ", " + std::to_string(j) +
                       ") out of bounds for length " + std::to_string(s.size()));
      }
      *out = MakeString(s.substr(i, j - i));
      return true;
    case MethodId::k_replace: {
      if (!Arity(vm, name, argc, 2, 2) || !StrArg(vm, name, a[1], &x) ||
          !StrArg(vm, name, a[2], &y))
        return false;
      std::string r;
      if (x.empty()) {
        r = s;
      } else {
        size_t p = 0;
        for (size_t q; (q = s.find(x, p)) != std::string::npos; p = q + x.size()) {
          r.append(s, p, q - p);
          r += y;
        }
        r.append(s, p);
      }
      *out = MakeString(std::move(r));
      return true;
    }
    case MethodId::k_replaceAll:
    case MethodId::k_split: {
      if (!Arity(vm, name, argc, id == MethodId::k_split ? 1 : 2,
                 id == MethodId::k_split ? 1 : 2) ||
          !StrArg(vm, name, a[1], &x))
        return false;
      if (id == MethodId::k_replaceAll && !StrArg(vm, name, a[2], &y)) return false;
      auto re = CompileRegex(vm, x);
      if (!re) return false;
      if (id == MethodId::k_replaceAll) {
        std::string r, error;
        if (!re->ReplaceAll(s, y, &r, &error)) return vm.Fail(std::move(error));
        *out = MakeString(std::move(r));
        return true;
      }
      *out = StringArray(re->Split(s));
      return true;
    }
    default:
      return NoMethod(vm, a[0], name);
  }
}

bool ArrayMethod(Vm& vm, MethodId id, const std::string& name, Value* a, int argc, Value* out) {
  ArrayObj* arr = AsArray(a[0]);
  switch (id) {
    case MethodId::k_length:
    case MethodId::k_size:
    case MethodId::k_rowCount:
      *out = Value::Int(static_cast<int64_t>(arr->v.size()));
      return true;
    case MethodId::k_colCount:
      *out = Value::Int(arr->v.empty() || !arr->v[0].Is(ObjKind::kArray)
                            ? 0
                            : static_cast<int64_t>(AsArray(arr->v[0])->v.size()));
      return true;
    case MethodId::k_deepToString:
    case MethodId::k_toString:
      *out = MakeString(ToString(a[0]));
      return true;
    case MethodId::k_setType:
      Retain(a[0]);
      *out = a[0];
      return true;
    case MethodId::k_getPortionIndex:
      *out = Value::Int(arr->portion_index);
      return true;
    case MethodId::k_getPortionDisplacement:
      *out = Value::Int(arr->portion_displacement);
      return true;
    case MethodId::k_isEmpty:
      *out = Value::Bool(arr->v.empty());
      return true;
    case MethodId::k_equals:
      *out = Value::Bool(argc == 1 && ValuesEqual(a[0], a[1]));
      return true;
    case MethodId::k_contains:
    case MethodId::k_indexOf: {
      if (!Arity(vm, name, argc, 1, 1)) return false;
      int64_t found = -1;
      for (size_t k = 0; k < arr->v.size() && found < 0; ++k)
        if (ValuesEqual(arr->v[k], a[1])) found = static_cast<int64_t>(k);
      *out = id == MethodId::k_contains ? Value::Bool(found >= 0) : Value::Int(found);
      return true;
    }
    case MethodId::k_add:
      if (!Arity(vm, name, argc, 1, 1)) return false;
      Retain(a[1]);
      arr->v.push_back(a[1]);
      *out = Value::Bool(true);
      return true;
    default:
      return NoMethod(vm, a[0], name);
  }
}

bool MapMethod(Vm& vm, MethodId id, const std::string& name, Value* a, int argc, Value* out) {
  OrderedMap& m = AsMap(a[0])->m;
  switch (id) {
    case MethodId::k_size:
    case MethodId::k_length:
      *out = Value::Int(static_cast<int64_t>(m.size()));
      return true;
    case MethodId::k_isEmpty:
      *out = Value::Bool(m.size() == 0);
      return true;
    case MethodId::k_toString:
      *out = MakeString(ToString(a[0]));
      return true;
    case MethodId::k_equals:
      *out = Value::Bool(argc == 1 && ValuesEqual(a[0], a[1]));
      return true;
    case MethodId::k_clear:
      m.Clear();
      *out = Value();
      return true;
    case MethodId::k_keys:
    case MethodId::k_values: {
      std::vector<Value> vals;
      for (const auto& e : m.entries()) {
        if (e.key.IsNull()) continue;
        Value v = id == MethodId::k_keys ? e.key : e.val;
        Retain(v);
        vals.push_back(v);
      }
      *out = MakeArray(std::move(vals));
      return true;
    }
    case MethodId::k_containsKey:
      if (!Arity(vm, name, argc, 1, 1)) return false;
      *out = Value::Bool(m.Find(a[1]) != nullptr);
      return true;
    case MethodId::k_get:
      if (!Arity(vm, name, argc, 1, 1)) return false;
      return IndexGet(vm, a[0], a[1], out);
    case MethodId::k_put:
      if (!Arity(vm, name, argc, 2, 2)) return false;
      *out = Value();
      return IndexSet(vm, a[0], a[1], a[2]);
    case MethodId::k_remove:
      if (!Arity(vm, name, argc, 1, 1)) return false;
      *out = Value::Bool(m.Remove(a[1]));
      return true;
    default:
      return NoMethod(vm, a[0], name);
  }
}

bool RandomMethod(Vm& vm, MethodId id, const std::string& name, Value* a, int argc, Value* out) {
  auto* r = static_cast<RandomObj*>(a[0].o);
  switch (id) {
    case MethodId::k_nextDouble:
      *out = Value::Double(r->NextDouble());
      return true;
    case MethodId::k_nextBoolean:
      *out = Value::Bool(r->Next() >> 63);
      return true;
    case MethodId::k_nextGaussian: {
      double u1 = r->NextDouble(), u2 = r->NextDouble();
      *out = Value::Double(std::sqrt(-2 * std::log(1 - u1)) * std::cos(2 * M_PI * u2));
      return true;
    }
    case MethodId::k_nextInt: {
      if (!Arity(vm, name, argc, 0, 2)) return false;
      if (argc == 0) {  // Java's nextInt(): any 32-bit int
        *out = Value::Int(static_cast<int32_t>(r->Next() >> 32));
        return true;
      }
      int64_t lo = 0, hi;
      if (!IntArg(vm, name, a[argc], &hi)) return false;
      if (argc == 2 && !IntArg(vm, name, a[1], &lo)) return false;
      if (hi <= lo) return vm.Fail("nextInt: the bound must be positive");
      // hi - lo may exceed the Integer range (nextInt(-5e18, 5e18)): work in unsigned.
      uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
      uint64_t pick = span > static_cast<uint64_t>(INT64_MAX)
                          ? r->Next() % span
                          : static_cast<uint64_t>(r->NextInt(static_cast<int64_t>(span)));
      *out = Value::Int(static_cast<int64_t>(static_cast<uint64_t>(lo) + pick));
      return true;
    }
    default:
      return NoMethod(vm, a[0], name);
  }
}

bool OtherMethod(Vm& vm, MethodId id, const std::string& name, Value* a, int argc, Value* out) {
  Value recv = a[0];
  if (recv.tag == Tag::kChannel && id == MethodId::k_close) {
    *out = Value();
    return true;
  }
  if (recv.Is(ObjKind::kRange)) {
    auto* r = static_cast<RangeObj*>(recv.o);
    if (id == MethodId::k_length || id == MethodId::k_size) {
      *out = Value::Int(r->hi > r->lo ? r->hi - r->lo : 0);
      return true;
    }
  }
  if (recv.Is(ObjKind::kFile)) {
    auto* f = static_cast<FileObj*>(recv.o);
    std::filesystem::path p(f->path);
    switch (id) {
      case MethodId::k_getAbsolutePath:
        *out = MakeString(std::filesystem::absolute(p).string());
        return true;
      case MethodId::k_getName:
        *out = MakeString(p.filename().string());
        return true;
      case MethodId::k_exists:
        *out = Value::Bool(std::filesystem::exists(p));
        return true;
      case MethodId::k_getPortionIndex:
        *out = Value::Int(f->portion_index);
        return true;
      case MethodId::k_lines:
      case MethodId::k_count: {
        Value v = recv;
        if (!IterPrep(vm, &v)) return false;
        if (id == MethodId::k_count) {
          *out = Value::Int(static_cast<int64_t>(f->lines->size()));
        } else {
          *out = StringArray(*f->lines);
        }
        return true;
      }
      default:
        break;
    }
  }
  if (recv.Is(ObjKind::kDataframe)) {
    auto* df = static_cast<DataframeObj*>(recv.o);
    switch (id) {
      case MethodId::k_rowCount:
      case MethodId::k_size:
      case MethodId::k_length:
        *out = Value::Int(static_cast<int64_t>(df->RowCount()));
        return true;
      case MethodId::k_colCount:
      case MethodId::k_columnCount:
        *out = Value::Int(static_cast<int64_t>(df->table->columns.size()));
        return true;
      case MethodId::k_columnNames:
        *out = StringArray(df->table->columns);
        return true;
      case MethodId::k_getPortionIndex:
        *out = Value::Int(df->portion_index);
        return true;
      case MethodId::k_toString:
        *out = MakeString(ToString(recv));
        return true;
      case MethodId::k_getRow:
        if (!Arity(vm, name, argc, 1, 1)) return false;
        return IndexGet(vm, recv, a[1], out);
      default:
        break;
    }
  }
  if (recv.Is(ObjKind::kRow)) {
    auto* row = static_cast<RowObj*>(recv.o);
    switch (id) {
      case MethodId::k_get:
        if (!Arity(vm, name, argc, 1, 1)) return false;
        return IndexGet(vm, recv, a[1], out);
      case MethodId::k_size:
      case MethodId::k_length:
        *out = Value::Int(static_cast<int64_t>(row->table->columns.size()));
        return true;
      case MethodId::k_toString:
        *out = MakeString(ToString(recv));
        return true;
      default:
        break;
    }
  }
  if (recv.Is(ObjKind::kHandle)) {
    auto* h = static_cast<HandleObj*>(recv.o);
    switch (id) {
      case MethodId::k_wait:
        if (!WaitHandle(vm, h, out)) return false;
        Release(*out);
        *out = Value();
        return true;
      case MethodId::k_results:
        return WaitHandle(vm, h, out);
      case MethodId::k_isDone:
      case MethodId::k_status:
        *out = Value::Bool(HandleDone(h));
        return true;
      default:
        break;
    }
  }
  if (recv.IsNull()) return vm.Fail("cannot call " + name + "() on null");
  return NoMethod(vm, recv, name);
}

}  // namespace

bool CallMethod(Vm& vm, MethodId id, const std::string& name, Value* args, int argc, Value* out) {
  Value recv = args[0];
  if (recv.Is(ObjKind::kString)) return StringMethod(vm, id, name, args, argc, out);
  if (recv.Is(ObjKind::kArray)) return ArrayMethod(vm, id, name, args, argc, out);
  if (recv.Is(ObjKind::kMap)) return MapMethod(vm, id, name, args, argc, out);
  if (recv.Is(ObjKind::kRandom)) return RandomMethod(vm, id, name, args, argc, out);
  if ((recv.IsNumber() || recv.IsBool()) && id == MethodId::k_toString) {
    *out = MakeString(ToString(recv));
    return true;
  }
  if (recv.IsNumber() && id == MethodId::k_equals) {
    *out = Value::Bool(argc == 1 && ValuesEqual(recv, args[1]));
    return true;
  }
  return OtherMethod(vm, id, name, args, argc, out);
}

bool CallMath(Vm& vm, MathId id, Value* a, int argc, Value* out) {
  for (int k = 0; k < argc; ++k) {
    if (!a[k].IsNumber()) {
      return vm.Fail(std::string("Math.") + MathName(id) + " needs numbers, got " + TypeName(a[k]));
    }
  }
  double x = argc > 0 ? a[0].AsDouble() : 0, y = argc > 1 ? a[1].AsDouble() : 0;
  bool ints = argc > 0 && a[0].IsInt() && (argc < 2 || a[1].IsInt());
  switch (id) {
    case MathId::k_abs:
      // As Java: Math.abs of the most negative Integer is itself (two's complement wraps).
      *out = a[0].IsInt() ? Value::Int(a[0].i < 0 ? WrapNeg(a[0].i) : a[0].i)
                          : Value::Double(std::fabs(x));
      return true;
    case MathId::k_max:
    case MathId::k_min: {
      bool mx = id == MathId::k_max;
      if (ints) {
        *out = Value::Int(mx ? std::max(a[0].i, a[1].i) : std::min(a[0].i, a[1].i));
      } else {
        *out = Value::Double(mx ? std::fmax(x, y) : std::fmin(x, y));
      }
      return true;
    }
    case MathId::k_round:
      // Java's Math.round: an Integer stays as it is; NaN is 0; beyond the Integer range the
      // result saturates.
      *out =
          a[0].IsInt() ? a[0] : Value::Int(std::isnan(x) ? 0 : SaturatingInt(std::floor(x + 0.5)));
      return true;
    case MathId::k_floorDiv:
    case MathId::k_floorMod: {
      if (!ints) return vm.Fail("Math.floorDiv/floorMod need Integers");
      if (a[1].i == 0) return vm.Fail("integer division by zero");
      if (a[1].i == -1) {  // the most negative Integer / -1 overflows: it wraps, as in Java
        *out = Value::Int(id == MathId::k_floorDiv ? WrapNeg(a[0].i) : 0);
        return true;
      }
      int64_t q = a[0].i / a[1].i, r = a[0].i % a[1].i;
      if (r != 0 && ((r < 0) != (a[1].i < 0))) {
        --q;
        r += a[1].i;
      }
      *out = Value::Int(id == MathId::k_floorDiv ? q : r);
      return true;
    }
    case MathId::k_random:
      *out = Value::Double(vm.MathRandom()->NextDouble());
      return true;
    default:
      break;
  }
  double r = 0;
  switch (id) {
    case MathId::k_sqrt:
      r = std::sqrt(x);
      break;
    case MathId::k_pow:
      r = std::pow(x, y);
      break;
    case MathId::k_floor:
      r = std::floor(x);
      break;
    case MathId::k_ceil:
      r = std::ceil(x);
      break;
    case MathId::k_log:
      r = std::log(x);
      break;
    case MathId::k_log10:
      r = std::log10(x);
      break;
    case MathId::k_exp:
      r = std::exp(x);
      break;
    case MathId::k_sin:
      r = std::sin(x);
      break;
    case MathId::k_cos:
      r = std::cos(x);
      break;
    case MathId::k_tan:
      r = std::tan(x);
      break;
    case MathId::k_asin:
      r = std::asin(x);
      break;
    case MathId::k_acos:
      r = std::acos(x);
      break;
    case MathId::k_atan:
      r = std::atan(x);
      break;
    case MathId::k_atan2:
      r = std::atan2(x, y);
      break;
    case MathId::k_signum:
      r = x > 0 ? 1.0 : x < 0 ? -1.0 : x;
      break;
    case MathId::k_hypot:
      r = std::hypot(x, y);
      break;
    case MathId::k_cbrt:
      r = std::cbrt(x);
      break;
    case MathId::k_toRadians:
      r = x * M_PI / 180;
      break;
    case MathId::k_toDegrees:
      r = x * 180 / M_PI;
      break;
    default:
      return vm.Fail(std::string("Math.") + MathName(id) + " is not callable");
  }
  *out = Value::Double(r);
  return true;
}

bool TimeCall(Vm& vm, Value* args, int argc, Value* out) {
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  if (argc == 0) {
    *out = Value::Int(now);
    return true;
  }
  if (!args[0].IsInt()) return vm.Fail("time(t) needs t from an earlier time()");
  *out = Value::Int(now - args[0].i);
  return true;
}

bool CastValue(Vm& vm, CastType type, Value v, Value* out) {
  auto fail = [&] {
    return vm.Fail(std::string("cannot cast ") + TypeName(v) +
                   (v.Is(ObjKind::kString) ? " \"" + AsStr(v)->s + "\"" : std::string()) + " to " +
                   CastName(type));
  };
  switch (type) {
    case CastType::kString:
    case CastType::kDate:
      *out = v.Is(ObjKind::kString) ? (Retain(v), v) : MakeString(ToString(v));
      return true;
    case CastType::kInteger:
      if (v.IsInt()) {
        *out = v;
      } else if (v.IsDouble()) {
        if (std::isnan(v.d)) return fail();
        *out = Value::Int(SaturatingInt(v.d));
      } else if (v.Is(ObjKind::kString)) {
        std::string s = AsStr(v)->s;
        size_t b = s.find_first_not_of(" \t\r\n\"");
        size_t e = s.find_last_not_of(" \t\r\n\"");
        if (b == std::string::npos) return fail();
        s = s.substr(b, e - b + 1);
        char* end = nullptr;
        errno = 0;
        long long n = std::strtoll(s.c_str(), &end, 10);
        if (*end == 0 && errno == 0) {
          *out = Value::Int(n);
        } else {
          double d = std::strtod(s.c_str(), &end);
          if (*end != 0 || std::isnan(d)) return fail();
          *out = Value::Int(SaturatingInt(d));
        }
      } else {
        return fail();
      }
      return true;
    case CastType::kDouble:
      if (v.IsNumber()) {
        *out = Value::Double(v.AsDouble());
      } else if (v.Is(ObjKind::kString)) {
        std::string s = AsStr(v)->s;
        size_t b = s.find_first_not_of(" \t\r\n\"");
        size_t e = s.find_last_not_of(" \t\r\n\"");
        if (b == std::string::npos) return fail();
        s = s.substr(b, e - b + 1);
        char* end = nullptr;
        double d = std::strtod(s.c_str(), &end);
        if (*end != 0) return fail();
        *out = Value::Double(d);
      } else {
        return fail();
      }
      return true;
    case CastType::kObject:
    case CastType::kArray:
    case CastType::kMatrix:
    case CastType::kArrayList:
    case CastType::kDat:
      if (v.Is(ObjKind::kString)) {
        std::string error;
        if (!ParseJson(AsStr(v)->s, out, &error)) {
          return vm.Fail(std::string("cannot cast String to ") + CastName(type) + ": " + error);
        }
        return true;
      }
      Retain(v);
      *out = v;
      return true;
  }
  return fail();
}

}  // namespace volo::fly
