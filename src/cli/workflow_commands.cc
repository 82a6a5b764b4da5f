// `volo workflow ...`: check workflow files locally, define them on a planner, start, watch,
// cancel and relaunch runs (docs/workflows.md).
#include <sys/ioctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "api/views.h"
#include "cli/api.h"
#include "cli/commands.h"
#include "cli/text.h"
#include "fly/remote.h"
#include "net/client.h"
#include "wire/messages.h"
#include "workflow/definition.h"

namespace volo::cli {
namespace json = boost::json;

namespace {

Result<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Parses a workflow file from disk; `files` gets every file it refers to, as written.
workflow::ParseResult ParseFromDisk(const std::string& path, std::string* text,
                                    std::map<std::string, std::string>* files) {
  auto t = ReadFile(path);
  if (!t.ok()) {
    workflow::ParseResult r;
    r.errors.push_back({{}, t.status().message()});
    return r;
  }
  *text = std::move(*t);
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  workflow::FileReader read = [&](const std::string& rel) -> Result<std::string> {
    auto content = ReadFile(dir / rel);
    if (content.ok()) (*files)[rel] = *content;
    return content;
  };
  return workflow::ParseWorkflowFile(*text, read, fly::CheckStepFunction);
}

std::string Dur(const std::optional<double>& a, const std::optional<double>& b) {
  if (!a || !b) return "-";
  return ShortDuration(*b - *a);
}

std::string StepLine(const api::StepView& s) {
  std::string line(static_cast<size_t>(s.depth) * 2, ' ');
  line += s.name;
  if (s.kind == "group" || s.kind == "chain") line += " (" + s.kind + ")";
  if (s.kind == "hook") line += " (hook)";
  line += "  " + s.state;
  if (s.kind == "map") {
    line += "  " + std::to_string(s.succeeded) + "/" + std::to_string(s.elements) + " done";
    if (s.failed) line += ", " + std::to_string(s.failed) + " failed";
  }
  if (s.task) line += "  task " + std::to_string(*s.task);
  if (s.error) {
    std::string e = *s.error;
    if (e.size() > 120) e = e.substr(0, 117) + "...";
    line += "  " + e;
  }
  return line;
}

std::string RunHeader(const api::RunView& r) {
  std::string out = "run " + std::to_string(r.id) + " of " + r.workflow + ": " + r.state;
  if (r.finished) out += " in " + Dur(r.started, r.finished);
  if (r.failed_step) out += " (" + *r.failed_step + ": " + r.error.value_or("") + ")";
  return out;
}

std::optional<api::RunView> GetRun(const std::string& planner, uint64_t id, int* exit_code,
                                   bool* unreachable = nullptr) {
  auto v =
      Call(planner, "GET", "/api/v1/runs/" + std::to_string(id), "", exit_code, 10, unreachable);
  if (!v) return std::nullopt;
  auto run = api::ParseRun(*v);
  if (!run.ok()) {
    std::cerr << "volo: unexpected answer from the planner: " << run.status().message() << "\n";
    *exit_code = 1;
    return std::nullopt;
  }
  return std::move(*run);
}

// After the planner stopped answering: whether it answers again within `limit`. Runs survive
// a restart (with --data), so a watcher waits for it rather than give up on the run.
bool PlannerBack(const std::string& planner, std::chrono::seconds limit) {
  std::cerr << "volo: waiting up to " << limit.count() << " s for the planner to come back\n";
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    auto r = net::HttpFetch("GET", planner + "/healthz", "", {}, std::chrono::seconds(1));
    if (r.ok() && r->status == 200) {
      std::cerr << "volo: the planner is back\n";
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return false;
}

// Follows a run until it ends: on a terminal the tree is redrawn in place; piped, one line per
// step that changes state. The exit code is 0 when it succeeded.
int Watch(const std::string& planner, uint64_t id) {
  bool tty = isatty(STDOUT_FILENO) != 0;
  std::map<std::string, std::string> seen;
  size_t drawn = 0;
  int code = 0;
  while (true) {
    bool unreachable = false;
    auto run = GetRun(planner, id, &code, &unreachable);
    if (!run) {
      if (unreachable && PlannerBack(planner, std::chrono::seconds(60))) {
        drawn = 0;  // the messages moved the cursor: draw the tree afresh below them
        continue;
      }
      return 1;
    }
    if (tty) {
      std::string frame;
      for (size_t i = 0; i < drawn; ++i) frame += "\x1b[1A\x1b[2K";
      std::vector<std::string> lines{RunHeader(*run)};
      std::vector<bool> keep{true};
      for (const auto& s : run->steps) {
        lines.push_back("  " + StepLine(s));
        keep.push_back(s.state == "running" || s.state == "failed");
      }
      // A frame taller or wider than the terminal would scroll, and moving up would then
      // erase the wrong rows: a long chain shows what runs and what failed first.
      winsize ws{};
      if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0) ws = {};
      lines = FitToTerminal(std::move(lines), keep, ws.ws_row, ws.ws_col, "steps");
      for (const auto& l : lines) frame += l + "\n";
      drawn = lines.size();
      std::cout << frame << std::flush;
    } else {
      for (const auto& s : run->steps) {
        // A hook may run a task a step runs too, under the same path.
        std::string key = (s.kind == "hook" ? "hook:" : "") + s.path;
        std::string state = s.state + (s.kind == "map" ? std::to_string(s.succeeded) : "");
        if (seen[key] != state) {
          seen[key] = state;
          if (s.state != "pending")
            std::cout << StepLine(api::StepView{s}).substr(static_cast<size_t>(2 * s.depth)) << " ["
                      << s.path << "]\n";
        }
      }
    }
    bool ended = run->state == "succeeded" || run->state == "failed" || run->state == "cancelled";
    bool hook_running = false;
    for (const auto& s : run->steps) hook_running |= s.kind == "hook" && s.state == "running";
    if (ended && !hook_running) {
      if (!tty) std::cout << RunHeader(*run) << "\n";
      return run->state == "succeeded" ? 0 : 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// A workflow name as the planner can hold one (it goes in the URL as it is); otherwise an
// error that says so, rather than a bad URL.
bool NameOk(const std::string& name, int* exit_code) {
  if (wire::ValidName(name)) return true;
  std::cerr << "volo: no workflow is named '" << name
            << "': names are PROJECT.NAME of letters, digits, _ . : -\n";
  *exit_code = 2;
  return false;
}

Result<std::string> PayloadText(const std::string& arg) {
  std::string text = arg;
  if (!arg.empty() && arg[0] == '@') {
    VOLO_ASSIGN_OR_RETURN(text, ReadFile(arg.substr(1)));
  }
  auto v = api::ParseText(text);
  if (!v.ok() || !v->is_object()) {
    return InvalidArgument("--payload: must be a JSON object (or @FILE holding one)");
  }
  return text;
}

}  // namespace

void AddWorkflowCommands(CLI::App& app, int* exit_code) {
  auto* wf = app.add_subcommand("workflow",
                                "Workflows: tasks chained, grouped and mapped in a YAML file "
                                "(Celery Director's layout), run by the planner");
  wf->require_subcommand(1);
  auto planner = std::make_shared<std::string>(DefaultPlanner());

  // validate
  auto* validate =
      wf->add_subcommand("validate", "Check workflow files; print file:line:col errors");
  auto vfiles = std::make_shared<std::vector<std::string>>();
  validate->add_option("FILE", *vfiles, "Workflow files")->required();
  validate->callback([=] {
    for (const std::string& f : *vfiles) {
      std::string text;
      std::map<std::string, std::string> files;
      workflow::ParseResult r = ParseFromDisk(f, &text, &files);
      if (!r.ok()) {
        for (const auto& d : r.errors) std::cerr << d.Format(f) << "\n";
        *exit_code = 1;
        continue;
      }
      std::string names;
      for (const auto& w : r.file.workflows) names += (names.empty() ? "" : ", ") + w.name;
      std::cout << f << ": ok, " << Count(static_cast<int64_t>(r.file.workflows.size()), "workflow")
                << " (" << names << ")\n";
    }
  });

  // apply
  auto* apply =
      wf->add_subcommand("apply", "Define (or replace) the workflows of a file on the planner");
  auto afile = std::make_shared<std::string>();
  apply->add_option("FILE", *afile, "Workflow file")->required();
  AddPlannerFlags(*apply, planner.get());
  apply->callback([=] {
    std::string text;
    std::map<std::string, std::string> files;
    workflow::ParseResult r = ParseFromDisk(*afile, &text, &files);
    if (!r.ok()) {
      for (const auto& d : r.errors) std::cerr << d.Format(*afile) << "\n";
      *exit_code = 1;
      return;
    }
    json::object fo;
    for (auto& [k, v] : files) fo[k] = v;
    json::object body{{"filename", std::filesystem::path(*afile).filename().string()},
                      {"text", text},
                      {"files", std::move(fo)}};
    auto answer = Call(*planner, "POST", "/api/v1/workflows", json::serialize(body), exit_code);
    if (!answer) return;
    auto list = api::ParseWorkflowList(*answer);
    if (!list.ok()) return;
    for (const auto& w : list->workflows) std::cout << "defined " << w.name << "\n";
  });

  // list
  auto* list = wf->add_subcommand("list", "The workflows the planner knows");
  AddPlannerFlags(*list, planner.get());
  list->callback([=] {
    auto answer = Call(*planner, "GET", "/api/v1/workflows", "", exit_code);
    if (!answer) return;
    auto l = api::ParseWorkflowList(*answer);
    if (!l.ok()) return;
    std::vector<std::vector<std::string>> rows{{"workflow", "schedule", "next run", "steps"}};
    for (const auto& w : l->workflows) {
      std::string steps;
      if (const json::array* a = w.tasks.if_array()) {
        for (const auto& s : *a) {
          std::string n = s.is_string() ? std::string(s.as_string())
                          : s.is_object() && !s.as_object().empty()
                              ? std::string(s.as_object().begin()->key())
                              : "?";
          steps += (steps.empty() ? "" : ", ") + n;
        }
      }
      rows.push_back({w.name, w.schedule.value_or("-"),
                      w.next_run ? Timestamp(json::value(*w.next_run), true) : "-", steps});
    }
    std::cout << Table(rows);
  });

  // run
  auto* run = wf->add_subcommand("run", "Start a run of a workflow");
  auto rname = std::make_shared<std::string>();
  auto payload = std::make_shared<std::string>("{}");
  auto rwait = std::make_shared<bool>(false);
  run->add_option("NAME", *rname, "PROJECT.NAME")->required();
  auto* payload_flag = run->add_option("--payload", *payload, "JSON object, or @FILE");
  // `director workflow run NAME '{"user": 1}'`: the payload as Director's CLI takes it.
  run->add_option("PAYLOAD", *payload, "The payload, as Director's CLI takes it (or --payload)")
      ->excludes(payload_flag);
  run->add_flag("--wait", *rwait, "Follow the run until it ends; exit 0 only if it succeeded");
  AddPlannerFlags(*run, planner.get());
  run->callback([=] {
    if (!NameOk(*rname, exit_code)) return;
    auto p = PayloadText(*payload);
    if (!p.ok()) {
      std::cerr << "volo: " << p.status().message() << "\n";
      *exit_code = 2;
      return;
    }
    auto answer = Call(*planner, "POST", "/api/v1/workflows/" + *rname + "/runs",
                       "{\"payload\":" + *p + "}", exit_code);
    if (!answer) return;
    auto r = api::ParseRun(*answer);
    if (!r.ok()) return;
    if (!*rwait) {
      std::cout << r->id << "\n";
      return;
    }
    *exit_code = Watch(*planner, r->id);
  });

  // runs
  auto* runs = wf->add_subcommand("runs", "Recent runs, newest first");
  auto wname = std::make_shared<std::string>();
  auto limit = std::make_shared<int>(20);
  runs->add_option("NAME", *wname, "Only this workflow's runs");
  runs->add_option("--limit", *limit, "How many")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  AddPlannerFlags(*runs, planner.get());
  runs->callback([=] {
    if (!wname->empty() && !NameOk(*wname, exit_code)) return;
    std::string path = "/api/v1/runs?limit=" + std::to_string(*limit);
    if (!wname->empty()) path += "&workflow=" + *wname;
    auto answer = Call(*planner, "GET", path, "", exit_code);
    if (!answer) return;
    auto l = api::ParseRunList(*answer);
    if (!l.ok()) return;
    std::vector<std::vector<std::string>> rows{
        {"run", "workflow", "state", "trigger", "created", "took", "failed step"}};
    for (const auto& r : l->runs) {
      rows.push_back({std::to_string(r.id), r.workflow, r.state, r.trigger,
                      r.created ? Timestamp(json::value(*r.created)) : "-",
                      Dur(r.started, r.finished), r.failed_step.value_or("-")});
    }
    std::cout << Table(rows);
  });

  // show
  auto* show = wf->add_subcommand("show", "A run's steps with their states");
  auto sid = std::make_shared<uint64_t>(0);
  auto sjson = std::make_shared<bool>(false);
  show->add_option("RUN", *sid, "Run id")->required();
  show->add_flag("--json", *sjson, "Print the planner's JSON");
  AddPlannerFlags(*show, planner.get());
  show->callback([=] {
    if (*sjson) {
      auto v = Call(*planner, "GET", "/api/v1/runs/" + std::to_string(*sid), "", exit_code);
      if (v) std::cout << PlainJson(*v) << "\n";
      return;
    }
    auto r = GetRun(*planner, *sid, exit_code);
    if (!r) return;
    std::cout << RunHeader(*r) << "\n";
    for (const auto& s : r->steps) std::cout << "  " << StepLine(s) << "\n";
  });

  // cancel
  auto* cancel = wf->add_subcommand("cancel", "Cancel a run: its running tasks are cancelled");
  auto cid = std::make_shared<uint64_t>(0);
  cancel->add_option("RUN", *cid, "Run id")->required();
  AddPlannerFlags(*cancel, planner.get());
  cancel->callback([=] {
    auto v =
        Call(*planner, "POST", "/api/v1/runs/" + std::to_string(*cid) + "/cancel", "", exit_code);
    if (v) std::cout << "cancelled run " << *cid << "\n";
  });

  // relaunch
  auto* relaunch =
      wf->add_subcommand("relaunch", "Run a finished run's workflow again with its payload");
  auto lid = std::make_shared<uint64_t>(0);
  auto from_failed = std::make_shared<bool>(false);
  auto lwait = std::make_shared<bool>(false);
  relaunch->add_option("RUN", *lid, "Run id")->required();
  relaunch->add_flag("--from-failed", *from_failed,
                     "Skip the steps that succeeded (their results are reused)");
  relaunch->add_flag("--wait", *lwait, "Follow the new run until it ends");
  AddPlannerFlags(*relaunch, planner.get());
  relaunch->callback([=] {
    auto v = Call(*planner, "POST", "/api/v1/runs/" + std::to_string(*lid) + "/relaunch",
                  *from_failed ? "{\"from_failed\":true}" : "{}", exit_code);
    if (!v) return;
    auto r = api::ParseRun(*v);
    if (!r.ok()) return;
    if (!*lwait) {
      std::cout << r->id << "\n";
      return;
    }
    *exit_code = Watch(*planner, r->id);
  });

  // schedules
  auto* sched =
      wf->add_subcommand("schedules", "When each periodic workflow runs next (UTC schedules)");
  AddPlannerFlags(*sched, planner.get());
  sched->callback([=] {
    auto v = Call(*planner, "GET", "/api/v1/schedules", "", exit_code);
    if (!v || !v->is_object()) return;
    std::vector<std::vector<std::string>> rows{{"workflow", "schedule", "next run"}};
    if (const json::array* a = v->as_object().at("schedules").if_array()) {
      for (const auto& s : *a) {
        const json::object& o = s.as_object();
        // UTC, as the schedules are: a cron "0 */3 * * *" next at "06:00:00 UTC".
        rows.push_back(
            {Str(o.at("workflow")), Str(o.at("schedule")), Timestamp(o.at("next_run"), true)});
      }
    }
    std::cout << Table(rows);
  });
}

}  // namespace volo::cli
