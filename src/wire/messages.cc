#include "wire/messages.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdio>

namespace volo::wire {
namespace json = boost::json;

namespace {

std::string Field(std::string_view where, std::string_view name) {
  std::string s(where);
  if (!s.empty()) s += '.';
  s += name;
  return s;
}

Result<json::value> ParseJson(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return InvalidArgument("malformed JSON: " + ec.message());
  return v;
}

Result<const json::object*> AsObject(const json::value& v, std::string_view what) {
  const json::object* o = v.if_object();
  if (!o) return InvalidArgument(std::string(what) + ": must be a JSON object");
  return o;
}

// A number that fits a double, from int64, uint64 or double.
bool ToDouble(const json::value& v, double* out) {
  if (v.is_double()) {
    *out = v.get_double();
  } else if (v.is_int64()) {
    *out = static_cast<double>(v.get_int64());
  } else if (v.is_uint64()) {
    *out = static_cast<double>(v.get_uint64());
  } else {
    return false;
  }
  return true;
}

bool ToInt64(const json::value& v, int64_t* out) {
  if (v.is_int64()) {
    *out = v.get_int64();
  } else if (v.is_uint64() && v.get_uint64() <= uint64_t(INT64_MAX)) {
    *out = static_cast<int64_t>(v.get_uint64());
  } else if (v.is_double() && std::trunc(v.get_double()) == v.get_double() &&
             std::abs(v.get_double()) < 9e15) {
    *out = static_cast<int64_t>(v.get_double());
  } else {
    return false;
  }
  return true;
}

bool ToU64(const json::value& v, uint64_t* out) {
  int64_t i;
  if (v.is_uint64()) {
    *out = v.get_uint64();
    return true;
  }
  if (ToInt64(v, &i) && i >= 0) {
    *out = static_cast<uint64_t>(i);
    return true;
  }
  return false;
}

Result<std::vector<uint64_t>> IdList(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  const json::array* a = v ? v->if_array() : nullptr;
  if (!a) return InvalidArgument(std::string(key) + ": must be an array of task ids");
  std::vector<uint64_t> ids;
  ids.reserve(a->size());
  for (const json::value& e : *a) {
    uint64_t id;
    if (!ToU64(e, &id)) return InvalidArgument(std::string(key) + ": task ids are integers");
    ids.push_back(id);
  }
  return ids;
}

std::string_view TypeOf(const json::object& o) {
  const json::value* t = o.if_contains("t");
  if (!t || !t->is_string()) return {};
  const json::string& s = t->get_string();
  return std::string_view(s.data(), s.size());
}

void AppendIds(std::string& out, const std::vector<uint64_t>& ids) {
  out += '[';
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  out += ']';
}

void AppendValue(std::string& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      out += "null";
      break;
    case json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      break;
    case json::kind::int64:
      out += std::to_string(v.get_int64());
      break;
    case json::kind::uint64:
      out += std::to_string(v.get_uint64());
      break;
    case json::kind::double_:
      AppendJsonNumber(out, v.get_double());
      break;
    case json::kind::string: {
      const json::string& s = v.get_string();
      AppendJsonString(out, std::string_view(s.data(), s.size()));
      break;
    }
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const json::value& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        AppendValue(out, e);
      }
      out += ']';
      break;
    }
    case json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& kv : v.get_object()) {
        if (!first) out += ',';
        first = false;
        AppendJsonString(out, std::string_view(kv.key().data(), kv.key().size()));
        out += ':';
        AppendValue(out, kv.value());
      }
      out += '}';
      break;
    }
  }
}

std::string Serialize(const json::value& v) { return ToJson(v); }

}  // namespace

std::string ToJson(const json::value& v) {
  std::string out;
  AppendValue(out, v);
  return out;
}

bool ValidName(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void AppendJsonNumber(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  out.append(buf, r.ptr);
}

namespace {

// A bound as a person writes it: 3600, 0.5, 1e300 (std::to_string gives 3600.000000 and a
// 301-digit 1e300).
std::string HumanNumber(double d) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  std::string out(buf, r.ptr);
  if (auto e = out.find("e+"); e != std::string::npos) out.erase(e + 1, 1);
  return out;
}

}  // namespace

bool IsBuiltinOp(std::string_view op) {
  return op == "add" || op == "mult" || op == "sleep" || op == "echo" || op == "noop";
}

Status ValidateBuiltinArgs(std::string_view op, const json::object& args, std::string_view where) {
  auto number = [&](std::string_view key, double lo, double hi) -> Status {
    const json::value* v = args.if_contains(key);
    double d;
    if (!v || !ToDouble(*v, &d)) {
      return InvalidArgument(std::string(where) + "." + std::string(key) + ": " + std::string(op) +
                             " needs a number here");
    }
    if (!(d >= lo && d <= hi)) {
      return InvalidArgument(std::string(where) + "." + std::string(key) + ": must be from " +
                             HumanNumber(lo) + " to " + HumanNumber(hi));
    }
    return Status::Ok();
  };
  if (op == "add" || op == "mult") {
    VOLO_RETURN_IF_ERROR(number("a", -1e300, 1e300));
    VOLO_RETURN_IF_ERROR(number("b", -1e300, 1e300));
    // Optional: a fixed simulated duration in seconds, for reproducible runs and benchmarks.
    if (args.contains("duration")) return number("duration", 0, 3600);
    return Status::Ok();
  }
  if (op == "sleep") return number("seconds", 0, 86400);
  if (op == "exec") return ValidateExecArgs(args, where);
  return Status::Ok();
}

Status ValidateExecArgs(const json::object& args, std::string_view where) {
  auto bad = [&](std::string_view key, std::string_view what) {
    return InvalidArgument(Field(where, key) + ": " + std::string(what));
  };
  const json::value* cmd = args.if_contains("cmd");
  const json::value* shell = args.if_contains("shell");
  if (cmd && shell) {
    return InvalidArgument(std::string(where) +
                           ": give either cmd (an argv array) or shell (a command line), not both");
  }
  if (!cmd && !shell) {
    return InvalidArgument(std::string(where) +
                           ": exec needs cmd (an array of strings, the program and its arguments) "
                           "or shell (a command line for /bin/sh -c)");
  }
  for (const auto& kv : args) {
    std::string_view key(kv.key().data(), kv.key().size());
    const json::value& v = kv.value();
    if (key == "cmd") {
      const json::array* a = v.if_array();
      if (!a) return bad(key, "must be an array of strings (the program and its arguments)");
      if (a->empty()) return bad(key, "must not be empty: the first element is the program");
      for (size_t i = 0; i < a->size(); ++i) {
        const json::string* s = (*a)[i].if_string();
        std::string at = "cmd[" + std::to_string(i) + "]";
        if (!s) return bad(at, "must be a string");
        if (s->find('\0') != json::string::npos) return bad(at, "must not contain a NUL byte");
        if (i == 0 && s->empty()) return bad(at, "the program name must not be empty");
      }
    } else if (key == "shell") {
      const json::string* s = v.if_string();
      if (!s) return bad(key, "must be a string (a command line for /bin/sh -c)");
      if (s->empty()) return bad(key, "must not be empty");
      if (s->find('\0') != json::string::npos) return bad(key, "must not contain a NUL byte");
    } else if (key == "env") {
      const json::object* e = v.if_object();
      if (!e) return bad(key, "must be an object of strings (NAME: value)");
      for (const auto& ev : *e) {
        std::string_view name(ev.key().data(), ev.key().size());
        if (name.empty() || name.find('=') != std::string_view::npos ||
            name.find('\0') != std::string_view::npos) {
          return bad(key, "'" + std::string(name) + "' is not a variable name");
        }
        const json::string* s = ev.value().if_string();
        if (!s) return bad("env." + std::string(name), "must be a string");
        if (s->find('\0') != json::string::npos) {
          return bad("env." + std::string(name), "must not contain a NUL byte");
        }
      }
    } else if (key == "stdin") {
      if (!v.is_string()) return bad(key, "must be a string (the command's standard input)");
    } else if (key == "cwd") {
      const json::string* s = v.if_string();
      if (!s) return bad(key, "must be a string (a directory inside the task's directory)");
      std::string_view p(s->data(), s->size());
      if (!p.empty() && p.front() == '/') {
        return bad(key, "must be a relative path inside the task's directory, not '" +
                            std::string(p) + "'");
      }
      int depth = 0;
      size_t start = 0;
      while (start <= p.size()) {
        size_t slash = p.find('/', start);
        if (slash == std::string_view::npos) slash = p.size();
        std::string_view part = p.substr(start, slash - start);
        if (part == "..") {
          if (--depth < 0) return bad(key, "'" + std::string(p) + "' escapes the task's directory");
        } else if (!part.empty() && part != ".") {
          ++depth;
        }
        start = slash + 1;
      }
      if (p.find('\0') != std::string_view::npos) return bad(key, "must not contain a NUL byte");
    } else if (key == "timeout") {
      double t;
      if (!ToDouble(v, &t) || !(t > 0) || t > 30 * 86400) {
        return bad(key, "must be a number of seconds, above 0 and at most 30 days");
      }
    } else if (key == "bundle") {
      if (!v.is_string() || v.get_string().empty()) {
        return bad(key, "must be a bundle's name (sha256:...)");
      }
    } else if (key == "cpus" || key == "memory") {
      double d;
      if (!ToDouble(v, &d) || !(d >= 0) || d > 1e9) {
        return bad(key, key == "cpus" ? "must be a number of CPUs, 0 or more"
                                      : "must be a number of MiB, 0 or more");
      }
    } else if (key == "resources") {
      const json::object* r = v.if_object();
      if (!r) return bad(key, "must be an object of counts (\"gpus\": 1)");
      for (const auto& rv : *r) {
        double d;
        if (!ToDouble(rv.value(), &d) || !(d >= 0) || d > 1e9) {
          return bad("resources." + std::string(rv.key()), "must be a number, 0 or more");
        }
      }
    } else if (key == "network") {
      if (!v.is_bool()) return bad(key, "must be true or false");
    } else {
      return InvalidArgument(Field(where, key) +
                             ": unknown field (exec takes cmd, shell, env, stdin, cwd, timeout, "
                             "bundle, cpus, memory, resources, network)");
    }
  }
  return Status::Ok();
}

Result<Resources> ParseResources(const json::value& v, std::string_view where) {
  std::string what = Field(where, "resources");
  const json::object* o = v.if_object();
  if (!o) {
    return InvalidArgument(what + ": must be an object like {\"cpus\": 2, \"memory\": 512, " +
                           "\"gpus\": 1}");
  }
  Resources r;
  for (const auto& kv : *o) {
    std::string key(kv.key());
    const json::value& val = kv.value();
    std::string field = what + "." + key;
    if (key == "cpus") {
      double d;
      if (!ToDouble(val, &d) || !(d >= 0) || d > static_cast<double>(kMaxMillicpus / 1000)) {
        return InvalidArgument(field + ": must be a number of CPUs from 0 to " +
                               std::to_string(kMaxMillicpus / 1000) + " (0.5 is half a CPU)");
      }
      // Thousandths, rounded up: a request never shrinks below what was asked.
      r.millicpus = static_cast<int64_t>(std::ceil(d * 1000 - 1e-6));
    } else if (key == "memory") {
      int64_t m;
      if (!ToInt64(val, &m) || m < 0 || m > kMaxMemoryMib) {
        return InvalidArgument(field + ": must be a whole number of MiB from 0 to " +
                               std::to_string(kMaxMemoryMib));
      }
      r.memory_mib = m;
    } else {
      if (!ValidName(key)) {
        return InvalidArgument(what + ": resource name '" + key.substr(0, 64) +
                               "' must be 1-128 characters of letters, digits, _ . : -");
      }
      int64_t n;
      if (!ToInt64(val, &n) || n < 0 || n > kMaxNamedAmount) {
        return InvalidArgument(field + ": must be a whole number from 0 to " +
                               std::to_string(kMaxNamedAmount));
      }
      if (n > 0) r.named.emplace_back(std::move(key), n);
    }
  }
  if (r.named.size() > kMaxNamedResources) {
    return InvalidArgument(what + ": at most " + std::to_string(kMaxNamedResources) +
                           " named resources");
  }
  std::sort(r.named.begin(), r.named.end());
  return r;
}

void AppendResources(std::string& out, const Resources& r) {
  out += '{';
  bool first = true;
  auto sep = [&] {
    if (!first) out += ',';
    first = false;
  };
  if (r.millicpus) {
    sep();
    out += "\"cpus\":";
    AppendJsonNumber(out, static_cast<double>(r.millicpus) / 1000);
  }
  if (r.memory_mib) {
    sep();
    out += "\"memory\":" + std::to_string(r.memory_mib);
  }
  for (const auto& [name, n] : r.named) {
    sep();
    AppendJsonString(out, name);
    out += ':' + std::to_string(n);
  }
  out += '}';
}

std::string DescribeCpus(int64_t millicpus) {
  std::string out = HumanNumber(static_cast<double>(millicpus) / 1000);
  return out + (millicpus == 1000 ? " cpu" : " cpus");
}

std::string DescribeMemory(int64_t mib) {
  if (mib >= 1024 && mib % 1024 == 0) return std::to_string(mib / 1024) + " GiB memory";
  return std::to_string(mib) + " MiB memory";
}

std::string DescribeNamed(std::string_view name, int64_t amount) {
  return std::string(name) + "=" + std::to_string(amount);
}

std::string DescribeResources(const Resources& r) {
  std::string out;
  auto add = [&](const std::string& s) {
    if (!out.empty()) out += ", ";
    out += s;
  };
  if (r.millicpus) add(DescribeCpus(r.millicpus));
  if (r.memory_mib) add(DescribeMemory(r.memory_mib));
  for (const auto& [name, n] : r.named) add(DescribeNamed(name, n));
  return out.empty() ? "nothing" : out;
}

Status AddResourceText(Resources& r, std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == text.size()) {
    return InvalidArgument("resource '" + std::string(text) +
                           "': write NAME=AMOUNT, like gpus=1 or memory=512");
  }
  std::string name(text.substr(0, eq));
  std::string amount(text.substr(eq + 1));
  boost::system::error_code ec;
  json::value v = json::parse(amount, ec);
  if (ec || !v.is_number()) {
    return InvalidArgument("resource '" + std::string(text) + "': the amount must be a number");
  }
  json::object o;
  o[name] = v;
  Resources one;
  auto parsed = ParseResources(o, "");
  if (!parsed.ok()) {
    return InvalidArgument("resource '" + std::string(text) + "': " + parsed.status().message());
  }
  one = std::move(*parsed);
  if (name == "cpus") {
    r.millicpus = one.millicpus;
  } else if (name == "memory") {
    r.memory_mib = one.memory_mib;
  } else {
    std::erase_if(r.named, [&](const auto& p) { return p.first == name; });
    for (auto& p : one.named) r.named.push_back(std::move(p));
    std::sort(r.named.begin(), r.named.end());
  }
  return Status::Ok();
}

Result<TaskSpec> ParseTaskSpec(const json::value& v, std::string_view where) {
  std::string what = where.empty() ? "task" : std::string(where);
  VOLO_ASSIGN_OR_RETURN(const json::object* o, AsObject(v, what));
  TaskSpec spec;
  const json::object* args = nullptr;
  for (const auto& kv : *o) {
    std::string_view key(kv.key().data(), kv.key().size());
    const json::value& val = kv.value();
    if (key == "op") {
      if (!val.is_string()) return InvalidArgument(Field(where, "op") + ": must be a string");
      spec.op.assign(val.get_string().data(), val.get_string().size());
      if (!ValidName(spec.op)) {
        return InvalidArgument(Field(where, "op") +
                               ": must be 1-128 characters of letters, digits, _ . : -");
      }
    } else if (key == "args") {
      if (!val.is_object()) return InvalidArgument(Field(where, "args") + ": must be an object");
      args = &val.get_object();
      spec.args = Serialize(val);
    } else if (key == "retries") {
      int64_t r;
      if (!ToInt64(val, &r) || r < 0 || r > 100) {
        return InvalidArgument(Field(where, "retries") + ": must be an integer from 0 to 100");
      }
      spec.retries = static_cast<int>(r);
    } else if (key == "timeout") {
      double t;
      if (val.is_null()) continue;
      if (!ToDouble(val, &t) || !(t > 0) || t > 30 * 86400) {
        return InvalidArgument(Field(where, "timeout") +
                               ": must be a number of seconds, above 0 and at most 30 days");
      }
      spec.timeout = t;
    } else if (key == "priority") {
      int64_t p;
      if (!ToInt64(val, &p) || p < -1000000 || p > 1000000) {
        return InvalidArgument(Field(where, "priority") +
                               ": must be an integer from -1000000 to 1000000");
      }
      spec.priority = static_cast<int>(p);
    } else if (key == "labels") {
      const json::object* lo = val.if_object();
      if (!lo) return InvalidArgument(Field(where, "labels") + ": must be an object of strings");
      for (const auto& l : *lo) {
        if (!l.value().is_string()) {
          return InvalidArgument(Field(where, "labels") + ": label '" + std::string(l.key()) +
                                 "' must be a string");
        }
        spec.labels.emplace_back(std::string(l.key()), std::string(l.value().get_string()));
      }
    } else if (key == "resources") {
      if (val.is_null()) continue;
      VOLO_ASSIGN_OR_RETURN(spec.resources, ParseResources(val, where));
    } else {
      return InvalidArgument(what + ": unknown field '" + std::string(key) +
                             "' (known: op, args, retries, timeout, priority, labels, resources)");
    }
  }
  if (spec.op.empty()) return InvalidArgument(Field(where, "op") + ": required");
  static const json::object kEmpty;
  VOLO_RETURN_IF_ERROR(ValidateBuiltinArgs(spec.op, args ? *args : kEmpty, Field(where, "args")));
  if (spec.op == "exec" && args) {
    VOLO_RETURN_IF_ERROR(AddExecRequest(*args, Field(where, "args"), spec.resources));
  }
  return spec;
}

Status AddExecRequest(const json::object& args, std::string_view where, Resources& r) {
  // Set in both places: the same amount, or a 400 saying where it belongs.
  auto merge = [&](std::string_view key, int64_t amount, int64_t& into,
                   const std::string& shown) -> Status {
    if (amount == 0 || into == amount) return Status::Ok();
    if (into != 0) {
      return InvalidArgument(Field(where, key) + ": " + shown + " here but " +
                             (key == "cpus"     ? DescribeCpus(into)
                              : key == "memory" ? DescribeMemory(into)
                                                : std::to_string(into)) +
                             " in the task's resources; give it once, in \"resources\"");
    }
    into = amount;
    return Status::Ok();
  };
  if (const json::value* c = args.if_contains("cpus")) {
    double d = 0;
    ToDouble(*c, &d);  // validated by ValidateExecArgs
    int64_t milli = std::min(kMaxMillicpus, static_cast<int64_t>(std::ceil(d * 1000 - 1e-6)));
    VOLO_RETURN_IF_ERROR(merge("cpus", milli, r.millicpus, DescribeCpus(milli)));
  }
  if (const json::value* m = args.if_contains("memory")) {
    int64_t mib;
    if (!ToInt64(*m, &mib) || mib < 0 || mib > kMaxMemoryMib) {
      return InvalidArgument(Field(where, "memory") + ": must be a whole number of MiB from 0 to " +
                             std::to_string(kMaxMemoryMib));
    }
    VOLO_RETURN_IF_ERROR(merge("memory", mib, r.memory_mib, DescribeMemory(mib)));
  }
  if (const json::value* named = args.if_contains("resources")) {
    for (const auto& kv : named->get_object()) {
      std::string name(kv.key());
      std::string field = "resources." + name;
      if (!ValidName(name) || name == "cpus" || name == "memory") {
        return InvalidArgument(Field(where, "resources") + ": resource name '" +
                               name.substr(0, 64) +
                               "' must be 1-128 characters of letters, digits, _ . : - (cpus "
                               "and memory go in their own fields)");
      }
      int64_t n;
      if (!ToInt64(kv.value(), &n) || n < 0 || n > kMaxNamedAmount) {
        return InvalidArgument(Field(where, field) + ": must be a whole number from 0 to " +
                               std::to_string(kMaxNamedAmount));
      }
      auto it = std::find_if(r.named.begin(), r.named.end(),
                             [&](const auto& p) { return p.first == name; });
      int64_t have = it == r.named.end() ? 0 : it->second;
      VOLO_RETURN_IF_ERROR(merge(field, n, have, DescribeNamed(name, n)));
      if (have > 0 && it == r.named.end()) {
        r.named.emplace_back(name, have);
      }
    }
    std::sort(r.named.begin(), r.named.end());
    if (r.named.size() > kMaxNamedResources) {
      return InvalidArgument(Field(where, "resources") + ": at most " +
                             std::to_string(kMaxNamedResources) + " named resources");
    }
  }
  return Status::Ok();
}

Result<std::vector<TaskSpec>> ParseSubmitBody(std::string_view body, bool* is_batch) {
  VOLO_ASSIGN_OR_RETURN(json::value v, ParseJson(body));
  VOLO_ASSIGN_OR_RETURN(const json::object* o, AsObject(v, "body"));
  std::vector<TaskSpec> specs;
  const json::value* tasks = o->if_contains("tasks");
  if (is_batch) *is_batch = tasks != nullptr;
  if (!tasks) {
    VOLO_ASSIGN_OR_RETURN(TaskSpec s, ParseTaskSpec(v));
    specs.push_back(std::move(s));
    return specs;
  }
  if (o->size() != 1) return InvalidArgument("a batch body has only the field 'tasks'");
  const json::array* a = tasks->if_array();
  if (!a) return InvalidArgument("tasks: must be an array");
  if (a->empty()) return InvalidArgument("tasks: must not be empty");
  if (a->size() > kMaxBatch) {
    return InvalidArgument("tasks: at most " + std::to_string(kMaxBatch) + " per batch");
  }
  specs.reserve(a->size());
  for (size_t i = 0; i < a->size(); ++i) {
    VOLO_ASSIGN_OR_RETURN(TaskSpec s, ParseTaskSpec((*a)[i], "tasks[" + std::to_string(i) + "]"));
    specs.push_back(std::move(s));
  }
  return specs;
}

// ---- worker -> planner ----

namespace {

// The `output` array of an output message (both directions).
Result<Output> ParseOutput(const json::object& o) {
  const json::value* ov = o.if_contains("output");
  const json::array* a = ov ? ov->if_array() : nullptr;
  if (!a) return InvalidArgument("output: must be an array");
  if (a->size() > kMaxBatch) return InvalidArgument("output: too many pieces in one message");
  Output out;
  out.output.reserve(a->size());
  for (const json::value& e : *a) {
    const json::object* p = e.if_object();
    if (!p) return InvalidArgument("output: each piece is an object");
    TaskOutput piece;
    const json::value* id = p->if_contains("id");
    const json::value* offset = p->if_contains("offset");
    const json::value* text = p->if_contains("text");
    if (!id || !ToU64(*id, &piece.id) || !offset || !ToU64(*offset, &piece.offset)) {
      return InvalidArgument("output: id and offset must be non-negative integers");
    }
    if (!text || !text->is_string()) return InvalidArgument("output: text must be a string");
    piece.text = std::string(text->get_string());
    out.output.push_back(std::move(piece));
  }
  return out;
}

}  // namespace

void OutputEncoder::Add(uint64_t id, uint64_t offset, std::string_view text) {
  buf_ += count_ == 0 ? "{\"t\":\"output\",\"output\":[" : ",";
  ++count_;
  buf_ += "{\"id\":";
  buf_ += std::to_string(id);
  buf_ += ",\"offset\":";
  buf_ += std::to_string(offset);
  buf_ += ",\"text\":";
  AppendJsonString(buf_, text);
  buf_ += '}';
}

std::string OutputEncoder::Finish() {
  if (count_ == 0) return "{\"t\":\"output\",\"output\":[]}";
  buf_ += "]}";
  count_ = 0;
  return std::exchange(buf_, {});
}

Result<WorkerMessage> ParseWorkerMessage(std::string_view text) {
  // The planner parses one of these per WebSocket message from each worker (a batch of function
  // answers, results, heartbeats). Nothing below keeps a json::value beyond this call, so the
  // tree lives in one arena, its first block on the stack, freed at once on return: no malloc
  // and free per string, object and array.
  alignas(std::max_align_t) unsigned char first_block[4096];
  json::monotonic_resource arena(first_block, sizeof first_block);
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec, &arena);
  if (ec) return InvalidArgument("malformed JSON: " + ec.message());
  VOLO_ASSIGN_OR_RETURN(const json::object* o, AsObject(v, "message"));
  std::string_view t = TypeOf(*o);
  if (t == "heartbeat") return WorkerMessage(Heartbeat{});
  if (t == "fn_batch") {
    VOLO_ASSIGN_OR_RETURN(FnWorkerBatch b, ParseFnWorkerBatch(*o));
    return WorkerMessage(std::move(b));
  }
  if (t.starts_with("fn_")) {
    VOLO_ASSIGN_OR_RETURN(FnWorkerMessage fm, ParseFnWorkerMessage(t, *o));
    return std::visit([](auto&& m) { return WorkerMessage(std::move(m)); }, std::move(fm));
  }
  if (t == "results") {
    const json::value* rv = o->if_contains("results");
    const json::array* a = rv ? rv->if_array() : nullptr;
    if (!a) return InvalidArgument("results: must be an array");
    Results out;
    out.results.reserve(a->size());
    for (const json::value& e : *a) {
      const json::object* r = e.if_object();
      if (!r) return InvalidArgument("results: each result is an object");
      TaskResult tr;
      const json::value* id = r->if_contains("id");
      if (!id || !ToU64(*id, &tr.id)) return InvalidArgument("results: id must be an integer");
      const json::value* ok = r->if_contains("ok");
      tr.ok = !ok || !ok->is_bool() || ok->get_bool();
      if (tr.ok) {
        const json::value* res = r->if_contains("result");
        tr.value = res ? Serialize(*res) : "null";
      } else {
        const json::value* err = r->if_contains("error");
        tr.value = err && err->is_string() ? std::string(err->get_string())
                                           : std::string("worker reported an error");
        const json::value* crashed = r->if_contains("crashed");
        tr.crashed = crashed && crashed->is_bool() && crashed->get_bool();
      }
      if (const json::value* s = r->if_contains("started")) ToDouble(*s, &tr.started);
      if (const json::value* f = r->if_contains("finished")) ToDouble(*f, &tr.finished);
      out.results.push_back(std::move(tr));
    }
    return WorkerMessage(std::move(out));
  }
  if (t == "logs") {
    const json::value* lv = o->if_contains("logs");
    const json::array* a = lv ? lv->if_array() : nullptr;
    if (!a) return InvalidArgument("logs: must be an array");
    Logs out;
    out.chunks.reserve(a->size());
    for (const json::value& e : *a) {
      const json::array* c = e.if_array();
      LogChunk chunk;
      int64_t stream = 0;
      if (!c || c->size() != 3 || !ToU64((*c)[0], &chunk.id) || !ToInt64((*c)[1], &stream) ||
          (stream != 1 && stream != 2) || !(*c)[2].is_string()) {
        return InvalidArgument("logs: each chunk is [task id, 1 or 2, \"base64\"]");
      }
      chunk.stream = static_cast<int>(stream);
      const json::string& b64 = (*c)[2].get_string();
      if (!Base64Decode(std::string_view(b64.data(), b64.size()), &chunk.data)) {
        return InvalidArgument("logs: a chunk's data is not base64");
      }
      out.chunks.push_back(std::move(chunk));
    }
    return WorkerMessage(std::move(out));
  }
  if (t == "register") {
    Register r;
    const json::value* ver = o->if_contains("v");
    int64_t version = 0;
    if (!ver || !ToInt64(*ver, &version)) return InvalidArgument("register: v (version) required");
    if (version < kMinProtocolVersion || version > kProtocolVersion) {
      return InvalidArgument("register: protocol version " + std::to_string(version) +
                             " is not supported (this planner speaks " +
                             std::to_string(kMinProtocolVersion) + " to " +
                             std::to_string(kProtocolVersion) + ")");
    }
    const json::value* id = o->if_contains("id");
    if (!id || !id->is_string() || !ValidName(std::string_view(id->get_string()))) {
      return InvalidArgument("register: id must be 1-128 characters of letters, digits, _ . : -");
    }
    r.id = std::string(id->get_string());
    const json::value* ops = o->if_contains("ops");
    const json::array* oa = ops ? ops->if_array() : nullptr;
    if (!oa || oa->empty()) return InvalidArgument("register: ops must be a non-empty array");
    for (const json::value& op : *oa) {
      if (!op.is_string() || !ValidName(std::string_view(op.get_string()))) {
        return InvalidArgument("register: each op is a valid operation name");
      }
      r.ops.emplace_back(op.get_string());
    }
    const json::value* slots = o->if_contains("slots");
    int64_t s = 1;
    if (slots && (!ToInt64(*slots, &s) || s < 1 || s > 100000)) {
      return InvalidArgument("register: slots must be an integer from 1 to 100000");
    }
    r.slots = static_cast<int>(s);
    if (const json::value* res = o->if_contains("resources")) {
      auto parsed = ParseResources(*res, "register");
      if (!parsed.ok()) return parsed.status();
      r.resources = std::move(*parsed);
    }
    if (const json::value* fn = o->if_contains("functions"); fn && version >= 2) {
      int64_t n = 0;
      if (!ToInt64(*fn, &n) || n < 0 || n > 100000) {
        return InvalidArgument("register: functions must be an integer from 0 to 100000");
      }
      r.functions = static_cast<int>(n);
    }
    if (const json::value* b = o->if_contains("fn_batch"); b && b->is_bool()) {
      r.fn_batch = b->get_bool();
    }
    return WorkerMessage(std::move(r));
  }
  if (t == "refused") {
    VOLO_ASSIGN_OR_RETURN(auto ids, IdList(*o, "ids"));
    return WorkerMessage(Refused{std::move(ids)});
  }
  if (t == "leaving") return WorkerMessage(Leaving{});
  if (t == "output") {
    VOLO_ASSIGN_OR_RETURN(Output out, ParseOutput(*o));
    return WorkerMessage(std::move(out));
  }
  if (t.empty()) return InvalidArgument("message: field 't' (the message type) required");
  return InvalidArgument("unknown message type '" + std::string(t) + "'");
}

std::string EncodeRegister(const Register& r) {
  std::string out = "{\"t\":\"register\",\"v\":" + std::to_string(kProtocolVersion) + ",\"id\":";
  AppendJsonString(out, r.id);
  out += ",\"ops\":[";
  for (size_t i = 0; i < r.ops.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(out, r.ops[i]);
  }
  out += "],\"slots\":" + std::to_string(r.slots);
  if (!r.resources.empty()) {
    out += ",\"resources\":";
    AppendResources(out, r.resources);
  }
  if (r.functions > 0) out += ",\"functions\":" + std::to_string(r.functions);
  if (r.fn_batch) out += ",\"fn_batch\":true";
  out += '}';
  return out;
}

std::string EncodeHeartbeat() { return "{\"t\":\"heartbeat\"}"; }

std::string EncodeRefused(const std::vector<uint64_t>& ids) {
  std::string out = "{\"t\":\"refused\",\"ids\":";
  AppendIds(out, ids);
  out += '}';
  return out;
}

std::string EncodeLeaving() { return "{\"t\":\"leaving\"}"; }

namespace {
constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

std::string Base64Encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(data[k])); };
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += kBase64[v >> 18];
    out += kBase64[(v >> 12) & 63];
    out += kBase64[(v >> 6) & 63];
    out += kBase64[v & 63];
  }
  if (size_t rest = data.size() - i; rest > 0) {
    uint32_t v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
    out += kBase64[v >> 18];
    out += kBase64[(v >> 12) & 63];
    out += rest == 2 ? kBase64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool Base64Decode(std::string_view text, std::string* out) {
  static const auto table = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    for (int k = 0; k < 64; ++k) t[static_cast<unsigned char>(kBase64[k])] = static_cast<int8_t>(k);
    return t;
  }();
  out->clear();
  if (text.size() % 4 != 0) return false;
  out->reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text[i + k];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else if (pad > 0 || (v[k] = table[static_cast<unsigned char>(c)]) < 0) {
        return false;
      }
    }
    uint32_t n = static_cast<uint32_t>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out->push_back(static_cast<char>(n >> 16));
    if (pad < 2) out->push_back(static_cast<char>((n >> 8) & 0xFF));
    if (pad < 1) out->push_back(static_cast<char>(n & 0xFF));
  }
  return true;
}

void LogsEncoder::Add(uint64_t id, int stream, std::string_view data) {
  buf_ += count_ == 0 ? "{\"t\":\"logs\",\"logs\":[" : ",";
  ++count_;
  buf_ += "[" + std::to_string(id) + "," + std::to_string(stream) + ",\"";
  buf_ += Base64Encode(data);
  buf_ += "\"]";
}

std::string LogsEncoder::Finish() {
  std::string out = std::move(buf_);
  if (count_ == 0) out = "{\"t\":\"logs\",\"logs\":[";
  out += "]}";
  buf_.clear();
  count_ = 0;
  return out;
}

void ResultsEncoder::Add(const TaskResult& r) {
  buf_ += count_ == 0 ? "{\"t\":\"results\",\"results\":[" : ",";
  ++count_;
  buf_ += "{\"id\":";
  buf_ += std::to_string(r.id);
  if (r.ok) {
    buf_ += ",\"ok\":true,\"result\":";
    buf_ += r.value.empty() ? std::string_view("null") : std::string_view(r.value);
  } else {
    buf_ += ",\"ok\":false,\"error\":";
    AppendJsonString(buf_, r.value);
    if (r.crashed) buf_ += ",\"crashed\":true";
  }
  buf_ += ",\"started\":";
  AppendJsonNumber(buf_, r.started);
  buf_ += ",\"finished\":";
  AppendJsonNumber(buf_, r.finished);
  buf_ += '}';
}

std::string ResultsEncoder::Finish() {
  if (count_ == 0) return "{\"t\":\"results\",\"results\":[]}";
  buf_ += "]}";
  count_ = 0;
  return std::exchange(buf_, {});
}

// ---- planner -> worker ----

Result<PlannerMessage> ParsePlannerMessage(std::string_view text) {
  VOLO_ASSIGN_OR_RETURN(json::value v, ParseJson(text));
  VOLO_ASSIGN_OR_RETURN(const json::object* o, AsObject(v, "message"));
  std::string_view t = TypeOf(*o);
  if (t == "fn_batch") {
    VOLO_ASSIGN_OR_RETURN(FnPlannerBatch b, ParseFnPlannerBatch(*o));
    return PlannerMessage(std::move(b));
  }
  if (t.starts_with("fn_")) {
    VOLO_ASSIGN_OR_RETURN(FnPlannerMessage fm, ParseFnPlannerMessage(t, *o));
    return std::visit([](auto&& m) { return PlannerMessage(std::move(m)); }, std::move(fm));
  }
  if (t == "tasks") {
    const json::value* tv = o->if_contains("tasks");
    const json::array* a = tv ? tv->if_array() : nullptr;
    if (!a) return InvalidArgument("tasks: must be an array");
    Tasks out;
    out.tasks.reserve(a->size());
    for (const json::value& e : *a) {
      const json::object* to = e.if_object();
      if (!to) return InvalidArgument("tasks: each task is an object");
      Assignment as;
      const json::value* id = to->if_contains("id");
      const json::value* op = to->if_contains("op");
      if (!id || !ToU64(*id, &as.id) || !op || !op->is_string()) {
        return InvalidArgument("tasks: each task has an integer id and a string op");
      }
      as.op = std::string(op->get_string());
      const json::value* args = to->if_contains("args");
      as.args = args ? Serialize(*args) : "{}";
      if (const json::value* tm = to->if_contains("timeout")) ToDouble(*tm, &as.timeout);
      if (const json::value* res = to->if_contains("resources")) {
        auto parsed = ParseResources(*res, "tasks[]");
        if (!parsed.ok()) return parsed.status();
        as.resources = std::move(*parsed);
      }
      out.tasks.push_back(std::move(as));
    }
    return PlannerMessage(std::move(out));
  }
  if (t == "welcome") {
    Welcome w;
    int64_t hb = 1000;
    if (const json::value* h = o->if_contains("heartbeat_ms"); h && ToInt64(*h, &hb) && hb > 0) {
      w.heartbeat_ms = static_cast<int>(std::min<int64_t>(hb, 3'600'000));
    }
    if (const json::value* b = o->if_contains("fn_batch"); b && b->is_bool()) {
      w.fn_batch = b->get_bool();
    }
    return PlannerMessage(w);
  }
  if (t == "cancel") {
    VOLO_ASSIGN_OR_RETURN(auto ids, IdList(*o, "ids"));
    return PlannerMessage(Cancel{std::move(ids)});
  }
  if (t == "error") {
    const json::value* m = o->if_contains("message");
    return PlannerMessage(
        Error{m && m->is_string() ? std::string(m->get_string()) : "unspecified error"});
  }
  return InvalidArgument("unknown message type '" + std::string(t) + "'");
}

std::string EncodeWelcome(const Welcome& w) {
  return "{\"t\":\"welcome\",\"v\":" + std::to_string(kProtocolVersion) +
         ",\"heartbeat_ms\":" + std::to_string(w.heartbeat_ms) +
         (w.fn_batch ? ",\"fn_batch\":true}" : "}");
}

std::string EncodeCancel(const std::vector<uint64_t>& ids) {
  std::string out = "{\"t\":\"cancel\",\"ids\":";
  AppendIds(out, ids);
  out += '}';
  return out;
}

std::string EncodeError(std::string_view message) {
  std::string out = "{\"t\":\"error\",\"message\":";
  AppendJsonString(out, message);
  out += '}';
  return out;
}

void TasksEncoder::Add(uint64_t id, std::string_view op, std::string_view args, double timeout,
                       const Resources* resources) {
  buf_ += count_ == 0 ? "{\"t\":\"tasks\",\"tasks\":[" : ",";
  ++count_;
  buf_ += "{\"id\":";
  buf_ += std::to_string(id);
  buf_ += ",\"op\":";
  AppendJsonString(buf_, op);
  buf_ += ",\"args\":";
  buf_ += args;
  if (timeout > 0) {
    buf_ += ",\"timeout\":";
    AppendJsonNumber(buf_, timeout);
  }
  if (resources && !resources->empty()) {
    buf_ += ",\"resources\":";
    AppendResources(buf_, *resources);
  }
  buf_ += '}';
}

std::string TasksEncoder::Finish() {
  if (count_ == 0) return "{\"t\":\"tasks\",\"tasks\":[]}";
  buf_ += "]}";
  count_ = 0;
  return std::exchange(buf_, {});
}

// ---- streaming clients ----

Result<Submit> ParseClientMessage(std::string_view text, int64_t* tag_out) {
  *tag_out = 0;
  VOLO_ASSIGN_OR_RETURN(json::value v, ParseJson(text));
  VOLO_ASSIGN_OR_RETURN(const json::object* o, AsObject(v, "message"));
  Submit s;
  if (const json::value* tag = o->if_contains("tag")) {
    if (!ToInt64(*tag, &s.tag)) return InvalidArgument("tag: must be an integer");
    *tag_out = s.tag;
  }
  if (const json::value* key = o->if_contains("key")) {
    if (!key->is_string() || key->get_string().empty() || key->get_string().size() > 256) {
      return InvalidArgument("key: must be a string of 1-256 characters");
    }
    s.key = std::string(key->get_string());
  }
  std::string_view t = TypeOf(*o);
  if (t != "submit") {
    return InvalidArgument(t.empty() ? "message: field 't' required"
                                     : "unknown message type '" + std::string(t) + "'");
  }
  const json::value* tv = o->if_contains("tasks");
  const json::array* a = tv ? tv->if_array() : nullptr;
  if (!a || a->empty()) return InvalidArgument("tasks: must be a non-empty array");
  if (a->size() > kMaxBatch) {
    return InvalidArgument("tasks: at most " + std::to_string(kMaxBatch) + " per message");
  }
  s.tasks.reserve(a->size());
  for (size_t i = 0; i < a->size(); ++i) {
    VOLO_ASSIGN_OR_RETURN(TaskSpec spec,
                          ParseTaskSpec((*a)[i], "tasks[" + std::to_string(i) + "]"));
    s.tasks.push_back(std::move(spec));
  }
  return s;
}

std::string EncodeSubmit(int64_t tag, const std::vector<TaskSpec>& tasks) {
  std::string out = "{\"t\":\"submit\",\"tag\":" + std::to_string(tag) + ",\"tasks\":[";
  for (size_t i = 0; i < tasks.size(); ++i) {
    const TaskSpec& t = tasks[i];
    if (i) out += ',';
    out += "{\"op\":";
    AppendJsonString(out, t.op);
    out += ",\"args\":";
    out += t.args;
    if (t.retries) out += ",\"retries\":" + std::to_string(t.retries);
    if (t.priority) out += ",\"priority\":" + std::to_string(t.priority);
    if (t.timeout > 0) {
      out += ",\"timeout\":";
      AppendJsonNumber(out, t.timeout);
    }
    if (!t.labels.empty()) {
      out += ",\"labels\":{";
      for (size_t l = 0; l < t.labels.size(); ++l) {
        if (l) out += ',';
        AppendJsonString(out, t.labels[l].first);
        out += ':';
        AppendJsonString(out, t.labels[l].second);
      }
      out += '}';
    }
    if (!t.resources.empty()) {
      out += ",\"resources\":";
      AppendResources(out, t.resources);
    }
    out += '}';
  }
  out += "]}";
  return out;
}

std::string EncodeSubmitted(int64_t tag, uint64_t first, size_t count) {
  return "{\"t\":\"submitted\",\"tag\":" + std::to_string(tag) +
         ",\"first\":" + std::to_string(first) + ",\"count\":" + std::to_string(count) + "}";
}

std::string EncodeClientError(int64_t tag, std::string_view message) {
  std::string out = "{\"t\":\"error\",\"tag\":" + std::to_string(tag) + ",\"message\":";
  AppendJsonString(out, message);
  out += '}';
  return out;
}

void ClientResultsEncoder::Add(uint64_t id, std::string_view state, std::string_view result,
                               std::string_view error, std::string_view worker) {
  buf_ += count_ == 0 ? "{\"t\":\"results\",\"results\":[" : ",";
  ++count_;
  buf_ += "{\"id\":";
  buf_ += std::to_string(id);
  buf_ += ",\"state\":\"";
  buf_ += state;
  buf_ += "\",\"result\":";
  buf_ += result.empty() ? std::string_view("null") : result;
  buf_ += ",\"error\":";
  if (error.empty()) {
    buf_ += "null";
  } else {
    AppendJsonString(buf_, error);
  }
  buf_ += ",\"worker\":";
  AppendJsonString(buf_, worker);
  buf_ += '}';
}

std::string ClientResultsEncoder::Finish() {
  buf_ += "]}";
  count_ = 0;
  return std::exchange(buf_, {});
}

Result<StreamMessage> ParseStreamMessage(std::string_view text) {
  VOLO_ASSIGN_OR_RETURN(json::value v, ParseJson(text));
  VOLO_ASSIGN_OR_RETURN(const json::object* o, AsObject(v, "message"));
  std::string_view t = TypeOf(*o);
  if (t == "results") {
    const json::value* rv = o->if_contains("results");
    const json::array* a = rv ? rv->if_array() : nullptr;
    if (!a) return InvalidArgument("results: must be an array");
    ClientResults out;
    out.results.reserve(a->size());
    for (const json::value& e : *a) {
      const json::object* r = e.if_object();
      if (!r) return InvalidArgument("results: each result is an object");
      ClientResult cr;
      const json::value* id = r->if_contains("id");
      if (!id || !ToU64(*id, &cr.id)) return InvalidArgument("results: id must be an integer");
      if (const json::value* s = r->if_contains("state"); s && s->is_string()) {
        cr.state = std::string(s->get_string());
      }
      if (const json::value* res = r->if_contains("result")) cr.result = Serialize(*res);
      if (const json::value* err = r->if_contains("error"); err && err->is_string()) {
        cr.error = std::string(err->get_string());
      }
      if (const json::value* w = r->if_contains("worker"); w && w->is_string()) {
        cr.worker = std::string(w->get_string());
      }
      out.results.push_back(std::move(cr));
    }
    return StreamMessage(std::move(out));
  }
  if (t == "output") {
    VOLO_ASSIGN_OR_RETURN(Output out, ParseOutput(*o));
    return StreamMessage(std::move(out));
  }
  if (t == "submitted") {
    Submitted s;
    const json::value* tag = o->if_contains("tag");
    const json::value* first = o->if_contains("first");
    const json::value* count = o->if_contains("count");
    uint64_t c = 0;
    if (!tag || !ToInt64(*tag, &s.tag) || !first || !ToU64(*first, &s.first) || !count ||
        !ToU64(*count, &c)) {
      return InvalidArgument("submitted: tag, first and count are integers");
    }
    s.count = c;
    return StreamMessage(s);
  }
  if (t == "error") {
    const json::value* m = o->if_contains("message");
    return StreamMessage(
        Error{m && m->is_string() ? std::string(m->get_string()) : "unspecified error"});
  }
  return InvalidArgument("unknown message type '" + std::string(t) + "'");
}

}  // namespace volo::wire
