#include "workflow/definition.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

#include "wire/messages.h"
#include "workflow/schema.h"

namespace volo::workflow {
namespace json = boost::json;

std::string Diagnostic::Format(std::string_view file) const {
  std::string out(file);
  if (where.line > 0) {
    out += ":" + std::to_string(where.line) + ":" + std::to_string(where.col);
  }
  return out + ": " + message;
}

const Workflow* WorkflowFile::Find(std::string_view name) const {
  for (const Workflow& w : workflows) {
    if (w.name == name) return &w;
  }
  return nullptr;
}

const std::string& Workflow::QueueOf(std::string_view task) const {
  auto it = task_queues.find(std::string(task));
  return it == task_queues.end() ? queue : it->second;
}

const TaskDef* WorkflowFile::Task(std::string_view name) const {
  auto it = tasks.find(std::string(name));
  return it == tasks.end() ? nullptr : &it->second;
}

namespace {

constexpr int kMaxDepth = 64;            // nesting of groups and chains in one workflow
constexpr size_t kMaxSteps = 1'000'000;  // steps of all the file's workflows

Position At(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

// Most values one YAML value may expand to. Aliases share a node, but each use is a copy in
// JSON: ten aliases of ten aliases ... of a list (the billion laughs) would be 10^9 values
// from a few hundred bytes of YAML.
constexpr size_t kMaxJsonValues = 1'000'000;

// YAML to JSON: plain scalars are typed as YAML 1.2's core schema reads them (null, booleans,
// integers, floats), quoted ones stay strings.
Result<json::value> ToJson(const YAML::Node& n, int depth, size_t& budget) {
  if (depth > 100) return InvalidArgument("nested more than 100 levels");
  if (budget == 0) {
    return InvalidArgument("more than " + std::to_string(kMaxJsonValues) +
                           " values (aliases that repeat each other?)");
  }
  --budget;
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return json::value(nullptr);
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "!") return json::value(s);  // quoted
      if (s == "null" || s == "~" || s.empty()) return json::value(nullptr);
      if (s == "true" || s == "True" || s == "TRUE") return json::value(true);
      if (s == "false" || s == "False" || s == "FALSE") return json::value(false);
      int64_t i = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
      if (ec == std::errc() && p == s.data() + s.size()) return json::value(i);
      double d = 0;
      auto [q, ec2] = std::from_chars(s.data(), s.data() + s.size(), d);
      if (ec2 == std::errc() && q == s.data() + s.size() && std::isfinite(d)) {
        return json::value(d);
      }
      return json::value(s);
    }
    case YAML::NodeType::Sequence: {
      json::array a;
      for (const YAML::Node& e : n) {
        VOLO_ASSIGN_OR_RETURN(json::value v, ToJson(e, depth + 1, budget));
        a.push_back(std::move(v));
      }
      return json::value(std::move(a));
    }
    case YAML::NodeType::Map: {
      json::object o;
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) return InvalidArgument("a key must be a plain string");
        VOLO_ASSIGN_OR_RETURN(json::value v, ToJson(kv.second, depth + 1, budget));
        o[kv.first.Scalar()] = std::move(v);
      }
      return json::value(std::move(o));
    }
  }
  return json::value(nullptr);
}

Result<json::value> ToJson(const YAML::Node& n) {
  size_t budget = kMaxJsonValues;
  return ToJson(n, 0, budget);
}

bool IsWorkflowName(std::string_view s) {
  // Director: PROJECT.NAME, both parts non-empty.
  size_t dot = s.find('.');
  return dot != std::string_view::npos && dot > 0 && dot + 1 < s.size();
}

class Parser {
 public:
  Parser(const FileReader& read, const FlyCheck& check_fly, std::vector<Diagnostic>& errors,
         bool replay)
      : read_(read), check_fly_(check_fly), errors_(errors), replay_(replay) {}

  void Error(const YAML::Node& n, std::string message) {
    errors_.push_back({At(n), std::move(message)});
  }
  void Error(Position p, std::string message) { errors_.push_back({p, std::move(message)}); }

  // The scalar at `n` as a string; an error (and nullopt) otherwise.
  std::optional<std::string> String(const YAML::Node& n, std::string_view what) {
    if (!n.IsScalar()) {
      Error(n, std::string(what) + " must be a string");
      return std::nullopt;
    }
    return n.Scalar();
  }

  std::optional<int64_t> Integer(const YAML::Node& n, std::string_view what, int64_t lo,
                                 int64_t hi) {
    int64_t v = 0;
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec == std::errc() && p == s.data() + s.size() && v >= lo && v <= hi) return v;
    }
    Error(n, std::string(what) + " must be an integer from " + std::to_string(lo) + " to " +
                 std::to_string(hi));
    return std::nullopt;
  }

  std::optional<double> Seconds(const YAML::Node& n, std::string_view what) {
    double v = 0;
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec == std::errc() && p == s.data() + s.size() && std::isfinite(v) && v >= 0 &&
          v <= 86400 * 365) {
        return v;
      }
    }
    Error(n, std::string(what) + " must be a number of seconds, 0 or more");
    return std::nullopt;
  }

  std::optional<bool> Bool(const YAML::Node& n, std::string_view what) {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      if (s == "true" || s == "True" || s == "yes") return true;
      if (s == "false" || s == "False" || s == "no") return false;
    }
    Error(n, std::string(what) + " must be true or false");
    return std::nullopt;
  }

  std::vector<std::pair<std::string, std::string>> Labels(const YAML::Node& n) {
    std::vector<std::pair<std::string, std::string>> out;
    if (!n.IsMap()) {
      Error(n, "labels must be a mapping of names to strings");
      return out;
    }
    for (const auto& kv : n) {
      auto k = String(kv.first, "a label's name");
      auto v = String(kv.second, "label '" + (k ? *k : std::string()) + "'");
      if (k && v) out.emplace_back(*k, *v);
    }
    return out;
  }

  // ---- tasks: ----

  void Tasks(const YAML::Node& n, WorkflowFile& file) {
    if (!n.IsMap()) {
      Error(n, "tasks must be a mapping from task names to what runs them");
      return;
    }
    for (const auto& kv : n) {
      auto name = String(kv.first, "a task's name");
      if (!name) continue;
      if (!wire::ValidName(*name)) {
        Error(kv.first, "task name '" + *name + "' must be 1-128 of A-Z a-z 0-9 _ . : -");
        continue;
      }
      if (IsWorkflowName(*name)) {
        Error(kv.first,
              "task name '" + *name + "' has a dot, which marks workflow names (PROJECT.NAME)");
        continue;
      }
      TaskDef def;
      def.name = *name;
      def.where = At(kv.first);
      // Kept even when it has errors, so that its uses are not reported as unknown too.
      Task(kv.second, def);
      file.tasks.emplace(def.name, std::move(def));  // a second one: CheckDuplicateKeys
    }
  }

  bool Task(const YAML::Node& n, TaskDef& def) {
    if (!n.IsMap()) {
      Error(n, "task '" + def.name + "' must be a mapping with op, cmd, shell or fly");
      return false;
    }
    size_t before = errors_.size();
    int kinds = 0;
    json::object args;
    for (const auto& kv : n) {
      auto key = String(kv.first, "a key");
      if (!key) continue;
      const YAML::Node& v = kv.second;
      if (*key == "op") {
        ++kinds;
        if (auto s = String(v, "op")) {
          if (!wire::ValidName(*s)) Error(v, "op '" + *s + "' is not a valid operation name");
          def.kind = TaskKind::kOp;
          def.op = *s;
        }
      } else if (*key == "args") {
        auto j = ToJson(v);
        if (!j.ok() || !j->is_object()) {
          Error(v,
                "args must be a mapping" + (j.ok() ? std::string() : ": " + j.status().message()));
        } else {
          for (auto& [k, val] : j->as_object()) args[k] = val;
        }
      } else if (*key == "cmd") {
        ++kinds;
        def.kind = TaskKind::kCommand;
        auto j = ToJson(v);
        bool good = j.ok() && j->is_array() && !j->as_array().empty();
        if (good) {
          for (const json::value& e : j->as_array()) good = good && e.is_string();
        }
        if (!good)
          Error(v, "cmd must be a non-empty list of strings (the program and its arguments)");
        else
          args["cmd"] = *j;
      } else if (*key == "shell") {
        ++kinds;
        def.kind = TaskKind::kCommand;
        if (auto s = String(v, "shell")) args["shell"] = *s;
      } else if (*key == "resources") {
        // The task's request as a submitted task writes it ({cpus: 2, memory: 512, gpus: 1});
        // an exec task carries cpus and memory as fields of their own and the rest by name.
        auto j = ToJson(v);
        if (!j.ok() || !j->is_object()) {
          Error(v, "resources: must be a mapping like {cpus: 2, memory: 512, gpus: 1}");
          continue;
        }
        json::object named;
        for (const auto& [name, amount] : j->as_object()) {
          if (name == "cpus" || name == "memory") {
            args[name] = amount;
          } else {
            named[name] = amount;
          }
        }
        if (!named.empty()) args["resources"] = std::move(named);
      } else if (*key == "env" || *key == "stdin" || *key == "cwd" || *key == "bundle") {
        auto j = ToJson(v);
        if (!j.ok())
          Error(v, *key + ": " + j.status().message());
        else
          args[*key] = *j;
      } else if (*key == "fly") {
        ++kinds;
        def.kind = TaskKind::kFly;
        if (auto s = String(v, "fly")) {
          def.fly_file = *s;
          auto text =
              read_ ? read_(*s) : Result<std::string>(NotFound("no files can be read here"));
          if (!text.ok())
            Error(v, "cannot read FLY program '" + *s + "': " + text.status().message());
          else
            def.fly_source = std::move(*text);
        }
      } else if (*key == "func") {
        if (auto s = String(v, "func")) def.fly_func = *s;
      } else if (*key == "retries") {
        if (auto i = Integer(v, "retries", 0, 100)) def.retries = static_cast<int>(*i);
      } else if (*key == "timeout") {
        if (auto d = Seconds(v, "timeout")) def.timeout = *d;
      } else if (*key == "priority") {
        if (auto i = Integer(v, "priority", -1000, 1000)) def.priority = static_cast<int>(*i);
      } else if (*key == "labels") {
        def.labels = Labels(v);
      } else {
        Error(kv.first, "task '" + def.name + "': unknown key '" + *key +
                            "' (op, args, cmd, shell, env, stdin, cwd, bundle, resources, fly, "
                            "func, retries, timeout, priority, labels)");
      }
    }
    if (kinds != 1) {
      Error(n, "task '" + def.name + "' needs exactly one of op, cmd, shell or fly");
      return false;
    }
    if (def.kind == TaskKind::kFly && def.fly_func.empty()) {
      Error(n, "task '" + def.name + "': fly needs func, the function to call");
    }
    if (def.kind == TaskKind::kFly && !def.fly_func.empty() && !def.fly_source.empty() &&
        check_fly_) {
      std::string problem = check_fly_(def.fly_file, def.fly_source, def.fly_func);
      if (!problem.empty()) Error(n, "task '" + def.name + "': " + problem);
    }
    if (def.kind != TaskKind::kFly && !def.fly_func.empty()) {
      Error(n, "task '" + def.name + "': func goes with fly");
    }
    if (def.kind == TaskKind::kCommand) {
      def.op = "exec";
      // Checked as the planner checks a submitted exec task, so a step never fails on its shape.
      wire::Resources request;
      Status s = wire::ValidateExecArgs(args, "");
      if (s.ok()) s = wire::AddExecRequest(args, "", request);
      if (!s.ok()) Error(n, "task '" + def.name + "': " + s.message());
    }
    if (def.kind == TaskKind::kOp && wire::IsBuiltinOp(def.op)) {
      if (Status s = wire::ValidateBuiltinArgs(def.op, args, "args"); !s.ok()) {
        Error(n, "task '" + def.name + "': " + s.message());
      }
    }
    def.args = json::serialize(args);
    return errors_.size() == before;
  }

  // ---- workflows ----

  void WorkflowEntry(const YAML::Node& key, const YAML::Node& n, Workflow& w) {
    w.where = At(key);
    w.root.kind = Step::Kind::kChain;
    w.root.name = w.name;
    w.root.where = w.where;
    if (!n.IsMap()) {
      Error(n, "workflow '" + w.name + "' must be a mapping with a tasks list");
      return;
    }
    bool has_tasks = false;
    for (const auto& kv : n) {
      auto k = String(kv.first, "a key");
      if (!k) continue;
      const YAML::Node& v = kv.second;
      if (*k == "tasks") {
        has_tasks = true;
        Steps(v, w.root.steps, 0);
        if (v.IsSequence() && v.size() == 0) Error(v, "workflow '" + w.name + "' has no tasks");
      } else if (*k == "periodic") {
        Periodic(v, w);
      } else if (*k == "hooks") {
        Hooks(v, w);
      } else if (*k == "schema") {
        SchemaField(v, w);
      } else if (*k == "queue") {
        Queue(v, w);
      } else if (*k == "concurrency") {
        if (auto i = Integer(v, "concurrency", 0, 1000000)) w.concurrency = static_cast<int>(*i);
      } else {
        Error(kv.first, "workflow '" + w.name + "': unknown key '" + *k +
                            "' (tasks, periodic, hooks, schema, queue, concurrency)");
      }
    }
    if (!has_tasks) Error(key, "workflow '" + w.name + "' has no tasks list");
  }

  void Steps(const YAML::Node& n, std::vector<Step>& out, int depth) {
    if (!n.IsSequence()) {
      Error(n, "tasks must be a list of task names, groups, chains or maps");
      return;
    }
    for (const YAML::Node& item : n) {
      Step s;
      if (ParseStep(item, s, depth)) out.push_back(std::move(s));
    }
  }

  bool ParseStep(const YAML::Node& item, Step& s, int depth) {
    s.where = At(item);
    // Aliases of lists of aliases would otherwise expand to 10^9 steps from a short file.
    if (steps_left_ == 0) {
      if (!too_many_steps_) {
        Error(item, "more than " + std::to_string(kMaxSteps) +
                        " steps in the file (aliases that repeat each other?)");
      }
      too_many_steps_ = true;
      return false;
    }
    --steps_left_;
    if (depth > kMaxDepth) {
      Error(item,
            "groups and chains are nested more than " + std::to_string(kMaxDepth) + " levels deep");
      return false;
    }
    if (item.IsScalar()) {
      s.kind = Step::Kind::kTask;
      s.name = s.task = item.Scalar();
      return true;
    }
    if (!item.IsMap() || item.size() != 1) {
      Error(item, "a step is a task name or a mapping with one name (NAME: {type: group, ...})");
      return false;
    }
    const auto kv = *item.begin();
    auto name = String(kv.first, "a step's name");
    if (!name) return false;
    s.name = *name;
    const YAML::Node& body = kv.second;
    if (!body.IsMap()) {
      Error(body, "step '" + s.name + "' must be a mapping (type, tasks, over, task, options)");
      return false;
    }
    std::string type = "task";
    if (body["type"]) {
      auto t = String(body["type"], "type");
      if (!t) return false;
      type = *t;
    } else if (s.name == "map" && body["over"]) {
      type = "map";
    }
    if (type == "group" || type == "chain") {
      s.kind = type == "group" ? Step::Kind::kGroup : Step::Kind::kChain;
    } else if (type == "map") {
      s.kind = Step::Kind::kMap;
    } else if (type == "task") {
      s.kind = Step::Kind::kTask;
      s.task = s.name;
    } else {
      Error(body["type"], "unknown step type '" + type + "' (group, chain, map)");
      return false;
    }
    bool has_tasks = false;
    for (const auto& o : body) {
      auto k = String(o.first, "a key");
      if (!k) continue;
      const YAML::Node& v = o.second;
      if (*k == "type") continue;
      if (*k == "tasks" && (s.kind == Step::Kind::kGroup || s.kind == Step::Kind::kChain)) {
        has_tasks = true;
        Steps(v, s.steps, depth + 1);
        if (v.IsSequence() && v.size() == 0) Error(v, "'" + s.name + "' has no tasks");
      } else if (*k == "over" && s.kind == Step::Kind::kMap) {
        if (auto str = String(v, "over")) s.over = *str;
      } else if (*k == "task" && s.kind == Step::Kind::kMap) {
        if (auto str = String(v, "task")) s.task = *str;
      } else if (*k == "retries") {
        if (auto i = Integer(v, "retries", 0, 100)) s.retries = static_cast<int>(*i);
      } else if (*k == "timeout") {
        if (auto d = Seconds(v, "timeout")) s.timeout = *d;
      } else if (*k == "priority") {
        if (auto i = Integer(v, "priority", -1000, 1000)) s.priority = static_cast<int>(*i);
      } else if (*k == "labels") {
        s.labels = Labels(v);
      } else if (*k == "continue_on_failure") {
        if (auto b = Bool(v, "continue_on_failure")) s.continue_on_failure = *b;
      } else {
        std::string allowed = s.kind == Step::Kind::kMap    ? "over, task, "
                              : s.kind == Step::Kind::kTask ? ""
                                                            : "tasks, ";
        Error(o.first, "step '" + s.name + "': unknown key '" + *k + "' (type, " + allowed +
                           "retries, timeout, priority, labels, continue_on_failure)");
      }
    }
    if ((s.kind == Step::Kind::kGroup || s.kind == Step::Kind::kChain) && !has_tasks) {
      Error(item, std::string(type) + " '" + s.name + "' has no tasks list");
    }
    if (s.kind == Step::Kind::kMap) {
      if (s.over.empty())
        Error(item, "map '" + s.name + "' needs over: a previous step or payload field");
      if (s.task.empty()) Error(item, "map '" + s.name + "' needs task: what runs per element");
    }
    return true;
  }

  // A queue's name becomes the resource name queue:NAME, which must be a valid name too.
  std::optional<std::string> QueueName(const YAML::Node& n, const std::string& what) {
    auto s = String(n, what);
    if (!s) return std::nullopt;
    if (wire::ValidName(*s) && s->size() + kQueueResourcePrefix.size() <= 128) return s;
    Error(n, what + ": must be 1-122 characters of letters, digits, _ . : -");
    return std::nullopt;
  }

  // `queue: Q`, or Director's per-task routing `queue: {default: Q, customs: {TASK: Q2}}`
  // (without a default, the other tasks run anywhere, as Director's default queue does).
  void Queue(const YAML::Node& n, Workflow& w) {
    if (!n.IsMap()) {
      if (auto s = QueueName(n, "queue")) w.queue = *s;
      return;
    }
    for (const auto& kv : n) {
      auto k = String(kv.first, "a key");
      if (!k) continue;
      if (*k == "default") {
        if (auto s = QueueName(kv.second, "queue.default")) w.queue = *s;
      } else if (*k == "customs") {
        if (!kv.second.IsMap()) {
          Error(kv.second, "queue.customs must be a mapping of task names to queues");
          continue;
        }
        for (const auto& c : kv.second) {
          auto task = String(c.first, "a task's name");
          if (!task) continue;
          auto q = QueueName(c.second, "queue.customs." + *task);
          if (!q) continue;
          w.task_queues[*task] = *q;
          queue_task_nodes_.emplace_back(At(c.first), *task);
        }
      } else {
        Error(kv.first, "queue: unknown key '" + *k + "' (default, customs)");
      }
    }
  }

  // A 5-field cron line (or @daily...) at `n`, into `out`; `what` names the key for errors.
  void Cron(const YAML::Node& n, const std::string& text, const std::string& what, Schedule& out) {
    auto e = CronExpr::Parse(text);
    if (!e.ok()) {
      Error(n, what + ": " + e.status().message());
    } else if (!replay_ && e->NamesNoDate()) {
      Error(n, what +
                   ": never runs: none of the days of month it names falls in a month it names "
                   "(February has 29 days at most; April, June, September and November 30)");
    } else {
      out.kind = Schedule::Kind::kCron;
      out.cron = std::move(*e);
    }
  }

  void Periodic(const YAML::Node& n, Workflow& w) {
    Schedule& out = w.periodic;
    if (!n.IsMap()) {
      Error(n, "periodic must be {interval: SECONDS} or {crontab: \"m h dom mon dow\"}");
      return;
    }
    int found = 0;
    for (const auto& kv : n) {
      auto k = String(kv.first, "a key");
      if (!k) continue;
      if (*k == "interval" || *k == "schedule") {
        // `schedule` is Director's older key: seconds, or a cron line in its own field order
        // (minute hour day-of-week day-of-month month), as Director's build_celery_schedule
        // reads it.
        ++found;
        const YAML::Node& v = kv.second;
        double secs = 0;
        bool number = false;
        if (v.IsScalar()) {
          const std::string& t = v.Scalar();
          auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), secs);
          number = ec == std::errc() && p == t.data() + t.size();
        }
        if (*k == "schedule" && v.IsScalar() && !number) {
          std::vector<std::string> f;
          std::istringstream in(v.Scalar());
          for (std::string part; in >> part;) f.push_back(part);
          if (f.size() != 5) {
            Error(v,
                  "schedule: seconds, or a cron line in Director's order (minute hour "
                  "day-of-week day-of-month month)");
          } else {
            Cron(v, f[0] + " " + f[1] + " " + f[3] + " " + f[4] + " " + f[2], "schedule", out);
          }
        } else if (number && secs >= 1 && secs <= 366.0 * 86400 && secs == std::floor(secs)) {
          // Director takes a float (interval: 60.0); volo counts whole seconds.
          out.kind = Schedule::Kind::kInterval;
          out.interval = std::chrono::seconds(static_cast<int64_t>(secs));
        } else {
          Error(v,
                *k + " must be a whole number of seconds from 1 to " + std::to_string(366 * 86400));
        }
      } else if (*k == "crontab") {
        ++found;
        if (auto s = String(kv.second, "crontab")) Cron(kv.second, *s, "crontab", out);
      } else if (*k == "payload") {
        // Director allows a fixed payload for periodic runs.
        auto j = ToJson(kv.second);
        if (!j.ok())
          Error(kv.second, "payload: " + j.status().message());
        else
          w.periodic_payload = json::serialize(*j);
      } else {
        Error(kv.first, "periodic: unknown key '" + *k + "' (interval, crontab, payload)");
      }
    }
    if (found != 1) Error(n, "periodic needs exactly one of interval or crontab");
  }

  void Hooks(const YAML::Node& n, Workflow& w) {
    if (!n.IsMap()) {
      Error(n, "hooks must be {success: TASK, failure: TASK}");
      return;
    }
    for (const auto& kv : n) {
      auto k = String(kv.first, "a key");
      if (!k) continue;
      auto v = String(kv.second, "hooks." + *k);
      if (!v) continue;
      if (*k == "success") {
        w.on_success = *v;
        hook_nodes_.emplace_back(At(kv.second), *v);
      } else if (*k == "failure") {
        w.on_failure = *v;
        hook_nodes_.emplace_back(At(kv.second), *v);
      } else {
        Error(kv.first, "hooks: unknown key '" + *k + "' (success, failure)");
      }
    }
  }

  void SchemaField(const YAML::Node& n, Workflow& w) {
    std::string text;
    if (n.IsScalar()) {
      const std::string& name = n.Scalar();
      auto read = [&](const std::string& path) {
        return read_ ? read_(path) : Result<std::string>(NotFound("no files can be read here"));
      };
      auto r = read(name);
      // Director's layout: `schema: order` is schemas/order.json beside workflows.yml.
      std::string director = "schemas/" + name + ".json";
      if (!r.ok() && !name.ends_with(".json")) {
        auto d = read(director);
        if (d.ok()) r = std::move(d);
      }
      if (!r.ok()) {
        Error(n, "cannot read schema '" + name + "'" +
                     (name.ends_with(".json") ? "" : " (nor " + director + ", as in Director)") +
                     ": " + r.status().message());
        return;
      }
      text = std::move(*r);
    } else {
      auto j = ToJson(n);
      if (!j.ok() || !j->is_object()) {
        Error(n, "schema must be a file name or a JSON Schema mapping");
        return;
      }
      text = json::serialize(*j);
    }
    auto compiled = PayloadSchema::Compile(text);
    if (!compiled.ok()) {
      Error(n, "schema: " + compiled.status().message());
      return;
    }
    w.schema = std::move(text);
  }

  // ---- checks over the whole file ----

  // A task name resolves to a definition, a built-in operation or a workflow of this file.
  void CheckName(const WorkflowFile& f, const std::string& name, Position where) {
    if (f.Task(name) || wire::IsBuiltinOp(name) || f.Find(name)) return;
    std::string msg = "unknown task '" + name + "'";
    msg += IsWorkflowName(name) ? ": no workflow of that name in this file"
                                : ": define it under tasks: (op, cmd, shell or fly)";
    Error(where, msg);
  }

  // Walks the steps in order; `done` holds the names of steps finished before the current one.
  void CheckSteps(const WorkflowFile& f, const Workflow& w, const Step& s,
                  std::set<std::string>& done, const std::string& payload_schema) {
    switch (s.kind) {
      case Step::Kind::kTask:
        CheckName(f, s.task, s.where);
        done.insert(s.name);
        break;
      case Step::Kind::kMap:
        CheckName(f, s.task, s.where);
        CheckOver(f, w, s, done, payload_schema);
        done.insert(s.name);
        break;
      case Step::Kind::kChain:
        for (const Step& c : s.steps) CheckSteps(f, w, c, done, payload_schema);
        if (&s != &w.root) done.insert(s.name);
        break;
      case Step::Kind::kGroup: {
        // Members of a group run side by side: none sees another's result.
        std::set<std::string> after = done;
        for (const Step& c : s.steps) {
          std::set<std::string> mine = done;
          CheckSteps(f, w, c, mine, payload_schema);
          after.insert(mine.begin(), mine.end());
        }
        done = std::move(after);
        done.insert(s.name);
        break;
      }
    }
  }

  void CheckOver(const WorkflowFile& f, const Workflow& w, const Step& s,
                 const std::set<std::string>& done, const std::string& payload_schema) {
    if (s.over.empty()) return;
    if (s.over == "payload" || s.over.starts_with("payload.")) {
      if (!payload_schema.empty()) {
        auto schema = PayloadSchema::Compile(payload_schema);
        if (schema.ok()) {
          std::string type = schema->TypeAt(s.over == "payload" ? "" : s.over.substr(8));
          if (!type.empty() && type != "array") {
            Error(s.where, "map '" + s.name + "' runs over " + s.over +
                               ", which the schema says is " + type + ", not a list");
          }
        }
      }
      return;
    }
    if (!done.contains(s.over)) {
      Error(s.where, "map '" + s.name + "' runs over '" + s.over +
                         "', which is not a step that finishes before it (name an earlier "
                         "step, or payload.FIELD)");
      return;
    }
    // A step whose result is known not to be a list.
    const TaskDef* def = f.Task(s.over);
    std::string op = def ? (def->kind == TaskKind::kOp ? def->op : "") : s.over;
    if (op == "add" || op == "mult" || op == "noop" || op == "sleep") {
      Error(s.where, "map '" + s.name + "' runs over '" + s.over + "', whose result (" + op +
                         ") is a number or null, not a list");
    }
    (void)w;
  }

  // Nesting: a workflow that runs itself, directly or through others, would never end.
  void CheckCycles(const WorkflowFile& f) {
    std::map<std::string, std::vector<std::pair<std::string, Position>>> edges;
    std::function<void(const std::string&, const Step&)> collect = [&](const std::string& from,
                                                                       const Step& s) {
      if ((s.kind == Step::Kind::kTask || s.kind == Step::Kind::kMap) && f.Find(s.task) &&
          !f.Task(s.task)) {
        edges[from].emplace_back(s.task, s.where);
      }
      for (const Step& c : s.steps) collect(from, c);
    };
    for (const Workflow& w : f.workflows) collect(w.name, w.root);
    std::map<std::string, int> state;  // 1 visiting, 2 done
    std::vector<std::string> path;
    std::function<void(const std::string&)> visit = [&](const std::string& n) {
      state[n] = 1;
      path.push_back(n);
      for (const auto& [to, where] : edges[n]) {
        if (state[to] == 1) {
          std::string cycle;
          auto it = std::find(path.begin(), path.end(), to);
          for (; it != path.end(); ++it) cycle += *it + " -> ";
          Error(where, "workflows nest in a cycle: " + cycle + to);
        } else if (state[to] == 0) {
          visit(to);
        }
      }
      path.pop_back();
      state[n] = 2;
    };
    for (const Workflow& w : f.workflows) {
      if (state[w.name] == 0) visit(w.name);
    }
  }

  void Check(WorkflowFile& f) {
    for (const auto& [where, name] : hook_nodes_) CheckName(f, name, where);
    for (const auto& [where, name] : queue_task_nodes_) CheckName(f, name, where);
    for (const Workflow& w : f.workflows) {
      std::set<std::string> done;
      CheckSteps(f, w, w.root, done, w.schema);
    }
    CheckCycles(f);
  }

 private:
  const FileReader& read_;
  const FlyCheck& check_fly_;
  std::vector<Diagnostic>& errors_;
  const bool replay_;  // ParseWorkflowFile's `replay`
  std::vector<std::pair<Position, std::string>> hook_nodes_;
  size_t steps_left_ = kMaxSteps;
  bool too_many_steps_ = false;
  std::vector<std::pair<Position, std::string>> queue_task_nodes_;  // queue.customs' task names
};

// yaml-cpp says "illegal map value" or the like for a tab in an indentation, a common mistake
// in a file edited with tabs; this names the line (up to the error's) that has one.
std::string TabHint(std::string_view text, int upto_line) {
  int line = 1;
  for (size_t start = 0; start < text.size() && (upto_line <= 0 || line <= upto_line); ++line) {
    size_t end = std::min(text.find('\n', start), text.size());
    size_t i = start;
    while (i < end && (text[i] == ' ' || text[i] == '\t')) {
      if (text[i] == '\t') {
        return " (line " + std::to_string(line) + " is indented with a tab: YAML indents with " +
               "spaces only)";
      }
      ++i;
    }
    start = end + 1;
  }
  return "";
}

// YAML 1.1's merge key, which PyYAML (and so Director) reads: `<<: *defaults` (or a list of
// aliases) adds the keys of those mappings that the mapping does not have itself, the earlier
// mapping winning. yaml-cpp leaves `<<` an ordinary key, so it is resolved here, in place
// (the keys keep their positions), mappings merged into others first.
void ResolveMergeKeys(const YAML::Node& root, std::vector<Diagnostic>& errors) {
  std::vector<std::pair<YAML::Node, bool>> stack{{root, false}};  // (node, children done)
  std::set<std::pair<int, int>> visited;  // collections, by position: aliases share theirs
  while (!stack.empty()) {
    auto [n, children_done] = stack.back();
    stack.pop_back();
    if (!n.IsMap() && !n.IsSequence()) continue;
    if (!children_done) {
      Position p = At(n);
      if (p.line > 0 && !visited.insert({p.line, p.col}).second) continue;
      stack.emplace_back(n, true);
      if (n.IsSequence()) {
        for (const YAML::Node& e : n) stack.emplace_back(e, false);
      } else {
        for (const auto& kv : n) stack.emplace_back(kv.second, false);
      }
      continue;
    }
    if (!n.IsMap()) continue;
    std::vector<YAML::Node> sources;
    std::set<std::string> own;
    bool has_merge = false;
    for (const auto& kv : n) {
      if (!kv.first.IsScalar()) continue;
      if (kv.first.Scalar() != "<<") {
        own.insert(kv.first.Scalar());
        continue;
      }
      has_merge = true;
      if (kv.second.IsMap()) {
        sources.push_back(kv.second);
      } else if (kv.second.IsSequence()) {
        for (const YAML::Node& e : kv.second) {
          if (e.IsMap()) {
            sources.push_back(e);
          } else {
            errors.push_back({At(e), "'<<' merges mappings; this is not one"});
          }
        }
      } else {
        errors.push_back({At(kv.second), "'<<' merges a mapping or a list of mappings"});
      }
    }
    if (!has_merge) continue;
    std::vector<std::pair<YAML::Node, YAML::Node>> merged;
    for (const YAML::Node& src : sources) {
      for (const auto& kv : src) {
        if (kv.first.IsScalar() && own.insert(kv.first.Scalar()).second) {
          merged.emplace_back(kv.first, kv.second);
        }
      }
    }
    n.remove("<<");
    for (auto& [k, v] : merged) n.force_insert(k, v);
  }
}

// A key written twice in one mapping: YAML readers disagree on which wins (yaml-cpp kept both,
// so `tasks:` twice ran both lists), so it is an error, as a repeated key is in a request body.
// Walks with an explicit stack, and visits a node that aliases share once (as the billion laughs
// would otherwise make it visit 10^9).
void CheckDuplicateKeys(const YAML::Node& root, std::vector<Diagnostic>& errors) {
  std::vector<YAML::Node> stack{root};
  std::set<std::pair<int, int>> visited;  // collections, by position: aliases share theirs
  while (!stack.empty()) {
    YAML::Node n = stack.back();
    stack.pop_back();
    if (!n.IsMap() && !n.IsSequence()) continue;
    Position p = At(n);
    if (p.line > 0 && !visited.insert({p.line, p.col}).second) continue;
    if (n.IsSequence()) {
      for (const YAML::Node& e : n) stack.push_back(e);
      continue;
    }
    std::map<std::string, Position> keys;
    for (const auto& kv : n) {
      if (kv.first.IsScalar()) {
        auto [it, fresh] = keys.emplace(kv.first.Scalar(), At(kv.first));
        if (!fresh) {
          errors.push_back({At(kv.first), "'" + kv.first.Scalar() + "' is given twice (first at " +
                                              std::to_string(it->second.line) + ":" +
                                              std::to_string(it->second.col) + ")"});
        }
      }
      stack.push_back(kv.second);
    }
  }
}

}  // namespace

ParseResult ParseWorkflowFile(std::string_view text, const FileReader& read,
                              const FlyCheck& check_fly, bool replay) {
  ParseResult out;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    Position p;
    if (!e.mark.is_null()) p = {e.mark.line + 1, e.mark.column + 1};
    out.errors.push_back({p, e.msg + TabHint(text, p.line)});
    return out;
  }
  Parser parser(read, check_fly, out.errors, replay);
  if (!replay) {
    CheckDuplicateKeys(root, out.errors);
    ResolveMergeKeys(root, out.errors);
  }
  if (root.IsNull()) {
    out.errors.push_back({{1, 1}, "the file defines no workflows"});
    return out;
  }
  if (!root.IsMap()) {
    parser.Error(root, "a workflow file is a mapping of PROJECT.NAME entries (and tasks:)");
    return out;
  }
  try {
    std::set<std::string> seen;
    for (const auto& kv : root) {
      auto key = parser.String(kv.first, "a top-level key");
      if (!key) continue;
      if (*key == "tasks") {
        parser.Tasks(kv.second, out.file);
        continue;
      }
      // `.defaults: &defaults {...}`: a template for aliases and `<<:` merges, as in GitLab
      // CI; not a workflow.
      if (key->starts_with(".")) continue;
      if (!IsWorkflowName(*key)) {
        parser.Error(kv.first, "'" + *key +
                                   "' is not a workflow name: write PROJECT.NAME (a dot between "
                                   "two names), tasks: for task definitions, or .NAME for a "
                                   "template to merge with <<");
        continue;
      }
      if (!replay && !wire::ValidName(*key)) {
        // It goes in URLs (/api/v1/workflows/NAME/runs) and command lines as it is.
        parser.Error(kv.first, "workflow name '" + *key +
                                   "' must be 1-128 of A-Z a-z 0-9 _ . : - (a dot between "
                                   "PROJECT and NAME)");
        continue;
      }
      if (!seen.insert(*key).second) continue;  // reported by CheckDuplicateKeys
      Workflow w;
      w.name = *key;
      parser.WorkflowEntry(kv.first, kv.second, w);
      out.file.workflows.push_back(std::move(w));
    }
    if (out.file.workflows.empty() && out.errors.empty()) {
      out.errors.push_back(
          {{1, 1}, "the file defines no workflows (PROJECT.NAME: {tasks: [...]})"});
    }
    parser.Check(out.file);
  } catch (const YAML::Exception& e) {
    Position p;
    if (!e.mark.is_null()) p = {e.mark.line + 1, e.mark.column + 1};
    out.errors.push_back({p, e.msg});
  }
  std::stable_sort(
      out.errors.begin(), out.errors.end(), [](const Diagnostic& a, const Diagnostic& b) {
        return std::tie(a.where.line, a.where.col) < std::tie(b.where.line, b.where.col);
      });
  return out;
}

}  // namespace volo::workflow
