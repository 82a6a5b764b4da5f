// `volo status [--watch]`, `volo tasks`, `volo task ID`: what a planner holds, as tables or JSON.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <thread>

#include "cli/api.h"
#include "cli/commands.h"
#include "cli/text.h"
#include "wire/messages.h"

namespace volo::cli {
namespace json = boost::json;

namespace {

std::atomic<bool> g_stop{false};
void OnStop(int) { g_stop = true; }

const json::value& At(const json::object& o, std::string_view key) {
  static const json::value kNull;
  const json::value* v = o.if_contains(key);
  return v ? *v : kNull;
}

// "12.5 ms", "3.20 s", or "-" when either end is missing.
std::string Span(const json::value& from, const json::value& to) {
  if (!from.is_number() || !to.is_number()) return "-";
  double a = from.to_number<double>(), b = to.to_number<double>();
  if (a <= 0 || b <= 0) return "-";
  double d = std::max(0.0, b - a);
  char buf[32];
  if (d < 1) {
    std::snprintf(buf, sizeof buf, "%.1f ms", d * 1000);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f s", d);
  }
  return buf;
}

std::string Clip(std::string s, size_t width) {
  for (char& c : s) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  if (s.size() > width) s = s.substr(0, width - 3) + "...";
  return s;
}

// The status page: counts, the worker table (natural order of ids), why tasks wait.
std::optional<std::string> RenderStatus(const std::string& planner, int* exit_code) {
  auto status = Call(planner, "GET", "/api/v1/status", "", exit_code);
  if (!status || !status->is_object()) return std::nullopt;
  auto workers = Call(planner, "GET", "/api/v1/workers", "", exit_code);
  if (!workers || !workers->is_object()) return std::nullopt;
  const json::object& so = status->as_object();
  std::string out = Table({{"workers", "queued", "running", "done", "failed", "cancelled"},
                           {Str(At(so, "workers")), Str(At(so, "queued")), Str(At(so, "running")),
                            Str(At(so, "done")), Str(At(so, "failed")), Str(At(so, "cancelled"))}});
  std::vector<const json::object*> wl;
  if (const json::array* a = At(workers->as_object(), "workers").if_array()) {
    for (const auto& wv : *a) {
      if (wv.is_object()) wl.push_back(&wv.as_object());
    }
  }
  std::stable_sort(wl.begin(), wl.end(), [](const json::object* a, const json::object* b) {
    return NaturalLess(Str(At(*a, "id")), Str(At(*b, "id")));
  });
  if (!wl.empty()) {
    std::vector<std::vector<std::string>> rows{
        {"worker", "kind", "ops", "slots", "running", "done", "busy s", "state"}};
    for (const json::object* wo : wl) {
      std::string ops;
      if (const json::array* a = At(*wo, "ops").if_array()) {
        for (const auto& op : *a) ops += (ops.empty() ? "" : ",") + Str(op);
      }
      const json::value& busy = At(*wo, "busy_seconds");
      rows.push_back({Str(At(*wo, "id")), Str(At(*wo, "kind")), ops, Str(At(*wo, "slots")),
                      Str(At(*wo, "running")), Str(At(*wo, "done")),
                      busy.is_number() ? PlainDecimal(busy.to_number<double>(), 2) : "-",
                      Str(At(*wo, "state"))});
    }
    out += "\n" + Table(rows);
  }
  if (const json::array* waiting = At(so, "waiting").if_array(); waiting && !waiting->empty()) {
    out += "\n";
    for (const auto& wv : *waiting) {
      if (!wv.is_object()) continue;
      const json::object& w = wv.as_object();
      const json::value& n = At(w, "queued");
      out += "waiting: " +
             Count(n.is_number() ? n.to_number<int64_t>() : 0, Str(At(w, "op")) + " task") + ": " +
             Str(At(w, "reason")) + "\n";
    }
  }
  return out;
}

int WatchStatus(const std::string& planner, double interval) {
  bool tty = isatty(STDOUT_FILENO);
  g_stop = false;
  auto old_int = std::signal(SIGINT, OnStop);
  auto old_term = std::signal(SIGTERM, OnStop);
  while (!g_stop) {
    int ignored = 0;
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char clock[16];
    std::strftime(clock, sizeof clock, "%H:%M:%S", &tm);
    std::string frame = "volo status of " + planner + " at " + clock + " (every " +
                        PlainDecimal(interval, 1) + " s; Ctrl-C quits)\n\n";
    // A failed call prints its reason on stderr; the watch keeps trying, as top would.
    auto page = RenderStatus(planner, &ignored);
    frame += page ? *page : "(no answer from the planner; trying again)\n";
    if (tty) {
      // Home, then each line cleared to its end, then the rest of the screen: no flicker.
      std::string screen = "\x1b[H";
      size_t start = 0;
      while (start < frame.size()) {
        size_t nl = frame.find('\n', start);
        if (nl == std::string::npos) nl = frame.size();
        screen += frame.substr(start, nl - start) + "\x1b[K\n";
        start = nl + 1;
      }
      screen += "\x1b[J";
      std::cout << screen << std::flush;
    } else {
      std::cout << frame << "\n" << std::flush;
    }
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(interval);
    while (!g_stop && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);
  return 0;
}

void PrintTask(const json::object& t) {
  const json::value& args = At(t, "args");
  std::cout << "task " << Str(At(t, "id")) << ": " << Str(At(t, "op")) << " "
            << (args.is_null() ? "" : wire::ToJson(args)) << "\n";
  std::string state = Str(At(t, "state"));
  std::vector<std::vector<std::string>> rows{{"state", state}};
  if (state == "done") {
    rows.push_back({"result", wire::ToJson(At(t, "result"))});
  } else if (!At(t, "error").is_null()) {
    rows.push_back({"error", Str(At(t, "error"))});
  }
  rows.push_back({"worker", Str(At(t, "worker"))});
  const json::value& attempts = At(t, "attempts");
  const json::value& retries = At(t, "retries");
  rows.push_back({"attempts", Str(attempts) + " (" +
                                  Count(retries.is_number() ? retries.to_number<int64_t>() : 0,
                                        "retry", "retries") +
                                  " allowed)"});
  rows.push_back({"priority", Str(At(t, "priority"))});
  if (At(t, "timeout").is_number()) rows.push_back({"timeout", Str(At(t, "timeout")) + " s"});
  if (const json::object* labels = At(t, "labels").if_object(); labels && !labels->empty()) {
    std::string text;
    for (const auto& [k, v] : *labels) {
      text += (text.empty() ? "" : ", ") + std::string(k) + "=" + Str(v);
    }
    rows.push_back({"labels", text});
  }
  std::cout << Table(rows) << "timeline\n";
  const json::value& submitted = At(t, "submitted");
  const json::value& started = At(t, "started");
  const json::value& finished = At(t, "finished");
  std::vector<std::vector<std::string>> timeline{{"  submitted", Timestamp(submitted), ""}};
  timeline.push_back({"  started", Timestamp(started),
                      started.is_number() && started.to_number<double>() > 0
                          ? "queued " + Span(submitted, started)
                          : ""});
  std::string ran = Span(started, finished);
  timeline.push_back(
      {"  finished", Timestamp(finished), ran != "-" ? "ran " + ran + " (last attempt)" : ""});
  std::cout << Table(timeline);
}

}  // namespace

void AddTaskCommands(CLI::App& app, int* exit_code) {
  auto planner = std::make_shared<std::string>(DefaultPlanner());

  // ---- status ----
  auto* st = app.add_subcommand("status", "Show a planner's workers and task counts");
  auto stjson = std::make_shared<bool>(false);
  auto watch = std::make_shared<bool>(false);
  auto interval = std::make_shared<double>(2);
  AddPlannerFlags(*st, planner.get());
  st->add_flag("--json", *stjson, "Print JSON instead of tables");
  st->add_flag("--watch", *watch,
               "Refresh every --interval seconds until Ctrl-C: in place on a terminal, as "
               "repeated pages when piped");
  st->add_option("--interval", *interval, "Seconds between refreshes with --watch")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  st->callback([=] {
    if (*watch && *stjson) throw CLI::ValidationError("--watch shows tables; drop --json");
    if (*watch) {
      *exit_code = WatchStatus(*planner, *interval);
      return;
    }
    if (*stjson) {
      auto status = Call(*planner, "GET", "/api/v1/status", "", exit_code);
      if (!status || !status->is_object()) return;
      auto workers = Call(*planner, "GET", "/api/v1/workers", "", exit_code);
      if (!workers || !workers->is_object()) return;
      json::object o = status->as_object();
      o["worker_list"] = At(workers->as_object(), "workers");
      std::cout << PlainJson(o) << "\n";
      return;
    }
    if (auto page = RenderStatus(*planner, exit_code)) std::cout << *page;
  });

  // ---- tasks ----
  auto* ts = app.add_subcommand("tasks", "List a planner's tasks (filtered and limited by it)");
  auto tstate = std::make_shared<std::string>();
  auto top = std::make_shared<std::string>();
  auto tlimit = std::make_shared<int>(50);
  auto tafter = std::make_shared<uint64_t>(0);
  auto tjson = std::make_shared<bool>(false);
  AddPlannerFlags(*ts, planner.get());
  ts->add_option("--state", *tstate, "Only tasks in this state")
      ->check(CLI::IsMember({"queued", "running", "done", "failed", "cancelled"}));
  ts->add_option("--op", *top, "Only tasks of this operation");
  ts->add_option("--limit", *tlimit, "At most this many tasks (1 to 10000)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  ts->add_option("--after", *tafter, "Only tasks with a greater id (the next page)");
  ts->add_flag("--json", *tjson, "Print the planner's JSON ({\"tasks\": [...]})");
  ts->callback([=] {
    std::string path = "/api/v1/tasks?limit=" + std::to_string(*tlimit);
    if (*tafter) path += "&after=" + std::to_string(*tafter);
    if (!tstate->empty()) path += "&state=" + *tstate;
    if (!top->empty()) {
      std::string op;
      for (unsigned char c : *top) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
          op += static_cast<char>(c);
        } else {
          char buf[4];
          std::snprintf(buf, sizeof buf, "%%%02X", c);
          op += buf;
        }
      }
      path += "&op=" + op;
    }
    auto r = Call(*planner, "GET", path, "", exit_code);
    if (!r || !r->is_object()) return;
    const json::array* tasks = At(r->as_object(), "tasks").if_array();
    // A full page may have a next one; say how to ask for it (on stderr, apart from the data).
    auto hint_next_page = [&] {
      if (!tasks || static_cast<int>(tasks->size()) != *tlimit || !tasks->back().is_object()) {
        return;
      }
      std::cerr << "(more may follow: add --after " << Str(At(tasks->back().as_object(), "id"))
                << ")\n";
    };
    if (*tjson) {
      std::cout << PlainJson(*r) << "\n";
      hint_next_page();
      return;
    }
    if (!tasks || tasks->empty()) {
      std::cout << "no tasks" << (tstate->empty() && top->empty() ? "" : " match") << "\n";
      return;
    }
    std::vector<std::vector<std::string>> rows{
        {"id", "op", "state", "worker", "attempts", "submitted", "took", "result / error"}};
    for (const auto& tv : *tasks) {
      if (!tv.is_object()) continue;
      const json::object& t = tv.as_object();
      std::string state = Str(At(t, "state"));
      std::string outcome = state == "done"            ? wire::ToJson(At(t, "result"))
                            : At(t, "error").is_null() ? ""
                                                       : Str(At(t, "error"));
      rows.push_back({Str(At(t, "id")), Str(At(t, "op")), state, Str(At(t, "worker")),
                      Str(At(t, "attempts")), Timestamp(At(t, "submitted")),
                      Span(At(t, "started"), At(t, "finished")), Clip(outcome, 48)});
    }
    std::cout << Table(rows) << std::flush;
    hint_next_page();
  });

  // ---- task ----
  auto* one = app.add_subcommand("task", "Show one task with its timeline");
  auto id = std::make_shared<uint64_t>(0);
  auto onejson = std::make_shared<bool>(false);
  one->add_option("id", *id, "The task id")->required()->check(CLI::PositiveNumber);
  AddPlannerFlags(*one, planner.get());
  one->add_flag("--json", *onejson, "Print the planner's JSON for the task");
  one->callback([=] {
    auto r = Call(*planner, "GET", "/api/v1/tasks/" + std::to_string(*id), "", exit_code);
    if (!r || !r->is_object()) return;
    if (*onejson) {
      std::cout << PlainJson(*r) << "\n";
      return;
    }
    PrintTask(r->as_object());
  });
}

}  // namespace volo::cli
