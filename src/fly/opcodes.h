// The FLY bytecode instruction set, as one X-macro list that generates the Op enum, the names
// the disassembler prints, the number of extra operand words, and each instruction's effect on
// the operand stack (kVar: computed from the operands by StackEffect in chunk.cc).
//
// Encoding: one 32-bit word per instruction, the opcode in the low 8 bits and operand A in the
// high 24 bits, followed by `extra` operand words.
#pragma once

#include <cstdint>

namespace volo::fly {

inline constexpr int kVar = 1000;  // stack effect depends on the operands

// X(name, extra operand words, stack effect)
#define FLY_OPCODES(X)                                                                       \
  X(Const, 0, 1) /* push constants[A] */                                                     \
  X(Int, 0, 1)   /* push A - 2^23 */                                                         \
  X(Null, 0, 1)                                                                              \
  X(True, 0, 1)                                                                              \
  X(False, 0, 1)                                                                             \
  X(Pop, 0, -1)                                                                              \
  X(GetLocal, 0, 1)  /* push slot A of the frame */                                          \
  X(SetLocal, 0, -1) /* pop into slot A */                                                   \
  X(GetGlobal, 0, 1) /* push global A (consts, channels, environments) */                    \
  X(SetGlobal, 0, -1)                                                                        \
  X(Add, 0, -1)                                                                              \
  X(Sub, 0, -1)                                                                              \
  X(Mul, 0, -1)                                                                              \
  X(Div, 0, -1)                                                                              \
  X(Mod, 0, -1)                                                                              \
  X(Neg, 0, 0)                                                                               \
  X(Not, 0, 0)                                                                               \
  X(Eq, 0, -1)                                                                               \
  X(Ne, 0, -1)                                                                               \
  X(Lt, 0, -1)                                                                               \
  X(Le, 0, -1)                                                                               \
  X(Gt, 0, -1)                                                                               \
  X(Ge, 0, -1)                                                                               \
  X(Jump, 0, 0)         /* ip = A */                                                         \
  X(JumpIfFalse, 0, -1) /* pop a Boolean; ip = A if false */                                 \
  X(AndJump, 0, -1)     /* if TOS is false jump to A keeping it, else pop it */              \
  X(OrJump, 0, -1)      /* if TOS is true jump to A keeping it, else pop it */               \
  X(Call, 1, kVar)      /* call function A with W1 arguments */                              \
  X(Return, 0, -1)      /* return TOS */                                                     \
  X(Print, 0, -1)                                                                            \
  X(Println, 0, -1)                                                                          \
  X(Echo, 0, -1)         /* pop; print it and a newline unless null (REPL) */                \
  X(Array, 0, kVar)      /* pop A elements, push an array */                                 \
  X(Map, 0, kVar)        /* pop A key/value pairs, push a map */                             \
  X(Range, 0, -1)        /* pop lo, hi; push [lo:hi] */                                      \
  X(SizedArray, 1, kVar) /* pop A sizes; push an array of element type W1 */                 \
  X(Index, 0, -1)        /* obj, key -> obj[key] */                                          \
  X(SetIndex, 0, -3)     /* obj, key, value -> */                                            \
  X(Slice, 0, -2)        /* arr, lo, hi -> arr[lo:hi] */                                     \
  X(Cell, 0, -2)         /* df, row, col -> df[row, col] */                                  \
  X(GetField, 0, 0)      /* obj -> obj.(constants[A]) */                                     \
  X(SetField, 0, -2)     /* obj, value -> ; obj.(constants[A]) = value */                    \
  X(Invoke, 1, kVar)     /* recv, W1&0xff args -> result; method constants[A], id W1>>8 */   \
  X(Math, 1, kVar)       /* W1 args -> Math function A */                                    \
  X(Time, 0, kVar)       /* A args (0 or 1) -> epoch ms / ms since */                        \
  X(Cast, 0, 0)          /* convert TOS to cast type A */                                    \
  X(Send, 0, -1)         /* chan, value -> null */                                           \
  X(Recv, 0, 0)          /* chan -> message */                                               \
  X(Decl, 0, kVar)       /* declaration object A: pop its values, push the object */         \
  X(Fly, 0, kVar)        /* fly site A: pop env and inputs, push null or a handle */         \
  X(ExecEnv, 0, 1)                                                                           \
  X(IterPrep, 0, 0)  /* check that TOS can be iterated (for x in TOS) */                     \
  X(IterNext, 2, 0)  /* slots A (iterable), A+1 (position): next item into W1, or jump W2 */ \
  X(IncLocal, 0, 0)  /* slot A += 1 */                                                       \
  X(DecLocal, 0, 0)  /* slot A -= 1 */                                                       \
  X(AddLocal, 0, -1) /* slot A += pop() (in place for strings when unshared) */              \
  X(ForLt, 2, 0)     /* if !(slot A < slot W1) jump W2: int fast path of for-range */        \
  X(ForInc, 1, 0)    /* slot A += 1; jump W1 (back to the ForLt) */                          \
  X(ForLoop, 2, 0)   /* slot A += 1; if slot A < slot W1 jump W2 (the body) */               \
  X(Sort, 0, -1)     /* sort the map's values (A = 1: descending) */                         \
  /* Superinstructions: K forms take their right operand from constants[A]. */               \
  X(GetLocal2, 1, 2) /* push slot A, then slot W1 */                                         \
  X(AddK, 0, 0)                                                                              \
  X(SubK, 0, 0)                                                                              \
  X(MulK, 0, 0)                                                                              \
  X(DivK, 0, 0)                                                                              \
  X(ModK, 0, 0)                                                                              \
  X(LtK, 0, 0)                                                                               \
  X(LeK, 0, 0)                                                                               \
  X(GtK, 0, 0)                                                                               \
  X(GeK, 0, 0)                                                                               \
  X(JumpIfNotLt, 0, -2) /* pop a, b; ip = A unless a < b */                                  \
  X(JumpIfNotLe, 0, -2)                                                                      \
  X(JumpIfNotGt, 0, -2)                                                                      \
  X(JumpIfNotGe, 0, -2)                                                                      \
  X(JumpIfNotEq, 0, -2)                                                                      \
  X(JumpIfNotNe, 0, -2)                                                                      \
  X(JumpIfNotLtK, 1, -1) /* pop a; ip = W1 unless a < constants[A] */                        \
  X(JumpIfNotLeK, 1, -1)                                                                     \
  X(JumpIfNotGtK, 1, -1)                                                                     \
  X(JumpIfNotGeK, 1, -1)                                                                     \
  X(JumpIfNotEqK, 1, -1)                                                                     \
  X(JumpIfNotNeK, 1, -1)                                                                     \
  X(IndexL, 0, 0)     /* key -> (slot A)[key] */                                             \
  X(SetIndexL, 0, -2) /* key, value -> ; (slot A)[key] = value */                            \
  /* LK forms: the left operand is slot A, the right constants[W1]. */                       \
  X(AddLK, 1, 1) /* push slot A + constants[W1] */                                           \
  X(SubLK, 1, 1)                                                                             \
  X(MulLK, 1, 1)                                                                             \
  X(DivLK, 1, 1)                                                                             \
  X(ModLK, 1, 1)                                                                             \
  X(JumpIfNotLtLK, 2, 0) /* ip = W2 unless slot A < constants[W1] */                         \
  X(JumpIfNotLeLK, 2, 0)                                                                     \
  X(JumpIfNotGtLK, 2, 0)                                                                     \
  X(JumpIfNotGeLK, 2, 0)                                                                     \
  X(Nop, 0, 0)

enum class Op : uint8_t {
#define FLY_OP_ENUM(name, extra, effect) k##name,
  FLY_OPCODES(FLY_OP_ENUM)
#undef FLY_OP_ENUM
};

inline constexpr const char* kOpNames[] = {
#define FLY_OP_NAME(name, extra, effect) #name,
    FLY_OPCODES(FLY_OP_NAME)
#undef FLY_OP_NAME
};
inline constexpr int kOpExtra[] = {
#define FLY_OP_EXTRA(name, extra, effect) extra,
    FLY_OPCODES(FLY_OP_EXTRA)
#undef FLY_OP_EXTRA
};
inline constexpr int kOpEffect[] = {
#define FLY_OP_EFFECT(name, extra, effect) effect,
    FLY_OPCODES(FLY_OP_EFFECT)
#undef FLY_OP_EFFECT
};

inline constexpr uint32_t kIntBias = 1u << 23;

}  // namespace volo::fly
