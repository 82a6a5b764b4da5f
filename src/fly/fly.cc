// The fly statement: splits the input into instances, snapshots the consts, launches a job on
// the environment, waits (unless async), reports failures, runs the callbacks.
#include <algorithm>
#include <mutex>

#include "fly/environment.h"
#include "fly/memory.h"
#include "fly/ops.h"
#include "fly/remote.h"
#include "fly/serialize.h"

namespace volo::fly {

namespace {

class LocalFlyJob;

class LocalRunner : public InstanceRunner {
 public:
  explicit LocalRunner(LocalFlyJob& job);
  void Run(size_t index) override;

 private:
  LocalFlyJob& job_;
  Vm vm_;
};

class LocalFlyJob : public FlyJob {
 public:
  LocalFlyJob(Runtime& rt, const FlySite& site) : rt_(rt), site_(site) {
    name_ = rt.program().functions[site.function]->name;
  }
  ~LocalFlyJob() override {
    for (auto& args : items_)
      for (Value v : args) Release(v);
    for (Value v : snapshot_) Release(v);
    for (Value v : results_) Release(v);
  }

  size_t instance_count() const override { return count_; }
  const std::string& function_name() const override { return name_; }
  const std::string& program_source() const override { return rt_.program().source; }
  uint64_t seed() const override { return rt_.seed(); }
  Result<std::string> SerializedArgument(size_t index) const override {
    std::string out, error;
    if (is_range_) return std::to_string(range_lo_ + static_cast<int64_t>(index));
    if (items_.empty()) return std::string();
    const auto& args = items_[index];
    if (args.empty()) return std::string();
    auto cannot = [&] {
      return InvalidArgument("the argument of instance " + std::to_string(index) +
                             " cannot leave this process: " + error);
    };
    if (args.size() == 1) {
      if (!SerializeValue(args[0], &out, &error)) return cannot();
      return out;
    }
    out = std::string(kArgsTag) + "[";
    for (size_t k = 0; k < args.size(); ++k) {
      if (k) out += ",";
      if (!SerializeValue(args[k], &out, &error)) return cannot();
    }
    return out + "]";
  }

  std::string RemoteSpec() const override;
  Status Deliver(int channel, std::string_view value) override {
    Channel* ch = rt_.FindChannel(channel);
    if (!ch) return InvalidArgument("no channel number " + std::to_string(channel));
    Value v;
    std::string error;
    if (!ParseValue(value, &v, &error)) return InvalidArgument("a remote message: " + error);
    rt_.Send(ch, v);
    return Status::Ok();
  }
  void Print(std::string_view text) override { rt_.Write(text); }
  std::unique_ptr<InstanceRunner> NewRunner() override {
    return std::make_unique<LocalRunner>(*this);
  }
  void Complete(size_t index, Result<std::string> result) override {
    Value v;
    std::string error;
    if (result.ok() && !ParseValue(*result, &v, &error)) result = Internal(error);
    Finish(index, result.ok() ? "" : result.status().message(), v);
  }

  // Records the end of instance `index` (error empty on success); takes over `result`.
  void Finish(size_t index, const std::string& error, Value result) {
    {
      std::lock_guard<std::mutex> lock(rt_.mu());
      if (!error.empty() && (failed_ < 0 || static_cast<int64_t>(index) < failed_)) {
        failed_ = static_cast<int64_t>(index);
        error_ = error;
      }
      if (keep_results_ && index < results_.size()) {
        results_[index] = result;
        result = Value();
      }
      --remaining_;
      rt_.RemoveActiveLocked();
    }
    Release(result);
    rt_.NotifyAll();
  }

  Runtime& rt_;
  FlySite site_;
  std::string name_;
  size_t count_ = 0;
  bool is_range_ = false;
  int64_t range_lo_ = 0;
  bool pass_arg_ = false;
  std::vector<std::vector<Value>> items_;  // per instance: its arguments (transfer copies)
  std::vector<Value> snapshot_;            // the globals at launch (transfer copies)
  std::vector<char> random_global_;        // 1: a random object (re-derived per instance)
  std::vector<char> random_has_seed_;
  std::vector<uint64_t> random_seed_;
  bool keep_results_ = false;
  std::vector<Value> results_;  // GUARDED_BY(rt_.mu())
  size_t remaining_ = 0;        // GUARDED_BY(rt_.mu())
  int64_t failed_ = -1;         // GUARDED_BY(rt_.mu())
  std::string error_;           // GUARDED_BY(rt_.mu())
  bool thenall_done_ = false;   // touched by the launching thread only
};

// The fields are documented in remote.h.
std::string LocalFlyJob::RemoteSpec() const {
  const Program& program = rt_.program();
  std::string out, error;
  auto key = [&](const std::string& k) {
    Value s = MakeString(k);
    SerializeValue(s, &out, &error);
    Release(s);
    out += ':';
  };
  out += '{';
  key("file");
  Value file = MakeString(program.file);
  SerializeValue(file, &out, &error);
  Release(file);
  out += ',';
  key("function");
  Value fn = MakeString(name_);
  SerializeValue(fn, &out, &error);
  Release(fn);
  out += ',';
  key("then");
  if (site_.then_fn >= 0) {
    Value then = MakeString(program.functions[site_.then_fn]->name);
    SerializeValue(then, &out, &error);
    Release(then);
  } else {
    out += "null";
  }
  out += ',';
  key("keep_results");
  out += keep_results_ ? "true," : "false,";
  key("seed");
  out += std::to_string(static_cast<int64_t>(rt_.seed())) + ',';
  key("seed_forced");
  out += rt_.seed_forced() ? "true," : "false,";
  key("range_lo");
  out += is_range_ ? std::to_string(range_lo_) : "null";
  std::string globals, randoms, channels, envs;
  for (size_t g = 0; g < snapshot_.size() && g < program.globals.size(); ++g) {
    std::string name;
    Value n = MakeString(program.globals[g].name);
    SerializeValue(n, &name, &error);
    Release(n);
    Value v = snapshot_[g];
    if (random_global_[g]) {
      randoms += (randoms.empty() ? "" : ",") + name + ":[" +
                 (random_has_seed_[g] ? "true," : "false,") +
                 std::to_string(static_cast<int64_t>(random_seed_[g])) + "]";
    } else if (v.tag == Tag::kChannel) {
      channels += (channels.empty() ? "" : ",") + name + ":" + std::to_string(v.ch->id);
    } else if (v.tag == Tag::kEnv) {
      std::string desc;
      Value d = MakeString(v.env->Describe());
      SerializeValue(d, &desc, &error);
      Release(d);
      envs += (envs.empty() ? "" : ",") + name + ":[" + desc + "," +
              std::to_string(v.env->nthread()) + "]";
    } else if (!v.IsNull()) {
      std::string text;
      if (SerializeValue(v, &text, &error)) {
        globals += (globals.empty() ? "" : ",") + name + ":" + text;
      }
    }
  }
  out += ",\"globals\":{" + globals + "},\"randoms\":{" + randoms + "},\"channels\":{" + channels +
         "},\"envs\":{" + envs + "}}";
  return out;
}

LocalRunner::LocalRunner(LocalFlyJob& job) : job_(job), vm_(job.rt_, 0) {}

void LocalRunner::Run(size_t index) {
  HeapScope heap(&job_.rt_.heap());
  if (job_.rt_.cancelled() || job_.rt_.interrupted()) {
    if (!job_.items_.empty()) {
      for (Value& v : job_.items_[index]) {
        Release(v);
        v = Value();
      }
    }
    job_.Finish(index, "cancelled: the program already failed", Value());
    return;
  }
  vm_.BeginInstance(static_cast<int64_t>(index));
  vm_.ResetGlobals();
  auto& globals = vm_.globals();
  for (size_t g = 0; g < job_.snapshot_.size() && g < globals.size(); ++g) {
    if (job_.random_global_[g]) {
      globals[g] = vm_.NewRandom(job_.random_has_seed_[g], job_.random_seed_[g]);
    } else {
      std::string unused;
      CopyForTransfer(job_.snapshot_[g], &globals[g], &unused);
    }
  }
  Value args[8];
  int argc = 0;
  if (job_.is_range_) {
    if (job_.pass_arg_) args[argc++] = Value::Int(job_.range_lo_ + static_cast<int64_t>(index));
  } else if (!job_.items_.empty()) {
    auto& item = job_.items_[index];  // each index is run exactly once: take its arguments
    for (Value& v : item) {
      if (argc < 8) {
        args[argc++] = v;
      } else {
        Release(v);
      }
      v = Value();
    }
  }
  Value result;
  std::string error;
  if (!vm_.Call(job_.site_.function, args, argc, &result)) {
    error = vm_.error();
  } else if (job_.site_.then_fn >= 0) {
    Retain(result);
    Value unused;
    if (!vm_.Call(job_.site_.then_fn, &result, 1, &unused)) {
      error = vm_.error();
    } else {
      Release(unused);
    }
  }
  Value out;
  if (error.empty() && job_.keep_results_) {
    if (!CopyForTransfer(result, &out, &error)) error = "its return value: " + error;
  }
  Release(result);
  job_.Finish(index, error, out);
}

std::string Indent(const std::string& text) {
  std::string out = "  ";
  for (size_t k = 0; k < text.size(); ++k) {
    out += text[k];
    if (text[k] == '\n' && k + 1 < text.size()) out += "  ";
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Contiguous blocks: the first (n mod p) blocks get one more element.
void Blocks(size_t n, size_t p, std::vector<std::pair<size_t, size_t>>* out) {
  size_t base = n / p, extra = n % p, at = 0;
  for (size_t k = 0; k < p; ++k) {
    size_t len = base + (k < extra ? 1 : 0);
    out->push_back({at, at + len});
    at += len;
  }
}

bool Transfer(Vm& vm, Value v, Value* out) {
  std::string error;
  if (!CopyForTransfer(v, out, &error)) return vm.Fail("cannot hand this value to a fly: " + error);
  return true;
}

// Splits the collection `x` into the instances' arguments: arrays, matrices, dataframes and
// files into at most `portions` contiguous blocks (the environment's nthread(), which is the
// program's decomposition, not the placement's).
bool Split(Vm& vm, LocalFlyJob& job, Value x, int portions) {
  auto& items = job.items_;
  const FlySite& site = job.site_;
  size_t p_max = static_cast<size_t>(std::max(portions, 1));
  if (x.Is(ObjKind::kRange)) {
    auto* r = static_cast<RangeObj*>(x.o);
    job.is_range_ = true;
    job.range_lo_ = r->lo;
    job.count_ = r->hi > r->lo ? static_cast<size_t>(r->hi - r->lo) : 0;
    return true;
  }
  if (x.Is(ObjKind::kMap)) {
    for (const auto& e : AsMap(x)->m.entries()) {
      if (e.key.IsNull()) continue;
      Value v;
      if (!Transfer(vm, e.val, &v)) return false;
      items.push_back({v});
    }
    return true;
  }
  if (x.Is(ObjKind::kArray)) {
    auto& v = AsArray(x)->v;
    bool by_col = site.split == FlySplit::kCol;
    size_t n = v.size();
    if (by_col) {
      if (n == 0 || !v[0].Is(ObjKind::kArray)) return vm.Fail("'by col' needs a matrix");
      n = AsArray(v[0])->v.size();
    }
    if (n == 0) return true;
    std::vector<std::pair<size_t, size_t>> blocks;
    Blocks(n, std::min(n, p_max), &blocks);
    for (size_t k = 0; k < blocks.size(); ++k) {
      auto* part = new ArrayObj();
      Value pv = Value::Object(part);
      part->portion_index = static_cast<int64_t>(k);
      part->portion_displacement = static_cast<int64_t>(blocks[k].first);
      for (size_t i = blocks[k].first; i < blocks[k].second && !by_col; ++i) {
        Value e;
        if (!Transfer(vm, v[i], &e)) return Release(pv), false;
        part->v.push_back(e);
      }
      if (by_col) {
        for (Value row : v) {
          if (!row.Is(ObjKind::kArray) || AsArray(row)->v.size() < blocks[k].second) {
            Release(pv);
            return vm.Fail("'by col' needs a rectangular matrix");
          }
          auto* cols = new ArrayObj();
          part->v.push_back(Value::Object(cols));
          for (size_t c = blocks[k].first; c < blocks[k].second; ++c) {
            Value e;
            if (!Transfer(vm, AsArray(row)->v[c], &e)) return Release(pv), false;
            cols->v.push_back(e);
          }
        }
      }
      items.push_back({pv});
    }
    return true;
  }
  if (x.Is(ObjKind::kDataframe)) {
    auto* df = static_cast<DataframeObj*>(x.o);
    size_t n = df->RowCount();
    if (n == 0) return true;
    std::vector<std::pair<size_t, size_t>> blocks;
    Blocks(n, std::min(n, p_max), &blocks);
    for (size_t k = 0; k < blocks.size(); ++k) {
      auto* part = new DataframeObj();
      part->table = df->table;
      part->begin = df->begin + blocks[k].first;
      part->end = df->begin + blocks[k].second;
      part->portion_index = static_cast<int64_t>(k);
      items.push_back({Value::Object(part)});
    }
    return true;
  }
  if (x.Is(ObjKind::kFile)) {
    Value fv = x;
    if (!IterPrep(vm, &fv)) return false;
    auto* f = static_cast<FileObj*>(x.o);
    size_t n = f->lines->size();
    if (n == 0) return true;
    std::vector<std::pair<size_t, size_t>> blocks;
    Blocks(n, std::min(n, p_max), &blocks);
    for (size_t k = 0; k < blocks.size(); ++k) {
      auto* part = new FileObj();
      part->path = f->path;
      part->portion_index = static_cast<int64_t>(k);
      part->lines = std::make_shared<const std::vector<std::string>>(
          f->lines->begin() + blocks[k].first, f->lines->begin() + blocks[k].second);
      items.push_back({Value::Object(part)});
    }
    return true;
  }
  return vm.Fail(std::string("cannot fly over ") + ATypeName(x) +
                 " (use a range, map, array, matrix, dataframe or file)");
}

bool Await(Vm& vm, LocalFlyJob& job) {
  Runtime& rt = vm.runtime();
  rt.WaitInactive([&] { return job.remaining_ == 0; });
  std::string error;
  int64_t failed;
  {
    std::lock_guard<std::mutex> lock(rt.mu());
    error = job.error_;
    failed = job.failed_;
  }
  if (failed >= 0) {
    return vm.Fail("fly '" + job.name_ + "': instance " + std::to_string(failed) + " failed:\n" +
                   Indent(error));
  }
  return true;
}

// Builds the results array (index order), taking the results out of the job.
Value TakeResults(LocalFlyJob& job) {
  std::lock_guard<std::mutex> lock(job.rt_.mu());
  Value arr = MakeArray(std::move(job.results_));
  job.results_.clear();
  return arr;
}

bool ThenAll(Vm& vm, LocalFlyJob& job, Value* results_out) {
  Value results = job.keep_results_ ? TakeResults(job) : MakeArray();
  if (job.site_.thenall_fn >= 0 && !job.thenall_done_) {
    job.thenall_done_ = true;
    const Function& fn = *vm.program().functions[job.site_.thenall_fn];
    Value r;
    Retain(results);
    if (!vm.Call(job.site_.thenall_fn, &results, fn.arity >= 1 ? 1 : 0, &r)) {
      if (fn.arity < 1) Release(results);
      Release(results);
      return false;
    }
    if (fn.arity < 1) Release(results);
    Release(r);
  }
  if (results_out) {
    *results_out = results;
  } else {
    Release(results);
  }
  return true;
}

}  // namespace

bool RunFly(Vm& vm, const FlySite& site, Value* args, Value* out) {
  // The job shares state with other threads: it must not be cut short by the memory limit's
  // exception (the instances' own code is limited inside their Vm::Call).
  MemoryLimitScope unlimited(false);
  const Program& program = vm.program();
  const Function& fn = *program.functions[site.function];
  // A fly that cannot start names its function (its instances' errors name them too).
  auto fail = [&](std::string message) {
    if (!message.empty()) vm.error_message() = std::move(message);
    vm.error_message() = "fly '" + fn.name + "': " + vm.error_message();
    return false;
  };
  if (vm.in_instance()) {
    return fail("a fly instance cannot start another fly (fly from the top-level code)");
  }
  if (args[0].tag != Tag::kEnv) {
    return fail(std::string("'on' needs an environment, got ") + TypeName(args[0]));
  }
  Environment* env = args[0].env;
  Runtime& rt = vm.runtime();
  auto job = std::make_shared<LocalFlyJob>(rt, site);
  job->pass_arg_ = fn.arity >= 1;
  if (site.input == FlyInput::kIn) {
    if (!Split(vm, *job, args[1], env->nthread())) return fail("");
    if (!job->is_range_) {
      job->count_ = job->items_.size();
      if (!job->pass_arg_) {
        for (auto& item : job->items_) {
          for (Value v : item) Release(v);
          item.clear();
        }
      }
    }
  } else {
    std::vector<Value> call;
    for (int k = 0; k < site.argc; ++k) {
      Value v;
      if (!Transfer(vm, args[1 + k], &v)) {
        for (Value c : call) Release(c);
        return fail("");
      }
      call.push_back(v);
    }
    job->items_.push_back(std::move(call));
    job->count_ = 1;
  }
  // The consts snapshot (FLY.md Part A 7): every instance starts from these values.
  auto& globals = vm.globals();
  job->snapshot_.resize(globals.size());
  job->random_global_.assign(globals.size(), 0);
  job->random_has_seed_.assign(globals.size(), 0);
  job->random_seed_.assign(globals.size(), 0);
  for (size_t g = 0; g < globals.size(); ++g) {
    Value v = globals[g];
    if (v.Is(ObjKind::kRandom)) {
      auto* r = static_cast<RandomObj*>(v.o);
      job->random_global_[g] = 1;
      job->random_has_seed_[g] = r->has_decl_seed;
      job->random_seed_[g] = r->decl_seed;
      continue;
    }
    if (v.Is(ObjKind::kHandle) || !program.globals[g].visible_in_functions) continue;
    std::string error;
    if (!CopyForTransfer(v, &job->snapshot_[g], &error)) job->snapshot_[g] = Value();
  }
  job->keep_results_ =
      (site.thenall_fn >= 0 && program.functions[site.thenall_fn]->arity >= 1) || site.is_async;
  job->results_.assign(job->count_, Value());
  job->remaining_ = job->count_;
  rt.AddActive(static_cast<int>(job->count_));
  env->Launch(job);
  if (site.is_async) {
    auto* h = new HandleObj();
    h->job = job;
    rt.AddAsyncJob(job);
    *out = Value::Object(h);
    return true;
  }
  if (!Await(vm, *job)) return false;
  if (!ThenAll(vm, *job, nullptr)) return false;
  *out = Value();
  return true;
}

bool WaitHandle(Vm& vm, HandleObj* h, Value* out) {
  MemoryLimitScope unlimited(false);  // as RunFly
  auto* job = static_cast<LocalFlyJob*>(h->job.get());
  if (!Await(vm, *job)) return false;
  return ThenAll(vm, *job, out);
}

bool HandleDone(HandleObj* h) {
  auto* job = static_cast<LocalFlyJob*>(h->job.get());
  std::lock_guard<std::mutex> lock(job->rt_.mu());
  return job->remaining_ == 0;
}

// Called when the top-level code ends: waits for async flies nobody waited for.
bool FinishAsyncJobs(Vm& vm) {
  for (auto& j : vm.runtime().TakeAsyncJobs()) {
    auto* job = static_cast<LocalFlyJob*>(j.get());
    if (!Await(vm, *job) || !ThenAll(vm, *job, nullptr)) return false;
  }
  return true;
}

void DrainAsyncJobs(Vm& vm) {
  for (auto& j : vm.runtime().TakeAsyncJobs()) {
    auto* job = static_cast<LocalFlyJob*>(j.get());
    Await(vm, *job);
  }
}

}  // namespace volo::fly
