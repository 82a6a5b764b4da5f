#include "fly/compiler.h"

#include <filesystem>

#include "fly/parser.h"
#include "fly/resolver.h"
#include "fly/stdlib.h"

namespace volo::fly {

namespace {
constexpr int64_t kMaxSmallInt = (1 << 23) - 1;
constexpr int64_t kMinSmallInt = -(1 << 23);
constexpr size_t kMaxOperand = (1u << 24) - 1;
}  // namespace

namespace {
bool IsNumberLiteral(const Expr& e) {
  return e.kind == ExprKind::kInt || e.kind == ExprKind::kDouble;
}
Value LiteralValue(const Expr& e) {
  return e.kind == ExprKind::kInt ? Value::Int(e.i) : Value::Double(e.d);
}
bool IsLocalName(const Expr& e) {
  return e.kind == ExprKind::kName && e.ref.kind == RefKind::kLocal;
}

bool IsChainLink(const Expr& e) {
  return e.kind == ExprKind::kBinary || e.kind == ExprKind::kAnd || e.kind == ExprKind::kOr;
}

// The instruction for `x OP constant`, or kNop.
Op ConstantOp(Tok t) {
  switch (t) {
    case Tok::kPlus:
      return Op::kAddK;
    case Tok::kMinus:
      return Op::kSubK;
    case Tok::kStar:
      return Op::kMulK;
    case Tok::kSlash:
      return Op::kDivK;
    case Tok::kPercent:
      return Op::kModK;
    case Tok::kLt:
      return Op::kLtK;
    case Tok::kLe:
      return Op::kLeK;
    case Tok::kGt:
      return Op::kGtK;
    case Tok::kGe:
      return Op::kGeK;
    default:
      return Op::kNop;
  }
}

Op BinaryOp(Tok t) {
  switch (t) {
    case Tok::kPlus:
      return Op::kAdd;
    case Tok::kMinus:
      return Op::kSub;
    case Tok::kStar:
      return Op::kMul;
    case Tok::kSlash:
      return Op::kDiv;
    case Tok::kPercent:
      return Op::kMod;
    case Tok::kEq:
      return Op::kEq;
    case Tok::kNe:
      return Op::kNe;
    case Tok::kLt:
      return Op::kLt;
    case Tok::kLe:
      return Op::kLe;
    case Tok::kGt:
      return Op::kGt;
    case Tok::kGe:
      return Op::kGe;
    default:
      return Op::kNop;
  }
}
}  // namespace

bool HasErrors(const std::vector<Diagnostic>& diags) {
  for (const auto& d : diags)
    if (!d.warning) return true;
  return false;
}

std::unique_ptr<Program> CompileSource(std::string_view file, std::string_view source,
                                       std::vector<Diagnostic>& diags) {
  auto program = std::make_unique<Program>();
  program->file = std::string(file);
  program->source = std::string(source);
  program->dir = std::filesystem::path(std::string(file)).parent_path().string();
  Parser parser(source);
  ParsedProgram parsed = parser.ParseProgram();
  diags.insert(diags.end(), parser.diagnostics().begin(), parser.diagnostics().end());
  // Resolution errors after a syntax error would mostly be echoes of it (a dropped
  // declaration makes its uses undefined), so resolve only a well-formed program.
  if (HasErrors(diags)) return program;
  int main_index = static_cast<int>(program->functions.size());
  Resolver resolver(*program);
  resolver.Resolve(parsed, diags);
  if (HasErrors(diags)) return program;
  Compiler compiler(*program);
  compiler.Compile(parsed, main_index, diags);
  return program;
}

void Compiler::Error(Pos p, std::string msg) { diags_->push_back({p, std::move(msg)}); }

size_t Compiler::Here() const { return fn_->chunk.code.size(); }

size_t Compiler::Emit(Op op, uint32_t a, Pos p) {
  if (a > kMaxOperand) {
    Error(p, "program too large (operand overflow)");
    a = 0;
  }
  return fn_->chunk.Emit(op, a, p);
}

void Compiler::Word(uint32_t w, Pos p) { fn_->chunk.EmitWord(w, p); }

void Compiler::Patch(size_t at, uint32_t target) {
  uint32_t& w = fn_->chunk.code[at];
  w = (w & 0xff) | (target << 8);
}

void Compiler::PatchWord(size_t at, uint32_t target) { fn_->chunk.code[at] = target; }

void Compiler::Compile(ParsedProgram& parsed, int main_index, std::vector<Diagnostic>& diags) {
  diags_ = &diags;
  for (auto& s : parsed.stmts) {
    if (s->kind == StmtKind::kFunc && s->ref.kind == RefKind::kFunction) {
      CompileFunction(*program_.functions[s->ref.index], s->body);
    }
  }
  fn_ = program_.functions[main_index].get();
  for (auto& s : parsed.stmts) {
    if (s->kind != StmtKind::kFunc) Statement(*s);
  }
  Emit(Op::kNull, 0, {});
  Emit(Op::kReturn, 0, {});
  fn_ = nullptr;
  // Stack depths: replay the stack effects of each function linearly.
  for (auto& f : program_.functions) {
    int depth = 0, max = 0;
    const Chunk& c = f->chunk;
    for (size_t i = 0; i < c.code.size(); i += 1 + kOpExtra[c.code[i] & 0xff]) {
      depth += StackEffect(program_, c, i);
      if (depth > max) max = depth;
      if (depth < 0) depth = 0;
    }
    f->max_stack = max + 4;
  }
}

void Compiler::CompileFunction(Function& fn, std::vector<StmtPtr>& body) {
  fn_ = &fn;
  Stmts(body);
  Emit(Op::kNull, 0, fn.pos);
  Emit(Op::kReturn, 0, fn.pos);
  fn_ = nullptr;
}

void Compiler::Stmts(std::vector<StmtPtr>& stmts) {
  for (auto& s : stmts) Statement(*s);
}

std::pair<size_t, bool> Compiler::CondJump(Expr& cond) {
  if (cond.kind == ExprKind::kBinary) {
    int k = -1;
    switch (cond.op) {
      case Tok::kLt:
        k = 0;
        break;
      case Tok::kLe:
        k = 1;
        break;
      case Tok::kGt:
        k = 2;
        break;
      case Tok::kGe:
        k = 3;
        break;
      case Tok::kEq:
        k = 4;
        break;
      case Tok::kNe:
        k = 5;
        break;
      default:
        break;
    }
    if (k >= 0) {
      if (k < 4 && IsNumberLiteral(*cond.kids[1]) && IsLocalName(*cond.kids[0])) {
        uint32_t c = fn_->chunk.AddConstant(LiteralValue(*cond.kids[1]));
        Emit(static_cast<Op>(static_cast<int>(Op::kJumpIfNotLtLK) + k), cond.kids[0]->ref.index,
             cond.pos);
        Word(c, cond.pos);
        Word(0, cond.pos);
        return {Here() - 1, true};
      }
      if (IsNumberLiteral(*cond.kids[1])) {
        Expression(*cond.kids[0]);
        uint32_t c = fn_->chunk.AddConstant(LiteralValue(*cond.kids[1]));
        Emit(static_cast<Op>(static_cast<int>(Op::kJumpIfNotLtK) + k), c, cond.pos);
        Word(0, cond.pos);
        return {Here() - 1, true};
      }
      Expression(*cond.kids[0]);
      Expression(*cond.kids[1]);
      return {Emit(static_cast<Op>(static_cast<int>(Op::kJumpIfNotLt) + k), 0, cond.pos), false};
    }
  }
  Expression(cond);
  return {Emit(Op::kJumpIfFalse, 0, cond.pos), false};
}

void Compiler::PatchCond(std::pair<size_t, bool> at, uint32_t target) {
  if (at.second) {
    PatchWord(at.first, target);
  } else {
    Patch(at.first, target);
  }
}

void Compiler::Load(Ref r, Pos p) {
  if (r.kind == RefKind::kLocal) {
    Emit(Op::kGetLocal, r.index, p);
  } else if (r.kind == RefKind::kGlobal) {
    Emit(Op::kGetGlobal, r.index, p);
  } else {
    Emit(Op::kNull, 0, p);
  }
}

void Compiler::Store(Ref r, Pos p) {
  if (r.kind == RefKind::kLocal) {
    Emit(Op::kSetLocal, r.index, p);
  } else if (r.kind == RefKind::kGlobal) {
    Emit(Op::kSetGlobal, r.index, p);
  } else {
    Emit(Op::kPop, 0, p);
  }
}

void Compiler::Statement(Stmt& s) {
  switch (s.kind) {
    case StmtKind::kVar:
    case StmtKind::kConst:
      var_name_ = s.name;
      Expression(*s.value);
      var_name_.clear();
      Store(s.ref, s.pos);
      break;
    case StmtKind::kAssign:
      Assign(s);
      break;
    case StmtKind::kIncr: {
      bool inc = s.op == Tok::kPlusPlus;
      if (s.target->kind == ExprKind::kName && s.target->ref.kind == RefKind::kLocal) {
        Emit(inc ? Op::kIncLocal : Op::kDecLocal, s.target->ref.index, s.pos);
        break;
      }
      Stmt tmp(StmtKind::kAssign, s.pos);
      tmp.op = inc ? Tok::kPlusAssign : Tok::kMinusAssign;
      tmp.target = std::move(s.target);
      tmp.value = std::make_unique<Expr>(ExprKind::kInt, s.pos);
      tmp.value->i = 1;
      Assign(tmp);
      s.target = std::move(tmp.target);
      break;
    }
    case StmtKind::kExpr:
      Expression(*s.value);
      Emit(s.newline ? Op::kEcho : Op::kPop, 0, s.pos);
      break;
    case StmtKind::kPrint:
      Expression(*s.value);
      Emit(s.newline ? Op::kPrintln : Op::kPrint, 0, s.pos);
      break;
    case StmtKind::kIf: {
      auto jf = CondJump(*s.value);
      Statement(*s.body[0]);
      if (s.body.size() > 1) {
        size_t j = Emit(Op::kJump, 0, s.pos);
        PatchCond(jf, Here());
        Statement(*s.body[1]);
        Patch(j, Here());
      } else {
        PatchCond(jf, Here());
      }
      break;
    }
    case StmtKind::kWhile: {
      size_t start = Here();
      auto jf = CondJump(*s.value);
      loops_.emplace_back();
      Statement(*s.body[0]);
      Emit(Op::kJump, start, s.pos);
      PatchCond(jf, Here());
      for (size_t b : loops_.back().breaks) Patch(b, Here());
      for (size_t c : loops_.back().continues) Patch(c, start);
      loops_.pop_back();
      break;
    }
    case StmtKind::kFor:
      For(s);
      break;
    case StmtKind::kBlock:
      Stmts(s.body);
      break;
    case StmtKind::kFunc:
      break;  // compiled separately
    case StmtKind::kReturn:
      if (s.value) {
        Expression(*s.value);
      } else {
        Emit(Op::kNull, 0, s.pos);
      }
      Emit(Op::kReturn, 0, s.pos);
      break;
    case StmtKind::kSort:
      Expression(*s.target);
      Emit(Op::kSort, s.newline ? 1 : 0, s.pos);
      break;
    case StmtKind::kBreak:
      loops_.back().breaks.push_back(Emit(Op::kJump, 0, s.pos));
      break;
    case StmtKind::kContinue:
      loops_.back().continues.push_back(Emit(Op::kJump, 0, s.pos));
      break;
    case StmtKind::kRequire:
    case StmtKind::kNative:
      break;
  }
}

// `for i in [a:b]` is C's `for (i = a; i < b; i++)` with the bound re-read every iteration;
// other iterables go through IterNext with two hidden slots (the iterable and a position).
void Compiler::For(Stmt& s) {
  Expr& it = *s.value;
  int var = s.refs[0].index;
  size_t hidden = s.names.size();
  int h0 = s.refs[hidden].index;
  loops_.emplace_back();
  if (it.kind == ExprKind::kRange && s.names.size() == 1) {
    Expression(*it.kids[0]);
    Emit(Op::kSetLocal, var, s.pos);
    Expr& hi = *it.kids[1];
    bool fast =
        hi.kind == ExprKind::kInt || (hi.kind == ExprKind::kName && hi.ref.kind == RefKind::kLocal);
    size_t start, exit_word = 0, jf = 0;
    if (fast) {
      int bound = h0;
      if (hi.kind == ExprKind::kInt) {
        Expression(hi);
        Emit(Op::kSetLocal, h0, hi.pos);
      } else {
        bound = hi.ref.index;
      }
      start = Emit(Op::kForLt, var, s.pos);
      Word(bound, s.pos);
      exit_word = Here();
      Word(0, s.pos);
    } else {
      start = Here();
      Emit(Op::kGetLocal, var, s.pos);
      Expression(hi);
      Emit(Op::kLt, 0, s.pos);
      jf = Emit(Op::kJumpIfFalse, 0, s.pos);
    }
    size_t body = Here();
    Statement(*s.body[0]);
    size_t inc;
    if (fast) {
      int bound = hi.kind == ExprKind::kInt ? h0 : hi.ref.index;
      inc = Emit(Op::kForLoop, var, s.pos);
      Word(bound, s.pos);
      Word(static_cast<uint32_t>(body), s.pos);
      PatchWord(exit_word, Here());
    } else {
      inc = Emit(Op::kForInc, var, s.pos);
      Word(start, s.pos);
      Patch(jf, Here());
    }
    for (size_t b : loops_.back().breaks) Patch(b, Here());
    for (size_t c : loops_.back().continues) Patch(c, inc);
    loops_.pop_back();
    return;
  }
  // General iteration.
  Expression(it);
  Emit(Op::kIterPrep, 0, s.pos);
  Emit(Op::kSetLocal, h0, s.pos);
  Emit(Op::kInt, kIntBias, s.pos);
  Emit(Op::kSetLocal, h0 + 1, s.pos);
  size_t outer = Emit(Op::kIterNext, h0, s.pos);
  Word(var, s.pos);
  size_t outer_exit = Here();
  Word(0, s.pos);
  size_t inner = 0, inner_exit = 0;
  if (s.names.size() == 2) {
    // for i, j in m: j walks the columns of row i.
    int h2 = s.refs[hidden + 2].index;
    Emit(Op::kGetLocal, h0, s.pos);
    Emit(Op::kGetLocal, var, s.pos);
    Emit(Op::kIndex, 0, s.pos);
    Emit(Op::kIterPrep, 0, s.pos);
    Emit(Op::kSetLocal, h2, s.pos);
    Emit(Op::kInt, kIntBias, s.pos);
    Emit(Op::kSetLocal, h2 + 1, s.pos);
    inner = Emit(Op::kIterNext, h2, s.pos);
    Word(s.refs[1].index, s.pos);
    inner_exit = Here();
    Word(0, s.pos);
  }
  Statement(*s.body[0]);
  size_t cont = s.names.size() == 2 ? inner : outer;
  Emit(Op::kJump, cont, s.pos);
  if (s.names.size() == 2) {
    PatchWord(inner_exit, Here());
    Emit(Op::kJump, outer, s.pos);
  }
  PatchWord(outer_exit, Here());
  for (size_t b : loops_.back().breaks) Patch(b, Here());
  for (size_t c : loops_.back().continues) Patch(c, cont);
  loops_.pop_back();
}

void Compiler::Assign(Stmt& s) {
  Expr& t = *s.target;
  Op arith = s.op == Tok::kPlusAssign    ? Op::kAdd
             : s.op == Tok::kMinusAssign ? Op::kSub
             : s.op == Tok::kStarAssign  ? Op::kMul
             : s.op == Tok::kSlashAssign ? Op::kDiv
                                         : Op::kNop;
  switch (t.kind) {
    case ExprKind::kName:
      if (t.ref.kind == RefKind::kLocal && arith == Op::kNop &&
          s.value->kind == ExprKind::kBinary && s.value->op == Tok::kPlus &&
          IsLocalName(*s.value->kids[0]) && s.value->kids[0]->ref.index == t.ref.index) {
        // x = x + e: the right side cannot change x (FLY has no assignment expressions), so
        // this is x += e, which appends in place to an unshared string.
        Expression(*s.value->kids[1]);
        Emit(Op::kAddLocal, t.ref.index, s.pos);
        return;
      }
      if ((arith == Op::kAdd || arith == Op::kSub) && t.ref.kind == RefKind::kLocal &&
          s.value->kind == ExprKind::kInt && s.value->i == 1) {
        Emit(arith == Op::kAdd ? Op::kIncLocal : Op::kDecLocal, t.ref.index, s.pos);
        return;
      }
      if (arith == Op::kAdd && t.ref.kind == RefKind::kLocal) {
        Expression(*s.value);
        Emit(Op::kAddLocal, t.ref.index, s.pos);
        return;
      }
      if (arith != Op::kNop) Load(t.ref, t.pos);
      Expression(*s.value);
      if (arith != Op::kNop) Emit(arith, 0, s.pos);
      Store(t.ref, s.pos);
      return;
    case ExprKind::kField: {
      Expression(*t.kids[0]);
      if (arith != Op::kNop) {
        Expression(*t.kids[0]);
        Emit(Op::kGetField, fn_->chunk.AddString(t.s), t.pos);
      }
      Expression(*s.value);
      if (arith != Op::kNop) Emit(arith, 0, s.pos);
      Emit(Op::kSetField, fn_->chunk.AddString(t.s), s.pos);
      return;
    }
    case ExprKind::kIndex: {
      if (arith == Op::kNop && IsLocalName(*t.kids[0])) {
        // v[k] = e with v a local: read v last (k and e cannot change it), without a reference.
        Expression(*t.kids[1]);
        Expression(*s.value);
        Emit(Op::kSetIndexL, t.kids[0]->ref.index, s.pos);
        return;
      }
      Expression(*t.kids[0]);
      Expression(*t.kids[1]);
      if (arith != Op::kNop) {
        Expression(*t.kids[0]);
        Expression(*t.kids[1]);
        Emit(Op::kIndex, 0, t.pos);
      }
      Expression(*s.value);
      if (arith != Op::kNop) Emit(arith, 0, s.pos);
      Emit(Op::kSetIndex, 0, s.pos);
      return;
    }
    default:
      Error(t.pos, "cannot assign to this expression");
      return;
  }
}

bool Compiler::BinaryWhole(Expr& e) {
  if (e.kind != ExprKind::kBinary) return false;
  Op kop = ConstantOp(e.op);
  if (kop != Op::kNop && static_cast<int>(kop) <= static_cast<int>(Op::kModK) &&
      IsNumberLiteral(*e.kids[1]) && IsLocalName(*e.kids[0])) {
    int lk = static_cast<int>(Op::kAddLK) + static_cast<int>(kop) - static_cast<int>(Op::kAddK);
    Emit(static_cast<Op>(lk), e.kids[0]->ref.index, e.pos);
    Word(fn_->chunk.AddConstant(LiteralValue(*e.kids[1])), e.pos);
    return true;
  }
  if (IsLocalName(*e.kids[0]) && IsLocalName(*e.kids[1])) {
    Emit(Op::kGetLocal2, e.kids[0]->ref.index, e.kids[0]->pos);
    Word(e.kids[1]->ref.index, e.kids[1]->pos);
    Emit(BinaryOp(e.op), 0, e.pos);
    return true;
  }
  return false;
}

void Compiler::BinaryTail(Expr& e) {
  if (e.kind != ExprKind::kBinary) {
    size_t j = Emit(e.kind == ExprKind::kAnd ? Op::kAndJump : Op::kOrJump, 0, e.pos);
    Expression(*e.kids[1]);
    Patch(j, Here());
    return;
  }
  Op kop = ConstantOp(e.op);
  if (kop != Op::kNop && IsNumberLiteral(*e.kids[1])) {
    Emit(kop, fn_->chunk.AddConstant(LiteralValue(*e.kids[1])), e.pos);
    return;
  }
  Expression(*e.kids[1]);
  Emit(BinaryOp(e.op), 0, e.pos);
}

void Compiler::Expression(Expr& e) {
  switch (e.kind) {
    case ExprKind::kInt:
      if (e.i >= kMinSmallInt && e.i <= kMaxSmallInt) {
        Emit(Op::kInt, static_cast<uint32_t>(e.i + kIntBias), e.pos);
      } else {
        Emit(Op::kConst, fn_->chunk.AddConstant(Value::Int(e.i)), e.pos);
      }
      return;
    case ExprKind::kDouble:
      Emit(Op::kConst, fn_->chunk.AddConstant(Value::Double(e.d)), e.pos);
      return;
    case ExprKind::kString:
      Emit(Op::kConst, fn_->chunk.AddString(e.s), e.pos);
      return;
    case ExprKind::kBool:
      Emit(e.i ? Op::kTrue : Op::kFalse, 0, e.pos);
      return;
    case ExprKind::kName:
      Load(e.ref, e.pos);
      return;
    case ExprKind::kUnary: {
      Expr& k = *e.kids[0];
      if (e.op == Tok::kMinus && k.kind == ExprKind::kInt) {
        Expr neg(ExprKind::kInt, e.pos);
        neg.i = static_cast<int64_t>(0ULL - static_cast<uint64_t>(k.i));
        Expression(neg);
        return;
      }
      if (e.op == Tok::kMinus && k.kind == ExprKind::kDouble) {
        Emit(Op::kConst, fn_->chunk.AddConstant(Value::Double(-k.d)), e.pos);
        return;
      }
      Expression(k);
      Emit(e.op == Tok::kMinus ? Op::kNeg : Op::kNot, 0, e.pos);
      return;
    }
    case ExprKind::kBinary:
    case ExprKind::kAnd:
    case ExprKind::kOr: {
      // `a + b + c + ...` nests on the left, one level per term: walk that spine with a loop
      // so a 50,000-term sum compiles without 50,000 nested calls (other nesting is bounded by
      // the parser).
      std::vector<Expr*> spine{&e};
      while (IsChainLink(*spine.back()->kids[0])) spine.push_back(spine.back()->kids[0].get());
      Expr& bottom = *spine.back();
      spine.pop_back();
      if (!BinaryWhole(bottom)) {
        Expression(*bottom.kids[0]);
        BinaryTail(bottom);
      }
      for (auto it = spine.rbegin(); it != spine.rend(); ++it) BinaryTail(**it);
      return;
    }
    case ExprKind::kCall:
      for (auto& a : e.kids) Expression(*a);
      Emit(Op::kCall, e.ref.index < 0 ? 0 : e.ref.index, e.pos);
      Word(static_cast<uint32_t>(e.kids.size()), e.pos);
      return;
    case ExprKind::kMethod: {
      for (auto& a : e.kids) Expression(*a);
      uint32_t argc = static_cast<uint32_t>(e.kids.size() - 1);
      if (argc > 255) Error(e.pos, "too many arguments");
      uint32_t id = static_cast<uint32_t>(LookupMethod(e.s));
      Emit(Op::kInvoke, fn_->chunk.AddString(e.s), e.pos);
      Word(argc | (id << 8), e.pos);
      return;
    }
    case ExprKind::kMath: {
      MathId id;
      int lo, hi;
      if (!LookupMath(e.s, &id, &lo, &hi)) {
        Error(e.pos, "unknown function Math." + e.s);
        Emit(Op::kNull, 0, e.pos);
        return;
      }
      if (hi < 0) {
        if (!e.i) Error(e.pos, "Math." + e.s + " is a constant, not a function");
        double v = id == MathId::k_PI ? 3.141592653589793 : 2.718281828459045;
        Emit(Op::kConst, fn_->chunk.AddConstant(Value::Double(v)), e.pos);
        return;
      }
      int argc = static_cast<int>(e.kids.size());
      if (e.i || argc < lo || argc > hi) {
        Error(e.pos, "Math." + e.s + " takes " + std::to_string(lo) + " argument" +
                         (lo == 1 ? "" : "s") + ", " + std::to_string(argc) + " given");
      }
      for (auto& a : e.kids) Expression(*a);
      Emit(Op::kMath, static_cast<uint32_t>(id), e.pos);
      Word(static_cast<uint32_t>(argc), e.pos);
      return;
    }
    case ExprKind::kTime:
      for (auto& a : e.kids) Expression(*a);
      Emit(Op::kTime, static_cast<uint32_t>(e.kids.size()), e.pos);
      return;
    case ExprKind::kField:
      Expression(*e.kids[0]);
      Emit(Op::kGetField, fn_->chunk.AddString(e.s), e.pos);
      return;
    case ExprKind::kIndex:
    case ExprKind::kSlice:
    case ExprKind::kCell:
      if (e.kind == ExprKind::kIndex && IsLocalName(*e.kids[0])) {
        Expression(*e.kids[1]);
        Emit(Op::kIndexL, e.kids[0]->ref.index, e.pos);
        return;
      }
      for (auto& a : e.kids) Expression(*a);
      Emit(e.kind == ExprKind::kIndex   ? Op::kIndex
           : e.kind == ExprKind::kSlice ? Op::kSlice
                                        : Op::kCell,
           0, e.pos);
      return;
    case ExprKind::kRecv:
      Expression(*e.kids[0]);
      Emit(Op::kRecv, 0, e.pos);
      return;
    case ExprKind::kSend:
      Expression(*e.kids[0]);
      Expression(*e.kids[1]);
      Emit(Op::kSend, 0, e.pos);
      return;
    case ExprKind::kCast:
      Expression(*e.kids[0]);
      Emit(Op::kCast, static_cast<uint32_t>(e.cast), e.pos);
      return;
    case ExprKind::kRange:
      Expression(*e.kids[0]);
      Expression(*e.kids[1]);
      Emit(Op::kRange, 0, e.pos);
      return;
    case ExprKind::kArray:
      for (auto& a : e.kids) Expression(*a);
      Emit(Op::kArray, static_cast<uint32_t>(e.kids.size()), e.pos);
      return;
    case ExprKind::kMap: {
      int64_t counter = 0;
      for (size_t k = 0; k < e.kids.size(); ++k) {
        if (e.keys[k].empty()) {
          Emit(Op::kInt, static_cast<uint32_t>(counter++ + kIntBias), e.pos);
        } else {
          Emit(Op::kConst, fn_->chunk.AddString(e.keys[k]), e.pos);
        }
        Expression(*e.kids[k]);
      }
      Emit(Op::kMap, static_cast<uint32_t>(e.kids.size()), e.pos);
      return;
    }
    case ExprKind::kSizedArray:
      for (auto& a : e.kids) Expression(*a);
      Emit(Op::kSizedArray, static_cast<uint32_t>(e.kids.size()), e.pos);
      Word(static_cast<uint32_t>(e.cast), e.pos);
      return;
    case ExprKind::kDecl: {
      std::string name = var_name_;
      var_name_.clear();
      for (auto& a : e.kids) Expression(*a);
      program_.decls.push_back({e.keys, name, e.pos});
      Emit(Op::kDecl, static_cast<uint32_t>(program_.decls.size() - 1), e.pos);
      return;
    }
    case ExprKind::kExecEnv:
      Emit(Op::kExecEnv, 0, e.pos);
      return;
    case ExprKind::kFly:
      Fly(*e.fly, e.pos);
      return;
  }
}

void Compiler::Fly(FlySpec& f, Pos pos) {
  Load(f.env_ref, f.env_pos);
  for (auto& a : f.args) Expression(*a);
  FlySite site;
  site.function = f.function_ref.index;
  site.input = f.input;
  site.argc = static_cast<int>(f.args.size());
  site.split = f.split;
  site.then_fn = f.then_ref.kind == RefKind::kFunction ? f.then_ref.index : -1;
  site.thenall_fn = f.thenall_ref.kind == RefKind::kFunction ? f.thenall_ref.index : -1;
  site.is_async = f.is_async;
  site.pos = pos;
  program_.flies.push_back(site);
  Emit(Op::kFly, static_cast<uint32_t>(program_.flies.size() - 1), pos);
}

}  // namespace volo::fly
