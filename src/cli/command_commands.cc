// Command tasks and arrays on the command line: `volo submit --cmd/--shell [--each...]`,
// `volo logs`, `volo wait --array`, `volo resubmit`.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <thread>

#include "cli/api.h"
#include "cli/commands.h"
#include "cli/text.h"
#include "wire/messages.h"

namespace volo::cli {
namespace json = boost::json;

namespace {

const json::value& At(const json::object& o, std::string_view key) {
  static const json::value kNull;
  const json::value* v = o.if_contains(key);
  return v ? *v : kNull;
}

int64_t Int(const json::object& o, std::string_view key) {
  const json::value& v = At(o, key);
  return v.is_number() ? v.to_number<int64_t>() : 0;
}

std::string ReadFile(const std::string& path, const std::string& flag) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), {});
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) throw CLI::ValidationError(flag, "cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// The `each` of an array request from the flags, or null without one.
json::value EachOf(const CommandFlags& f) {
  int given = !f.each.empty() + !f.each_line.empty() + !f.each_json.empty();
  if (given == 0) return nullptr;
  if (given > 1) {
    throw CLI::ValidationError("--each", "give one of --each, --each-line and --each-json");
  }
  if (!f.each.empty()) {
    // NAME=FROM..TO
    auto eq = f.each.find('=');
    auto dots = f.each.find("..");
    int64_t from = 0, to = 0;
    if (eq == std::string::npos || eq == 0 || dots == std::string::npos || dots < eq) {
      throw CLI::ValidationError("--each",
                                 "give NAME=FROM..TO, like i=1..1000, not '" + f.each + "'");
    }
    try {
      size_t used = 0;
      from = std::stoll(f.each.substr(eq + 1, dots - eq - 1), &used);
      if (used != dots - eq - 1) throw std::invalid_argument("from");
      to = std::stoll(f.each.substr(dots + 2), &used);
      if (used != f.each.size() - dots - 2) throw std::invalid_argument("to");
    } catch (const std::exception&) {
      throw CLI::ValidationError("--each",
                                 "give NAME=FROM..TO with integers, not '" + f.each + "'");
    }
    return json::object{{"var", f.each.substr(0, eq)}, {"from", from}, {"to", to}};
  }
  if (!f.each_line.empty()) {
    // [NAME=]FILE: one value per line ({line} by default).
    std::string name = "line", path = f.each_line;
    if (auto eq = path.find('='); eq != std::string::npos && eq > 0 && path.find('/') > eq) {
      name = path.substr(0, eq);
      path = path.substr(eq + 1);
    }
    std::istringstream in(ReadFile(path, "--each-line"));
    json::array values;
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) values.emplace_back(line.c_str());
    }
    if (values.empty()) throw CLI::ValidationError("--each-line", path + " has no lines");
    return json::object{{"var", name}, {"values", values}};
  }
  std::istringstream in(ReadFile(f.each_json, "--each-json"));
  json::array objects;
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) {
      throw CLI::ValidationError("--each-json", f.each_json + ":" + std::to_string(n) +
                                                    ": each line must be one JSON object");
    }
    objects.push_back(std::move(v));
  }
  if (objects.empty()) throw CLI::ValidationError("--each-json", f.each_json + " has no objects");
  return json::object{{"objects", objects}};
}

// The exit code a shell would give a command that ended as `error` says.
int ExitCodeFromError(const std::string& error) {
  if (error.rfind("exited with status ", 0) == 0) {
    int code = std::atoi(error.c_str() + 19);
    return code > 0 ? code : 1;
  }
  if (error.rfind("killed by SIG", 0) == 0) {
    std::string name = error.substr(13, error.find_first_of(":; ", 13) - 13);
    for (int sig = 1; sig < 65; ++sig) {
      const char* abbrev = sigabbrev_np(sig);
      if (abbrev && name == abbrev) return 128 + sig;
    }
  }
  return 1;
}

// Writes the whole of one stream of task `id`'s logs to `out`, from `*offset`.
bool CopyLogs(const std::string& planner, uint64_t id, bool err, uint64_t* offset, bool follow,
              std::ostream& out, int* exit_code) {
  std::string base =
      "/api/v1/tasks/" + std::to_string(id) + "/logs?stream=" + (err ? "stderr" : "stdout");
  for (;;) {
    auto body = CallRaw(planner, "GET",
                        base + "&offset=" + std::to_string(*offset) + (follow ? "&follow=1" : ""),
                        exit_code, 60);
    if (!body) return false;
    if (!body->empty()) {
      out.write(body->data(), static_cast<std::streamsize>(body->size()));
      out.flush();
      *offset += body->size();
      continue;
    }
    if (!follow) return true;
    // Nothing new: the follow ends once the task has finished.
    auto t = Call(planner, "GET", "/api/v1/tasks/" + std::to_string(id), "", exit_code);
    if (!t || !t->is_object()) return false;
    std::string state = Str(At(t->as_object(), "state"));
    if (state != "queued" && state != "running") follow = false;
  }
}

int WaitTask(const std::string& planner, uint64_t id) {
  int exit_code = 0;
  // Output as it comes, stdout here; stderr once the task has ended.
  uint64_t out_offset = 0, err_offset = 0;
  if (!CopyLogs(planner, id, false, &out_offset, true, std::cout, &exit_code)) return 1;
  for (;;) {
    auto t = Call(planner, "GET", "/api/v1/tasks/" + std::to_string(id) + "/wait?timeout=60", "",
                  &exit_code, 70);
    if (!t || !t->is_object()) return 1;
    const json::object& o = t->as_object();
    std::string state = Str(At(o, "state"));
    if (state == "queued" || state == "running") continue;
    CopyLogs(planner, id, false, &out_offset, false, std::cout, &exit_code);
    CopyLogs(planner, id, true, &err_offset, false, std::cerr, &exit_code);
    if (state == "done") return 0;
    std::string error = Str(At(o, "error"));
    if (state == "cancelled" || error.rfind("exited with status ", 0) != 0) {
      std::cerr << "volo: task " << id << " " << state << ": " << error << "\n";
    }
    return state == "failed" ? ExitCodeFromError(error) : 1;
  }
}

std::string Bar(int64_t finished, int64_t size, int width) {
  int full = size > 0 ? static_cast<int>(finished * width / size) : width;
  return "[" + std::string(static_cast<size_t>(full), '#') +
         std::string(static_cast<size_t>(width - full), '.') + "]";
}

}  // namespace

void AddCommandFlags(CLI::App& s, CommandFlags* f) {
  s.add_flag("--cmd", f->cmd,
             "Run a command: the words after -- are the program and its arguments "
             "(volo submit --cmd -- python3 sim.py --seed 3)");
  s.add_option("--shell", f->shell,
               "Run a command line with /bin/sh -c (volo submit --shell "
               "'echo $HOSTNAME')");
  s.add_option("--env", f->env, "NAME=VALUE in the command's environment (repeatable)");
  s.add_option("--stdin", f->stdin_arg,
               "The command's standard input: @FILE for a file's contents, @- for this one's, "
               "else the text itself");
  s.add_option("--cwd", f->cwd, "Directory to run in, inside the task's own directory");
  s.add_option("--each", f->each,
               "An array: one task per integer, NAME=FROM..TO (i=1..1000); {NAME} in the "
               "command is replaced by each value");
  s.add_option("--each-line", f->each_line,
               "An array: one task per line of FILE (or NAME=FILE), replacing {line} (or {NAME})");
  s.add_option("--each-json", f->each_json,
               "An array: one task per line of FILE, each a JSON object whose keys are "
               "placeholders ({\"seed\": 3} replaces {seed})");
}

bool IsCommandSubmit(const CommandFlags& f) {
  return f.cmd || !f.shell.empty() || !f.each.empty() || !f.each_line.empty() ||
         !f.each_json.empty();
}

int SubmitCommand(const std::string& planner, const CommandFlags& f,
                  const std::vector<std::string>& argv, int retries, double timeout, int priority,
                  const std::vector<std::pair<std::string, std::string>>& labels, bool wait) {
  json::object args;
  if (f.cmd && !f.shell.empty())
    throw CLI::ValidationError("--cmd", "give --cmd or --shell, not both");
  if (f.cmd) {
    if (argv.empty()) {
      throw CLI::ValidationError("--cmd",
                                 "name the program after --: volo submit --cmd -- prog args");
    }
    json::array a;
    for (const auto& w : argv) a.emplace_back(w.c_str());
    args["cmd"] = a;
  } else if (!f.shell.empty()) {
    if (!argv.empty()) {
      throw CLI::ValidationError("--shell", "takes the whole command line as one argument");
    }
    args["shell"] = f.shell;
  } else {
    throw CLI::ValidationError("--each", "an array of commands needs --cmd or --shell");
  }
  if (!f.env.empty()) {
    json::object env;
    for (const auto& e : f.env) {
      auto eq = e.find('=');
      if (eq == std::string::npos || eq == 0) {
        throw CLI::ValidationError("--env", "give NAME=VALUE, not '" + e + "'");
      }
      env[e.substr(0, eq)] = e.substr(eq + 1);
    }
    args["env"] = env;
  }
  if (!f.stdin_arg.empty()) {
    args["stdin"] =
        f.stdin_arg[0] == '@' ? ReadFile(f.stdin_arg.substr(1), "--stdin") : f.stdin_arg;
  }
  if (!f.cwd.empty()) args["cwd"] = f.cwd;
  if (!f.bundle.empty()) args["bundle"] = f.bundle;
  if (timeout > 0) args["timeout"] = timeout;
  json::object task{{"op", "exec"}, {"args", args}};
  if (retries) task["retries"] = retries;
  if (priority) task["priority"] = priority;
  if (!labels.empty()) {
    json::object lo;
    for (const auto& [k, v] : labels) lo[k] = v;
    task["labels"] = lo;
  }
  int exit_code = 0;
  json::value each = EachOf(f);
  if (each.is_null()) {
    auto r = Call(planner, "POST", "/api/v1/tasks", json::serialize(task), &exit_code);
    if (!r || !r->is_object()) return 1;
    uint64_t id = static_cast<uint64_t>(Int(r->as_object(), "id"));
    if (!wait) {
      std::cout << id << "\n";
      return 0;
    }
    return WaitTask(planner, id);
  }
  json::object body{{"array", task}, {"each", each}};
  auto r = Call(planner, "POST", "/api/v1/tasks", json::serialize(body), &exit_code, 60);
  if (!r || !r->is_object()) return 1;
  const json::object& o = r->as_object();
  uint64_t array = static_cast<uint64_t>(Int(o, "array"));
  std::cerr << "array " << array << ": " << Count(Int(o, "size"), "task") << " (ids " << array
            << ".." << Int(o, "last") << ")"
            << (wait ? "" : "; volo wait --array " + std::to_string(array)) << "\n";
  if (!wait) {
    std::cout << array << "\n";
    return 0;
  }
  return WaitArray(planner, array, 0);
}

int WaitArray(const std::string& planner, uint64_t array, double timeout) {
  const bool tty = isatty(STDERR_FILENO);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout);
  std::string last;
  int exit_code = 0;
  for (;;) {
    auto r = Call(planner, "GET", "/api/v1/arrays/" + std::to_string(array), "", &exit_code);
    if (!r || !r->is_object()) return 1;
    const json::object& o = r->as_object();
    const int64_t size = Int(o, "size"), done = Int(o, "done"), failed = Int(o, "failed"),
                  cancelled = Int(o, "cancelled"), running = Int(o, "running");
    const int64_t finished = done + failed + cancelled;
    std::string line = std::to_string(finished) + "/" + std::to_string(size) +
                       " finished: " + std::to_string(done) + " done, " + std::to_string(failed) +
                       " failed" +
                       (cancelled ? ", " + std::to_string(cancelled) + " cancelled" : "") + ", " +
                       std::to_string(running) + " running";
    if (line != last) {
      if (tty) {
        std::cerr << "\r" << Bar(finished, size, 30) << " " << line << "\x1b[K" << std::flush;
      } else {
        std::cerr << "array " << array << ": " << line << "\n";
      }
      last = line;
    }
    const bool over = At(o, "finished").is_bool() && At(o, "finished").get_bool();
    const bool out_of_time = timeout > 0 && std::chrono::steady_clock::now() >= deadline;
    if (over || out_of_time) {
      if (tty) std::cerr << "\n";
      std::string codes;
      if (const json::object* c = At(o, "exit_codes").if_object()) {
        std::vector<std::pair<std::string, int64_t>> list;
        for (const auto& [k, v] : *c) list.emplace_back(std::string(k), v.to_number<int64_t>());
        std::sort(list.begin(), list.end(),
                  [](const auto& a, const auto& b) { return NaturalLess(a.first, b.first); });
        for (const auto& [k, n] : list) {
          codes += (codes.empty() ? "" : ", ") + k + ": " + std::to_string(n);
        }
      }
      std::cout << "array " << array << ": " << Count(size, "task") << ", " << done << " done, "
                << failed << " failed"
                << (cancelled ? ", " + std::to_string(cancelled) + " cancelled" : "")
                << (codes.empty() ? "" : "; exit codes " + codes) << "\n";
      if (failed > 0) {
        std::cout << "run the failed ones again: volo resubmit " << array << "\n";
      }
      if (!over) {
        std::cerr << "volo: timed out waiting after " << ShortDuration(timeout) << "\n";
        return 3;
      }
      return failed + cancelled > 0 ? 1 : 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(tty ? 100 : 250));
  }
}

void AddCommandCommands(CLI::App& app, int* exit_code) {
  auto planner = std::make_shared<std::string>(DefaultPlanner());

  // ---- logs ----
  auto* l = app.add_subcommand("logs", "Print a command task's output (stdout, or --stderr)");
  auto lid = std::make_shared<uint64_t>(0);
  auto lfollow = std::make_shared<bool>(false);
  auto lerr = std::make_shared<bool>(false);
  l->add_option("id", *lid, "The task id")->required()->check(CLI::PositiveNumber);
  l->add_flag("--follow,-f", *lfollow, "Keep printing as the task writes, until it ends");
  l->add_flag("--stderr", *lerr, "Its standard error instead of its standard output");
  AddPlannerFlags(*l, planner.get());
  l->callback([=] {
    uint64_t offset = 0;
    CopyLogs(*planner, *lid, *lerr, &offset, *lfollow, *lerr ? std::cerr : std::cout, exit_code);
  });

  // ---- resubmit ----
  auto* rs = app.add_subcommand("resubmit",
                                "Run an array's failed (or cancelled) tasks again, as a new array");
  auto rid = std::make_shared<uint64_t>(0);
  auto rcancelled = std::make_shared<bool>(false);
  auto rwait = std::make_shared<bool>(false);
  rs->add_option("array", *rid, "The array's id (its first task's id)")
      ->required()
      ->check(CLI::PositiveNumber);
  auto rfailed = std::make_shared<bool>(true);
  rs->add_flag("--failed", *rfailed, "The failed tasks (the default)");
  rs->add_flag("--cancelled", *rcancelled, "The cancelled tasks instead of the failed ones");
  rs->add_flag("--wait", *rwait, "Wait for the new array, with its progress and summary");
  AddPlannerFlags(*rs, planner.get());
  rs->callback([=] {
    json::object body{{"state", *rcancelled ? "cancelled" : "failed"}};
    auto r = Call(*planner, "POST", "/api/v1/arrays/" + std::to_string(*rid) + "/resubmit",
                  json::serialize(body), exit_code, 60);
    if (!r || !r->is_object()) return;
    const json::object& o = r->as_object();
    uint64_t array = static_cast<uint64_t>(Int(o, "array"));
    std::cerr << "array " << array << ": " << Count(Int(o, "size"), "task") << " of array " << *rid
              << " again\n";
    if (*rwait) {
      *exit_code = WaitArray(*planner, array, 0);
    } else {
      std::cout << array << "\n";
    }
  });
}

}  // namespace volo::cli
