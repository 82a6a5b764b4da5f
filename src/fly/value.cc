#include "fly/value.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <unordered_set>
#include <utility>
#include <vector>

#include "fly/memory.h"
#include "fly/shortest_double.h"

namespace volo::fly {

namespace {

void DeleteObj(Obj* o) {
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

// Objects whose last reference went while another object was being deleted: freed by the
// outermost FreeObj's loop instead of by recursion, so a list nested 200,000 deep cannot
// overflow the C++ stack.
struct FreeQueue {
  bool draining = false;
  std::vector<Obj*> pending;
};
thread_local FreeQueue free_queue;

}  // namespace

void FreeObj(Obj* o) {
  FreeQueue& q = free_queue;
  if (q.draining) {
    q.pending.push_back(o);  // unarmed: within the outer call's scope below
    return;
  }
  MemoryLimitScope never_refuse(false);  // destructors must not throw
  q.draining = true;
  DeleteObj(o);
  while (!q.pending.empty()) {
    Obj* next = q.pending.back();
    q.pending.pop_back();
    DeleteObj(next);
  }
  q.draining = false;
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

namespace {

// The containers a walk over a value is inside of (pairs, for equality), to spot a container
// that holds itself. A short path is searched in place; a long one gets a hash index.
class ValuePath {
 public:
  using Key = std::pair<const Obj*, const Obj*>;
  bool Contains(Key k) const {
    if (!index_.empty()) return index_.count(k) != 0;
    return std::find(path_.begin(), path_.end(), k) != path_.end();
  }
  void Push(Key k) {
    path_.push_back(k);
    if (!index_.empty()) {
      index_.insert(k);
    } else if (path_.size() > kLinear) {
      index_.insert(path_.begin(), path_.end());
    }
  }
  void Pop() {
    if (!index_.empty()) {
      index_.erase(path_.back());
      if (path_.size() <= kLinear / 2) index_.clear();
    }
    path_.pop_back();
  }
  size_t size() const { return path_.size(); }

 private:
  static constexpr size_t kLinear = 16;
  struct Hash {
    size_t operator()(Key k) const {
      return std::hash<const void*>()(k.first) * 31 + std::hash<const void*>()(k.second);
    }
  };
  std::vector<Key> path_;
  std::unordered_set<Key, Hash> index_;
};

bool IsContainer(Value v) { return v.Is(ObjKind::kArray) || v.Is(ObjKind::kMap); }

// Equality without looking inside containers: 0 unequal, 1 equal, 2 both are distinct
// containers of one kind (the caller compares their elements).
int ShallowEqual(Value a, Value b) {
  if (a.IsNumber() && b.IsNumber()) {
    if (a.IsInt() && b.IsInt()) return a.i == b.i;
    return a.AsDouble() == b.AsDouble();
  }
  if (a.tag != b.tag) return 0;
  if (a.tag != Tag::kObj) return KeysEqual(a, b);
  if (a.o == b.o) return 1;
  if (a.o->kind != b.o->kind) return 0;
  switch (a.o->kind) {
    case ObjKind::kString:
      return AsStr(a)->s == AsStr(b)->s;
    case ObjKind::kArray:
    case ObjKind::kMap:
      return 2;
    case ObjKind::kRange: {
      auto* x = static_cast<RangeObj*>(a.o);
      auto* y = static_cast<RangeObj*>(b.o);
      return x->lo == y->lo && x->hi == y->hi;
    }
    default:
      return 0;
  }
}

}  // namespace

// Walks both values with an explicit stack (no recursion per nesting level). Two containers
// compared again while their comparison is still in progress (a map inside itself) are taken
// as equal on that branch: any difference shows up elsewhere.
bool ValuesEqual(Value a, Value b) {
  int shallow = ShallowEqual(a, b);
  if (shallow != 2) return shallow == 1;
  struct Frame {
    Obj* x;
    Obj* y;
    size_t next;
  };
  std::vector<Frame> stack;
  ValuePath path;
  auto open = [&](Value x, Value y) {
    if (path.Contains({x.o, y.o})) return true;
    size_t nx = x.Is(ObjKind::kArray) ? AsArray(x)->v.size() : AsMap(x)->m.size();
    size_t ny = y.Is(ObjKind::kArray) ? AsArray(y)->v.size() : AsMap(y)->m.size();
    if (nx != ny) return false;
    stack.push_back({x.o, y.o, 0});
    path.Push({x.o, y.o});
    return true;
  };
  if (!open(a, b)) return false;
  while (!stack.empty()) {
    Frame& f = stack.back();
    Value ex, ey;
    if (f.x->kind == ObjKind::kArray) {
      auto& xv = static_cast<ArrayObj*>(f.x)->v;
      if (f.next >= xv.size()) {
        path.Pop();
        stack.pop_back();
        continue;
      }
      ex = xv[f.next];
      ey = static_cast<ArrayObj*>(f.y)->v[f.next];
      ++f.next;
    } else {
      auto entries = static_cast<MapObj*>(f.x)->m.entries();
      while (f.next < entries.size() && entries[f.next].key.IsNull()) ++f.next;
      if (f.next >= entries.size()) {
        path.Pop();
        stack.pop_back();
        continue;
      }
      OrderedMap::Entry e = entries[f.next++];
      Value* other = static_cast<MapObj*>(f.y)->m.Find(e.key);
      if (!other) return false;
      ex = e.val;
      ey = *other;
    }
    int r = ShallowEqual(ex, ey);
    if (r == 0) return false;
    if (r == 2 && !open(ex, ey)) return false;
  }
  return true;
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
  void* p = CountedRealloc(old, cap * (dense_ ? sizeof(Value) : sizeof(Entry)));
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
    auto* e = static_cast<Entry*>(CountedRealloc(nullptr, cap * sizeof(Entry)));
    for (size_t k = 0; k < n_; ++k) e[k] = Entry{Value::Int(static_cast<int64_t>(k)), vals_[k]};
    CountedFree(vals_);
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
  CountedFree(vals_);
  CountedFree(ents_);
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
  std::string sci = ShortestScientific(d);
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

namespace {

// Everything but the elements of arrays and maps.
void AppendShallow(std::string& out, Value v) {
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
    case ObjKind::kArray:
    case ObjKind::kMap:
      return;  // AppendString walks containers
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

}  // namespace

// Containers are walked with an explicit stack, so printing a list nested 200,000 deep does
// not recurse; a container met again inside itself prints as [...] or {...}, as Python does.
// A map entry is a frame of its own, as its key may be a container too.
void AppendString(std::string& out, Value v) {
  if (!IsContainer(v)) {
    AppendShallow(out, v);
    return;
  }
  struct Frame {
    enum Kind { kArray, kMap, kEntry } kind = kArray;
    Obj* o = nullptr;  // kArray, kMap
    size_t next = 0;   // kArray, kMap: the next element
    bool any = false;  // kMap: an entry was written (removed entries are skipped)
    Value val;         // kEntry: printed after the key and '='
  };
  std::vector<Frame> stack;
  ValuePath path;
  // Writes a scalar, or opens a container (pushing a frame: callers use no Frame& after it).
  auto element = [&](Value x) {
    if (!IsContainer(x)) {
      AppendShallow(out, x);
      return;
    }
    bool array = x.Is(ObjKind::kArray);
    if (path.Contains({x.o, nullptr})) {
      out += array ? "[...]" : "{...}";
      return;
    }
    out += array ? '[' : '{';
    Frame f;
    f.kind = array ? Frame::kArray : Frame::kMap;
    f.o = x.o;
    stack.push_back(f);
    path.Push({x.o, nullptr});
  };
  element(v);
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.kind == Frame::kEntry) {
      Value val = f.val;
      stack.pop_back();
      out += '=';
      element(val);
      continue;
    }
    if (f.kind == Frame::kArray) {
      auto& xs = static_cast<ArrayObj*>(f.o)->v;
      if (f.next >= xs.size()) {
        out += ']';
        path.Pop();
        stack.pop_back();
        continue;
      }
      if (f.next > 0) out += ", ";
      element(xs[f.next++]);
      continue;
    }
    auto entries = static_cast<MapObj*>(f.o)->m.entries();
    while (f.next < entries.size() && entries[f.next].key.IsNull()) ++f.next;
    if (f.next >= entries.size()) {
      out += '}';
      path.Pop();
      stack.pop_back();
      continue;
    }
    if (f.any) out += ", ";
    f.any = true;
    OrderedMap::Entry e = entries[f.next++];
    Frame entry;
    entry.kind = Frame::kEntry;
    entry.val = e.val;
    stack.push_back(entry);
    element(e.key);
  }
}

std::string ToString(Value v) {
  std::string s;
  AppendString(s, v);
  return s;
}

namespace {

bool CopyLevel(Value v, Value* out, std::string* error, std::vector<const Obj*>& path);

// Copies recurse once per nesting level: bounded by kMaxTransferDepth, with a path check so a
// container that holds itself is an error rather than endless copying.
bool CopyInto(Value v, Value* out, std::string* error, std::vector<const Obj*>& path) {
  if (!IsContainer(v)) return CopyLevel(v, out, error, path);
  if (std::find(path.begin(), path.end(), v.o) != path.end()) {
    *error = std::string(v.Is(ObjKind::kArray) ? "an array" : "a map") +
             " that contains itself cannot leave its fly instance (sent, passed and returned "
             "values are copied)";
    return false;
  }
  if (path.size() >= static_cast<size_t>(kMaxTransferDepth)) {
    *error = "a value nested more than " + std::to_string(kMaxTransferDepth) +
             " levels deep cannot leave its fly instance";
    return false;
  }
  path.push_back(v.o);
  bool ok = CopyLevel(v, out, error, path);
  path.pop_back();
  return ok;
}

bool CopyLevel(Value v, Value* out, std::string* error, std::vector<const Obj*>& path) {
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
        if (!CopyInto(x, &c, error, path)) {
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
        if (!CopyInto(e.key, &k, error, path) || !CopyInto(e.val, &x, error, path)) {
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

}  // namespace

bool CopyForTransfer(Value v, Value* out, std::string* error) {
  std::vector<const Obj*> path;
  return CopyInto(v, out, error, path);
}

}  // namespace volo::fly
