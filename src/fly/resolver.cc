#include "fly/resolver.h"

#include <algorithm>
#include <cctype>

namespace volo::fly {

namespace {

bool IsDomainDecl(const Stmt& s) { return s.value && s.value->kind == ExprKind::kDecl; }

// The literal type= of a declaration object (lower case), or "" when it is not a literal.
std::string DeclType(const Expr& decl) {
  for (size_t k = 0; k < decl.keys.size(); ++k) {
    if (decl.keys[k] == "type" && decl.kids[k]->kind == ExprKind::kString) {
      std::string t = decl.kids[k]->s;
      for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return t;
    }
  }
  return "";
}

bool IsEnvType(const std::string& t) {
  return t == "smp" || t == "local" || t == "aws" || t == "azure" || t == "aws-debug" ||
         t == "k8s" || t == "cluster";
}

// Every type= a declaration object may have (domain.cc makes them).
const std::vector<std::string>& DeclTypes() {
  static const std::vector<std::string> kTypes = {
      "smp",       "cluster", "k8s",     "aws",    "azure",
      "aws-debug", "local",   "channel", "random", "file",
      "dataframe", "sql",     "nosql",   "query",  "distributed-query"};
  return kTypes;
}

const char* LiteralTypeName(ExprKind k) {
  switch (k) {
    case ExprKind::kInt:
      return "an Integer";
    case ExprKind::kDouble:
      return "a Double";
    case ExprKind::kString:
      return "a String";
    case ExprKind::kBool:
      return "a Boolean";
    default:
      return nullptr;
  }
}

}  // namespace

void Resolver::Error(Pos p, std::string msg) { diags_->push_back({p, std::move(msg)}); }

void Resolver::Resolve(ParsedProgram& parsed, std::vector<Diagnostic>& diags) {
  diags_ = &diags;
  for (auto& r : replaced_) retired_.push_back(std::move(r.second));
  replaced_.clear();
  replaced_globals_.clear();
  redeclared_envs_.clear();
  mark_ = {program_.functions.size(), program_.globals.size(), program_.envs.size(),
           program_.decls.size(), program_.flies.size()};
  // The top-level code is a function of its own.
  main_index_ = static_cast<int>(program_.functions.size());
  auto main = std::make_unique<Function>();
  main->name = "<top level>";
  program_.functions.push_back(std::move(main));

  DeclareFunctions(parsed.stmts, true);
  for (auto& s : parsed.stmts) {
    if (s->kind == StmtKind::kFunc && s->ref.kind == RefKind::kFunction) ResolveFunction(*s);
  }

  FnState st;
  st.function = main_index_;
  st.scopes.emplace_back();
  fn_ = &st;
  Stmts(parsed.stmts);
  program_.functions[main_index_]->num_locals = st.next_slot;
  parsed.main_locals = st.next_slot;
  fn_ = nullptr;
}

void Resolver::Rollback() {
  for (auto& [index, old] : replaced_) program_.functions[index] = std::move(old);
  replaced_.clear();
  for (auto& [index, old] : replaced_globals_) program_.globals[index] = std::move(old);
  replaced_globals_.clear();
  program_.functions.resize(mark_.functions);
  program_.globals.resize(mark_.globals);
  program_.envs.resize(mark_.envs);
  program_.decls.resize(mark_.decls);
  program_.flies.resize(mark_.flies);
  pending_.clear();
  for (auto it = globals_.begin(); it != globals_.end();) {
    it = it->second >= static_cast<int>(mark_.globals) ? globals_.erase(it) : std::next(it);
  }
}

void Resolver::DeclareFunction(Stmt& s) {
  auto fn = std::make_unique<Function>();
  fn->name = s.name;
  fn->arity = static_cast<int>(s.names.size());
  fn->pos = s.pos;
  int existing = program_.FindFunction(s.name);
  if (existing >= 0) {
    bool earlier_input = static_cast<size_t>(existing) < mark_.functions;
    bool replaced = false;
    for (const auto& r : replaced_) replaced = replaced || r.first == existing;
    if (!repl_ || !earlier_input || replaced) {
      Error(s.name_pos, "function '" + s.name + "' is already defined");
      return;
    }
    // The REPL: the new definition takes the old one's place.
    s.ref = {RefKind::kFunction, existing};
    replaced_.emplace_back(existing, std::move(program_.functions[existing]));
    program_.functions[existing] = std::move(fn);
    return;
  }
  s.ref = {RefKind::kFunction, static_cast<int>(program_.functions.size())};
  program_.functions.push_back(std::move(fn));
}

void Resolver::DeclareGlobal(Stmt& s) {
  GlobalInfo g;
  g.name = s.name;
  g.pos = s.name_pos;
  g.is_const = s.kind == StmtKind::kConst;
  auto known = globals_.find(s.name);
  auto pending = pending_.find(s.name);
  if (repl_ && (known != globals_.end() || pending != pending_.end())) {
    // Declared again at the prompt: the name keeps its slot, the new declaration its value.
    int index = known != globals_.end() ? known->second : pending->second;
    s.ref = {RefKind::kGlobal, index};
    if (static_cast<size_t>(index) < mark_.globals) {
      replaced_globals_.emplace_back(index, program_.globals[index]);
    }
    program_.globals[index] = std::move(g);
  } else if (known != globals_.end() || pending != pending_.end()) {
    Error(s.name_pos, "'" + s.name + "' is already declared");
    return;
  } else {
    pending_[s.name] = static_cast<int>(program_.globals.size());
    s.ref = {RefKind::kGlobal, static_cast<int>(program_.globals.size())};
    program_.globals.push_back(std::move(g));
  }
  if (s.kind == StmtKind::kVar && IsDomainDecl(s)) {
    std::string type = DeclType(*s.value);
    if (IsEnvType(type)) {
      for (const auto& e : program_.envs) {
        if (e.name == s.name) redeclared_envs_.push_back(s.name);
      }
      program_.envs.push_back({s.name, type, s.name_pos, s.names.empty() ? "" : s.names[0]});
    }
  }
}

void Resolver::DeclareFunctions(std::vector<StmtPtr>& stmts, bool top) {
  for (auto& s : stmts) {
    if (s->kind == StmtKind::kFunc) {
      DeclareFunction(*s);
    } else if (s->kind == StmtKind::kConst || (s->kind == StmtKind::kVar && IsDomainDecl(*s))) {
      DeclareGlobal(*s);
    } else if (s->kind == StmtKind::kVar && top && repl_ && s->value) {
      DeclareGlobal(*s);  // at the prompt a plain var is a global that functions see
    } else if (s->kind == StmtKind::kVar && top) {
      main_vars_.emplace(s->name, s->name_pos);
    }
  }
}

void Resolver::ResolveFunction(Stmt& fn) {
  FnState st;
  st.function = fn.ref.index;
  st.scopes.emplace_back();
  fn_ = &st;
  for (size_t k = 0; k < fn.names.size(); ++k) DeclareLocal(fn.names[k], fn.name_positions[k]);
  Stmts(fn.body);
  program_.functions[fn.ref.index]->num_locals = st.next_slot;
  fn.func_locals = st.next_slot;
  fn_ = nullptr;
}

void Resolver::Stmts(std::vector<StmtPtr>& stmts) {
  for (auto& s : stmts) Statement(*s);
}

int Resolver::DeclareLocal(const std::string& name, Pos pos) {
  for (const auto& scope : fn_->scopes) {
    for (const auto& l : scope) {
      if (l.name == name) {
        Error(pos, "'" + name + "' is already declared (line " + std::to_string(l.pos.line) + ")");
        return l.slot;
      }
    }
  }
  if (AtTopLevel() && globals_.count(name) && !repl_) {
    Error(pos, "'" + name + "' is already declared as a const or domain object");
  }
  int slot = fn_->next_slot++;
  fn_->scopes.back().push_back({name, slot, pos});
  return slot;
}

Ref Resolver::Lookup(const std::string& name) const {
  for (auto s = fn_->scopes.rbegin(); s != fn_->scopes.rend(); ++s) {
    for (const auto& l : *s) {
      if (l.name == name) return {RefKind::kLocal, l.slot};
    }
  }
  auto g = globals_.find(name);
  if (g != globals_.end()) return {RefKind::kGlobal, g->second};
  if (!AtTopLevel()) {
    auto p = pending_.find(name);
    if (p != pending_.end()) return {RefKind::kGlobal, p->second};
  }
  int f = program_.FindFunction(name);
  if (f >= 0) return {RefKind::kFunction, f};
  return {};
}

void Resolver::Name(Expr& e) {
  Ref r = Lookup(e.s);
  if (r.kind == RefKind::kGlobal && !AtTopLevel() &&
      !program_.globals[r.index].visible_in_functions) {
    Error(e.pos, "'" + e.s +
                     "' is a top-level var: functions cannot see it (make it a const, or pass it "
                     "as an argument)");
    return;
  }
  if (r.kind == RefKind::kFunction) {
    Error(e.pos, "'" + e.s + "' is a function: call it with " + e.s + "(...)");
    return;
  }
  if (r.kind == RefKind::kNone) {
    if (!AtTopLevel() && main_vars_.count(e.s)) {
      Error(e.pos, "'" + e.s +
                       "' is a top-level var: functions cannot see it (make it a const, or pass "
                       "it as an argument)");
    } else if (AtTopLevel() && pending_.count(e.s)) {
      Error(e.pos, "'" + e.s + "' is used before its declaration (line " +
                       std::to_string(program_.globals[pending_.at(e.s)].pos.line) + ")");
    } else {
      Error(e.pos, "undefined name '" + e.s + "'" + DidYouMean(e.s, NamesInScope()));
    }
    return;
  }
  e.ref = r;
}

std::vector<std::string> Resolver::NamesInScope() const {
  std::vector<std::string> names;
  for (auto s = fn_->scopes.rbegin(); s != fn_->scopes.rend(); ++s) {
    for (auto l = s->rbegin(); l != s->rend(); ++l) names.push_back(l->name);
  }
  for (const auto& [name, index] : globals_) {
    if (AtTopLevel() || program_.globals[index].visible_in_functions) names.push_back(name);
  }
  if (!AtTopLevel()) {
    for (const auto& [name, index] : pending_) names.push_back(name);
  }
  return names;
}

std::vector<std::string> Resolver::FunctionNames() const {
  std::vector<std::string> names;
  for (const auto& f : program_.functions) {
    if (f->name != "<top level>") names.push_back(f->name);
  }
  return names;
}

void Resolver::CheckDecl(const Expr& decl) {
  bool has_type = false;
  for (size_t k = 0; k < decl.keys.size(); ++k) has_type = has_type || decl.keys[k] == "type";
  if (!has_type) {
    Error(decl.pos, "a declaration object needs a type (type=\"smp\", \"channel\", ...)");
    return;
  }
  std::string type = DeclType(decl);
  if (type.empty()) return;  // computed at run time
  const auto& known = DeclTypes();
  if (std::find(known.begin(), known.end(), type) == known.end()) {
    std::string best = ClosestName(type, known);
    Error(decl.pos, "unknown declaration type \"" + type + "\"" +
                        (best.empty() ? "" : " (did you mean \"" + best + "\"?)") +
                        "; environments are smp, cluster, k8s, aws, azure and aws-debug, other "
                        "objects channel, random, file and dataframe");
    return;
  }
  if (type == "smp") {
    bool threads = false;
    for (const auto& k : decl.keys) {
      threads = threads || k == "nthread" || k == "nthreads" || k == "threads" || k == "thread";
    }
    if (!threads) Error(decl.pos, "an smp environment needs a thread count: add nthread=N");
  }
}

// A literal that cannot be iterated is an error before the program runs.
void Resolver::CheckIterable(const Expr& e, const char* what) {
  const char* type = LiteralTypeName(e.kind);
  if (type == nullptr) return;
  Error(e.pos, std::string(what) + " cannot go over " + type +
                   " (use a range [0:n], an array, a map, a matrix, a dataframe or a file)");
}

int Resolver::CheckCallee(const std::string& name, Pos pos, int argc, bool exact) {
  int f = program_.FindFunction(name);
  if (f < 0) {
    Error(pos, "undefined function '" + name + "'" + DidYouMean(name, FunctionNames()));
    return -1;
  }
  int arity = program_.functions[f]->arity;
  if (exact && arity != argc) {
    Error(pos, "'" + name + "' takes " + std::to_string(arity) + " argument" +
                   (arity == 1 ? "" : "s") + ", " + std::to_string(argc) + " given");
  }
  return f;
}

void Resolver::Statement(Stmt& s) {
  switch (s.kind) {
    case StmtKind::kVar: {
      if (s.value) Expression(*s.value);
      for (size_t k = 0; k < s.names.size(); ++k) {
        Expr env(ExprKind::kName, s.name_positions[k]);
        env.s = s.names[k];
        Name(env);
      }
      bool top = AtTopLevel() && fn_->scopes.size() == 1;
      if (top && (IsDomainDecl(s) || repl_) && s.ref.kind == RefKind::kGlobal) {
        pending_.erase(s.name);
        globals_[s.name] = s.ref.index;
      } else {
        s.ref = {RefKind::kLocal, DeclareLocal(s.name, s.name_pos)};
      }
      break;
    }
    case StmtKind::kConst:
      Expression(*s.value);
      if (!AtTopLevel() || fn_->scopes.size() != 1) {
        Error(s.pos, "a const must be declared at the top level");
      } else if (s.ref.kind == RefKind::kGlobal) {
        pending_.erase(s.name);
        globals_[s.name] = s.ref.index;
      }
      break;
    case StmtKind::kAssign:
    case StmtKind::kIncr:
      Expression(*s.target);
      if (s.value) Expression(*s.value);
      break;
    case StmtKind::kExpr:
    case StmtKind::kPrint:
      Expression(*s.value);
      break;
    case StmtKind::kIf:
    case StmtKind::kWhile:
      Expression(*s.value);
      if (s.kind == StmtKind::kWhile) ++fn_->loops;
      for (auto& b : s.body) {
        fn_->scopes.emplace_back();
        Statement(*b);
        fn_->scopes.pop_back();
      }
      if (s.kind == StmtKind::kWhile) --fn_->loops;
      break;
    case StmtKind::kFor: {
      Expression(*s.value);
      CheckIterable(*s.value, "a for loop");
      fn_->scopes.emplace_back();
      s.refs.clear();
      for (size_t k = 0; k < s.names.size(); ++k)
        s.refs.push_back({RefKind::kLocal, DeclareLocal(s.names[k], s.name_positions[k])});
      for (int k = 0; k < 4; ++k) s.refs.push_back({RefKind::kLocal, HiddenSlot()});
      ++fn_->loops;
      Statement(*s.body[0]);
      --fn_->loops;
      fn_->scopes.pop_back();
      break;
    }
    case StmtKind::kBlock:
      fn_->scopes.emplace_back();
      Stmts(s.body);
      fn_->scopes.pop_back();
      break;
    case StmtKind::kFunc:
      if (!AtTopLevel() || fn_->scopes.size() != 1) {
        Error(s.pos, "functions can only be defined at the top level");
      }
      break;
    case StmtKind::kReturn:
      if (AtTopLevel()) Error(s.pos, "return outside a function");
      if (s.value) Expression(*s.value);
      break;
    case StmtKind::kSort:
      Expression(*s.target);
      break;
    case StmtKind::kBreak:
    case StmtKind::kContinue:
      if (fn_->loops == 0) {
        Error(s.pos,
              std::string(s.kind == StmtKind::kBreak ? "break" : "continue") + " outside a loop");
      }
      break;
    case StmtKind::kNative:
      Error(s.pos, "native blocks are not supported: write the function in FLY");
      break;
    case StmtKind::kRequire:
      break;
  }
}

void Resolver::Fly(FlySpec& f, Pos pos) {
  for (auto& a : f.args) Expression(*a);
  if (f.input == FlyInput::kIn && !f.args.empty()) CheckIterable(*f.args[0], "a fly");
  int argc = f.input == FlyInput::kArgs ? static_cast<int>(f.args.size()) : 0;
  int fn = CheckCallee(f.function, f.function_pos, argc, f.input != FlyInput::kIn);
  if (fn >= 0) {
    f.function_ref = {RefKind::kFunction, fn};
    if (f.input == FlyInput::kIn && program_.functions[fn]->arity > 1) {
      Error(f.function_pos,
            "'" + f.function + "' is flown over a collection, so it takes 0 or 1 parameters");
    }
  }
  Expr env(ExprKind::kName, f.env_pos);
  env.s = f.env;
  Name(env);
  f.env_ref = env.ref;
  auto callback = [&](const std::string& name, Pos p, Ref* ref) {
    if (name.empty()) return;
    int cb = CheckCallee(name, p, 0, false);
    if (cb < 0) return;
    if (program_.functions[cb]->arity > 1) {
      Error(p, "callback '" + name + "' takes 0 or 1 parameters (the result)");
    }
    *ref = {RefKind::kFunction, cb};
  };
  callback(f.then_fn, f.then_pos, &f.then_ref);
  callback(f.thenall_fn, f.thenall_pos, &f.thenall_ref);
  if (f.split == FlySplit::kSquare) Error(pos, "'by square' is not supported (use row or col)");
}

// An explicit stack rather than recursion: `a + b + c + ...` nests one level per term, and a
// 50,000-term sum must resolve. Nodes are visited in the same order as a recursive walk.
void Resolver::Expression(Expr& root) {
  std::vector<Expr*> todo{&root};
  while (!todo.empty()) {
    Expr& e = *todo.back();
    todo.pop_back();
    switch (e.kind) {
      case ExprKind::kName:
        Name(e);
        continue;
      case ExprKind::kCall: {
        int f = CheckCallee(e.s, e.pos, static_cast<int>(e.kids.size()), true);
        if (f >= 0) e.ref = {RefKind::kFunction, f};
        break;
      }
      case ExprKind::kFly:
        Fly(*e.fly, e.pos);
        continue;
      case ExprKind::kDecl:
        CheckDecl(e);
        break;
      case ExprKind::kCell:
        for (size_t k = 1; k < e.kids.size(); ++k) {
          if (e.kids[k]->kind == ExprKind::kRange) {
            Error(e.kids[k]->pos,
                  "a block of rows and columns (x[[a:b], [c:d]]) is not supported: index one "
                  "cell with x[row, col], or loop over the rows (for row in df) and read "
                  "row[col]");
            break;
          }
        }
        break;
      case ExprKind::kSend:
        if (!e.s.empty()) {
          Expr env(ExprKind::kName, e.pos);
          env.s = e.s;
          Name(env);
        }
        break;
      default:
        break;
    }
    for (auto k = e.kids.rbegin(); k != e.kids.rend(); ++k) todo.push_back(k->get());
  }
}

}  // namespace volo::fly
