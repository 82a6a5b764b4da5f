#include "fly/remote.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <ostream>
#include <sstream>

#include "common/json_text.h"
#include "fly/compiler.h"
#include "fly/line_output.h"
#include "fly/runtime.h"
#include "fly/serialize.h"
#include "fly/vm.h"

namespace volo::fly {

namespace {

// What an instance reads of an environment it cannot fly on: its description and nthread.
class StubEnvironment : public Environment {
 public:
  StubEnvironment(std::string description, int nthread)
      : description_(std::move(description)), parallelism_(nthread) {}
  std::string Describe() const override { return description_; }
  int parallelism() const override { return parallelism_; }
  void Launch(std::shared_ptr<FlyJob> job) override {
    for (size_t i = 0; i < job->instance_count(); ++i) {
      job->Complete(i, FailedPrecondition("a fly instance cannot start another fly"));
    }
  }

 private:
  std::string description_;
  int parallelism_;
};

std::string Text(Value v) { return v.Is(ObjKind::kString) ? AsStr(v)->s : ""; }

}  // namespace

RemoteProgram::~RemoteProgram() = default;

Result<std::shared_ptr<const RemoteProgram>> RemoteProgram::Compile(const std::string& file,
                                                                    const std::string& source) {
  std::vector<Diagnostic> diags;
  auto program = CompileSource(file, source, diags);
  if (HasErrors(diags)) return InvalidArgument(FormatDiagnostics(file, source, diags));
  std::shared_ptr<RemoteProgram> rp(new RemoteProgram());
  rp->program_ = std::move(program);
  return std::shared_ptr<const RemoteProgram>(std::move(rp));
}

std::string CheckStepFunction(const std::string& file, const std::string& source,
                              const std::string& func) {
  std::vector<Diagnostic> diags;
  auto program = CompileSource(file, source, diags);
  if (HasErrors(diags)) {
    std::string text = FormatDiagnostics(file, source, diags);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }
  int fn = program->FindFunction(func);
  if (fn <= 0) return file + " has no function '" + func + "'";
  int arity = program->functions[fn]->arity;
  if (arity > 1) {
    return "function '" + func + "' of " + file + " takes " + std::to_string(arity) +
           " parameters; a step passes one (its inputs) or none";
  }
  return "";
}

ChunkResult RemoteProgram::RunChunk(std::string_view spec_text, size_t first, size_t count,
                                    const std::vector<std::string>& args,
                                    const std::atomic<bool>* stop, std::atomic<int64_t>* current,
                                    const LiveOutputFn* live) const {
  ChunkResult res;
  auto fail = [&res](size_t index, std::string error) {
    res.ok = false;
    res.failed_instance = index;
    res.error = std::move(error);
  };
  const Program& program = *program_;
  Value spec;
  std::string error;
  if (!ParseValue(spec_text, &spec, &error) || !spec.Is(ObjKind::kMap)) {
    Release(spec);
    fail(first, "malformed fly job spec: " + error);
    return res;
  }
  std::string fn_name = Text(MapField(spec, "function"));
  int fn = program.FindFunction(fn_name);
  Value then_v = MapField(spec, "then");
  int then_fn = then_v.IsNull() ? -1 : program.FindFunction(Text(then_v));
  if (fn <= 0 || (!then_v.IsNull() && then_fn <= 0)) {
    Release(spec);
    fail(first, "the shipped program has no function '" + fn_name + "'");
    return res;
  }
  bool keep_results = MapField(spec, "keep_results").IsBool() && MapField(spec, "keep_results").b;
  Value seed_v = MapField(spec, "seed");
  uint64_t seed = seed_v.IsInt() ? static_cast<uint64_t>(seed_v.i) : 0;
  bool seed_forced = MapField(spec, "seed_forced").IsBool() && MapField(spec, "seed_forced").b;
  Value range_lo = MapField(spec, "range_lo");

  // What the chunk prints: whole lines to the live hook as they are printed; the rest (an
  // unterminated last line, or everything without a hook) stays for the chunk's result.
  LineOutput printed(kLiveOutputPiece, live ? *live : LineOutput::Forward());
  std::ostream out(&printed);
  std::ostringstream err;
  RunOptions options;
  options.file = program.file;
  options.has_seed = true;
  options.seed = seed;
  Runtime rt(program, options, out, err);
  HeapScope heap(&rt.heap());
  rt.AdoptSeed(seed, seed_forced);

  // Per global: the value each instance starts from (channels and environments are shared).
  std::map<std::string, size_t> global_index;
  for (size_t g = 0; g < program.globals.size(); ++g) global_index[program.globals[g].name] = g;
  size_t n_globals = program.globals.size();
  std::vector<Value> snapshot(n_globals);
  std::vector<char> is_random(n_globals, 0), random_has_seed(n_globals, 0);
  std::vector<uint64_t> random_seed(n_globals, 0);
  std::vector<std::pair<Channel*, int>> channels;  // in creation order
  std::vector<std::unique_ptr<Environment>> envs;
  auto each = [&](const char* field, auto&& fn) {
    Value m = MapField(spec, field);
    if (!m.Is(ObjKind::kMap)) return;
    for (const auto& e : AsMap(m)->m.entries()) {
      if (e.key.IsNull()) continue;
      auto it = global_index.find(Text(e.key));
      if (it != global_index.end()) fn(it->second, e.val);
    }
  };
  each("globals", [&](size_t g, Value v) {
    std::string unused;
    if (!CopyForTransfer(v, &snapshot[g], &unused)) snapshot[g] = Value();
  });
  each("randoms", [&](size_t g, Value v) {
    if (!v.Is(ObjKind::kArray) || AsArray(v)->v.size() != 2) return;
    is_random[g] = 1;
    random_has_seed[g] = AsArray(v)->v[0].IsBool() && AsArray(v)->v[0].b;
    Value s = AsArray(v)->v[1];
    random_seed[g] = s.IsInt() ? static_cast<uint64_t>(s.i) : 0;
  });
  each("channels", [&](size_t g, Value v) {
    Channel* ch = rt.NewChannel(program.globals[g].name);
    channels.push_back({ch, v.IsInt() ? static_cast<int>(v.i) : -1});
    snapshot[g] = Value::OfChannel(ch);
  });
  each("envs", [&](size_t g, Value v) {
    std::string desc;
    int parallelism = 1;
    if (v.Is(ObjKind::kArray) && AsArray(v)->v.size() == 2) {
      desc = Text(AsArray(v)->v[0]);
      if (AsArray(v)->v[1].IsInt()) parallelism = static_cast<int>(AsArray(v)->v[1].i);
    }
    envs.push_back(std::make_unique<StubEnvironment>(desc, parallelism));
    snapshot[g] = Value::OfEnv(envs.back().get());
  });

  // `init` (a workflow step, docs/workflows.md): the program's top level runs once first, as
  // a module is loaded before one of its functions is called; its consts are then what each
  // instance starts from, as they would be for a fly launched at the end of the top level.
  std::unique_ptr<Vm> init_vm;
  if (Value init = MapField(spec, "init"); init.IsBool() && init.b) {
    init_vm = std::make_unique<Vm>(rt, -1);
    init_vm->SetInterrupt(stop);
    Value top;
    if (!init_vm->Call(0, nullptr, 0, &top)) {
      fail(first, "the program's top level: " + init_vm->error());
    } else {
      Release(top);
      const auto& globals = init_vm->globals();
      for (size_t g = 0; g < n_globals && g < globals.size(); ++g) {
        if (!program.globals[g].is_const || !snapshot[g].IsNull()) continue;
        std::string unused;
        if (!CopyForTransfer(globals[g], &snapshot[g], &unused)) snapshot[g] = Value();
      }
    }
  }

  const Function& function = *program.functions[fn];
  if (res.ok) {
    Vm vm(rt, 0);
    vm.SetInterrupt(stop);
    for (size_t k = 0; k < count && res.ok; ++k) {
      size_t index = first + k;
      if (stop && stop->load(std::memory_order_relaxed)) {
        fail(index, "cancelled");
        break;
      }
      if (current) current->store(static_cast<int64_t>(index), std::memory_order_relaxed);
      vm.BeginInstance(static_cast<int64_t>(index));
      vm.ResetGlobals();
      auto& globals = vm.globals();
      // The same order of random draws as the smp runner, so streams match.
      for (size_t g = 0; g < n_globals && g < globals.size(); ++g) {
        if (is_random[g]) {
          globals[g] = vm.NewRandom(random_has_seed[g], random_seed[g]);
        } else if (!snapshot[g].IsNull()) {
          std::string unused;
          CopyForTransfer(snapshot[g], &globals[g], &unused);
        }
      }
      Value argv[8];
      int argc = 0;
      if (function.arity >= 1) {
        if (range_lo.IsInt()) {
          argv[argc++] = Value::Int(range_lo.i + static_cast<int64_t>(index));
        } else if (k < args.size() && !args[k].empty()) {
          // "@args[a, b, ...]": several arguments; anything else: the one argument.
          std::string_view text = args[k];
          bool several = text.rfind(kArgsTag, 0) == 0;
          if (several) text.remove_prefix(kArgsTag.size());
          Value a;
          if (!ParseValue(text, &a, &error) || (several && !a.Is(ObjKind::kArray))) {
            Release(a);
            fail(index, "its argument: " + (error.empty() ? "not a list" : error));
            break;
          }
          if (several) {
            for (Value e : AsArray(a)->v) {
              if (argc == 8) break;
              Retain(e);
              argv[argc++] = e;
            }
            Release(a);
          } else {
            argv[argc++] = a;
          }
        }
      }
      Value result;
      if (!vm.Call(fn, argv, argc, &result)) {
        fail(index, vm.error());
        break;
      }
      if (then_fn > 0) {
        Retain(result);
        Value unused;
        if (!vm.Call(then_fn, &result, 1, &unused)) {
          Release(result);
          fail(index, vm.error());
          break;
        }
        Release(unused);
      }
      std::string ret;
      if (keep_results) {
        if (!SerializeValue(result, &ret, &error)) {
          Release(result);
          fail(index, "its return value: " + error);
          break;
        }
      } else {
        ret = "null";
      }
      Release(result);
      res.returns.push_back(std::move(ret));
      // Collect what the instance sent, per channel in send order.
      uint32_t seq = 0;
      std::lock_guard<std::mutex> lock(rt.mu());
      for (auto& [ch, number] : channels) {
        while (!ch->queue.empty()) {
          Value m = ch->queue.front();
          ch->queue.pop_front();
          RemoteMessage msg{index, seq++, number, ""};
          bool ok = SerializeValue(m, &msg.value, &error);
          Release(m);
          if (!ok) {
            fail(index, "a message it sent cannot leave this machine: " + error);
            break;
          }
          res.messages.push_back(std::move(msg));
        }
      }
    }
  }
  for (Value v : snapshot) Release(v);
  Release(spec);
  if (!res.ok) {
    res.returns.resize(res.failed_instance - first);
    while (!res.messages.empty() && res.messages.back().instance >= res.failed_instance) {
      res.messages.pop_back();
    }
  }
  out.flush();
  res.output_offset = printed.forwarded();
  res.output = printed.TakeRest();
  return res;
}

std::vector<Result<std::string>> FailedChunkResults(const std::string& error, size_t first,
                                                    size_t count) {
  size_t failed = first;
  std::string message = error;
  for (size_t at = error.find("instance "); at != std::string::npos;
       at = error.find("instance ", at + 1)) {
    if (at != 0 && (at < 2 || error.compare(at - 2, 2, ": ") != 0)) continue;
    size_t digits = at + 9, end = digits;
    while (end < error.size() && std::isdigit(static_cast<unsigned char>(error[end]))) ++end;
    if (end == digits || error.compare(end, 2, ": ") != 0) continue;
    size_t i = std::strtoull(error.c_str() + digits, nullptr, 10);
    if (i < first || i >= first + count) continue;
    failed = i;
    std::string tag = error.substr(at, end + 2 - at);
    message.clear();
    for (size_t from = 0;;) {
      size_t hit = error.find(tag, from);
      message += error.substr(from, hit == std::string::npos ? hit : hit - from);
      if (hit == std::string::npos) break;
      from = hit + tag.size();
    }
    break;
  }
  std::vector<Result<std::string>> results;
  results.reserve(count);
  for (size_t i = first; i < first + count; ++i) {
    if (i < failed) {
      results.emplace_back(std::string("null"));
    } else if (i == failed) {
      results.emplace_back(Internal(message));
    } else {
      results.emplace_back(Cancelled("not run: instance " + std::to_string(failed) + " failed"));
    }
  }
  return results;
}

void LaunchChunks(const std::shared_ptr<FlyJob>& job,
                  const std::function<Status(const std::shared_ptr<FlyJob>&)>& submit) {
  const size_t n = job->instance_count();
  if (n == 0) return;
  Status st = submit(job);
  if (!st.ok()) {
    for (size_t i = 0; i < n; ++i) job->Complete(i, st);
  }
}

size_t ChunkSize(size_t instances, int slots) {
  return std::clamp<size_t>(instances / (16 * static_cast<size_t>(slots)), 1, kMaxChunk);
}

Result<ChunkCommon> StoreChunkBlobs(
    const FlyJob& job, const std::function<std::string(const std::string&)>& hash,
    const std::function<Status(const std::string& hash, const std::string& bytes)>& put_blob) {
  ChunkCommon common;
  common.spec = job.RemoteSpec();
  if (common.spec.empty()) return FailedPrecondition("this fly cannot run on a cluster");
  const std::string& spec = common.spec;
  const std::string& source = job.program_source();
  common.program_hash = hash(source);
  VOLO_RETURN_IF_ERROR(put_blob(common.program_hash, source));
  if (spec.size() > kInlineSpecBytes) {
    std::string spec_hash = hash(spec);
    VOLO_RETURN_IF_ERROR(put_blob(spec_hash, spec));
    common.spec_field = "\"spec_blob\":\"" + spec_hash + "\"";
  } else {
    common.spec_field = "\"spec\":";
    AppendJsonString(common.spec_field, spec);
  }
  return common;
}

Result<std::string> ChunkArgs(const ChunkCommon& common, const std::string& file, bool ship_args,
                              const FlyJob& job, size_t first, size_t count) {
  std::string args = "{\"program\":\"" + common.program_hash + "\",\"file\":" + file + "," +
                     common.spec_field + ",\"first\":" + std::to_string(first) +
                     ",\"count\":" + std::to_string(count);
  if (ship_args) {
    args += ",\"args\":[";
    for (size_t i = first; i < first + count; ++i) {
      if (i > first) args += ',';
      VOLO_ASSIGN_OR_RETURN(std::string arg, job.SerializedArgument(i));
      AppendJsonString(args, arg);
    }
    args += ']';
  }
  args += '}';
  return args;
}

}  // namespace volo::fly
