// The resolver: binds every name of a parsed program to where it lives and enforces FLY's
// visibility rules (FLY.md Part A 6):
//   - a function sees its parameters and locals, consts, top-level domain objects (channels,
//     environments, random, files, dataframes) and every function, wherever it is defined;
//   - top-level `var`s holding plain values are locals of the top-level code, invisible inside
//     functions;
//   - in the top-level code a name must be declared before it is used.
// It also assigns local slots, creates the Program's function and global tables, and checks
// calls (arity), fly statements and break/continue placement.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "fly/ast.h"
#include "fly/chunk.h"
#include "fly/diagnostic.h"

namespace volo::fly {

class Resolver {
 public:
  // `repl`: top-level vars become globals (kept across inputs, still hidden from functions).
  Resolver(Program& program, bool repl = false) : program_(program), repl_(repl) {}
  // Resolves `parsed` (functions first, then the top-level code). Appends to diagnostics.
  void Resolve(ParsedProgram& parsed, std::vector<Diagnostic>& diags);
  // Forgets globals numbered >= `globals` (the REPL drops a failed input's declarations).
  void Rollback(size_t globals);

 private:
  struct Local {
    std::string name;
    int slot;
    Pos pos;
  };
  struct FnState {
    int function = 0;  // index in program.functions
    std::vector<std::vector<Local>> scopes;
    int next_slot = 0;
    int loops = 0;
  };

  void Error(Pos p, std::string msg);
  void DeclareFunctions(std::vector<StmtPtr>& stmts, bool top);
  void ResolveFunction(Stmt& fn);
  void Stmts(std::vector<StmtPtr>& stmts);
  void Statement(Stmt& s);
  void Expression(Expr& e);
  void Fly(FlySpec& f, Pos pos);
  void Name(Expr& e);
  int DeclareLocal(const std::string& name, Pos pos);
  int HiddenSlot() { return fn_->next_slot++; }
  Ref Lookup(const std::string& name) const;
  int CheckCallee(const std::string& name, Pos pos, int argc, bool exact);
  bool AtTopLevel() const { return fn_->function == 0; }

  Program& program_;
  bool repl_;
  std::vector<Diagnostic>* diags_ = nullptr;
  FnState* fn_ = nullptr;
  std::map<std::string, int> globals_;    // declared so far (name -> index)
  std::map<std::string, int> pending_;    // top-level globals not yet reached in main
  std::map<std::string, Pos> main_vars_;  // top-level plain vars (for a clear message)
};

}  // namespace volo::fly
