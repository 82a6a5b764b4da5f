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
  // `repl`: each Resolve is one input typed at the `volo repl` prompt. Its top-level vars,
  // consts, domain objects and functions become globals of the session, visible to every
  // function (as at a Python or Lua prompt), and a name may be declared again (the new
  // declaration replaces the old one; a function keeps its index, so earlier callers call
  // the new definition).
  Resolver(Program& program, bool repl = false) : program_(program), repl_(repl) {}
  // Resolves `parsed` (functions first, then the top-level code). Appends to diagnostics.
  void Resolve(ParsedProgram& parsed, std::vector<Diagnostic>& diags);
  // Undoes the last Resolve's additions to the Program and the session's names (the REPL
  // drops an input that did not compile). Also drops what a compile of that input added.
  void Rollback();
  // Environments the last Resolve declared again (the REPL makes the Runtime forget the old
  // one before the input runs).
  const std::vector<std::string>& redeclared_envs() const { return redeclared_envs_; }

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
  bool AtTopLevel() const { return fn_->function == main_index_; }
  // Names a "did you mean" may offer: variables in scope, or functions.
  std::vector<std::string> NamesInScope() const;
  std::vector<std::string> FunctionNames() const;
  // Declares a top-level const, var or domain object (DeclareFunctions).
  void DeclareGlobal(Stmt& s);
  void DeclareFunction(Stmt& s);
  void CheckDecl(const Expr& decl);
  void CheckIterable(const Expr& e, const char* what);

  // What the Program held before the last Resolve (for Rollback).
  struct Mark {
    size_t functions = 0, globals = 0, envs = 0, decls = 0, flies = 0;
  };

  Program& program_;
  bool repl_;
  int main_index_ = 0;  // the function holding the top-level code being resolved
  Mark mark_;
  // REPL: functions the last Resolve replaced (index, old definition), restored by Rollback.
  std::vector<std::pair<int, std::unique_ptr<Function>>> replaced_;
  // Replaced definitions, kept alive for the session.
  std::vector<std::unique_ptr<Function>> retired_;
  std::vector<std::pair<int, GlobalInfo>> replaced_globals_;
  std::vector<std::string> redeclared_envs_;
  std::vector<Diagnostic>* diags_ = nullptr;
  FnState* fn_ = nullptr;
  std::map<std::string, int> globals_;    // declared so far (name -> index)
  std::map<std::string, int> pending_;    // top-level globals not yet reached in main
  std::map<std::string, Pos> main_vars_;  // top-level plain vars (for a clear message)
};

}  // namespace volo::fly
