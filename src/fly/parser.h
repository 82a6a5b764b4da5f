// The FLY parser: tokens to an AST. Recursive descent with one function per grammar rule (the
// rule is the first comment of each); binary operators by precedence climbing. On a syntax
// error it records a Diagnostic and recovers in panic mode (skips to the next token that can
// start a statement on a later line), so one run reports several errors.
#pragma once

#include <string_view>
#include <vector>

#include "fly/ast.h"
#include "fly/diagnostic.h"
#include "fly/lexer.h"

namespace volo::fly {

class Parser {
 public:
  // `repl`: the input was typed at the `volo repl` prompt, where an expression alone is a
  // statement (`1 + 2`); at the top level of the input its value is echoed (Stmt::newline).
  explicit Parser(std::string_view source, bool repl = false);
  // Parses the whole program. Errors (if any) are in diagnostics(); the AST is then partial.
  ParsedProgram ParseProgram();
  const std::vector<Diagnostic>& diagnostics() const { return diags_; }
  // True when the last error was an unexpected end of input (the REPL reads more lines).
  bool hit_eof() const { return hit_eof_; }

 private:
  struct Panic {};  // thrown to unwind to the statement loop (panic-mode recovery)

  const Token& Cur() const { return toks_[pos_]; }
  const Token& Peek(size_t n = 1) const;
  Pos PosOf(const Token& t) const { return {t.line, t.col}; }
  bool Check(Tok t) const { return Cur().type == t; }
  bool Match(Tok t);
  const Token& Expect(Tok t, std::string_view what);
  [[noreturn]] void ErrorAt(const Token& t, std::string msg);
  void Synchronize(size_t stmt_start);
  // At the end of input inside the block opened by toks_[open]: reports the block that is
  // really unclosed (see parser.cc) and unwinds.
  [[noreturn]] void Unclosed(size_t open);

  StmtPtr Statement();
  StmtPtr Block();
  StmtPtr VarDecl();
  StmtPtr ConstDecl();
  StmtPtr FuncDef();
  StmtPtr IfStmt();
  StmtPtr WhileStmt();
  StmtPtr ForStmt();
  StmtPtr PrintStmt();
  StmtPtr ReturnStmt();
  StmtPtr SortStmt();
  StmtPtr RequireStmt();
  StmtPtr NativeStmt();
  StmtPtr SimpleStmt();
  bool IsHistoricalDecl() const;
  StmtPtr HistoricalDecl();
  std::unique_ptr<FlySpec> FlyCall();

  ExprPtr Expression();
  ExprPtr Binary(int min_prec);
  ExprPtr Unary();
  ExprPtr Cast();
  ExprPtr Postfix();
  ExprPtr Primary();
  ExprPtr Bracket();
  ExprPtr MapLiteral();
  ExprPtr DeclObject(const Token& open);
  std::vector<ExprPtr> Arguments();

  std::vector<Token> toks_;
  size_t pos_ = 0;
  std::vector<Diagnostic> diags_;
  bool hit_eof_ = false;
  bool repl_ = false;
  int depth_ = 0;  // nesting, bounded so hostile input cannot overflow the C++ stack
};

}  // namespace volo::fly
