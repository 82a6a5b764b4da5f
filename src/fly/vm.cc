#include "fly/vm.h"

#include <cmath>
#include <cstdlib>
#include <exception>

#include "fly/memory.h"
#include "fly/ops.h"

namespace volo::fly {

namespace {
constexpr size_t kStackValues = size_t{1} << 20;  // 16 MiB of address space, touched lazily
constexpr size_t kMaxFrames = 20000;

// Values move through the dispatch loop word by word (Ld/St, never a 16-byte copy): the int and
// double fast paths store just the payload word, and a 16-byte load of a Value whose two words
// were stored separately cannot be store-forwarded (a stall of a dozen cycles or more per
// instruction). vm.cc is compiled with -fno-tree-slp-vectorize so that GCC does not merge the
// two words back into one vector move.
inline Value Ld(const Value* p) {
  Value r;
  r.tag = p->tag;
  r.i = p->i;
  return r;
}
inline void St(Value* p, Value v) {
  p->tag = v.tag;
  p->i = v.i;
}

// Runs a runtime call (channels, declarations, fly jobs) that must not be cut short by the
// memory limit's exception: those keep state shared with other threads consistent only if they
// finish. Their own allocations are small; the FLY code they run is limited again inside.
template <typename F>
auto Unlimited(F f) {
  MemoryLimitScope scope(false);
  return f();
}

uint64_t MixSeed(uint64_t a, uint64_t b) {
  uint64_t x = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
std::string SendError(const Channel& ch, const std::string& why) {
  return "cannot send on " +
         (ch.name.empty() ? std::string("a channel") : "channel '" + ch.name + "'") + ": " + why;
}

std::string ArityMessage(const Function& f, uint32_t argc) {
  return "'" + f.name + "' takes " + std::to_string(f.arity) + " argument" +
         (f.arity == 1 ? "" : "s") + ", " + std::to_string(argc) + " given";
}
}  // namespace

Vm::Vm(Runtime& runtime, int64_t instance)
    : rt_(runtime), program_(runtime.program()), instance_(instance) {
  stack_ = static_cast<Value*>(std::malloc(kStackValues * sizeof(Value)));
  stack_end_ = stack_ + kStackValues;
  sp_ = stack_;
  globals_.resize(program_.globals.size());
  frames_.reserve(kMaxFrames + 1);
  interrupt_ = &rt_.stop_flag();
}

std::string Vm::InterruptMessage() {
  if (rt_.interrupted()) return "cancelled";
  return interrupt_ == &rt_.stop_flag() ? rt_.stop_reason() : "cancelled";
}

Vm::~Vm() {
  for (Value* p = stack_; p < sp_; ++p) Release(*p);
  for (Value v : globals_) Release(v);
  Release(math_random_);
  std::free(stack_);
}

void Vm::ResetGlobals() {
  for (Value& v : globals_) {
    Release(v);
    v = Value();
  }
  globals_.resize(program_.globals.size());
}

void Vm::BeginInstance(int64_t index) {
  instance_ = index;
  random_counter_ = 0;
  Release(math_random_);
  math_random_ = Value();
}

Value Vm::NewRandom(bool has_seed, uint64_t seed) {
  uint64_t base = rt_.SeedFor(has_seed, seed);
  uint64_t s = MixSeed(MixSeed(base, static_cast<uint64_t>(instance_ + 1)), ++random_counter_);
  return Value::Object(new RandomObj(s));
}

RandomObj* Vm::MathRandom() {
  if (math_random_.IsNull()) {
    uint64_t s = MixSeed(MixSeed(rt_.seed(), static_cast<uint64_t>(instance_ + 1)), ~0ULL);
    math_random_ = Value::Object(new RandomObj(s));
  }
  return static_cast<RandomObj*>(math_random_.o);
}

// Out of line: clang rejects indirect gotos that leave the scope of a std::string.
void Vm::Print(Value v, bool newline) {
  std::string s;
  AppendString(s, v);
  if (newline) s += '\n';
  rt_.Write(s);
}

bool Vm::Fail(std::string message) {
  message_ = std::move(message);
  return false;
}

std::string Vm::Trace(size_t entry_frames) const {
  std::string out;
  const std::string& file = program_.file;
  for (size_t k = frames_.size(); k-- > 0;) {
    const Frame& f = frames_[k];
    const Chunk& c = f.fn->chunk;
    size_t at = f.ip > c.code.data() ? static_cast<size_t>(f.ip - c.code.data()) - 1 : 0;
    Pos p = at < c.pos.size() ? c.pos[at] : Pos{};
    if (k + 1 == frames_.size()) {
      out = file + ":" + std::to_string(p.line) + ":" + std::to_string(p.col) +
            ": runtime error: " + message_ + "\n";
    }
    out += "    at " + f.fn->name + " (" + file + ":" + std::to_string(p.line) + ")\n";
  }
  (void)entry_frames;
  return out;
}

bool Vm::Call(int fn, const Value* args, int argc, Value* result) {
  const Function* f = program_.functions[fn].get();
  HeapScope heap(&rt_.heap());  // the arrays and maps the code makes belong to this run
  if (frames_.empty()) error_.clear();
  if (globals_.size() < program_.globals.size()) globals_.resize(program_.globals.size());
  Value* base = sp_;
  if (frames_.size() >= kMaxFrames || base + f->num_locals + argc + f->max_stack >= stack_end_) {
    for (int k = 0; k < argc; ++k) Release(args[k]);
    message_ = "stack overflow (recursion too deep)";
    error_ = program_.file + ": runtime error: " + message_ + "\n";
    return false;
  }
  for (int k = 0; k < argc; ++k) {
    if (k < f->arity) {
      base[k] = args[k];
    } else {
      Release(args[k]);
    }
  }
  for (int k = argc < f->arity ? argc : f->arity; k < f->num_locals; ++k) base[k] = Value();
  sp_ = base + f->num_locals;
  size_t entry = frames_.size();
  frames_.push_back({f, f->chunk.code.data(), base});
  bool ok;
  try {
    MemoryLimitScope limit(true);
    ok = Run(entry);
  } catch (const std::bad_alloc&) {
    // Past --max-memory (or the machine's memory): the program stops here. Run left the
    // operand stack as it stood; release it as a failing opcode's unwinding would.
    MemoryLimitScope no_limit(false);
    message_ = OutOfMemoryMessage();
    if (error_.empty()) error_ = Trace(entry);
    for (Value* p = base; p < sp_; ++p) Release(*p);
    frames_.resize(entry);
    sp_ = base;
    return false;
  }
  if (!ok) return false;
  *result = *--sp_;
  return true;
}

bool Vm::Run(size_t entry) {
  static void* const kLabels[] = {
#define FLY_OP_LABEL(name, extra, effect) &&L_##name,
      FLY_OPCODES(FLY_OP_LABEL)
#undef FLY_OP_LABEL
  };
  Frame* frame = &frames_.back();
  const uint32_t* ip = frame->ip;
  const uint32_t* code = frame->fn->chunk.code.data();
  const Value* consts = frame->fn->chunk.constants.data();
  Value* slots = frame->base;
  Value* sp = sp_;
  Value* globals = globals_.data();
  uint32_t w;
  Op op;

#define NEXT()               \
  do {                       \
    w = *ip++;               \
    goto* kLabels[w & 0xff]; \
  } while (0)
#define OPA (w >> 8)
#define SYNC() (frame->ip = ip, sp_ = sp)
#define RELOAD() (sp = sp_)
#define FAIL() goto fail
  // Loops poll the interrupt flag once per kPollEvery jumps back.
  constexpr int32_t kPollEvery = 1 << 14;
  int32_t poll_budget = kPollEvery;
#define POLL()                                                                      \
  do {                                                                              \
    if (__builtin_expect(--poll_budget == 0, 0)) {                                  \
      poll_budget = kPollEvery;                                                     \
      if ((interrupt_ != nullptr && interrupt_->load(std::memory_order_relaxed)) || \
          rt_.interrupted()) {                                                      \
        message_ = InterruptMessage();                                              \
        FAIL();                                                                     \
      }                                                                             \
    }                                                                               \
  } while (0)

  // An allocation past --max-memory throws out of any opcode. The stack up to `sp` then holds
  // exactly the references it owns (opcodes pop their operands only once done with them), so
  // record where it stood, and the line, for Call to release and report.
  struct RecordOnUnwind {
    Vm& vm;
    Value*& sp;
    Frame*& frame;
    const uint32_t*& ip;
    int exceptions = std::uncaught_exceptions();
    ~RecordOnUnwind() {
      if (std::uncaught_exceptions() > exceptions) {
        vm.sp_ = sp;
        frame->ip = ip;
      }
    }
  } on_unwind{*this, sp, frame, ip};

  NEXT();

L_Const:
  St(sp++, Ld(&consts[OPA]));  // constants are immortal: no refcount
  NEXT();
L_Int:
  St(sp++, Value::Int(static_cast<int64_t>(OPA) - kIntBias));
  NEXT();
L_Null:
  St(sp++, Value());
  NEXT();
L_True:
  St(sp++, Value::Bool(true));
  NEXT();
L_False:
  St(sp++, Value::Bool(false));
  NEXT();
L_Pop:
  Release(*--sp);
  NEXT();
L_GetLocal : {
  Value v = Ld(&slots[OPA]);
  Retain(v);
  St(sp++, v);
  NEXT();
}
L_SetLocal : {
  Value old = Ld(&slots[OPA]);
  St(&slots[OPA], Ld(--sp));
  Release(old);
  NEXT();
}
L_GetGlobal : {
  Value v = Ld(&globals[OPA]);
  Retain(v);
  St(sp++, v);
  NEXT();
}
L_SetGlobal : {
  Value old = Ld(&globals[OPA]);
  St(&globals[OPA], Ld(--sp));
  Release(old);
  NEXT();
}
L_Add : {
  Value b = Ld(&sp[-1]);
  Value& a = sp[-2];
  if (a.tag == Tag::kInt && b.tag == Tag::kInt) {
    a.i = static_cast<int64_t>(static_cast<uint64_t>(a.i) + static_cast<uint64_t>(b.i));
    --sp;
    NEXT();
  }
  if (a.tag == Tag::kDouble && b.tag == Tag::kDouble) {
    a.d += b.d;
    --sp;
    NEXT();
  }
  op = Op::kAdd;
  goto arith_slow;
}
L_Sub : {
  Value b = Ld(&sp[-1]);
  Value& a = sp[-2];
  if (a.tag == Tag::kInt && b.tag == Tag::kInt) {
    a.i = static_cast<int64_t>(static_cast<uint64_t>(a.i) - static_cast<uint64_t>(b.i));
    --sp;
    NEXT();
  }
  if (a.tag == Tag::kDouble && b.tag == Tag::kDouble) {
    a.d -= b.d;
    --sp;
    NEXT();
  }
  op = Op::kSub;
  goto arith_slow;
}
L_Mul : {
  Value b = Ld(&sp[-1]);
  Value& a = sp[-2];
  if (a.tag == Tag::kInt && b.tag == Tag::kInt) {
    a.i = static_cast<int64_t>(static_cast<uint64_t>(a.i) * static_cast<uint64_t>(b.i));
    --sp;
    NEXT();
  }
  if (a.tag == Tag::kDouble && b.tag == Tag::kDouble) {
    a.d *= b.d;
    --sp;
    NEXT();
  }
  op = Op::kMul;
  goto arith_slow;
}
L_Div : {
  Value b = Ld(&sp[-1]);
  Value& a = sp[-2];
  if (a.tag == Tag::kDouble && b.tag == Tag::kDouble) {
    a.d /= b.d;
    --sp;
    NEXT();
  }
  op = Op::kDiv;
  goto arith_slow;
}
L_Mod : {
  Value b = Ld(&sp[-1]);
  Value& a = sp[-2];
  if (a.tag == Tag::kInt && b.tag == Tag::kInt && b.i > 0) {
    a.i %= b.i;
    --sp;
    NEXT();
  }
  op = Op::kMod;
  goto arith_slow;
}
arith_slow : {
  Value r;
  SYNC();
  if (!ArithSlow(*this, op, sp[-2], sp[-1], &r)) FAIL();
  Release(sp[-2]);
  Release(sp[-1]);
  St(&sp[-2], r);
  --sp;
  NEXT();
}
L_Neg : {
  Value& a = sp[-1];
  if (a.tag == Tag::kInt) {
    a.i = static_cast<int64_t>(0ULL - static_cast<uint64_t>(a.i));
  } else if (a.tag == Tag::kDouble) {
    a.d = -a.d;
  } else {
    message_ = std::string("cannot negate ") + ATypeName(a);
    FAIL();
  }
  NEXT();
}
L_Not : {
  Value& a = sp[-1];
  if (a.tag != Tag::kBool) {
    message_ = std::string("'not' needs a Boolean, got ") + TypeName(a);
    FAIL();
  }
  a.b = !a.b;
  NEXT();
}
L_Eq:
L_Ne : {
  frame->ip = ip;
  bool eq = ValuesEqual(sp[-2], sp[-1]);
  Release(sp[-2]);
  Release(sp[-1]);
  St(&sp[-2], Value::Bool(static_cast<Op>(w & 0xff) == Op::kEq ? eq : !eq));
  --sp;
  NEXT();
}
#define FLY_COMPARE(NAME, OPER)                           \
  L_##NAME : {                                            \
    Value b = Ld(&sp[-1]);                                \
    Value a = Ld(&sp[-2]);                                \
    if (a.tag == Tag::kInt && b.tag == Tag::kInt) {       \
      St(&sp[-2], Value::Bool(a.i OPER b.i));             \
      --sp;                                               \
      NEXT();                                             \
    }                                                     \
    if (a.tag == Tag::kDouble && b.tag == Tag::kDouble) { \
      St(&sp[-2], Value::Bool(a.d OPER b.d));             \
      --sp;                                               \
      NEXT();                                             \
    }                                                     \
    op = Op::k##NAME;                                     \
    goto compare_slow;                                    \
  }
  FLY_COMPARE(Lt, <)
  FLY_COMPARE(Le, <=)
  FLY_COMPARE(Gt, >)
  FLY_COMPARE(Ge, >=)
#undef FLY_COMPARE
compare_slow : {
  bool r;
  SYNC();
  if (!CompareSlow(*this, op, sp[-2], sp[-1], &r)) FAIL();
  Release(sp[-2]);
  Release(sp[-1]);
  St(&sp[-2], Value::Bool(r));
  --sp;
  NEXT();
}
L_Jump:
  POLL();
  ip = code + OPA;
  NEXT();
L_JumpIfFalse : {
  Value c = Ld(&sp[-1]);
  if (c.tag != Tag::kBool) {
    message_ = std::string("a condition must be a Boolean, got ") + TypeName(c);
    FAIL();
  }
  --sp;
  if (!c.b) ip = code + OPA;
  NEXT();
}
L_AndJump:
L_OrJump : {
  Value c = Ld(&sp[-1]);
  if (c.tag != Tag::kBool) {
    message_ = std::string("'and'/'or' need Booleans, got ") + TypeName(c);
    FAIL();
  }
  bool jump_on = static_cast<Op>(w & 0xff) == Op::kOrJump;
  if (c.b == jump_on) {
    ip = code + OPA;
  } else {
    --sp;
  }
  NEXT();
}
L_Call : {
  POLL();  // recursion without loops must stop too
  uint32_t argc = *ip++;
  const Function* f = program_.functions[OPA].get();
  Value* base = sp - argc;
  if (frames_.size() >= kMaxFrames || base + f->num_locals + f->max_stack >= stack_end_) {
    message_ = "stack overflow (recursion too deep)";
    FAIL();
  }
  // The resolver checked the count against the definition it saw; at the REPL the function may
  // have been redefined since with another parameter list.
  if (__builtin_expect(argc != static_cast<uint32_t>(f->arity), 0)) {
    message_ = ArityMessage(*f, argc);
    FAIL();
  }
  for (int k = static_cast<int>(argc); k < f->num_locals; ++k) St(&base[k], Value());
  frame->ip = ip;
  frames_.push_back({f, f->chunk.code.data(), base});
  frame = &frames_.back();
  ip = code = frame->fn->chunk.code.data();
  consts = f->chunk.constants.data();
  slots = base;
  sp = base + f->num_locals;
  NEXT();
}
L_Return : {
  Value result = Ld(--sp);
  for (Value* p = slots; p < sp; ++p) Release(*p);
  sp = slots;
  St(sp++, result);
  frames_.pop_back();
  if (frames_.size() == entry) {
    sp_ = sp;
    return true;
  }
  frame = &frames_.back();
  ip = frame->ip;
  code = frame->fn->chunk.code.data();
  consts = frame->fn->chunk.constants.data();
  slots = frame->base;
  NEXT();
}
L_Print:
L_Println : {
  Value v = Ld(&sp[-1]);
  frame->ip = ip;
  Print(v, static_cast<Op>(w & 0xff) == Op::kPrintln);
  Release(v);
  --sp;
  NEXT();
}
L_Echo : {
  Value v = Ld(--sp);
  if (!v.IsNull()) Print(v, true);
  Release(v);
  NEXT();
}
L_Array : {
  uint32_t n = OPA;
  frame->ip = ip;  // allocations may fail (--max-memory): the error names this line
  {
    // Its own scope: the computed goto in NEXT() must not leave the scope of a vector (clang, and
    // so the WebAssembly build, refuses a jump that skips a destructor).
    std::vector<Value> elems(sp - n, sp);  // if either allocation throws, the stack owns all
    auto* arr = new ArrayObj();
    arr->v = std::move(elems);
    sp -= n;
    St(sp++, Value::Object(arr));
  }
  NEXT();
}
L_Map : {
  uint32_t n = OPA;
  frame->ip = ip;
  auto* m = new MapObj();
  Value* p = sp - 2 * n;
  uint32_t k = 0;
  try {
    for (; k < n; ++k) m->m.Set(p[2 * k], p[2 * k + 1]);
  } catch (const std::bad_alloc&) {
    // Set throws before it takes a pair over: the map owns the first k, the stack the rest.
    for (uint32_t j = 0; j < 2 * k; ++j) p[j] = Value();
    MemoryLimitScope no_limit(false);
    Release(Value::Object(m));
    throw;
  }
  sp = p;
  St(sp++, Value::Object(m));
  NEXT();
}
L_Range : {
  Value lo = Ld(&sp[-2]), hi = Ld(&sp[-1]);
  if (!lo.IsInt() || !hi.IsInt()) {
    message_ =
        std::string("range bounds must be Integers, got ") + TypeName(lo) + " and " + TypeName(hi);
    FAIL();
  }
  sp -= 2;
  St(sp++, Value::Object(new RangeObj(lo.i, hi.i)));
  NEXT();
}
L_SizedArray : {
  uint32_t n = OPA;
  CastType type = static_cast<CastType>(*ip++);
  Value r;
  SYNC();
  if (!MakeSizedArray(*this, sp - n, static_cast<int>(n), type, &r)) FAIL();
  sp -= n;
  St(sp++, r);
  NEXT();
}
L_Index : {
  Value key = Ld(&sp[-1]), obj = Ld(&sp[-2]);
  if (obj.tag == Tag::kObj && key.tag == Tag::kInt) {
    if (obj.o->kind == ObjKind::kArray) {
      auto& v = AsArray(obj)->v;
      if (key.i >= 0 && static_cast<uint64_t>(key.i) < v.size()) {
        Value x = Ld(&v[key.i]);
        Retain(x);
        Release(obj);
        St(&sp[-2], x);
        --sp;
        NEXT();
      }
    } else if (obj.o->kind == ObjKind::kMap) {
      Value* x = AsMap(obj)->m.Find(key);
      Value r = x ? Ld(x) : Value();
      Retain(r);
      Release(obj);
      St(&sp[-2], r);
      --sp;
      NEXT();
    }
  }
  Value r;
  SYNC();
  if (!IndexGet(*this, obj, key, &r)) FAIL();
  Release(obj);
  Release(key);
  St(&sp[-2], r);
  --sp;
  NEXT();
}
L_SetIndex : {
  Value val = Ld(&sp[-1]), key = Ld(&sp[-2]), obj = Ld(&sp[-3]);
  if (obj.Is(ObjKind::kArray) && key.tag == Tag::kInt) {
    auto& v = AsArray(obj)->v;
    if (key.i >= 0 && static_cast<uint64_t>(key.i) < v.size()) {
      Value old = Ld(&v[key.i]);
      St(&v[key.i], val);
      Release(old);
      Release(obj);
      sp -= 3;
      NEXT();
    }
  } else if (obj.Is(ObjKind::kMap) && !key.IsNull()) {
    frame->ip = ip;
    AsMap(obj)->m.Set(key, val);  // takes over the key and value references
    Release(obj);
    sp -= 3;
    NEXT();
  }
  SYNC();
  if (!IndexSet(*this, obj, key, val)) FAIL();
  Release(val);
  Release(key);
  Release(obj);
  sp -= 3;
  NEXT();
}
L_Slice : {
  Value r;
  SYNC();
  if (!SliceGet(*this, sp[-3], sp[-2], sp[-1], &r)) FAIL();
  for (int k = 1; k <= 3; ++k) Release(sp[-k]);
  sp -= 3;
  St(sp++, r);
  NEXT();
}
L_Cell : {
  Value r;
  SYNC();
  if (!CellGet(*this, sp[-3], sp[-2], sp[-1], &r)) FAIL();
  for (int k = 1; k <= 3; ++k) Release(sp[-k]);
  sp -= 3;
  St(sp++, r);
  NEXT();
}
L_GetField : {
  Value r;
  SYNC();
  if (!FieldGet(*this, sp[-1], AsStr(consts[OPA])->s, &r)) FAIL();
  Release(sp[-1]);
  St(&sp[-1], r);
  NEXT();
}
L_SetField : {
  SYNC();
  if (!FieldSet(*this, sp[-2], AsStr(consts[OPA])->s, sp[-1])) FAIL();
  Release(sp[-1]);
  Release(sp[-2]);
  sp -= 2;
  NEXT();
}
L_Invoke : {
  uint32_t extra = *ip++;
  int argc = static_cast<int>(extra & 0xff);
  MethodId id = static_cast<MethodId>(extra >> 8);
  Value* args = sp - argc - 1;
  if (argc == 0 && id == MethodId::k_nextDouble && args[0].Is(ObjKind::kRandom)) {
    Value r = Value::Double(static_cast<RandomObj*>(args[0].o)->NextDouble());
    Release(args[0]);
    St(&args[0], r);
    NEXT();
  }
  Value r;
  SYNC();
  if (!CallMethod(*this, id, AsStr(consts[OPA])->s, args, argc, &r)) FAIL();
  RELOAD();
  for (int k = 0; k <= argc; ++k) Release(args[k]);
  sp = args;
  St(sp++, r);
  NEXT();
}
L_Math : {
  int argc = static_cast<int>(*ip++);
  Value r;
  SYNC();
  if (!CallMath(*this, static_cast<MathId>(OPA), sp - argc, argc, &r)) FAIL();
  for (int k = 1; k <= argc; ++k) Release(sp[-k]);
  sp -= argc;
  St(sp++, r);
  NEXT();
}
L_Time : {
  int argc = static_cast<int>(OPA);
  Value r;
  SYNC();
  if (!TimeCall(*this, sp - argc, argc, &r)) FAIL();
  for (int k = 1; k <= argc; ++k) Release(sp[-k]);
  sp -= argc;
  St(sp++, r);
  NEXT();
}
L_Cast : {
  Value r;
  SYNC();
  if (!CastValue(*this, static_cast<CastType>(OPA), sp[-1], &r)) FAIL();
  Release(sp[-1]);
  St(&sp[-1], r);
  NEXT();
}
L_Send : {
  Value ch = Ld(&sp[-2]), msg = Ld(&sp[-1]);
  if (ch.tag != Tag::kChannel) {
    message_ = std::string("'!' sends on a channel, not on ") + ATypeName(ch);
    FAIL();
  }
  Value copy;
  frame->ip = ip;
  if (!CopyForTransfer(msg, &copy, &message_)) {
    message_ = SendError(*ch.ch, message_);
    FAIL();
  }
  Unlimited([this, c = ch.ch, copy] { rt_.Send(c, copy); });
  Release(msg);
  sp -= 2;
  St(sp++, Value());
  NEXT();
}
L_Recv : {
  Value ch = Ld(&sp[-1]);
  if (ch.tag != Tag::kChannel) {
    message_ = std::string("'?' receives from a channel, not from ") + ATypeName(ch);
    FAIL();
  }
  Value r;
  SYNC();
  if (!Unlimited([this, c = ch.ch, out = &r] { return rt_.Receive(c, out, &message_); })) FAIL();
  St(&sp[-1], r);
  NEXT();
}
L_Decl : {
  const DeclSite& site = program_.decls[OPA];
  int n = static_cast<int>(site.keys.size());
  Value r;
  SYNC();
  if (!Unlimited(
          [this, &site, args = sp - n, out = &r] { return MakeDomain(*this, site, args, out); }))
    FAIL();
  for (int k = 1; k <= n; ++k) Release(sp[-k]);
  sp -= n;
  St(sp++, r);
  NEXT();
}
L_Fly : {
  const FlySite& site = program_.flies[OPA];
  int n = site.argc + 1;
  Value r;
  SYNC();
  if (!Unlimited([this, &site, args = sp - n, out = &r] { return RunFly(*this, site, args, out); }))
    FAIL();
  RELOAD();
  globals = globals_.data();
  for (int k = 1; k <= n; ++k) Release(sp[-k]);
  sp -= n;
  St(sp++, r);
  NEXT();
}
L_ExecEnv:
  St(sp++, MakeString("smp"));
  NEXT();
L_IterPrep:
  SYNC();
  if (!IterPrep(*this, &sp[-1])) FAIL();
  NEXT();
L_IterNext : {
  Value it = Ld(&slots[OPA]);
  int64_t pos = slots[OPA + 1].i;
  uint32_t var = ip[0];
  uint32_t exit = ip[1];
  ip += 2;
  if (it.Is(ObjKind::kRange)) {
    auto* r = static_cast<RangeObj*>(it.o);
    if (r->lo + pos < r->hi) {
      Release(slots[var]);
      St(&slots[var], Value::Int(r->lo + pos));
      slots[OPA + 1].i = pos + 1;
    } else {
      ip = code + exit;
    }
    NEXT();
  }
  if (it.Is(ObjKind::kArray)) {
    if (static_cast<uint64_t>(pos) < AsArray(it)->v.size()) {
      Release(slots[var]);
      St(&slots[var], Value::Int(pos));
      slots[OPA + 1].i = pos + 1;
    } else {
      ip = code + exit;
    }
    NEXT();
  }
  bool has;
  Value item;
  SYNC();
  if (!IterStep(*this, it, &pos, &has, &item)) FAIL();
  if (has) {
    Release(slots[var]);
    St(&slots[var], item);
    slots[OPA + 1].i = pos + 1;
  } else {
    ip = code + exit;
  }
  NEXT();
}
L_IncLocal:
L_DecLocal : {
  Value& v = slots[OPA];
  int64_t d = static_cast<Op>(w & 0xff) == Op::kIncLocal ? 1 : -1;
  if (v.tag == Tag::kInt) {
    v.i = static_cast<int64_t>(static_cast<uint64_t>(v.i) + static_cast<uint64_t>(d));
  } else if (v.tag == Tag::kDouble) {
    v.d += static_cast<double>(d);
  } else {
    Value r;
    SYNC();
    if (!ArithSlow(*this, d > 0 ? Op::kAdd : Op::kSub, v, Value::Int(1), &r)) FAIL();
    Release(v);
    St(&v, r);
  }
  NEXT();
}
L_AddLocal : {
  Value b = Ld(&sp[-1]);
  Value& a = slots[OPA];
  if (a.tag == Tag::kInt && b.tag == Tag::kInt) {
    a.i = static_cast<int64_t>(static_cast<uint64_t>(a.i) + static_cast<uint64_t>(b.i));
    --sp;
    NEXT();
  }
  if (a.tag == Tag::kDouble && b.tag == Tag::kDouble) {
    a.d += b.d;
    --sp;
    NEXT();
  }
  if (a.Is(ObjKind::kString) && !a.o->immortal && a.o->rc == 1) {
    // The variable holds the only reference: append in place (s += "x" is amortised O(1)).
    frame->ip = ip;
    StrObj* s = AsStr(a);
    if (b.Is(ObjKind::kString)) {
      s->s += AsStr(b)->s;
    } else {
      AppendString(s->s, b);
    }
    s->hash = 0;
    Release(b);
    --sp;
    NEXT();
  }
  Value r;
  SYNC();
  if (!ArithSlow(*this, Op::kAdd, a, b, &r)) FAIL();
  Release(a);
  Release(b);
  St(&a, r);
  --sp;
  NEXT();
}
L_ForLt : {
  Value a = Ld(&slots[OPA]);
  Value b = slots[ip[0]];
  if (a.tag == Tag::kInt && b.tag == Tag::kInt) {
    ip = a.i < b.i ? ip + 2 : code + ip[1];
    NEXT();
  }
  bool r;
  SYNC();
  if (!CompareSlow(*this, Op::kLt, a, b, &r)) FAIL();
  ip = r ? ip + 2 : code + ip[1];
  NEXT();
}
L_ForInc : {
  Value& v = slots[OPA];
  if (v.tag == Tag::kInt) {
    ++v.i;
  } else if (v.tag == Tag::kDouble) {
    v.d += 1;
  } else {
    message_ = std::string("the loop variable must stay a number, got ") + TypeName(v);
    FAIL();
  }
  ip = code + *ip;
  NEXT();
}
L_ForLoop : {
  POLL();
  Value& v = slots[OPA];
  Value b = slots[ip[0]];
  if (v.tag == Tag::kInt && b.tag == Tag::kInt) {
    ++v.i;
    ip = v.i < b.i ? code + ip[1] : ip + 2;
    NEXT();
  }
  if (v.tag == Tag::kDouble) {
    v.d += 1;
  } else if (v.tag == Tag::kInt) {
    ++v.i;
  } else {
    message_ = std::string("the loop variable must stay a number, got ") + TypeName(v);
    FAIL();
  }
  bool r;
  SYNC();
  if (!CompareSlow(*this, Op::kLt, v, b, &r)) FAIL();
  ip = r ? code + ip[1] : ip + 2;
  NEXT();
}
L_Sort:
  SYNC();
  if (!SortMap(*this, sp[-1], OPA != 0)) FAIL();
  Release(sp[-1]);
  --sp;
  NEXT();
L_Nop:
  NEXT();

L_GetLocal2 : {
  Value a = Ld(&slots[OPA]);
  Value b = Ld(&slots[*ip++]);
  Retain(a);
  Retain(b);
  St(&sp[0], a);
  St(&sp[1], b);
  sp += 2;
  NEXT();
}
#define FLY_ARITH_K(NAME, OPER, INT_OK)                                                       \
  L_##NAME##K : {                                                                             \
    Value k = Ld(&consts[OPA]);                                                               \
    Value& a = sp[-1];                                                                        \
    if (a.tag == Tag::kInt && k.tag == Tag::kInt && (INT_OK)) {                               \
      a.i = static_cast<int64_t>(static_cast<uint64_t>(a.i) OPER static_cast<uint64_t>(k.i)); \
      NEXT();                                                                                 \
    }                                                                                         \
    if (a.tag == Tag::kDouble && k.tag == Tag::kDouble) {                                     \
      a.d = a.d OPER k.d;                                                                     \
      NEXT();                                                                                 \
    }                                                                                         \
    St(sp++, k);                                                                              \
    op = Op::k##NAME;                                                                         \
    goto arith_slow;                                                                          \
  }
  FLY_ARITH_K(Add, +, true)
  FLY_ARITH_K(Sub, -, true)
  FLY_ARITH_K(Mul, *, true)
  FLY_ARITH_K(Div, /, false)
#undef FLY_ARITH_K
L_ModK : {
  Value k = Ld(&consts[OPA]);
  Value& a = sp[-1];
  if (a.tag == Tag::kInt && k.tag == Tag::kInt && k.i > 0) {
    a.i %= k.i;
    NEXT();
  }
  St(sp++, k);
  op = Op::kMod;
  goto arith_slow;
}
#define FLY_COMPARE_K(NAME, OPER)                         \
  L_##NAME##K : {                                         \
    Value k = Ld(&consts[OPA]);                           \
    Value& a = sp[-1];                                    \
    if (a.tag == Tag::kInt && k.tag == Tag::kInt) {       \
      St(&a, Value::Bool(a.i OPER k.i));                  \
      NEXT();                                             \
    }                                                     \
    if (a.tag == Tag::kDouble && k.tag == Tag::kDouble) { \
      St(&a, Value::Bool(a.d OPER k.d));                  \
      NEXT();                                             \
    }                                                     \
    St(sp++, k);                                          \
    op = Op::k##NAME;                                     \
    goto compare_slow;                                    \
  }
  FLY_COMPARE_K(Lt, <)
  FLY_COMPARE_K(Le, <=)
  FLY_COMPARE_K(Gt, >)
  FLY_COMPARE_K(Ge, >=)
#undef FLY_COMPARE_K
// Fused compare-and-branch: jump when the comparison is false.
#define FLY_JUMP_IF_NOT(NAME, OPER)                              \
  L_JumpIfNot##NAME : {                                          \
    Value b = Ld(&sp[-1]);                                       \
    Value a = Ld(&sp[-2]);                                       \
    uint32_t target = OPA;                                       \
    bool r;                                                      \
    if (a.tag == Tag::kInt && b.tag == Tag::kInt) {              \
      r = a.i OPER b.i;                                          \
    } else if (a.tag == Tag::kDouble && b.tag == Tag::kDouble) { \
      r = a.d OPER b.d;                                          \
    } else {                                                     \
      SYNC();                                                    \
      if (!CompareSlow(*this, Op::k##NAME, a, b, &r)) FAIL();    \
      Release(a);                                                \
      Release(b);                                                \
    }                                                            \
    sp -= 2;                                                     \
    if (!r) ip = code + target;                                  \
    NEXT();                                                      \
  }                                                              \
  L_JumpIfNot##NAME##K : {                                       \
    Value b = Ld(&consts[OPA]);                                  \
    Value a = Ld(&sp[-1]);                                       \
    uint32_t target = *ip++;                                     \
    bool r;                                                      \
    if (a.tag == Tag::kInt && b.tag == Tag::kInt) {              \
      r = a.i OPER b.i;                                          \
    } else if (a.tag == Tag::kDouble && b.tag == Tag::kDouble) { \
      r = a.d OPER b.d;                                          \
    } else {                                                     \
      SYNC();                                                    \
      if (!CompareSlow(*this, Op::k##NAME, a, b, &r)) FAIL();    \
      Release(a);                                                \
    }                                                            \
    --sp;                                                        \
    if (!r) ip = code + target;                                  \
    NEXT();                                                      \
  }
  FLY_JUMP_IF_NOT(Lt, <)
  FLY_JUMP_IF_NOT(Le, <=)
  FLY_JUMP_IF_NOT(Gt, >)
  FLY_JUMP_IF_NOT(Ge, >=)
#undef FLY_JUMP_IF_NOT
L_JumpIfNotEq:
L_JumpIfNotNe : {
  Value b = Ld(&sp[-1]);
  Value a = Ld(&sp[-2]);
  bool eq = ValuesEqual(a, b);
  Release(a);
  Release(b);
  sp -= 2;
  if (eq != (static_cast<Op>(w & 0xff) == Op::kJumpIfNotEq)) ip = code + OPA;
  NEXT();
}
L_JumpIfNotEqK:
L_JumpIfNotNeK : {
  Value a = Ld(&sp[-1]);
  bool eq = ValuesEqual(a, consts[OPA]);
  uint32_t target = *ip++;
  Release(a);
  --sp;
  if (eq != (static_cast<Op>(w & 0xff) == Op::kJumpIfNotEqK)) ip = code + target;
  NEXT();
}
// LK forms: slot A op constants[W1], pushed; the slot keeps its reference.
#define FLY_ARITH_LK(NAME, OPER, INT_OK)                                  \
  L_##NAME##LK : {                                                        \
    Value a = Ld(&slots[OPA]);                                            \
    Value k = Ld(&consts[*ip++]);                                         \
    if (a.tag == Tag::kInt && k.tag == Tag::kInt && (INT_OK)) {           \
      St(sp++, Value::Int(static_cast<int64_t>(INT_OP(OPER, a.i, k.i)))); \
      NEXT();                                                             \
    }                                                                     \
    if (a.tag == Tag::kDouble && k.tag == Tag::kDouble) {                 \
      St(sp++, Value::Double(a.d OPER k.d));                              \
      NEXT();                                                             \
    }                                                                     \
    Retain(a);                                                            \
    St(sp++, a);                                                          \
    St(sp++, k);                                                          \
    op = Op::k##NAME;                                                     \
    goto arith_slow;                                                      \
  }
#define INT_OP(OPER, x, y) (static_cast<uint64_t>(x) OPER static_cast<uint64_t>(y))
  FLY_ARITH_LK(Add, +, true)
  FLY_ARITH_LK(Sub, -, true)
  FLY_ARITH_LK(Mul, *, true)
  FLY_ARITH_LK(Div, /, false)
#undef INT_OP
#undef INT_OP
#undef FLY_ARITH_LK
L_ModLK : {
  Value a = Ld(&slots[OPA]);
  Value k = Ld(&consts[*ip++]);
  if (a.tag == Tag::kInt && k.tag == Tag::kInt && k.i > 0) {
    St(sp++, Value::Int(a.i % k.i));
    NEXT();
  }
  Retain(a);
  St(sp++, a);
  St(sp++, k);
  op = Op::kMod;
  goto arith_slow;
}
#define FLY_JUMP_IF_NOT_LK(NAME, OPER)                           \
  L_JumpIfNot##NAME##LK : {                                      \
    Value a = Ld(&slots[OPA]);                                   \
    Value b = Ld(&consts[ip[0]]);                                \
    uint32_t target = ip[1];                                     \
    ip += 2;                                                     \
    bool r;                                                      \
    if (a.tag == Tag::kInt && b.tag == Tag::kInt) {              \
      r = a.i OPER b.i;                                          \
    } else if (a.tag == Tag::kDouble && b.tag == Tag::kDouble) { \
      r = a.d OPER b.d;                                          \
    } else {                                                     \
      SYNC();                                                    \
      if (!CompareSlow(*this, Op::k##NAME, a, b, &r)) FAIL();    \
    }                                                            \
    if (!r) ip = code + target;                                  \
    NEXT();                                                      \
  }
  FLY_JUMP_IF_NOT_LK(Lt, <)
  FLY_JUMP_IF_NOT_LK(Le, <=)
  FLY_JUMP_IF_NOT_LK(Gt, >)
  FLY_JUMP_IF_NOT_LK(Ge, >=)
#undef FLY_JUMP_IF_NOT_LK
// Indexing a local: the object stays in its slot (no reference taken).
L_IndexL : {
  Value obj = Ld(&slots[OPA]);
  Value key = Ld(&sp[-1]);
  if (obj.tag == Tag::kObj) {
    if (obj.o->kind == ObjKind::kMap) {
      Value* x = AsMap(obj)->m.Find(key);
      Value r = x ? Ld(x) : Value();
      Retain(r);
      Release(key);
      St(&sp[-1], r);
      NEXT();
    }
    if (obj.o->kind == ObjKind::kArray && key.tag == Tag::kInt) {
      auto& v = AsArray(obj)->v;
      if (static_cast<uint64_t>(key.i) < v.size()) {
        Value x = Ld(&v[key.i]);
        Retain(x);
        St(&sp[-1], x);
        NEXT();
      }
    }
  }
  Value r;
  SYNC();
  if (!IndexGet(*this, obj, key, &r)) FAIL();
  Release(key);
  St(&sp[-1], r);
  NEXT();
}
L_SetIndexL : {
  Value obj = Ld(&slots[OPA]);
  Value val = Ld(&sp[-1]), key = Ld(&sp[-2]);
  if (obj.tag == Tag::kObj) {
    if (obj.o->kind == ObjKind::kMap && !key.IsNull()) {
      frame->ip = ip;
      AsMap(obj)->m.Set(key, val);  // takes over the key and value references
      sp -= 2;
      NEXT();
    }
    if (obj.o->kind == ObjKind::kArray && key.tag == Tag::kInt) {
      auto& v = AsArray(obj)->v;
      if (static_cast<uint64_t>(key.i) < v.size()) {
        Value old = Ld(&v[key.i]);
        St(&v[key.i], val);
        Release(old);
        sp -= 2;
        NEXT();
      }
    }
  }
  SYNC();
  if (!IndexSet(*this, obj, key, val)) FAIL();
  Release(val);
  Release(key);
  sp -= 2;
  NEXT();
}

fail:
  frame->ip = ip;
  sp_ = sp;
  if (error_.empty()) error_ = Trace(entry);  // else a nested call already reported it
  {
    Value* base = frames_[entry].base;
    for (Value* p = base; p < sp_; ++p) Release(*p);
    sp_ = base;
    frames_.resize(entry);
  }
  return false;
#undef NEXT
#undef POLL
#undef OPA
#undef SYNC
#undef RELOAD
#undef FAIL
}

}  // namespace volo::fly
