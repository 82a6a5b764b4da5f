// Declaration objects: [type="random"|"channel"|"smp"|"file"|"dataframe"|..., key=value, ...].
// Keys are read by name (FLY.md Part A 14), with the aliases the original examples use.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <thread>

#include "fly/dataframe.h"
#include "fly/ops.h"

namespace volo::fly {

namespace {

const Value* Find(const DeclSite& site, const Value* vals,
                  std::initializer_list<const char*> names) {
  for (const char* n : names) {
    for (size_t k = 0; k < site.keys.size(); ++k) {
      if (site.keys[k] == n) return &vals[k];
    }
  }
  return nullptr;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string ResolvePath(const Program& program, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute() || program.dir.empty()) return path;
  return (std::filesystem::path(program.dir) / p).string();
}

}  // namespace

bool MakeDomain(Vm& vm, const DeclSite& site, Value* vals, Value* out) {
  const Value* type_v = Find(site, vals, {"type"});
  if (!type_v) return vm.Fail("a declaration object needs a type (type=\"...\")");
  if (!type_v->Is(ObjKind::kString)) return vm.Fail("type= must be a string");
  std::string type = Lower(AsStr(*type_v)->s);

  if (type == "random") {
    const Value* seed = Find(site, vals, {"seed"});
    if (seed && !seed->IsInt()) return vm.Fail("random: seed= must be an Integer");
    *out = vm.NewRandom(seed != nullptr, seed ? static_cast<uint64_t>(seed->i) : 0);
    auto* r = static_cast<RandomObj*>(out->o);
    r->has_decl_seed = seed != nullptr;
    r->decl_seed = seed ? static_cast<uint64_t>(seed->i) : 0;
    return true;
  }
  if (type == "channel") {
    *out = Value::OfChannel(vm.runtime().NewChannel(site.var_name));
    return true;
  }
  // "local" is the pre-2019 name of smp: `env local = [type:"local"]`, this machine's cores.
  if (type == "smp" || type == "local" || type == "aws" || type == "azure" || type == "aws-debug" ||
      type == "k8s" || type == "cluster") {
    int threads = 0;
    const Value* n = Find(site, vals, {"nthread", "nthreads", "threads", "thread"});
    if (n) {
      if (!n->IsInt()) return vm.Fail("the thread count (nthread=) must be an Integer");
      threads = static_cast<int>(std::clamp<int64_t>(n->i, -1, 4096));
    } else if (type == "smp") {
      return vm.Fail("an smp environment needs a thread count: add nthread=N");
    } else if (type == "local") {
      threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    }
    std::string address;
    if (type == "cluster") {
      const Value* url = Find(site, vals, {"url", "planner", "address"});
      if (url && !url->Is(ObjKind::kString)) return vm.Fail("cluster: url= must be a String");
      if (url) address = AsStr(*url)->s;
    }
    auto env = vm.runtime().GetEnvironment(site.var_name, type, threads, address);
    if (!env.ok()) return vm.Fail(env.status().message());
    *out = Value::OfEnv(*env);
    return true;
  }
  if (type == "file") {
    const Value* path = Find(site, vals, {"path", "name", "source"});
    if (!path) return vm.Fail("a file needs path=\"...\"");
    if (!path->Is(ObjKind::kString)) return vm.Fail("file: path= must be a String");
    auto* f = new FileObj();
    f->path = ResolvePath(vm.program(), AsStr(*path)->s);
    std::string last = std::filesystem::path(f->path).filename().string();
    f->is_dir = last.find('.') == std::string::npos;
    *out = Value::Object(f);
    return true;
  }
  if (type == "dataframe") {
    const Value* src = Find(site, vals, {"source", "path"});
    if (!src) return vm.Fail("a dataframe needs source=\"file.csv\"");
    if (!src->Is(ObjKind::kString)) {
      return vm.Fail("dataframe: only CSV sources are supported (source=\"file.csv\")");
    }
    const Value* sep = Find(site, vals, {"separator", "sep", "delimiter"});
    const Value* header = Find(site, vals, {"header"});
    char separator = ',';
    if (sep) {
      if (!sep->Is(ObjKind::kString) || AsStr(*sep)->s.size() != 1) {
        return vm.Fail("dataframe: separator= must be a one-character String");
      }
      separator = AsStr(*sep)->s[0];
    }
    bool has_header = true;
    if (header) {
      if (!header->IsBool()) return vm.Fail("dataframe: header= must be true or false");
      has_header = header->b;
    }
    std::string path = ResolvePath(vm.program(), AsStr(*src)->s);
    std::string error;
    auto table = LoadCsv(path, separator, has_header, &error);
    if (!table) return vm.Fail(error);
    auto* df = new DataframeObj();
    df->end = table->rows.size();
    df->table = std::move(table);
    *out = Value::Object(df);
    return true;
  }
  if (type == "sql" || type == "nosql" || type == "query" || type == "distributed-query") {
    return vm.Fail("type \"" + type + "\" is not supported yet");
  }
  return vm.Fail("unknown declaration type \"" + type + "\"");
}

}  // namespace volo::fly
