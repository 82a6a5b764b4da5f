// Compiled FLY: a Chunk is one function's bytecode with its constants and source positions;
// a Program is every function of one source file plus the tables the instructions index
// (globals, declaration objects, fly sites). A Program is immutable once compiled and shared
// read-only by every thread that runs it (its constants are immortal objects).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fly/ast.h"
#include "fly/opcodes.h"
#include "fly/value.h"

namespace volo::fly {

struct Chunk {
  std::vector<uint32_t> code;
  std::vector<Pos> pos;  // one per code word
  std::vector<Value> constants;

  Chunk() = default;
  Chunk(const Chunk&) = delete;
  Chunk& operator=(const Chunk&) = delete;
  ~Chunk();
  // Appends an instruction and its extra words; returns the index of the instruction word.
  size_t Emit(Op op, uint32_t a, Pos p);
  void EmitWord(uint32_t w, Pos p);
  // Adds an immortal constant (deduplicating strings and numbers); returns its index.
  uint32_t AddConstant(Value v);
  uint32_t AddString(const std::string& s);
};

struct Function {
  std::string name;
  int arity = 0;
  int num_locals = 0;  // parameters included
  int max_stack = 0;   // operand stack depth needed above the locals
  Pos pos;
  Chunk chunk;
};

struct GlobalInfo {
  std::string name;
  Pos pos;
  bool is_const = false;  // const (snapshotted per fly instance)
  bool visible_in_functions = true;
};

// A declaration object `[type="...", key=value, ...]`: the values are on the stack in order.
struct DeclSite {
  std::vector<std::string> keys;
  std::string var_name;  // the variable it initialises ("" when none): --env rebinds by name
  Pos pos;
};

struct FlySite {
  int function = -1;
  FlyInput input = FlyInput::kNone;
  int argc = 0;  // values on the stack after the environment
  FlySplit split = FlySplit::kNone;
  int then_fn = -1;
  int thenall_fn = -1;
  bool is_async = false;
  Pos pos;
};

// An environment declared at the top level, for the checks made before the program starts.
struct EnvDecl {
  std::string name;
  std::string type;  // the literal `type=` value
  Pos pos;
  std::string on;  // `var k = [type="k8s"] on cloud`: "cloud" ("" when none)
};

struct Program {
  std::string file;    // as given on the command line (used in messages)
  std::string source;  // the text, for carets in messages
  std::string dir;     // folder of the file: relative data paths resolve against it
  std::vector<std::unique_ptr<Function>> functions;  // [0] is the top-level code ("main")
  std::vector<GlobalInfo> globals;
  std::vector<DeclSite> decls;
  std::vector<FlySite> flies;
  std::vector<EnvDecl> envs;

  int FindFunction(const std::string& name) const;
};

// Stack effect of the instruction at code[i] (resolving kVar from its operands).
int StackEffect(const Program& program, const Chunk& chunk, size_t i);
// Human-readable listing of every function.
std::string Disassemble(const Program& program);
std::string DisassembleFunction(const Program& program, const Function& fn);

}  // namespace volo::fly
