// Arithmetic slow paths, indexing, fields, slices, iteration and sorting.
#include "fly/ops.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "fly/memory.h"

namespace volo::fly {

namespace {

const char* OpSymbol(Op op) {
  switch (op) {
    case Op::kAdd:
      return "+";
    case Op::kSub:
      return "-";
    case Op::kMul:
      return "*";
    case Op::kDiv:
      return "/";
    case Op::kMod:
      return "%";
    case Op::kLt:
      return "<";
    case Op::kLe:
      return "<=";
    case Op::kGt:
      return ">";
    case Op::kGe:
      return ">=";
    default:
      return "?";
  }
}

bool BadOperands(Vm& vm, Op op, Value a, Value b) {
  return vm.Fail(std::string("cannot apply '") + OpSymbol(op) + "' to " + TypeName(a) + " and " +
                 TypeName(b));
}

bool ToIndex(Vm& vm, Value key, size_t size, size_t* out, const char* what) {
  if (!key.IsInt()) {
    return vm.Fail(std::string(what) + " index must be an Integer, got " + TypeName(key));
  }
  if (key.i < 0 || static_cast<uint64_t>(key.i) >= size) {
    return vm.Fail("index " + std::to_string(key.i) + " out of bounds for length " +
                   std::to_string(size));
  }
  *out = static_cast<size_t>(key.i);
  return true;
}

Value CellValue(const Cell& c) {
  switch (c.kind) {
    case Cell::kInt:
      return Value::Int(c.i);
    case Cell::kDouble:
      return Value::Double(c.d);
    case Cell::kString:
      return MakeString(c.s);
    default:
      return Value();
  }
}

bool ColumnIndex(Vm& vm, const Table& t, Value col, size_t* out) {
  if (col.IsInt()) return ToIndex(vm, col, t.columns.size(), out, "column");
  if (col.Is(ObjKind::kString)) {
    const std::string& name = AsStr(col)->s;
    for (size_t c = 0; c < t.columns.size(); ++c) {
      if (t.columns[c] == name) {
        *out = c;
        return true;
      }
    }
    return vm.Fail("no column named '" + name + "'");
  }
  return vm.Fail(std::string("a column is an Integer or a String, got ") + TypeName(col));
}

}  // namespace

bool ArithSlow(Vm& vm, Op op, Value a, Value b, Value* out) {
  if (op == Op::kAdd && (a.Is(ObjKind::kString) || b.Is(ObjKind::kString))) {
    std::string s;
    AppendString(s, a);
    AppendString(s, b);
    *out = MakeString(std::move(s));
    return true;
  }
  if (!a.IsNumber() || !b.IsNumber()) return BadOperands(vm, op, a, b);
  if (a.IsInt() && b.IsInt()) {
    uint64_t x = static_cast<uint64_t>(a.i), y = static_cast<uint64_t>(b.i);
    switch (op) {
      case Op::kAdd:
        *out = Value::Int(static_cast<int64_t>(x + y));
        return true;
      case Op::kSub:
        *out = Value::Int(static_cast<int64_t>(x - y));
        return true;
      case Op::kMul:
        *out = Value::Int(static_cast<int64_t>(x * y));
        return true;
      case Op::kDiv:
      case Op::kMod:
        if (b.i == 0) return vm.Fail("integer division by zero");
        if (b.i == -1) {  // INT64_MIN / -1 wraps, as in Java
          *out = Value::Int(op == Op::kDiv ? static_cast<int64_t>(0 - x) : 0);
          return true;
        }
        *out = Value::Int(op == Op::kDiv ? a.i / b.i : a.i % b.i);
        return true;
      default:
        return BadOperands(vm, op, a, b);
    }
  }
  double x = a.AsDouble(), y = b.AsDouble();
  switch (op) {
    case Op::kAdd:
      *out = Value::Double(x + y);
      return true;
    case Op::kSub:
      *out = Value::Double(x - y);
      return true;
    case Op::kMul:
      *out = Value::Double(x * y);
      return true;
    case Op::kDiv:
      *out = Value::Double(x / y);
      return true;
    case Op::kMod:
      *out = Value::Double(std::fmod(x, y));
      return true;
    default:
      return BadOperands(vm, op, a, b);
  }
}

bool CompareSlow(Vm& vm, Op op, Value a, Value b, bool* out) {
  int c;
  if (a.IsNumber() && b.IsNumber()) {
    if (a.IsInt() && b.IsInt()) {
      c = a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
    } else {
      double x = a.AsDouble(), y = b.AsDouble();
      if (std::isnan(x) || std::isnan(y)) {
        *out = false;
        return true;
      }
      c = x < y ? -1 : x > y ? 1 : 0;
    }
  } else if (a.Is(ObjKind::kString) && b.Is(ObjKind::kString)) {
    c = AsStr(a)->s.compare(AsStr(b)->s);
  } else {
    return BadOperands(vm, op, a, b);
  }
  switch (op) {
    case Op::kLt:
      *out = c < 0;
      break;
    case Op::kLe:
      *out = c <= 0;
      break;
    case Op::kGt:
      *out = c > 0;
      break;
    default:
      *out = c >= 0;
      break;
  }
  return true;
}

bool IndexGet(Vm& vm, Value obj, Value key, Value* out) {
  if (obj.Is(ObjKind::kArray)) {
    size_t i;
    if (!ToIndex(vm, key, AsArray(obj)->v.size(), &i, "an array")) return false;
    *out = AsArray(obj)->v[i];
    Retain(*out);
    return true;
  }
  if (obj.Is(ObjKind::kMap)) {
    Value* v = AsMap(obj)->m.Find(key);
    *out = v ? *v : Value();
    Retain(*out);
    return true;
  }
  if (obj.Is(ObjKind::kRow)) {
    auto* row = static_cast<RowObj*>(obj.o);
    size_t c;
    if (!ColumnIndex(vm, *row->table, key, &c)) return false;
    *out = CellValue(row->table->rows[row->row][c]);
    return true;
  }
  if (obj.Is(ObjKind::kDataframe)) {
    auto* df = static_cast<DataframeObj*>(obj.o);
    size_t r;
    if (!ToIndex(vm, key, df->RowCount(), &r, "a row")) return false;
    auto* row = new RowObj();
    row->table = df->table;
    row->row = df->begin + r;
    row->number = static_cast<int64_t>(r);
    *out = Value::Object(row);
    return true;
  }
  if (obj.Is(ObjKind::kString)) {
    size_t i;
    if (!ToIndex(vm, key, AsStr(obj)->s.size(), &i, "a string")) return false;
    *out = MakeString(std::string(1, AsStr(obj)->s[i]));
    return true;
  }
  if (obj.IsNull()) return vm.Fail("cannot index null (is the variable initialised?)");
  return vm.Fail(std::string("cannot index ") + ATypeName(obj));
}

bool IndexSet(Vm& vm, Value obj, Value key, Value val) {
  if (obj.Is(ObjKind::kArray)) {
    size_t i;
    if (!ToIndex(vm, key, AsArray(obj)->v.size(), &i, "an array")) return false;
    Retain(val);
    Release(AsArray(obj)->v[i]);
    AsArray(obj)->v[i] = val;
    return true;
  }
  if (obj.Is(ObjKind::kMap)) {
    if (key.IsNull()) return vm.Fail("a map key cannot be null");
    Retain(key);
    Retain(val);
    AsMap(obj)->m.Set(key, val);
    return true;
  }
  if (obj.IsNull()) return vm.Fail("cannot index null (is the variable initialised?)");
  return vm.Fail(std::string("cannot assign into ") + ATypeName(obj));
}

bool FieldGet(Vm& vm, Value obj, const std::string& name, Value* out) {
  if (obj.Is(ObjKind::kMap)) {
    Value key = MakeString(name);
    Value* v = AsMap(obj)->m.Find(key);
    Release(key);
    *out = v ? *v : Value();
    Retain(*out);
    return true;
  }
  if (obj.Is(ObjKind::kRow)) {
    Value key = MakeString(name);
    bool ok = IndexGet(vm, obj, key, out);
    Release(key);
    return ok;
  }
  if (obj.tag == Tag::kEnv) {
    if (name == "nthread" || name == "nthreads" || name == "threads" || name == "thread") {
      *out = Value::Int(obj.env->nthread());
      return true;
    }
    return vm.Fail("an environment has no field '" + name + "' (only nthread)");
  }
  if (obj.IsNull()) return vm.Fail("cannot read field '" + name + "' of null");
  return vm.Fail(ATypeName(obj) + " has no field '" + name + "'");
}

bool FieldSet(Vm& vm, Value obj, const std::string& name, Value val) {
  if (obj.Is(ObjKind::kMap)) {
    Retain(val);
    AsMap(obj)->m.Set(MakeString(name), val);
    return true;
  }
  if (obj.IsNull()) return vm.Fail("cannot set field '" + name + "' of null");
  return vm.Fail(std::string("cannot set a field on ") + ATypeName(obj));
}

bool SliceGet(Vm& vm, Value obj, Value lo, Value hi, Value* out) {
  if (!lo.IsInt() || !hi.IsInt()) return vm.Fail("slice bounds must be Integers");
  size_t size;
  if (obj.Is(ObjKind::kArray)) {
    size = AsArray(obj)->v.size();
  } else if (obj.Is(ObjKind::kString)) {
    size = AsStr(obj)->s.size();
  } else {
    return vm.Fail(std::string("cannot slice ") + ATypeName(obj));
  }
  if (lo.i < 0 || hi.i < lo.i || static_cast<uint64_t>(hi.i) > size) {
    return vm.Fail("slice [" + std::to_string(lo.i) + ":" + std::to_string(hi.i) +
                   "] out of bounds for length " + std::to_string(size));
  }
  if (obj.Is(ObjKind::kString)) {
    *out = MakeString(AsStr(obj)->s.substr(lo.i, hi.i - lo.i));
    return true;
  }
  auto& v = AsArray(obj)->v;
  std::vector<Value> part(v.begin() + lo.i, v.begin() + hi.i);
  for (Value x : part) Retain(x);
  *out = MakeArray(std::move(part));
  return true;
}

bool CellGet(Vm& vm, Value obj, Value row, Value col, Value* out) {
  if (obj.Is(ObjKind::kArray)) {  // m[i, j] on a matrix
    Value r;
    if (!IndexGet(vm, obj, row, &r)) return false;
    bool ok = IndexGet(vm, r, col, out);
    Release(r);
    return ok;
  }
  if (!obj.Is(ObjKind::kDataframe)) {
    return vm.Fail(std::string("[row, col] needs a dataframe, got ") + TypeName(obj));
  }
  auto* df = static_cast<DataframeObj*>(obj.o);
  size_t r, c;
  if (!ToIndex(vm, row, df->RowCount(), &r, "a row")) return false;
  if (!ColumnIndex(vm, *df->table, col, &c)) return false;
  *out = CellValue(df->table->rows[df->begin + r][c]);
  return true;
}

namespace {

// What Type[d0][d1]...[dn-1] will take, counted before anything is allocated: every level's
// arrays (object and element buffer) and, for Strings, each element's empty string. Saturates
// rather than overflowing.
uint64_t SizedArrayBytes(const Value* dims, int n, CastType type) {
  constexpr uint64_t kCap = uint64_t{1} << 62;
  uint64_t arrays = 1, bytes = 0;
  for (int k = 0; k < n; ++k) {
    uint64_t d = static_cast<uint64_t>(dims[k].i);
    uint64_t elems = d == 0 ? 0 : arrays > kCap / d ? kCap : arrays * d;
    bytes += arrays * sizeof(ArrayObj) + elems * sizeof(Value);
    if (k == n - 1 && type == CastType::kString) {
      bytes += elems > kCap / sizeof(StrObj) ? kCap : elems * sizeof(StrObj);
    }
    if (bytes > kCap) return kCap;
    arrays = elems;
  }
  return bytes;
}

bool FillSizedArray(Vm& vm, const Value* dims, int n, CastType type, Value* out) {
  std::vector<Value> elems;
  elems.reserve(dims[0].i);
  for (int64_t k = 0; k < dims[0].i; ++k) {
    Value e;
    if (n > 1) {
      if (!FillSizedArray(vm, dims + 1, n - 1, type, &e)) {
        for (Value x : elems) Release(x);
        return false;
      }
    } else if (type == CastType::kInteger) {
      e = Value::Int(0);
    } else if (type == CastType::kDouble) {
      e = Value::Double(0);
    } else if (type == CastType::kString) {
      e = MakeString("");
    }
    elems.push_back(e);
  }
  *out = MakeArray(std::move(elems));
  return true;
}

}  // namespace

bool MakeSizedArray(Vm& vm, const Value* dims, int n, CastType type, Value* out) {
  std::string shape = CastName(type);
  for (int k = 0; k < n; ++k) {
    if (!dims[k].IsInt() || dims[k].i < 0) {
      return vm.Fail("an array size must be a non-negative Integer");
    }
    shape += "[" + std::to_string(dims[k].i) + "]";
  }
  uint64_t bytes = SizedArrayBytes(dims, n, type);
  if (!MemoryFits(bytes)) {
    uint64_t limit = MemoryLimit();
    return vm.Fail(
        "out of memory: " + shape + " needs " + FormatByteSize(bytes) +
        (limit != 0 ? "; the program may use " + FormatByteSize(limit) + " (--max-memory)"
                    : "; the machine has " + FormatByteSize(MachineMemory())) +
        (MemoryInUse() > 0 ? " and has " + FormatByteSize(MemoryInUse()) + " in use" : ""));
  }
  return FillSizedArray(vm, dims, n, type, out);
}

bool SortMap(Vm& vm, Value m, bool desc) {
  if (!m.Is(ObjKind::kMap)) return vm.Fail(std::string("sort needs a map, got ") + TypeName(m));
  OrderedMap& map = AsMap(m)->m;
  std::vector<Value> vals;
  for (const auto& e : map.entries()) {
    if (e.key.IsNull()) continue;
    if (!e.val.IsNumber()) return vm.Fail("sort needs a map of numbers");
    vals.push_back(e.val);
  }
  std::stable_sort(vals.begin(), vals.end(), [&](Value a, Value b) {
    return desc ? a.AsDouble() > b.AsDouble() : a.AsDouble() < b.AsDouble();
  });
  map.Clear();
  for (size_t k = 0; k < vals.size(); ++k) map.Set(MakeString(std::to_string(k)), vals[k]);
  return true;
}

bool IterPrep(Vm& vm, Value* v) {
  if (v->tag != Tag::kObj) {
    return vm.Fail(std::string("cannot iterate over ") + ATypeName(*v));
  }
  switch (v->o->kind) {
    case ObjKind::kRange:
    case ObjKind::kArray:
    case ObjKind::kMap:
    case ObjKind::kDataframe:
      return true;
    case ObjKind::kFile: {
      auto* f = static_cast<FileObj*>(v->o);
      if (f->lines) return true;
      auto lines = std::make_shared<std::vector<std::string>>();
      if (f->is_dir) {
        std::error_code ec;
        std::filesystem::directory_iterator it(f->path, ec), end;
        if (ec) return vm.Fail("cannot list directory '" + f->path + "': " + ec.message());
        for (; it != end; it.increment(ec)) {
          lines->push_back(std::filesystem::absolute(it->path()).string());
        }
        std::sort(lines->begin(), lines->end());
      } else {
        std::ifstream in(f->path);
        if (!in) return vm.Fail("cannot open file '" + f->path + "'");
        std::string line;
        while (std::getline(in, line)) {
          if (!line.empty() && line.back() == '\r') line.pop_back();
          lines->push_back(std::move(line));
        }
      }
      f->lines = std::move(lines);
      return true;
    }
    default:
      return vm.Fail(std::string("cannot iterate over ") + ATypeName(*v));
  }
}

bool IterStep(Vm& vm, Value it, int64_t* pos, bool* has, Value* item) {
  *has = false;
  switch (it.o->kind) {
    case ObjKind::kMap: {
      const auto& entries = AsMap(it)->m.entries();
      while (static_cast<size_t>(*pos) < entries.size() && entries[*pos].key.IsNull()) ++*pos;
      if (static_cast<size_t>(*pos) >= entries.size()) return true;
      const auto& e = entries[*pos];
      auto* m = new MapObj();
      Retain(e.key);
      Retain(e.val);
      m->m.Set(MakeString("k"), e.key);
      m->m.Set(MakeString("v"), e.val);
      *item = Value::Object(m);
      *has = true;
      return true;
    }
    case ObjKind::kFile: {
      auto* f = static_cast<FileObj*>(it.o);
      if (static_cast<size_t>(*pos) >= f->lines->size()) return true;
      *item = MakeString((*f->lines)[*pos]);
      *has = true;
      return true;
    }
    case ObjKind::kDataframe: {
      auto* df = static_cast<DataframeObj*>(it.o);
      if (static_cast<size_t>(*pos) >= df->RowCount()) return true;
      auto* row = new RowObj();
      row->table = df->table;
      row->row = df->begin + *pos;
      row->number = *pos;
      *item = Value::Object(row);
      *has = true;
      return true;
    }
    default:
      return vm.Fail(std::string("cannot iterate over ") + ATypeName(it));
  }
}

}  // namespace volo::fly
