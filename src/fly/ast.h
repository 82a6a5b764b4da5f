// The FLY abstract syntax tree. The parser builds it; the resolver annotates names with where
// they live (Ref); the compiler walks it to emit bytecode. Every node carries its position.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fly/lexer.h"

namespace volo::fly {

struct Pos {
  int line = 0;
  int col = 0;
};

// Where a name resolves to (filled by the resolver).
enum class RefKind : uint8_t { kNone, kLocal, kGlobal, kFunction };
struct Ref {
  RefKind kind = RefKind::kNone;
  int index = -1;
};

// Cast targets.
enum class CastType : uint8_t {
  kString,
  kInteger,
  kDouble,
  kObject,
  kDate,
  kDat,
  kMatrix,
  kArrayList,
  kArray
};

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;

enum class FlyInput : uint8_t { kNone, kArgs, kIn };
enum class FlySplit : uint8_t { kNone, kRow, kCol, kSquare };

// `[async] fly f (args) | in x [by row|col] on env [then g] [thenall h]`
struct FlySpec {
  bool is_async = false;
  std::string function;
  Pos function_pos;
  Ref function_ref;
  FlyInput input = FlyInput::kNone;
  std::vector<ExprPtr> args;  // kArgs: the arguments; kIn: one element, the collection
  FlySplit split = FlySplit::kNone;
  std::string env;
  Pos env_pos;
  Ref env_ref;
  std::string then_fn, thenall_fn;
  Pos then_pos, thenall_pos;
  Ref then_ref, thenall_ref;
};

enum class ExprKind : uint8_t {
  kInt,         // i
  kDouble,      // d
  kString,      // s
  kBool,        // i (0/1)
  kName,        // s, ref
  kUnary,       // op, kids[0]
  kBinary,      // op, kids[0..1]
  kAnd,         // kids[0..1]
  kOr,          // kids[0..1]
  kCall,        // s = function, ref, kids = args
  kMethod,      // s = method, kids[0] = receiver, kids[1..] = args
  kMath,        // s = function, kids = args
  kTime,        // kids: 0 or 1 (the start time)
  kField,       // s = field, kids[0] = object
  kIndex,       // kids[0] = object, kids[1] = index
  kSlice,       // kids[0] = array, kids[1..2] = bounds
  kCell,        // kids[0] = dataframe, kids[1] = row, kids[2] = column
  kRecv,        // kids[0] = channel
  kSend,        // kids[0] = channel, kids[1] = message; s = env (may be empty)
  kCast,        // cast, kids[0]
  kRange,       // kids[0..1]
  kArray,       // kids = elements
  kMap,         // kids = values, keys[k] = name or "" for positional entries
  kSizedArray,  // cast = element type, kids = dimensions
  kDecl,        // declaration object: keys, kids = values
  kExecEnv,     // execution_environment
  kFly,         // fly
};

struct Expr {
  ExprKind kind;
  Pos pos;
  Tok op = Tok::kEof;
  int64_t i = 0;
  double d = 0;
  std::string s;
  CastType cast = CastType::kString;
  std::vector<ExprPtr> kids;
  std::vector<std::string> keys;
  Ref ref;
  std::unique_ptr<FlySpec> fly;
  Expr(ExprKind k, Pos p) : kind(k), pos(p) {}
  Expr(const Expr&) = delete;
  Expr& operator=(const Expr&) = delete;
  ~Expr();
};

// A left-nested chain (a + b + c + ...) is one level deeper per term: free it with a loop
// rather than one nested destructor call per level.
inline Expr::~Expr() {
  if (kids.empty()) return;
  std::vector<ExprPtr> doomed = std::move(kids);
  while (!doomed.empty()) {
    ExprPtr x = std::move(doomed.back());
    doomed.pop_back();
    for (auto& k : x->kids) doomed.push_back(std::move(k));
    x->kids.clear();
  }
}

enum class StmtKind : uint8_t {
  kVar,      // name, value (may be null for fly), on (env names)
  kConst,    // name, value
  kAssign,   // target, value, op (kAssign, kPlusAssign, ...)
  kIncr,     // target, op (kPlusPlus / kMinusMinus)
  kExpr,     // value; newline: echo the value unless null (a bare expression at the REPL)
  kPrint,    // value, newline
  kIf,       // value = cond, body[0] = then, body[1] = else (optional)
  kWhile,    // value = cond, body[0]
  kFor,      // names = loop variables, value = iterable, body[0]
  kBlock,    // body
  kFunc,     // name, names = params, body
  kReturn,   // value (may be null)
  kSort,     // name = map, desc flag in newline
  kRequire,  // ignored on smp
  kBreak,
  kContinue,
  kNative,
};

struct Stmt {
  StmtKind kind;
  Pos pos;
  std::string name;
  Pos name_pos;
  ExprPtr target;
  ExprPtr value;
  Tok op = Tok::kEof;
  bool newline = false;
  std::vector<std::string> names;
  std::vector<Pos> name_positions;
  std::vector<StmtPtr> body;
  Ref ref;                // kVar/kConst: the slot declared; kFunc: the function index
  std::vector<Ref> refs;  // kFor: loop variable slots, then hidden slots
  int func_locals = 0;    // kFunc: the number of local slots the resolver assigned
  Stmt(StmtKind k, Pos p) : kind(k), pos(p) {}
};

struct ParsedProgram {
  std::vector<StmtPtr> stmts;
  int main_locals = 0;  // set by the resolver
};

}  // namespace volo::fly
