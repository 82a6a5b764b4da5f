#include "fly/resolver.h"

namespace volo::fly {

namespace {

bool IsDomainDecl(const Stmt& s) { return s.value && s.value->kind == ExprKind::kDecl; }

std::string DeclType(const Expr& decl) {
  for (size_t k = 0; k < decl.keys.size(); ++k) {
    if (decl.keys[k] == "type" && decl.kids[k]->kind == ExprKind::kString) return decl.kids[k]->s;
  }
  return "";
}

bool IsEnvType(const std::string& t) {
  return t == "smp" || t == "local" || t == "aws" || t == "azure" || t == "aws-debug" ||
         t == "k8s" || t == "cluster";
}

}  // namespace

void Resolver::Error(Pos p, std::string msg) { diags_->push_back({p, std::move(msg)}); }

void Resolver::Resolve(ParsedProgram& parsed, std::vector<Diagnostic>& diags) {
  diags_ = &diags;
  // The top-level code is a function of its own.
  int main_index = static_cast<int>(program_.functions.size());
  auto main = std::make_unique<Function>();
  main->name = "<top level>";
  program_.functions.push_back(std::move(main));

  DeclareFunctions(parsed.stmts, true);
  for (auto& s : parsed.stmts) {
    if (s->kind == StmtKind::kFunc && s->ref.kind == RefKind::kFunction) ResolveFunction(*s);
  }

  FnState st;
  st.function = main_index;
  st.scopes.emplace_back();
  fn_ = &st;
  Stmts(parsed.stmts);
  program_.functions[main_index]->num_locals = st.next_slot;
  parsed.main_locals = st.next_slot;
  fn_ = nullptr;
}

void Resolver::Rollback(size_t globals) {
  for (auto* m : {&globals_, &pending_}) {
    for (auto it = m->begin(); it != m->end();) {
      it = it->second >= static_cast<int>(globals) ? m->erase(it) : std::next(it);
    }
  }
}

void Resolver::DeclareFunctions(std::vector<StmtPtr>& stmts, bool top) {
  for (auto& s : stmts) {
    if (s->kind == StmtKind::kFunc) {
      if (program_.FindFunction(s->name) >= 0) {
        Error(s->name_pos, "function '" + s->name + "' is already defined");
        continue;
      }
      auto fn = std::make_unique<Function>();
      fn->name = s->name;
      fn->arity = static_cast<int>(s->names.size());
      fn->pos = s->pos;
      s->ref = {RefKind::kFunction, static_cast<int>(program_.functions.size())};
      program_.functions.push_back(std::move(fn));
    } else if (s->kind == StmtKind::kConst || (s->kind == StmtKind::kVar && IsDomainDecl(*s))) {
      if (globals_.count(s->name) || pending_.count(s->name)) {
        Error(s->name_pos, "'" + s->name + "' is already declared");
        continue;
      }
      GlobalInfo g;
      g.name = s->name;
      g.pos = s->name_pos;
      g.is_const = s->kind == StmtKind::kConst;
      pending_[s->name] = static_cast<int>(program_.globals.size());
      s->ref = {RefKind::kGlobal, static_cast<int>(program_.globals.size())};
      program_.globals.push_back(std::move(g));
      if (s->kind == StmtKind::kVar) {
        std::string type = DeclType(*s->value);
        if (IsEnvType(type)) {
          program_.envs.push_back(
              {s->name, type, s->name_pos, s->names.empty() ? "" : s->names[0]});
        }
      }
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
  if (AtTopLevel() && globals_.count(name)) {
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
      Error(e.pos, "undefined name '" + e.s + "'");
    }
    return;
  }
  e.ref = r;
}

int Resolver::CheckCallee(const std::string& name, Pos pos, int argc, bool exact) {
  int f = program_.FindFunction(name);
  if (f < 0) {
    Error(pos, "undefined function '" + name + "'");
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
      if (top && IsDomainDecl(s) && s.ref.kind == RefKind::kGlobal) {
        pending_.erase(s.name);
        globals_[s.name] = s.ref.index;
      } else if (top && repl_) {
        if (globals_.count(s.name)) {
          s.ref = {RefKind::kGlobal, globals_[s.name]};  // the REPL lets a var be redefined
        } else {
          GlobalInfo g;
          g.name = s.name;
          g.pos = s.name_pos;
          g.visible_in_functions = false;
          s.ref = {RefKind::kGlobal, static_cast<int>(program_.globals.size())};
          globals_[s.name] = s.ref.index;
          program_.globals.push_back(std::move(g));
        }
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
      Error(s.pos, "native blocks are not supported: write the function in FLY (FLY.md Part A 11)");
      break;
    case StmtKind::kRequire:
      break;
  }
}

void Resolver::Fly(FlySpec& f, Pos pos) {
  for (auto& a : f.args) Expression(*a);
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

void Resolver::Expression(Expr& e) {
  switch (e.kind) {
    case ExprKind::kName:
      Name(e);
      return;
    case ExprKind::kCall: {
      int f = CheckCallee(e.s, e.pos, static_cast<int>(e.kids.size()), true);
      if (f >= 0) e.ref = {RefKind::kFunction, f};
      break;
    }
    case ExprKind::kFly:
      Fly(*e.fly, e.pos);
      return;
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
  for (auto& k : e.kids) Expression(*k);
}

}  // namespace volo::fly
