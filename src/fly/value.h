// FLY values: a 16-byte tagged struct. Integers, doubles and booleans live inline; strings,
// arrays, maps and domain objects are heap objects with an intrusive, non-atomic refcount.
//
// Ownership: a Value is plain data (trivially copyable). Whoever stores a Value that points to
// an object holds one reference: call Retain() when copying into a new home, Release() when a
// home gives it up. Objects are owned by exactly one thread (one Vm); values that cross threads
// (channel messages, fly arguments and results, the consts snapshot) are deep copies made by
// CopyForTransfer() whose only reference moves with them. Objects in a Program's constant pools
// are immortal (never counted), so every thread may read them.
//
// Cycles (a map stored inside itself) are not freed by counting: every array and map registers
// in its run's Heap (heap.h), which frees the cycles left when the run ends. Every walk over a
// value's contents (printing, equality, freeing) uses an explicit stack or queue, never recursion
// per nesting level, and copes with such cycles; copies that leave an instance (CopyForTransfer,
// serialization) are bounded by kMaxTransferDepth and refuse cycles. Channels and environments are
// owned by the Runtime and live as long as the program, so values refer to them by plain pointer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace volo::fly {

class Channel;
class Environment;
class HeapShard;

// 64-bit so that a Value is exactly two 8-byte words, each always stored whole: a load of a
// word is then store-forwarded from whatever wrote it (a byte-sized tag store followed by an
// 8-byte load of the first word, as passing a Value in registers does, stalls the pipeline).
enum class Tag : uint64_t { kNull, kBool, kInt, kDouble, kChannel, kEnv, kObj };

enum class ObjKind : uint8_t {
  kString,
  kArray,
  kMap,
  kRange,
  kRandom,
  kFile,
  kDataframe,
  kRow,
  kHandle,
};

struct Obj {
  uint32_t rc = 1;
  ObjKind kind;
  bool immortal = false;
  explicit Obj(ObjKind k) : kind(k) {}
};

struct Value {
  Tag tag = Tag::kNull;
  union {
    bool b;
    int64_t i;
    double d;
    Obj* o;
    Channel* ch;
    Environment* env;
  };
  Value() : i(0) {}

  static Value Null() { return Value(); }
  static Value Bool(bool v) {
    Value r;
    r.tag = Tag::kBool;
    r.b = v;
    return r;
  }
  static Value Int(int64_t v) {
    Value r;
    r.tag = Tag::kInt;
    r.i = v;
    return r;
  }
  static Value Double(double v) {
    Value r;
    r.tag = Tag::kDouble;
    r.d = v;
    return r;
  }
  // Takes over the caller's reference to `obj`.
  static Value Object(Obj* obj) {
    Value r;
    r.tag = Tag::kObj;
    r.o = obj;
    return r;
  }
  static Value OfChannel(Channel* c) {
    Value r;
    r.tag = Tag::kChannel;
    r.ch = c;
    return r;
  }
  static Value OfEnv(Environment* e) {
    Value r;
    r.tag = Tag::kEnv;
    r.env = e;
    return r;
  }

  bool IsNull() const { return tag == Tag::kNull; }
  bool IsInt() const { return tag == Tag::kInt; }
  bool IsDouble() const { return tag == Tag::kDouble; }
  bool IsNumber() const { return tag == Tag::kInt || tag == Tag::kDouble; }
  bool IsBool() const { return tag == Tag::kBool; }
  bool IsObj() const { return tag == Tag::kObj; }
  bool Is(ObjKind k) const { return tag == Tag::kObj && o->kind == k; }
  double AsDouble() const { return tag == Tag::kInt ? static_cast<double>(i) : d; }
};
static_assert(sizeof(Value) == 16);

// Frees an object whose count reached zero. Objects it held that die with it are freed by a
// loop over a per-thread queue, not by recursion.
void FreeObj(Obj* o);

// How deep a value may nest to leave its fly instance (channel messages, fly arguments and
// results, the cluster's wire form): those copies recurse once per level.
constexpr int kMaxTransferDepth = 1000;

inline void Retain(Value v) {
  if (v.tag == Tag::kObj && !v.o->immortal) ++v.o->rc;
}
inline void Release(Value v) {
  if (v.tag == Tag::kObj && !v.o->immortal && --v.o->rc == 0) FreeObj(v.o);
}

// ---- Heap objects ----

struct StrObj : Obj {
  std::string s;
  mutable uint64_t hash = 0;  // 0: not computed yet
  explicit StrObj(std::string v) : Obj(ObjKind::kString), s(std::move(v)) {}
  uint64_t Hash() const;
};

// An array or a map: the objects that hold other values, so the only ones that can form a
// reference cycle. Registers itself in the current Heap of the thread that makes it (heap.h)
// and leaves it when freed.
struct ContainerObj : Obj {
  explicit ContainerObj(ObjKind k);
  ~ContainerObj();
  ContainerObj(const ContainerObj&) = delete;
  ContainerObj& operator=(const ContainerObj&) = delete;
  HeapShard* shard = nullptr;  // null: not registered
  ContainerObj* prev = nullptr;
  ContainerObj* next = nullptr;
};

// An array or a matrix (an array of arrays). A portion handed to a fly instance records where
// it came from; outside a split function both are -1.
struct ArrayObj : ContainerObj {
  std::vector<Value> v;
  int64_t portion_index = -1;
  int64_t portion_displacement = -1;
  ArrayObj() : ContainerObj(ObjKind::kArray) {}
  ~ArrayObj() {
    for (Value x : v) Release(x);
  }
};

// Insertion-ordered hash map (like CPython's compact dict). While its keys are exactly the
// integers 0..n-1 in order it needs no hash index and stores no keys ("dense": just the values,
// 16 bytes an element), which makes FLY's array-like maps `{a, b, c}` and `m[i] = x` loops as
// cheap as a vector. The buffers grow with realloc (Values are trivially copyable), so a big
// map's pages are moved rather than copied and touched again.
class OrderedMap {
 public:
  struct Entry {
    Value key;
    Value val;
  };
  // The entries in insertion order, as Entry values; removed ones have key.tag == kNull and must
  // be skipped. Invalidated by any change to the map.
  class Entries {
   public:
    class iterator {
     public:
      iterator(const OrderedMap* m, size_t i) : m_(m), i_(i) {}
      Entry operator*() const { return m_->EntryAt(i_); }
      iterator& operator++() {
        ++i_;
        return *this;
      }
      bool operator!=(const iterator& o) const { return i_ != o.i_; }
      bool operator==(const iterator& o) const { return i_ == o.i_; }

     private:
      const OrderedMap* m_;
      size_t i_;
    };
    explicit Entries(const OrderedMap* m) : m_(m) {}
    size_t size() const { return m_->n_; }
    Entry operator[](size_t i) const { return m_->EntryAt(i); }
    iterator begin() const { return iterator(m_, 0); }
    iterator end() const { return iterator(m_, m_->n_); }

   private:
    const OrderedMap* m_;
  };

  OrderedMap() = default;
  OrderedMap(const OrderedMap&) = delete;
  OrderedMap& operator=(const OrderedMap&) = delete;
  ~OrderedMap() { Clear(); }

  size_t size() const { return live_; }
  Entries entries() const { return Entries(this); }
  Value* Find(Value key) {
    if (dense_) {
      return key.tag == Tag::kInt && static_cast<uint64_t>(key.i) < n_ ? &vals_[key.i] : nullptr;
    }
    return FindSparse(key);
  }
  // Stores key -> val, taking over both references (an existing key's new key ref is dropped).
  void Set(Value key, Value val) {
    if (dense_ && key.tag == Tag::kInt) {
      if (static_cast<uint64_t>(key.i) < n_) {
        Value old = vals_[key.i];
        vals_[key.i] = val;
        Release(old);
        return;
      }
      if (static_cast<uint64_t>(key.i) == n_ && n_ < cap_) {
        vals_[n_++] = val;
        ++live_;
        return;
      }
    }
    SetSlow(key, val);
  }
  bool Remove(Value key);
  void Clear();

 private:
  Entry EntryAt(size_t i) const {
    return dense_ ? Entry{Value::Int(static_cast<int64_t>(i)), vals_[i]} : ents_[i];
  }
  Value* FindSparse(Value key);
  void SetSlow(Value key, Value val);
  int64_t FindIndex(Value key, uint64_t h) const;
  void Reserve(size_t n);
  void Rebuild(size_t capacity);
  // Dense: vals_[k] is the value of key k. Otherwise ents_ holds the entries and index_ (a
  // power-of-two table, -1 empty) their positions by key hash.
  Value* vals_ = nullptr;
  Entry* ents_ = nullptr;
  size_t n_ = 0;    // elements used in vals_ or ents_ (removed entries included)
  size_t cap_ = 0;  // elements allocated
  std::vector<int32_t> index_;
  size_t live_ = 0;
  bool dense_ = true;
};

struct MapObj : ContainerObj {
  OrderedMap m;
  MapObj() : ContainerObj(ObjKind::kMap) {}
};

struct RangeObj : Obj {
  int64_t lo, hi;
  RangeObj(int64_t a, int64_t b) : Obj(ObjKind::kRange), lo(a), hi(b) {}
};

// xoshiro256**, seeded through splitmix64.
struct RandomObj : Obj {
  uint64_t s[4];
  bool has_decl_seed = false;  // [type="random", seed=N]: re-derived per fly instance
  uint64_t decl_seed = 0;
  explicit RandomObj(uint64_t seed);
  uint64_t Next();
  double NextDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  int64_t NextInt(int64_t bound);  // uniform in [0, bound)
};

// A text file, a directory, or an in-memory block of lines handed to a fly instance.
struct FileObj : Obj {
  std::string path;  // as written in the program, resolved against the program's folder
  bool is_dir = false;
  std::shared_ptr<const std::vector<std::string>> lines;  // set for portions (and once read)
  int64_t portion_index = -1;
  FileObj() : Obj(ObjKind::kFile) {}
};

// A CSV table. Cells are typed per column. Immutable after loading, so views (portions) of one
// table share it across threads through the shared_ptr.
struct Cell {
  enum Kind : uint8_t { kNull, kInt, kDouble, kString } kind = kNull;
  int64_t i = 0;
  double d = 0;
  std::string s;
};
struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<Cell>> rows;
};
struct DataframeObj : Obj {
  std::shared_ptr<const Table> table;
  size_t begin = 0, end = 0;  // the rows of `table` this frame shows
  int64_t portion_index = -1;
  DataframeObj() : Obj(ObjKind::kDataframe) {}
  size_t RowCount() const { return end - begin; }
};
struct RowObj : Obj {
  std::shared_ptr<const Table> table;
  size_t row;      // absolute row in table
  int64_t number;  // row number within the frame being iterated
  RowObj() : Obj(ObjKind::kRow) {}
};

class FlyJob;
struct HandleObj : Obj {
  std::shared_ptr<FlyJob> job;
  HandleObj() : Obj(ObjKind::kHandle) {}
};

// ---- Helpers ----

inline StrObj* AsStr(Value v) { return static_cast<StrObj*>(v.o); }
inline ArrayObj* AsArray(Value v) { return static_cast<ArrayObj*>(v.o); }
inline MapObj* AsMap(Value v) { return static_cast<MapObj*>(v.o); }

Value MakeString(std::string s);
Value MakeArray(std::vector<Value> elems = {});
Value MakeMap();
// The value under the String key `name` of a map (a borrowed reference); null when `map` is not
// a map or has no such key.
Value MapField(Value map, const char* name);

// Java-like rendering: doubles as Double.toString ("4.0", "1.0E10"), arrays "[1, 2]",
// maps "{k=v, n=1}"; a container inside itself prints as "[...]" or "{...}".
std::string ToString(Value v);
void AppendString(std::string& out, Value v);
std::string FormatDouble(double d);
const char* TypeName(Value v);
// The type name with its article, for messages: "an Integer", "a Double", "null".
std::string ATypeName(Value v);

// Value equality (==): numbers by value across int/double, strings by content, containers
// element-wise (at any depth, cycles included), everything else by identity.
bool ValuesEqual(Value a, Value b);
// Map-key equality: like ValuesEqual but an int never equals a double.
bool KeysEqual(Value a, Value b);
uint64_t HashKey(Value v);

// A deep copy whose objects are fresh and referenced only by the result, safe to hand to
// another thread. Channels and environments are shared (they are thread-safe). Fails (returns
// false with a message) for values that cannot leave their instance (random objects, handles),
// containers that contain themselves, and values nested deeper than kMaxTransferDepth.
bool CopyForTransfer(Value v, Value* out, std::string* error);

}  // namespace volo::fly
