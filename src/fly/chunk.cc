#include "fly/chunk.h"

#include <cmath>
#include <cstdio>

#include "fly/stdlib.h"

namespace volo::fly {

Chunk::~Chunk() {
  for (Value v : constants) {
    if (v.tag == Tag::kObj) FreeObj(v.o);  // immortal: freed here, never by refcount
  }
}

size_t Chunk::Emit(Op op, uint32_t a, Pos p) {
  code.push_back(static_cast<uint32_t>(op) | (a << 8));
  pos.push_back(p);
  return code.size() - 1;
}

void Chunk::EmitWord(uint32_t w, Pos p) {
  code.push_back(w);
  pos.push_back(p);
}

uint32_t Chunk::AddConstant(Value v) {
  for (size_t k = 0; k < constants.size(); ++k) {
    Value c = constants[k];
    if (c.tag == v.tag && c.tag != Tag::kObj && KeysEqual(c, v)) {
      if (c.tag != Tag::kDouble || std::signbit(c.d) == std::signbit(v.d))
        return static_cast<uint32_t>(k);
    }
  }
  if (v.tag == Tag::kObj) v.o->immortal = true;
  constants.push_back(v);
  return static_cast<uint32_t>(constants.size() - 1);
}

uint32_t Chunk::AddString(const std::string& s) {
  for (size_t k = 0; k < constants.size(); ++k) {
    Value c = constants[k];
    if (c.Is(ObjKind::kString) && AsStr(c)->s == s) return static_cast<uint32_t>(k);
  }
  Value v = MakeString(s);
  v.o->immortal = true;
  constants.push_back(v);
  return static_cast<uint32_t>(constants.size() - 1);
}

int Program::FindFunction(const std::string& name) const {
  for (size_t k = 0; k < functions.size(); ++k) {
    if (functions[k]->name == name) return static_cast<int>(k);
  }
  return -1;
}

int StackEffect(const Program& program, const Chunk& chunk, size_t i) {
  uint32_t w = chunk.code[i];
  Op op = static_cast<Op>(w & 0xff);
  uint32_t a = w >> 8;
  int effect = kOpEffect[w & 0xff];
  if (effect != kVar) return effect;
  switch (op) {
    case Op::kCall:
      return 1 - static_cast<int>(chunk.code[i + 1]);
    case Op::kArray:
      return 1 - static_cast<int>(a);
    case Op::kMap:
      return 1 - 2 * static_cast<int>(a);
    case Op::kSizedArray:
      return 1 - static_cast<int>(a);
    case Op::kInvoke:
      return -static_cast<int>(chunk.code[i + 1] & 0xff);
    case Op::kMath:
      return 1 - static_cast<int>(chunk.code[i + 1]);
    case Op::kTime:
      return 1 - static_cast<int>(a);
    case Op::kDecl:
      return 1 - static_cast<int>(program.decls[a].keys.size());
    case Op::kFly:
      return -program.flies[a].argc;  // env + args -> result
    default:
      return 0;
  }
}

std::string DisassembleFunction(const Program& program, const Function& fn) {
  std::string out;
  char buf[256];
  snprintf(buf, sizeof buf, "== %s (arity %d, locals %d, stack %d) ==\n", fn.name.c_str(), fn.arity,
           fn.num_locals, fn.max_stack);
  out += buf;
  const Chunk& c = fn.chunk;
  int last_line = -1;
  for (size_t i = 0; i < c.code.size(); i += 1 + kOpExtra[c.code[i] & 0xff]) {
    uint32_t w = c.code[i];
    Op op = static_cast<Op>(w & 0xff);
    uint32_t a = w >> 8;
    if (c.pos[i].line != last_line) {
      snprintf(buf, sizeof buf, "%04zu %4d ", i, c.pos[i].line);
      last_line = c.pos[i].line;
    } else {
      snprintf(buf, sizeof buf, "%04zu    | ", i);
    }
    out += buf;
    snprintf(buf, sizeof buf, "%-13s", kOpNames[w & 0xff]);
    out += buf;
    if (out.back() != ' ') out += ' ';  // a name of 13 letters or more
    std::string detail;
    switch (op) {
      case Op::kConst:
        detail = std::to_string(a) + " (" + ToString(c.constants[a]) + ")";
        break;
      case Op::kInt:
        detail = std::to_string(static_cast<int64_t>(a) - kIntBias);
        break;
      case Op::kGetLocal:
      case Op::kSetLocal:
      case Op::kIncLocal:
      case Op::kDecLocal:
      case Op::kAddLocal:
      case Op::kIndexL:
      case Op::kSetIndexL:
        detail = "slot " + std::to_string(a);
        break;
      case Op::kGetGlobal:
      case Op::kSetGlobal:
        detail = std::to_string(a) + " (" +
                 (a < program.globals.size() ? program.globals[a].name : "?") + ")";
        break;
      case Op::kJump:
      case Op::kJumpIfFalse:
      case Op::kAndJump:
      case Op::kOrJump:
        detail = "-> " + std::to_string(a);
        break;
      case Op::kCall:
        detail = (a < program.functions.size() ? program.functions[a]->name : "?") + " (" +
                 std::to_string(c.code[i + 1]) + " args)";
        break;
      case Op::kArray:
      case Op::kMap:
      case Op::kTime:
        detail = std::to_string(a);
        break;
      case Op::kSizedArray:
        detail = std::to_string(a) + " dims of " + CastName(static_cast<CastType>(c.code[i + 1]));
        break;
      case Op::kGetField:
      case Op::kSetField:
        detail = ToString(c.constants[a]);
        break;
      case Op::kInvoke:
        detail = ToString(c.constants[a]) + " (" + std::to_string(c.code[i + 1] & 0xff) + " args)";
        break;
      case Op::kMath:
        detail = std::string(MathName(static_cast<MathId>(a))) + " (" +
                 std::to_string(c.code[i + 1]) + " args)";
        break;
      case Op::kCast:
        detail = CastName(static_cast<CastType>(a));
        break;
      case Op::kDecl: {
        detail = "[";
        for (size_t k = 0; k < program.decls[a].keys.size(); ++k)
          detail += (k ? ", " : "") + program.decls[a].keys[k];
        detail += "]";
        break;
      }
      case Op::kFly: {
        const FlySite& f = program.flies[a];
        detail = (f.is_async ? "async " : "") + program.functions[f.function]->name;
        if (f.input == FlyInput::kIn) detail += " in <collection>";
        if (f.input == FlyInput::kArgs) detail += " (" + std::to_string(f.argc) + " args)";
        if (f.split == FlySplit::kRow) detail += " by row";
        if (f.split == FlySplit::kCol) detail += " by col";
        if (f.then_fn >= 0) detail += " then " + program.functions[f.then_fn]->name;
        if (f.thenall_fn >= 0) detail += " thenall " + program.functions[f.thenall_fn]->name;
        break;
      }
      case Op::kIterNext:
        detail = "slots " + std::to_string(a) + "," + std::to_string(a + 1) + " -> slot " +
                 std::to_string(c.code[i + 1]) + ", done -> " + std::to_string(c.code[i + 2]);
        break;
      case Op::kForLt:
        detail = "slot " + std::to_string(a) + " < slot " + std::to_string(c.code[i + 1]) +
                 ", else -> " + std::to_string(c.code[i + 2]);
        break;
      case Op::kForInc:
        detail = "slot " + std::to_string(a) + " += 1, -> " + std::to_string(c.code[i + 1]);
        break;
      case Op::kSort:
        detail = a ? "desc" : "asc";
        break;
      case Op::kForLoop:
        detail = "slot " + std::to_string(a) + " += 1, while < slot " +
                 std::to_string(c.code[i + 1]) + " -> " + std::to_string(c.code[i + 2]);
        break;
      case Op::kGetLocal2:
        detail = "slots " + std::to_string(a) + ", " + std::to_string(c.code[i + 1]);
        break;
      case Op::kAddK:
      case Op::kSubK:
      case Op::kMulK:
      case Op::kDivK:
      case Op::kModK:
      case Op::kLtK:
      case Op::kLeK:
      case Op::kGtK:
      case Op::kGeK:
        detail = ToString(c.constants[a]);
        break;
      case Op::kJumpIfNotLt:
      case Op::kJumpIfNotLe:
      case Op::kJumpIfNotGt:
      case Op::kJumpIfNotGe:
      case Op::kJumpIfNotEq:
      case Op::kJumpIfNotNe:
        detail = "-> " + std::to_string(a);
        break;
      case Op::kJumpIfNotLtK:
      case Op::kJumpIfNotLeK:
      case Op::kJumpIfNotGtK:
      case Op::kJumpIfNotGeK:
      case Op::kJumpIfNotEqK:
      case Op::kJumpIfNotNeK:
        detail = ToString(c.constants[a]) + " -> " + std::to_string(c.code[i + 1]);
        break;
      case Op::kAddLK:
      case Op::kSubLK:
      case Op::kMulLK:
      case Op::kDivLK:
      case Op::kModLK:
        detail = "slot " + std::to_string(a) + ", " + ToString(c.constants[c.code[i + 1]]);
        break;
      case Op::kJumpIfNotLtLK:
      case Op::kJumpIfNotLeLK:
      case Op::kJumpIfNotGtLK:
      case Op::kJumpIfNotGeLK:
        detail = "slot " + std::to_string(a) + ", " + ToString(c.constants[c.code[i + 1]]) +
                 " -> " + std::to_string(c.code[i + 2]);
        break;
      default:
        break;
    }
    out += detail;
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
  }
  return out;
}

std::string Disassemble(const Program& program) {
  std::string out;
  for (const auto& f : program.functions) {
    if (!out.empty()) out += '\n';
    out += DisassembleFunction(program, *f);
  }
  return out;
}

}  // namespace volo::fly
