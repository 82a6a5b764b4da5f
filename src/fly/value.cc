#include "fly/value.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

namespace volo::fly {

void FreeObj(Obj* o) {
  switch (o->kind) {
    case ObjKind::kString:
      delete static_cast<StrObj*>(o);
      break;
    case ObjKind::kArray:
      delete static_cast<ArrayObj*>(o);
      break;
    case ObjKind::kMap:
      delete static_cast<MapObj*>(o);
      break;
    case ObjKind::kRange:
      delete static_cast<RangeObj*>(o);
      break;
    case ObjKind::kRandom:
      delete static_cast<RandomObj*>(o);
      break;
    case ObjKind::kFile:
      delete static_cast<FileObj*>(o);
      break;
    case ObjKind::kDataframe:
      delete static_cast<DataframeObj*>(o);
      break;
    case ObjKind::kRow:
      delete static_cast<RowObj*>(o);
      break;
    case ObjKind::kHandle:
      delete static_cast<HandleObj*>(o);
      break;
  }
}

namespace {
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}
}  // namespace

uint64_t StrObj::Hash() const {
  if (hash == 0) {
    uint64_t h = 1469598103934665603ULL;  // FNV-1a
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
    hash = h | 1;
  }
  return hash;
}

uint64_t HashKey(Value v) {
  switch (v.tag) {
    case Tag::kInt:
      return Mix(static_cast<uint64_t>(v.i));
    case Tag::kDouble: {
      uint64_t bits;
      std::memcpy(&bits, &v.d, 8);
      return Mix(bits ^ 0x5555);
    }
    case Tag::kBool:
      return v.b ? 3 : 5;
    case Tag::kObj:
      if (v.o->kind == ObjKind::kString) return AsStr(v)->Hash();
      return Mix(reinterpret_cast<uintptr_t>(v.o));
    default:
      return Mix(reinterpret_cast<uintptr_t>(v.ch) + static_cast<int>(v.tag));
  }
}

bool KeysEqual(Value a, Value b) {
  if (a.tag != b.tag) return false;
  switch (a.tag) {
    case Tag::kNull:
      return true;
    case Tag::kBool:
      return a.b == b.b;
    case Tag::kInt:
      return a.i == b.i;
    case Tag::kDouble:
      return a.d == b.d;
    case Tag::kChannel:
      return a.ch == b.ch;
    case Tag::kEnv:
      return a.env == b.env;
    case Tag::kObj:
      if (a.o == b.o) return true;
      if (a.o->kind == ObjKind::kString && b.o->kind == ObjKind::kString) {
        StrObj* x = AsStr(a);
        StrObj* y = AsStr(b);
        return x->Hash() == y->Hash() && x->s == y->s;
      }
      return false;
  }
  return false;
}

bool ValuesEqual(Value a, Value b) {
  if (a.IsNumber() && b.IsNumber()) {
    if (a.IsInt() && b.IsInt()) return a.i == b.i;
    return a.AsDouble() == b.AsDouble();
  }
  if (a.tag != b.tag) return false;
  if (a.tag != Tag::kObj) return KeysEqual(a, b);
  if (a.o == b.o) return true;
  if (a.o->kind != b.o->kind) return false;
  switch (a.o->kind) {
    case ObjKind::kString:
      return AsStr(a)->s == AsStr(b)->s;
    case ObjKind::kArray: {
      auto& x = AsArray(a)->v;
      auto& y = AsArray(b)->v;
      if (x.size() != y.size()) return false;
      for (size_t k = 0; k < x.size(); ++k)
        if (!ValuesEqual(x[k], y[k])) return false;
      return true;
    }
    case ObjKind::kMap: {
      OrderedMap& x = AsMap(a)->m;
      OrderedMap& y = AsMap(b)->m;
      if (x.size() != y.size()) return false;
      for (const auto& e : x.entries()) {
        if (e.key.IsNull()) continue;
        Value* other = y.Find(e.key);
        if (!other || !ValuesEqual(e.val, *other)) return false;
      }
      return true;
    }
    case ObjKind::kRange: {
      auto* x = static_cast<RangeObj*>(a.o);
      auto* y = static_cast<RangeObj*>(b.o);
      return x->lo == y->lo && x->hi == y->hi;
    }
    default:
      return false;
  }
}

// ---- OrderedMap ----

int64_t OrderedMap::FindIndex(Value key, uint64_t h) const {
  size_t mask = index_.size() - 1;
  for (size_t p = h & mask;; p = (p + 1) & mask) {
    int32_t e = index_[p];
    if (e < 0) return -1;
    if (KeysEqual(ents_[e].key, key)) return e;
  }
}

Value* OrderedMap::FindSparse(Value key) {
  int64_t e = FindIndex(key, HashKey(key));
  return e < 0 ? nullptr : &ents_[e].val;
}

void OrderedMap::Reserve(size_t n) {
  if (n <= cap_) return;
  size_t cap = cap_ < 8 ? 8 : cap_;
  while (cap < n) cap *= 2;
  void* old = dense_ ? static_cast<void*>(vals_) : static_cast<void*>(ents_);
  void* p = std::realloc(old, cap * (dense_ ? sizeof(Value) : sizeof(Entry)));
  if (p == nullptr) throw std::bad_alloc();
  if (dense_) {
    vals_ = static_cast<Value*>(p);
  } else {
    ents_ = static_cast<Entry*>(p);
  }
  cap_ = cap;
}

void OrderedMap::Rebuild(size_t capacity) {
  if (dense_) {
    // Materialise the keys 0..n-1.
    size_t cap = cap_ < 8 ? 8 : cap_;
    auto* e = static_cast<Entry*>(std::malloc(cap * sizeof(Entry)));
    if (e == nullptr) throw std::bad_alloc();
    for (size_t k = 0; k < n_; ++k) e[k] = Entry{Value::Int(static_cast<int64_t>(k)), vals_[k]};
    std::free(vals_);
    vals_ = nullptr;
    ents_ = e;
    cap_ = cap;
    dense_ = false;
  }
  // Drop removed entries, then index the rest.
  size_t w = 0;
  for (size_t r = 0; r < n_; ++r) {
    if (ents_[r].key.IsNull()) continue;
    ents_[w++] = ents_[r];
  }
  n_ = w;
  index_.assign(capacity, -1);
  size_t mask = capacity - 1;
  for (size_t e = 0; e < n_; ++e) {
    size_t p = HashKey(ents_[e].key) & mask;
    while (index_[p] >= 0) p = (p + 1) & mask;
    index_[p] = static_cast<int32_t>(e);
  }
}

void OrderedMap::SetSlow(Value key, Value val) {
  if (dense_) {
    if (key.tag == Tag::kInt && key.i >= 0 && static_cast<uint64_t>(key.i) <= n_) {
      if (static_cast<uint64_t>(key.i) == n_) {
        Reserve(n_ + 1);
        vals_[n_++] = val;
        ++live_;
      } else {
        Value old = vals_[key.i];
        vals_[key.i] = val;
        Release(old);
      }
      return;
    }
    size_t cap = 8;
    while (cap < (n_ + 1) * 2) cap *= 2;
    Rebuild(cap);
  }
  uint64_t h = HashKey(key);
  int64_t e = FindIndex(key, h);
  if (e >= 0) {
    Release(key);
    Value old = ents_[e].val;
    ents_[e].val = val;
    Release(old);
    return;
  }
  if ((n_ + 1) * 2 > index_.size()) {
    size_t cap = index_.size();
    while ((live_ + 1) * 2 > cap) cap *= 2;
    if ((n_ + 1) * 2 > cap) cap *= 2;
    Rebuild(cap);
  }
  size_t mask = index_.size() - 1;
  size_t p = h & mask;
  while (index_[p] >= 0) p = (p + 1) & mask;
  index_[p] = static_cast<int32_t>(n_);
  Reserve(n_ + 1);
  ents_[n_++] = Entry{key, val};
  ++live_;
}

bool OrderedMap::Remove(Value key) {
  if (dense_) {
    if (!Find(key)) return false;
    Rebuild(16 > n_ * 2 ? 16 : std::bit_ceil(n_ * 2));
  }
  int64_t e = FindIndex(key, HashKey(key));
  if (e < 0) return false;
  Release(ents_[e].key);
  Release(ents_[e].val);
  ents_[e].key = Value::Null();
  ents_[e].val = Value::Null();
  --live_;
  // Keep the probe chains intact by re-indexing (removal is rare in FLY programs).
  size_t cap = index_.size();
  Rebuild(cap);
  return true;
}

void OrderedMap::Clear() {
  if (dense_) {
    for (size_t k = 0; k < n_; ++k) Release(vals_[k]);
  } else {
    for (size_t k = 0; k < n_; ++k) {
      Release(ents_[k].key);
      Release(ents_[k].val);
    }
  }
  std::free(vals_);
  std::free(ents_);
  vals_ = nullptr;
  ents_ = nullptr;
  n_ = cap_ = 0;
  index_.clear();
  live_ = 0;
  dense_ = true;
}

// ---- Random ----

RandomObj::RandomObj(uint64_t seed) : Obj(ObjKind::kRandom) {
  uint64_t x = seed;
  for (auto& w : s) {
    x += 0x9e3779b97f4a7c15ULL;
    w = Mix(x);
  }
}

uint64_t RandomObj::Next() {
  auto rotl = [](uint64_t v, int k) { return (v << k) | (v >> (64 - k)); };
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

int64_t RandomObj::NextInt(int64_t bound) {
  // Lemire's multiply-shift with rejection: unbiased.
  uint64_t b = static_cast<uint64_t>(bound);
  for (;;) {
    unsigned __int128 m = static_cast<unsigned __int128>(Next()) * b;
    uint64_t low = static_cast<uint64_t>(m);
    if (low >= (-b) % b) return static_cast<int64_t>(m >> 64);
  }
}

// ---- Construction and printing ----

Value MakeString(std::string s) { return Value::Object(new StrObj(std::move(s))); }
Value MakeArray(std::vector<Value> elems) {
  auto* a = new ArrayObj();
  a->v = std::move(elems);
  return Value::Object(a);
}
Value MakeMap() { return Value::Object(new MapObj()); }

Value MapField(Value map, const char* name) {
  if (!map.Is(ObjKind::kMap)) return Value();
  Value key = MakeString(name);
  Value* v = AsMap(map)->m.Find(key);
  Release(key);
  return v ? *v : Value();
}

std::string FormatDouble(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then Java's layout: plain for 1e-3 <= |d| < 1e7, else E form.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t epos = sci.find('e');
  std::string mant = sci.substr(0, epos);
  int exp = std::atoi(sci.c_str() + epos + 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  std::string out = neg ? "-" : "";
  double ad = std::fabs(d);
  if (ad >= 1e-3 && ad < 1e7) {
    if (exp >= 0) {
      std::string ip = digits.substr(0, std::min<size_t>(digits.size(), exp + 1));
      while (static_cast<int>(ip.size()) < exp + 1) ip += '0';
      std::string fp = digits.size() > static_cast<size_t>(exp + 1) ? digits.substr(exp + 1) : "0";
      out += ip + "." + fp;
    } else {
      out += "0." + std::string(-exp - 1, '0') + digits;
    }
  } else {
    out += digits.substr(0, 1) + "." + (digits.size() > 1 ? digits.substr(1) : "0") + "E" +
           std::to_string(exp);
  }
  return out;
}

std::string ATypeName(Value v) {
  std::string name = TypeName(v);
  if (v.tag == Tag::kNull) return name;
  bool vowel =
      !name.empty() && std::string_view("AEIOUaeiou").find(name[0]) != std::string_view::npos;
  return (vowel ? "an " : "a ") + name;
}

const char* TypeName(Value v) {
  switch (v.tag) {
    case Tag::kNull:
      return "null";
    case Tag::kBool:
      return "Boolean";
    case Tag::kInt:
      return "Integer";
    case Tag::kDouble:
      return "Double";
    case Tag::kChannel:
      return "channel";
    case Tag::kEnv:
      return "environment";
    case Tag::kObj:
      break;
  }
  switch (v.o->kind) {
    case ObjKind::kString:
      return "String";
    case ObjKind::kArray:
      return "array";
    case ObjKind::kMap:
      return "map";
    case ObjKind::kRange:
      return "range";
    case ObjKind::kRandom:
      return "random";
    case ObjKind::kFile:
      return "file";
    case ObjKind::kDataframe:
      return "dataframe";
    case ObjKind::kRow:
      return "dataframe row";
    case ObjKind::kHandle:
      return "fly handle";
  }
  return "?";
}

namespace {
void AppendCell(std::string& out, const Cell& c) {
  switch (c.kind) {
    case Cell::kNull:
      out += "";
      break;
    case Cell::kInt:
      out += std::to_string(c.i);
      break;
    case Cell::kDouble:
      out += FormatDouble(c.d);
      break;
    case Cell::kString:
      out += c.s;
      break;
  }
}
}  // namespace

void AppendString(std::string& out, Value v) {
  switch (v.tag) {
    case Tag::kNull:
      out += "null";
      return;
    case Tag::kBool:
      out += v.b ? "true" : "false";
      return;
    case Tag::kInt: {
      char buf[24];
      auto r = std::to_chars(buf, buf + 24, v.i);
      out.append(buf, r.ptr);
      return;
    }
    case Tag::kDouble:
      out += FormatDouble(v.d);
      return;
    case Tag::kChannel:
      out += "channel";
      return;
    case Tag::kEnv:
      out += "environment";
      return;
    case Tag::kObj:
      break;
  }
  switch (v.o->kind) {
    case ObjKind::kString:
      out += AsStr(v)->s;
      return;
    case ObjKind::kArray: {
      out += '[';
      bool first = true;
      for (Value x : AsArray(v)->v) {
        if (!first) out += ", ";
        first = false;
        AppendString(out, x);
      }
      out += ']';
      return;
    }
    case ObjKind::kMap: {
      out += '{';
      bool first = true;
      for (const auto& e : AsMap(v)->m.entries()) {
        if (e.key.IsNull()) continue;
        if (!first) out += ", ";
        first = false;
        AppendString(out, e.key);
        out += '=';
        AppendString(out, e.val);
      }
      out += '}';
      return;
    }
    case ObjKind::kRange: {
      auto* r = static_cast<RangeObj*>(v.o);
      out += "[" + std::to_string(r->lo) + ":" + std::to_string(r->hi) + "]";
      return;
    }
    case ObjKind::kRandom:
      out += "random";
      return;
    case ObjKind::kFile:
      out += static_cast<FileObj*>(v.o)->path;
      return;
    case ObjKind::kDataframe: {
      auto* df = static_cast<DataframeObj*>(v.o);
      const Table& t = *df->table;
      for (size_t c = 0; c < t.columns.size(); ++c) {
        if (c) out += " | ";
        out += t.columns[c];
      }
      out += '\n';
      for (size_t r = df->begin; r < df->end; ++r) {
        for (size_t c = 0; c < t.rows[r].size(); ++c) {
          if (c) out += " | ";
          AppendCell(out, t.rows[r][c]);
        }
        if (r + 1 < df->end) out += '\n';
      }
      return;
    }
    case ObjKind::kRow: {
      auto* row = static_cast<RowObj*>(v.o);
      out += '[';
      const auto& cells = row->table->rows[row->row];
      for (size_t c = 0; c < cells.size(); ++c) {
        if (c) out += ", ";
        AppendCell(out, cells[c]);
      }
      out += ']';
      return;
    }
    case ObjKind::kHandle:
      out += "fly handle";
      return;
  }
}

std::string ToString(Value v) {
  std::string s;
  AppendString(s, v);
  return s;
}

bool CopyForTransfer(Value v, Value* out, std::string* error) {
  if (v.tag != Tag::kObj) {
    *out = v;
    return true;
  }
  switch (v.o->kind) {
    case ObjKind::kString:
      *out = MakeString(AsStr(v)->s);
      return true;
    case ObjKind::kArray: {
      auto* src = AsArray(v);
      auto* a = new ArrayObj();
      a->portion_index = src->portion_index;
      a->portion_displacement = src->portion_displacement;
      a->v.reserve(src->v.size());
      for (Value x : src->v) {
        Value c;
        if (!CopyForTransfer(x, &c, error)) {
          Release(Value::Object(a));
          return false;
        }
        a->v.push_back(c);
      }
      *out = Value::Object(a);
      return true;
    }
    case ObjKind::kMap: {
      auto* m = new MapObj();
      for (const auto& e : AsMap(v)->m.entries()) {
        if (e.key.IsNull()) continue;
        Value k, x;
        if (!CopyForTransfer(e.key, &k, error) || !CopyForTransfer(e.val, &x, error)) {
          Release(k);
          Release(Value::Object(m));
          return false;
        }
        m->m.Set(k, x);
      }
      *out = Value::Object(m);
      return true;
    }
    case ObjKind::kRange: {
      auto* r = static_cast<RangeObj*>(v.o);
      *out = Value::Object(new RangeObj(r->lo, r->hi));
      return true;
    }
    case ObjKind::kFile: {
      auto* src = static_cast<FileObj*>(v.o);
      auto* f = new FileObj();
      f->path = src->path;
      f->is_dir = src->is_dir;
      f->lines = src->lines;
      f->portion_index = src->portion_index;
      *out = Value::Object(f);
      return true;
    }
    case ObjKind::kDataframe: {
      auto* src = static_cast<DataframeObj*>(v.o);
      auto* d = new DataframeObj();
      d->table = src->table;
      d->begin = src->begin;
      d->end = src->end;
      d->portion_index = src->portion_index;
      *out = Value::Object(d);
      return true;
    }
    case ObjKind::kRow: {
      auto* src = static_cast<RowObj*>(v.o);
      auto* r = new RowObj();
      r->table = src->table;
      r->row = src->row;
      r->number = src->number;
      *out = Value::Object(r);
      return true;
    }
    case ObjKind::kRandom:
    case ObjKind::kHandle:
      *error = ATypeName(v) + " cannot leave the fly instance that owns it";
      return false;
  }
  return false;
}

}  // namespace volo::fly
