#include "fly/parser.h"

#include <string>

namespace volo::fly {

namespace {

constexpr int kMaxDepth = 200;

int Precedence(Tok t) {
  switch (t) {
    case Tok::kOr:
      return 1;
    case Tok::kAnd:
      return 2;
    case Tok::kEq:
    case Tok::kNe:
      return 3;
    case Tok::kLt:
    case Tok::kLe:
    case Tok::kGt:
    case Tok::kGe:
      return 4;
    case Tok::kPlus:
    case Tok::kMinus:
      return 5;
    case Tok::kStar:
    case Tok::kSlash:
    case Tok::kPercent:
      return 6;
    default:
      return 0;
  }
}

bool IsTypeName(Tok t) {
  switch (t) {
    case Tok::kTString:
    case Tok::kTInteger:
    case Tok::kTDouble:
    case Tok::kTObject:
    case Tok::kTDate:
    case Tok::kTDat:
    case Tok::kTMatrix:
    case Tok::kTArrayList:
    case Tok::kTArray:
      return true;
    default:
      return false;
  }
}

CastType ToCastType(Tok t) {
  switch (t) {
    case Tok::kTInteger:
      return CastType::kInteger;
    case Tok::kTDouble:
      return CastType::kDouble;
    case Tok::kTObject:
      return CastType::kObject;
    case Tok::kTDate:
      return CastType::kDate;
    case Tok::kTDat:
      return CastType::kDat;
    case Tok::kTMatrix:
      return CastType::kMatrix;
    case Tok::kTArrayList:
      return CastType::kArrayList;
    case Tok::kTArray:
      return CastType::kArray;
    default:
      return CastType::kString;
  }
}

bool StartsStatement(Tok t) {
  switch (t) {
    case Tok::kVar:
    case Tok::kConst:
    case Tok::kFunc:
    case Tok::kReturn:
    case Tok::kIf:
    case Tok::kWhile:
    case Tok::kFor:
    case Tok::kPrint:
    case Tok::kPrintln:
    case Tok::kFly:
    case Tok::kAsync:
    case Tok::kSort:
    case Tok::kRequire:
    case Tok::kNative:
    case Tok::kBreak:
    case Tok::kContinue:
    case Tok::kIdent:
    case Tok::kLBrace:
    case Tok::kRBrace:
      return true;
    default:
      return false;
  }
}

std::string Describe(const Token& t) {
  switch (t.type) {
    case Tok::kIdent:
      return "identifier '" + std::string(t.text) + "'";
    case Tok::kInt:
    case Tok::kFloat:
      return "number " + std::string(t.text);
    case Tok::kString:
      return "string " + std::string(t.text);
    default:
      return std::string(TokName(t.type));
  }
}

}  // namespace

Parser::Parser(std::string_view source, bool repl) : repl_(repl) {
  Lexer lexer(source);
  for (;;) {
    Token t = lexer.Next();
    // Every token consumes input, so there are at most size+1 of them; the bound guards
    // against a lexer bug turning into unbounded memory.
    if (toks_.size() > source.size()) t.type = Tok::kEof;
    bool eof = t.type == Tok::kEof;
    toks_.push_back(std::move(t));
    if (eof) break;
  }
}

const Token& Parser::Peek(size_t n) const { return toks_[std::min(pos_ + n, toks_.size() - 1)]; }

bool Parser::Match(Tok t) {
  if (!Check(t)) return false;
  ++pos_;
  return true;
}

void Parser::ErrorAt(const Token& t, std::string msg) {
  if (t.type == Tok::kEof) hit_eof_ = true;
  if (t.type == Tok::kError) msg = t.value;
  diags_.push_back({PosOf(t), std::move(msg)});
  throw Panic{};
}

const Token& Parser::Expect(Tok t, std::string_view what) {
  if (!Check(t)) ErrorAt(Cur(), "expected " + std::string(what) + ", found " + Describe(Cur()));
  return toks_[pos_++];
}

void Parser::Synchronize(size_t stmt_start) {
  // Skip to a token that can start a statement on a later line than the failed statement's
  // first token, or to a '}' that closes an enclosing block; braces opened while skipping are
  // skipped with their contents. Always makes progress.
  int line = toks_[stmt_start].line;
  int depth = 0;
  if (pos_ == stmt_start && !Check(Tok::kEof)) {
    if (Check(Tok::kLBrace)) ++depth;
    ++pos_;
  }
  while (!Check(Tok::kEof)) {
    if (Check(Tok::kRBrace)) {
      if (depth == 0) return;
      --depth;
      ++pos_;
      continue;
    }
    if (depth == 0 && Cur().line > line && StartsStatement(Cur().type)) return;
    if (Check(Tok::kLBrace)) ++depth;
    ++pos_;
  }
}

// A block that reaches the end of input is rarely the one the author left open: a missing '}'
// inside a function lets the function's own '}' close the inner block, so the function's brace
// is the one left over. Indentation tells the truth: the first line inside an open block that
// is indented no deeper than the line that opened it (or a '}' indented less) shows which block
// really lacks its '}'. Without such a line, the innermost block open at the end is blamed.
void Parser::Unclosed(size_t open) {
  auto indent = [&](size_t tok) {
    size_t k = tok;
    while (k > 0 && toks_[k - 1].line == toks_[tok].line) --k;
    return toks_[k].col;
  };
  std::vector<size_t> stack;
  size_t blame = open;
  int evidence = 0;
  int prev_line = 0;
  for (size_t k = 0; k + 1 < toks_.size() && evidence == 0; ++k) {
    const Token& t = toks_[k];
    bool first = t.line != prev_line;
    prev_line = t.line;
    if (first && !stack.empty()) {
      int base = indent(stack.back());
      if (t.type == Tok::kRBrace ? t.col < base : t.col <= base) {
        blame = stack.back();
        evidence = t.line;
      }
    }
    if (t.type == Tok::kLBrace) stack.push_back(k);
    if (t.type == Tok::kRBrace && !stack.empty()) stack.pop_back();
  }
  hit_eof_ = true;
  std::string msg = "'{' is never closed";
  if (evidence > 0) {
    msg += " (line " + std::to_string(evidence) + " is indented as if the block ended before it)";
  }
  diags_.push_back({PosOf(toks_[blame]), std::move(msg)});
  throw Panic{};
}

// program ::= stmt*
ParsedProgram Parser::ParseProgram() {
  ParsedProgram prog;
  while (!Check(Tok::kEof)) {
    size_t before = pos_;
    try {
      if (Check(Tok::kRBrace)) ErrorAt(Cur(), "unexpected '}' with no matching '{'");
      prog.stmts.push_back(Statement());
      // At the prompt a bare expression shows its value (as Lua's, Python's and Node's do).
      Stmt& s = *prog.stmts.back();
      if (repl_ && s.kind == StmtKind::kExpr && s.value->kind != ExprKind::kFly) s.newline = true;
    } catch (Panic&) {
      depth_ = 0;
      Synchronize(before);
      if (Check(Tok::kRBrace) && pos_ == before) ++pos_;
    }
  }
  return prog;
}

// stmt ::= varDecl | constDecl | funcDef | ifStmt | whileStmt | forStmt | printStmt | block
//        | returnStmt | flyCall | sortStmt | requireStmt | nativeStmt | simpleStmt
StmtPtr Parser::Statement() {
  if (++depth_ > kMaxDepth) ErrorAt(Cur(), "program nests too deeply");
  StmtPtr s;
  switch (Cur().type) {
    case Tok::kVar:
      s = VarDecl();
      break;
    case Tok::kConst:
      s = ConstDecl();
      break;
    case Tok::kFunc:
      s = FuncDef();
      break;
    case Tok::kIf:
      s = IfStmt();
      break;
    case Tok::kWhile:
      s = WhileStmt();
      break;
    case Tok::kFor:
      s = ForStmt();
      break;
    case Tok::kPrint:
    case Tok::kPrintln:
      s = PrintStmt();
      break;
    case Tok::kLBrace:
      s = Block();
      break;
    case Tok::kReturn:
      s = ReturnStmt();
      break;
    case Tok::kSort:
      s = SortStmt();
      break;
    case Tok::kRequire:
      s = RequireStmt();
      break;
    case Tok::kNative:
      s = NativeStmt();
      break;
    case Tok::kBreak:
    case Tok::kContinue:
      s = std::make_unique<Stmt>(Check(Tok::kBreak) ? StmtKind::kBreak : StmtKind::kContinue,
                                 PosOf(Cur()));
      ++pos_;
      break;
    case Tok::kFly:
    case Tok::kAsync: {
      s = std::make_unique<Stmt>(StmtKind::kExpr, PosOf(Cur()));
      s->value = std::make_unique<Expr>(ExprKind::kFly, PosOf(Cur()));
      s->value->fly = FlyCall();
      break;
    }
    case Tok::kSemicolon:
      ErrorAt(Cur(), "';' is not part of FLY: statements need no separator");
    default:
      s = IsHistoricalDecl() ? HistoricalDecl() : SimpleStmt();
      break;
  }
  --depth_;
  return s;
}

// block ::= "{" stmt* "}"
StmtPtr Parser::Block() {
  auto b = std::make_unique<Stmt>(StmtKind::kBlock, PosOf(Cur()));
  size_t open = pos_;
  Expect(Tok::kLBrace, "'{'");
  while (!Check(Tok::kRBrace)) {
    if (Check(Tok::kEof)) Unclosed(open);
    size_t before = pos_;
    int depth = depth_;
    try {
      b->body.push_back(Statement());
    } catch (Panic&) {
      if (hit_eof_) throw;
      depth_ = depth;
      Synchronize(before);
    }
  }
  ++pos_;
  return b;
}

// varDecl ::= "var" ID "=" (flyCall | expr) ["on" ID {"," ID}]
StmtPtr Parser::VarDecl() {
  auto s = std::make_unique<Stmt>(StmtKind::kVar, PosOf(Cur()));
  ++pos_;
  const Token& name = Expect(Tok::kIdent, "a variable name after 'var'");
  s->name = std::string(name.text);
  s->name_pos = PosOf(name);
  Expect(Tok::kAssign, "'=' after the variable name (FLY variables need an initial value)");
  if (Check(Tok::kFly) || Check(Tok::kAsync)) {
    s->value = std::make_unique<Expr>(ExprKind::kFly, PosOf(Cur()));
    s->value->fly = FlyCall();
    return s;
  }
  s->value = Expression();
  if (Match(Tok::kOn)) {
    do {
      const Token& env = Expect(Tok::kIdent, "an environment name after 'on'");
      s->names.emplace_back(env.text);
      s->name_positions.push_back(PosOf(env));
    } while (Match(Tok::kComma));
  }
  return s;
}

// Two identifiers in a row start no statement of today's grammar, so `env x`, `channel x` and
// `random x` are the declarations of FLY before May 2019 (FLY.md B.1.14).
bool Parser::IsHistoricalDecl() const {
  if (!Check(Tok::kIdent) || Peek().type != Tok::kIdent) return false;
  std::string_view kw = Cur().text;
  if (kw == "env") return Peek(2).type == Tok::kAssign;
  return kw == "channel" || kw == "random";
}

// historicalDecl ::= "env" ID "=" declObject ["on" ID]    (keys take ':' or '=')
//                  | "channel" ID ["on" ID] | "random" ID
// Each becomes the `var` declaration that replaced it: `channel ch on e` is
// `var ch = [type="channel"] on e`, `random r` is `var r = [type="random"]`.
StmtPtr Parser::HistoricalDecl() {
  auto s = std::make_unique<Stmt>(StmtKind::kVar, PosOf(Cur()));
  std::string kw(Cur().text);
  ++pos_;
  const Token& name = Expect(Tok::kIdent, "a name after '" + kw + "'");
  s->name = std::string(name.text);
  s->name_pos = PosOf(name);
  if (kw == "env") {
    Expect(Tok::kAssign, "'=' after the environment name");
    const Token& open = Expect(Tok::kLBracket, "'[' to start the environment's declaration");
    s->value = DeclObject(open);
  } else {
    s->value = std::make_unique<Expr>(ExprKind::kDecl, s->pos);
    s->value->keys.emplace_back("type");
    auto type = std::make_unique<Expr>(ExprKind::kString, s->pos);
    type->s = kw;
    s->value->kids.push_back(std::move(type));
  }
  if (kw != "random" && Match(Tok::kOn)) {
    const Token& env = Expect(Tok::kIdent, "an environment name after 'on'");
    s->names.emplace_back(env.text);
    s->name_positions.push_back(PosOf(env));
  }
  return s;
}

// constDecl ::= "const" ID "=" expr
StmtPtr Parser::ConstDecl() {
  auto s = std::make_unique<Stmt>(StmtKind::kConst, PosOf(Cur()));
  ++pos_;
  const Token& name = Expect(Tok::kIdent, "a constant name after 'const'");
  s->name = std::string(name.text);
  s->name_pos = PosOf(name);
  Expect(Tok::kAssign, "'=' after the constant name");
  s->value = Expression();
  return s;
}

// funcDef ::= "func" ID "(" [ID {"," ID}] ")" block
StmtPtr Parser::FuncDef() {
  auto s = std::make_unique<Stmt>(StmtKind::kFunc, PosOf(Cur()));
  ++pos_;
  const Token& name = Expect(Tok::kIdent, "a function name after 'func'");
  s->name = std::string(name.text);
  s->name_pos = PosOf(name);
  Expect(Tok::kLParen, "'(' after the function name");
  if (!Check(Tok::kRParen)) {
    do {
      const Token& p = Expect(Tok::kIdent, "a parameter name");
      s->names.emplace_back(p.text);
      s->name_positions.push_back(PosOf(p));
    } while (Match(Tok::kComma));
  }
  Expect(Tok::kRParen, "')' after the parameters");
  if (!Check(Tok::kLBrace)) ErrorAt(Cur(), "expected '{' to start the function body");
  StmtPtr body = Block();
  s->body = std::move(body->body);
  return s;
}

// ifStmt ::= "if" "(" expr ")" stmt ["else" stmt]
StmtPtr Parser::IfStmt() {
  auto s = std::make_unique<Stmt>(StmtKind::kIf, PosOf(Cur()));
  ++pos_;
  Expect(Tok::kLParen, "'(' after 'if'");
  s->value = Expression();
  Expect(Tok::kRParen, "')' after the condition");
  s->body.push_back(Statement());
  if (Match(Tok::kElse)) s->body.push_back(Statement());
  return s;
}

// whileStmt ::= "while" "(" expr ")" stmt
StmtPtr Parser::WhileStmt() {
  auto s = std::make_unique<Stmt>(StmtKind::kWhile, PosOf(Cur()));
  ++pos_;
  Expect(Tok::kLParen, "'(' after 'while'");
  s->value = Expression();
  Expect(Tok::kRParen, "')' after the condition");
  s->body.push_back(Statement());
  return s;
}

// forStmt ::= "for" ID {"," ID} "in" expr ["by" ("row" | "col" | "delimeter" STRING)] stmt
StmtPtr Parser::ForStmt() {
  auto s = std::make_unique<Stmt>(StmtKind::kFor, PosOf(Cur()));
  ++pos_;
  do {
    const Token& v = Expect(Tok::kIdent, "a loop variable after 'for'");
    s->names.emplace_back(v.text);
    s->name_positions.push_back(PosOf(v));
  } while (Match(Tok::kComma));
  if (s->names.size() > 2) {
    diags_.push_back({s->name_positions[2], "a for loop has at most two variables (i, j)"});
  }
  Expect(Tok::kIn, "'in' after the loop variable");
  s->value = Expression();
  if (Match(Tok::kBy)) {
    // Parsed for compatibility; the original ignores it in for loops too.
    if (Match(Tok::kDelimeter)) {
      Expect(Tok::kString, "a separator string after 'delimeter'");
    } else if (!Match(Tok::kRow) && !Match(Tok::kCol)) {
      ErrorAt(Cur(), "expected 'row', 'col' or 'delimeter' after 'by'");
    }
  }
  s->body.push_back(Statement());
  return s;
}

// printStmt ::= ("print" | "println") expr
StmtPtr Parser::PrintStmt() {
  auto s = std::make_unique<Stmt>(StmtKind::kPrint, PosOf(Cur()));
  s->newline = Check(Tok::kPrintln);
  ++pos_;
  s->value = Expression();
  if (Check(Tok::kComma)) {
    ErrorAt(Cur(), "print takes one expression: join the parts with '+'");
  }
  return s;
}

// returnStmt ::= "return" [expr]      (a bare return only right before '}')
StmtPtr Parser::ReturnStmt() {
  auto s = std::make_unique<Stmt>(StmtKind::kReturn, PosOf(Cur()));
  ++pos_;
  if (!Check(Tok::kRBrace) && !Check(Tok::kEof)) s->value = Expression();
  return s;
}

// sortStmt ::= "sort" ("asc" | "desc") ID "on" ID
StmtPtr Parser::SortStmt() {
  auto s = std::make_unique<Stmt>(StmtKind::kSort, PosOf(Cur()));
  ++pos_;
  if (Match(Tok::kDesc)) {
    s->newline = true;
  } else if (!Match(Tok::kAsc)) {
    ErrorAt(Cur(), "expected 'asc' or 'desc' after 'sort'");
  }
  auto target = std::make_unique<Expr>(ExprKind::kName, PosOf(Cur()));
  target->s = std::string(Expect(Tok::kIdent, "the map to sort").text);
  s->target = std::move(target);
  Expect(Tok::kOn, "'on' after the map name");
  Expect(Tok::kIdent, "a name after 'on'");
  return s;
}

// requireStmt ::= "require" "(" STRING ")" "on" ID
StmtPtr Parser::RequireStmt() {
  auto s = std::make_unique<Stmt>(StmtKind::kRequire, PosOf(Cur()));
  ++pos_;
  Expect(Tok::kLParen, "'(' after 'require'");
  s->name = Expect(Tok::kString, "a package name string").value;
  Expect(Tok::kRParen, "')'");
  Expect(Tok::kOn, "'on' after require(...)");
  Expect(Tok::kIdent, "an environment name");
  return s;
}

// nativeStmt ::= "native" NATIVE_CODE
StmtPtr Parser::NativeStmt() {
  auto s = std::make_unique<Stmt>(StmtKind::kNative, PosOf(Cur()));
  ++pos_;
  Expect(Tok::kNativeCode, "'<<<' to start the native code");
  return s;
}

// simpleStmt ::= postfix (("=" | "+=" | "-=" | "*=" | "/=") expr | "++" | "--")?
//   where a bare postfix must be a call, method call, send or receive (any expression in the
//   REPL)
StmtPtr Parser::SimpleStmt() {
  Pos pos = PosOf(Cur());
  if (!Check(Tok::kIdent) && !repl_) {
    ErrorAt(Cur(), "expected a statement, found " + Describe(Cur()));
  }
  ExprPtr e = repl_ ? Expression() : Postfix();
  switch (Cur().type) {
    case Tok::kAssign:
    case Tok::kPlusAssign:
    case Tok::kMinusAssign:
    case Tok::kStarAssign:
    case Tok::kSlashAssign: {
      if (e->kind != ExprKind::kName && e->kind != ExprKind::kField &&
          e->kind != ExprKind::kIndex) {
        ErrorAt(Cur(), "cannot assign to this expression");
      }
      auto s = std::make_unique<Stmt>(StmtKind::kAssign, pos);
      s->op = Cur().type;
      ++pos_;
      s->target = std::move(e);
      s->value = Expression();
      return s;
    }
    case Tok::kPlusPlus:
    case Tok::kMinusMinus: {
      if (e->kind != ExprKind::kName && e->kind != ExprKind::kField &&
          e->kind != ExprKind::kIndex) {
        ErrorAt(Cur(), "'++' and '--' apply to variables only");
      }
      auto s = std::make_unique<Stmt>(StmtKind::kIncr, pos);
      s->op = Cur().type;
      ++pos_;
      s->target = std::move(e);
      return s;
    }
    default:
      break;
  }
  if (!repl_ && e->kind != ExprKind::kCall && e->kind != ExprKind::kMethod &&
      e->kind != ExprKind::kSend && e->kind != ExprKind::kRecv) {
    ErrorAt(Cur(), "expected '=' or a call: an expression alone is not a statement (found " +
                       Describe(Cur()) + " after it)");
  }
  auto s = std::make_unique<Stmt>(StmtKind::kExpr, pos);
  s->value = std::move(e);
  return s;
}

// flyCall ::= ["async"] "fly" ID ["(" [expr {"," expr}] ")" | "in" expr ["by" (row|col|square)]]
//             "on" ID ["then" ID] ["thenall" ID]
std::unique_ptr<FlySpec> Parser::FlyCall() {
  auto f = std::make_unique<FlySpec>();
  f->is_async = Match(Tok::kAsync);
  Expect(Tok::kFly, "'fly' after 'async'");
  const Token& fn = Expect(Tok::kIdent, "the name of the function to fly");
  f->function = std::string(fn.text);
  f->function_pos = PosOf(fn);
  if (Check(Tok::kLParen)) {
    f->input = FlyInput::kArgs;
    f->args = Arguments();
  } else if (Match(Tok::kIn)) {
    f->input = FlyInput::kIn;
    f->args.push_back(Expression());
    if (Match(Tok::kBy)) {
      if (Match(Tok::kRow)) {
        f->split = FlySplit::kRow;
      } else if (Match(Tok::kCol)) {
        f->split = FlySplit::kCol;
      } else if (Match(Tok::kSquare)) {
        f->split = FlySplit::kSquare;
      } else {
        ErrorAt(Cur(), "expected 'row', 'col' or 'square' after 'by'");
      }
    }
  }
  Expect(Tok::kOn, "'on' and an environment (fly f in [0:n] on env)");
  const Token& env = Expect(Tok::kIdent, "an environment name after 'on'");
  f->env = std::string(env.text);
  f->env_pos = PosOf(env);
  if (Match(Tok::kThen)) {
    const Token& t = Expect(Tok::kIdent, "a function name after 'then'");
    f->then_fn = std::string(t.text);
    f->then_pos = PosOf(t);
  }
  if (Match(Tok::kThenall)) {
    const Token& t = Expect(Tok::kIdent, "a function name after 'thenall'");
    f->thenall_fn = std::string(t.text);
    f->thenall_pos = PosOf(t);
  }
  return f;
}

// expr ::= orExpr
ExprPtr Parser::Expression() {
  if (++depth_ > kMaxDepth) ErrorAt(Cur(), "expression nests too deeply");
  ExprPtr e = Binary(1);
  --depth_;
  return e;
}

// orExpr ::= andExpr {"or" andExpr}; andExpr ::= eqExpr {"and" eqExpr};
// eqExpr ::= relExpr {("==" | "!=") relExpr}; relExpr ::= addExpr {("<" | ...) addExpr};
// addExpr ::= mulExpr {("+" | "-") mulExpr}; mulExpr ::= unary {("*" | "/" | "%") unary}
ExprPtr Parser::Binary(int min_prec) {
  ExprPtr left = Unary();
  for (;;) {
    int prec = Precedence(Cur().type);
    if (prec == 0 || prec < min_prec) return left;
    const Token& op = toks_[pos_++];
    ExprPtr right = Binary(prec + 1);
    ExprKind k = op.type == Tok::kAnd  ? ExprKind::kAnd
                 : op.type == Tok::kOr ? ExprKind::kOr
                                       : ExprKind::kBinary;
    auto e = std::make_unique<Expr>(k, PosOf(op));
    e->op = op.type;
    e->kids.push_back(std::move(left));
    e->kids.push_back(std::move(right));
    left = std::move(e);
  }
}

// unary ::= ("not" | "-" | "+") unary | castExpr
ExprPtr Parser::Unary() {
  if (Check(Tok::kNot) || Check(Tok::kMinus) || Check(Tok::kPlus)) {
    if (++depth_ > kMaxDepth) ErrorAt(Cur(), "expression nests too deeply");
    const Token& op = toks_[pos_++];
    ExprPtr operand = Unary();
    --depth_;
    if (op.type == Tok::kPlus) return operand;
    auto e = std::make_unique<Expr>(ExprKind::kUnary, PosOf(op));
    e->op = op.type;
    e->kids.push_back(std::move(operand));
    return e;
  }
  return Cast();
}

// castExpr ::= postfix {("as" | "parse") TYPE}
ExprPtr Parser::Cast() {
  ExprPtr e = Postfix();
  int chain = 0;  // each cast nests the expression one level deeper
  while (Check(Tok::kAs) || Check(Tok::kParse)) {
    if (depth_ + ++chain > kMaxDepth) ErrorAt(Cur(), "expression nests too deeply");
    const Token& op = toks_[pos_++];
    if (!IsTypeName(Cur().type)) {
      ErrorAt(Cur(), "expected a type after '" + std::string(op.text) +
                         "' (String, Integer, Double, Object, Array, Matrix, ...)");
    }
    auto c = std::make_unique<Expr>(ExprKind::kCast, PosOf(op));
    c->cast = ToCastType(Cur().type);
    ++pos_;
    c->kids.push_back(std::move(e));
    e = std::move(c);
  }
  return e;
}

// postfix ::= primary { "." ID ["(" args ")"] | "[" expr [":" expr | "," expr] "]" }
//           | ID "(" args ")" | ID "?" | ID "!" expr ["on" ID]
ExprPtr Parser::Postfix() {
  ExprPtr e = Primary();
  if (e->kind == ExprKind::kName) {
    if (Check(Tok::kLParen)) {
      e->kind = ExprKind::kCall;
      e->kids = Arguments();
    } else if (Check(Tok::kQuestion)) {
      auto r = std::make_unique<Expr>(ExprKind::kRecv, PosOf(Cur()));
      ++pos_;
      r->kids.push_back(std::move(e));
      return r;
    } else if (Check(Tok::kBang)) {
      auto s = std::make_unique<Expr>(ExprKind::kSend, PosOf(Cur()));
      ++pos_;
      s->kids.push_back(std::move(e));
      s->kids.push_back(Expression());
      if (Match(Tok::kOn)) s->s = std::string(Expect(Tok::kIdent, "an environment name").text);
      return s;
    }
  }
  // Each suffix nests the expression one level deeper (x.a.b is Field(Field(x))): count them
  // into depth_ so the walks over the tree stay bounded.
  const int entry_depth = depth_;
  for (;;) {
    if ((Check(Tok::kDot) || Check(Tok::kLBracket)) && ++depth_ > kMaxDepth) {
      ErrorAt(Cur(), "expression nests too deeply");
    }
    if (Check(Tok::kDot)) {
      ++pos_;
      const Token& name = Expect(Tok::kIdent, "a field or method name after '.'");
      if (Check(Tok::kLParen)) {
        auto m = std::make_unique<Expr>(ExprKind::kMethod, PosOf(name));
        m->s = std::string(name.text);
        m->kids.push_back(std::move(e));
        for (auto& a : Arguments()) m->kids.push_back(std::move(a));
        e = std::move(m);
      } else {
        auto f = std::make_unique<Expr>(ExprKind::kField, PosOf(name));
        f->s = std::string(name.text);
        f->kids.push_back(std::move(e));
        e = std::move(f);
      }
    } else if (Check(Tok::kLBracket)) {
      Pos p = PosOf(Cur());
      ++pos_;
      ExprPtr first = Expression();
      ExprKind k = ExprKind::kIndex;
      ExprPtr second;
      if (Match(Tok::kColon)) {
        k = ExprKind::kSlice;
        second = Expression();
      } else if (Match(Tok::kComma)) {
        k = ExprKind::kCell;
        second = Expression();
      }
      Expect(Tok::kRBracket, "']'");
      auto ix = std::make_unique<Expr>(k, p);
      ix->kids.push_back(std::move(e));
      ix->kids.push_back(std::move(first));
      if (second) ix->kids.push_back(std::move(second));
      e = std::move(ix);
    } else {
      depth_ = entry_depth;
      return e;
    }
  }
}

// args ::= "(" [expr {"," expr}] ")"
std::vector<ExprPtr> Parser::Arguments() {
  std::vector<ExprPtr> args;
  Expect(Tok::kLParen, "'('");
  if (!Check(Tok::kRParen)) {
    do {
      args.push_back(Expression());
    } while (Match(Tok::kComma));
  }
  Expect(Tok::kRParen, "')' to close the argument list");
  return args;
}

// primary ::= "(" expr ")" | INT | FLOAT | STRING | "true" | "false" | ID
//           | "Math" "." ID ["(" args ")"] | "time" "(" [expr] ")" | "execution_environment"
//           | TYPE "[" expr "]" {"[" expr "]"} | bracket | mapLiteral
ExprPtr Parser::Primary() {
  const Token& t = Cur();
  Pos p = PosOf(t);
  switch (t.type) {
    case Tok::kLParen: {
      ++pos_;
      ExprPtr e = Expression();
      Expect(Tok::kRParen, "')'");
      return e;
    }
    case Tok::kInt: {
      auto e = std::make_unique<Expr>(ExprKind::kInt, p);
      e->i = t.int_value;
      ++pos_;
      return e;
    }
    case Tok::kFloat: {
      auto e = std::make_unique<Expr>(ExprKind::kDouble, p);
      e->d = t.double_value;
      ++pos_;
      return e;
    }
    case Tok::kString: {
      auto e = std::make_unique<Expr>(ExprKind::kString, p);
      e->s = t.value;
      ++pos_;
      return e;
    }
    case Tok::kTrue:
    case Tok::kFalse: {
      auto e = std::make_unique<Expr>(ExprKind::kBool, p);
      e->i = t.type == Tok::kTrue;
      ++pos_;
      return e;
    }
    case Tok::kIdent: {
      auto e = std::make_unique<Expr>(ExprKind::kName, p);
      e->s = std::string(t.text);
      ++pos_;
      return e;
    }
    case Tok::kExecEnv:
      ++pos_;
      return std::make_unique<Expr>(ExprKind::kExecEnv, p);
    case Tok::kMath: {
      ++pos_;
      Expect(Tok::kDot, "'.' after Math");
      const Token& name = Expect(Tok::kIdent, "a Math function name");
      auto e = std::make_unique<Expr>(ExprKind::kMath, PosOf(name));
      e->s = std::string(name.text);
      if (Check(Tok::kLParen)) {
        e->kids = Arguments();
      } else {
        e->i = 1;  // a constant such as Math.PI
      }
      return e;
    }
    case Tok::kTime: {
      ++pos_;
      auto e = std::make_unique<Expr>(ExprKind::kTime, p);
      Expect(Tok::kLParen, "'(' after time");
      if (!Check(Tok::kRParen)) e->kids.push_back(Expression());
      Expect(Tok::kRParen, "')'");
      return e;
    }
    case Tok::kLBracket:
      return Bracket();
    case Tok::kLBrace:
      return MapLiteral();
    case Tok::kFly:
    case Tok::kAsync:
      ErrorAt(t, "a fly call can only start a statement or initialise a var");
    default:
      break;
  }
  if (IsTypeName(t.type) && Peek().type == Tok::kLBracket) {
    auto e = std::make_unique<Expr>(ExprKind::kSizedArray, p);
    e->cast = ToCastType(t.type);
    ++pos_;
    while (Match(Tok::kLBracket)) {
      e->kids.push_back(Expression());
      Expect(Tok::kRBracket, "']' after the array size");
    }
    if (e->kids.size() > 3) diags_.push_back({p, "arrays have at most 3 dimensions"});
    return e;
  }
  if (t.type == Tok::kEof) ErrorAt(t, "expected an expression, found end of file");
  ErrorAt(t, "expected an expression, found " + Describe(t));
}

// bracket ::= "[" ID "=" ... "]"  (declaration object) | "[" expr ":" expr "]"  (range)
//           | "[" [expr {"," expr}] "]"  (array or matrix literal)
ExprPtr Parser::Bracket() {
  const Token& open = Expect(Tok::kLBracket, "'['");
  if (Check(Tok::kIdent) && Peek().type == Tok::kAssign) return DeclObject(open);
  auto arr = std::make_unique<Expr>(ExprKind::kArray, PosOf(open));
  if (Match(Tok::kRBracket)) return arr;
  ExprPtr first = Expression();
  if (Match(Tok::kColon)) {
    auto r = std::make_unique<Expr>(ExprKind::kRange, PosOf(open));
    r->kids.push_back(std::move(first));
    r->kids.push_back(Expression());
    Expect(Tok::kRBracket, "']' to close the range");
    return r;
  }
  arr->kids.push_back(std::move(first));
  while (Match(Tok::kComma)) arr->kids.push_back(Expression());
  Expect(Tok::kRBracket, "',' or ']' in the array literal");
  return arr;
}

// declObject ::= "[" ID "=" expr {"," ID "=" expr} "]"
//   (after `env`, the pre-2019 `key:value` form too)
ExprPtr Parser::DeclObject(const Token& open) {
  auto d = std::make_unique<Expr>(ExprKind::kDecl, PosOf(open));
  do {
    const Token& key = Expect(Tok::kIdent, "a key name (key=value)");
    d->keys.emplace_back(key.text);
    if (!Match(Tok::kColon)) Expect(Tok::kAssign, "'=' after the key");
    d->kids.push_back(Expression());
  } while (Match(Tok::kComma));
  Expect(Tok::kRBracket, "',' or ']' in the declaration");
  return d;
}

// mapLiteral ::= "{" [entry {"," entry}] "}";  entry ::= ID "=" expr | expr
ExprPtr Parser::MapLiteral() {
  const Token& open = Expect(Tok::kLBrace, "'{'");
  auto m = std::make_unique<Expr>(ExprKind::kMap, PosOf(open));
  if (Match(Tok::kRBrace)) return m;
  do {
    if (Check(Tok::kIdent) && Peek().type == Tok::kAssign) {
      m->keys.emplace_back(Cur().text);
      pos_ += 2;
    } else {
      m->keys.emplace_back();
    }
    m->kids.push_back(Expression());
  } while (Match(Tok::kComma));
  Expect(Tok::kRBrace, "',' or '}' in the map literal");
  return m;
}

}  // namespace volo::fly
