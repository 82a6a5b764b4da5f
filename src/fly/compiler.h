// The FLY bytecode compiler: walks a resolved AST and emits one Chunk per function into the
// Program, tracking the operand stack depth (from the opcode table's stack effects) so each
// Function knows how much stack it needs.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fly/ast.h"
#include "fly/chunk.h"
#include "fly/diagnostic.h"

namespace volo::fly {

class Compiler {
 public:
  explicit Compiler(Program& program) : program_(program) {}
  // Compiles the functions and top-level code of `parsed` (already resolved) into program_.
  // `main_index` is the function holding the top-level code.
  void Compile(ParsedProgram& parsed, int main_index, std::vector<Diagnostic>& diags);

 private:
  struct Loop {
    std::vector<size_t> breaks;
    std::vector<size_t> continues;
  };

  void CompileFunction(Function& fn, std::vector<StmtPtr>& body);
  void Stmts(std::vector<StmtPtr>& stmts);
  void Statement(Stmt& s);
  void For(Stmt& s);
  void Assign(Stmt& s);
  void Expression(Expr& e);
  // A binary/and/or node in parts: BinaryWhole emits forms that read kids[0] directly (a local
  // and a literal, two locals) and says whether it did; BinaryTail emits what follows kids[0].
  bool BinaryWhole(Expr& e);
  void BinaryTail(Expr& e);
  void Fly(FlySpec& f, Pos pos);
  // Emits `cond` and a jump taken when it is false; returns what PatchCond needs.
  std::pair<size_t, bool> CondJump(Expr& cond);
  void PatchCond(std::pair<size_t, bool> at, uint32_t target);
  void Load(Ref r, Pos p);
  void Store(Ref r, Pos p);

  size_t Emit(Op op, uint32_t a, Pos p);
  void Word(uint32_t w, Pos p);
  size_t Here() const;
  void Patch(size_t at, uint32_t target);      // sets operand A of instruction `at`
  void PatchWord(size_t at, uint32_t target);  // sets a whole extra word
  void Error(Pos p, std::string msg);

  Program& program_;
  Function* fn_ = nullptr;
  std::vector<Diagnostic>* diags_ = nullptr;
  std::vector<Loop> loops_;
  std::string var_name_;  // the var whose initialiser is being compiled
};

// Parses, resolves and compiles `source`. Diagnostics are appended; the Program is usable only
// when no error (non-warning) was added.
std::unique_ptr<Program> CompileSource(std::string_view file, std::string_view source,
                                       std::vector<Diagnostic>& diags);
bool HasErrors(const std::vector<Diagnostic>& diags);

}  // namespace volo::fly
