// volo planner | worker | up | submit | status | wait | cancel
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>

#include "api/views.h"
#include "cli/commands.h"
#include "cli/up.h"
#include "common/log.h"
#include "net/client.h"
#include "planner/server.h"
#include "wire/messages.h"
#include "worker/agent.h"

namespace volo::cli {
namespace asio = boost::asio;
namespace json = boost::json;

std::string Env(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

bool EnvFlag(const char* name) {
  std::string v = Env(name, "");
  return !v.empty() && v != "0" && v != "false" && v != "no";
}

// A secret from a file (trailing whitespace trimmed) or, without a file, from the environment.
std::string Secret(const std::string& file, const char* env) {
  if (file.empty()) return Env(env, "");
  std::ifstream f(file);
  if (!f) throw CLI::ValidationError("cannot read " + file);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  if (s.empty()) throw CLI::ValidationError(file + " is empty");
  return s;
}

std::string g_token_file;  // --token-file of the client commands

std::string DefaultPlanner() {
  return Env("VOLO_PLANNER", Env("PLANNER", "http://127.0.0.1:3000"));
}

namespace {

// Parses an error body {"error": "..."} into its message, or returns the body.
std::string ErrorText(const net::ClientResponse& r) {
  auto v = api::ParseText(r.body);
  auto error = v.ok() ? api::ParseError(*v) : Result<api::ErrorView>(v.status());
  if (error.ok()) return error->error;
  return "HTTP " + std::to_string(r.status) + ": " + r.body;
}

// Calls the planner; prints a clear message and returns nullopt on any failure.
std::optional<json::value> Call(const std::string& planner, const std::string& method,
                                const std::string& path, const std::string& body = "",
                                int* exit_code = nullptr, double timeout_s = 10) {
  net::Headers headers{{"Content-Type", "application/json"}};
  std::string token = Secret(g_token_file, "VOLO_TOKEN");
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  auto r = net::HttpFetch(method, planner + path, body, headers,
                          std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  if (!r.ok()) {
    std::cerr << "volo: cannot reach the planner at " << planner << ": " << r.status().message()
              << "\n";
    if (exit_code) *exit_code = 2;
    return std::nullopt;
  }
  if (r->status >= 400) {
    std::cerr << "volo: " << ErrorText(*r) << "\n";
    if (exit_code) *exit_code = 1;
    return std::nullopt;
  }
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  if (ec) {
    std::cerr << "volo: the planner answered something that is not JSON\n";
    if (exit_code) *exit_code = 1;
    return std::nullopt;
  }
  return v;
}

void RunPlanner(planner::PlannerOptions opts, int tasks, uint64_t seed, double scale,
                int* exit_code) {
  asio::io_context io(1);
  planner::PlannerServer server(io, opts);
  auto port = server.Start();
  if (!port.ok()) {
    spdlog::error("cannot start: {}", port.status().message());
    *exit_code = 1;
    return;
  }
  spdlog::info("volo planner listening on {}://{}:{}",
               opts.tls_cert_file.empty() ? "http" : "https", opts.bind, *port);
  if (tasks > 0) {
    auto specs = RandomSeedTasks(tasks, seed, scale);
    auto first = server.core().Submit(std::move(specs));
    uint64_t first_id = first->value();
    auto left = std::make_shared<int>(tasks);
    double t0 = WallSeconds();
    std::cout << "planner: " << tasks << " tasks queued; waiting for workers\n" << std::flush;
    planner::Core& core = server.core();
    core.SetFinishedHook([&core, left, tasks, first_id, t0](const planner::Task& t) {
      if (t.id.value() < first_id || t.id.value() >= first_id + tasks) return;
      --*left;
      std::string worker =
          t.worker != planner::kNoWorker ? core.workers()[t.worker].id.value() : "-";
      std::cout << "task " << t.id.value() << " " << core.op_name(t.op) << " " << t.args << " = "
                << (t.state == planner::TaskState::kDone ? t.result : t.result) << " ("
                << planner::TaskStateName(t.state) << " on " << worker << ") [" << tasks - *left
                << "/" << tasks << "]\n";
      if (*left == 0) {
        std::cout << "planner: all " << tasks << " tasks finished in " << WallSeconds() - t0
                  << " s\n";
      }
      std::cout << std::flush;
    });
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int sig) {
    spdlog::info("signal {}: stopping", sig);
    server.Stop();
    io.stop();
  });
  io.run();
}

void RunWorker(worker::WorkerOptions opts, int* exit_code) {
  asio::io_context io(1);
  worker::Agent agent(io, opts);
  Status s = agent.Start();
  if (!s.ok()) {
    spdlog::error("{}", s.message());
    *exit_code = 1;
    return;
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  bool draining = false;
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec,
                                                                      int sig) {
    if (ec) return;
    if (draining) {
      spdlog::warn("second signal: leaving now");
      io.stop();
      return;
    }
    draining = true;
    spdlog::info("signal {}: draining", sig);
    agent.Drain([&] { io.stop(); });
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  io.run();
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& r : rows) {
    widths.resize(std::max(widths.size(), r.size()));
    for (size_t i = 0; i < r.size(); ++i) widths[i] = std::max(widths[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      std::string cell = r[i];
      if (i + 1 < r.size()) cell.resize(widths[i] + 2, ' ');
      line += cell;
    }
    std::cout << line << "\n";
  }
}

}  // namespace

void AddFleetCommands(CLI::App& app, int* exit_code) {
  // ---- planner ----
  auto* p = app.add_subcommand("planner", "Run a planner: holds tasks, hands them to workers");
  auto popts = std::make_shared<planner::PlannerOptions>();
  auto ptasks = std::make_shared<int>(0);
  auto pseed = std::make_shared<uint64_t>(0);
  auto plevel = std::make_shared<std::string>("info");
  auto hb_timeout = std::make_shared<double>(5);
  popts->port = static_cast<uint16_t>(std::atoi(Env("PORT", "3000").c_str()));
  popts->bind = Env("VOLO_BIND", "127.0.0.1");
  *ptasks = std::atoi(Env("TASKS", "0").c_str());
  p->add_option("--port", popts->port, "Port to listen on, 0 for any free one (env PORT)")
      ->capture_default_str();
  p->add_option("--bind", popts->bind, "Address to listen on (env VOLO_BIND)")
      ->capture_default_str();
  p->add_option("--port-file", popts->port_file, "Write the port to this file once listening");
  p->add_option("--tasks", *ptasks,
                "Seed demo: queue N random add/mult tasks at start and print their results "
                "(env TASKS)")
      ->check(CLI::NonNegativeNumber);
  p->add_option("--seed", *pseed, "Random seed for --tasks (0: a random one)");
  auto pscale = std::make_shared<double>(-1);
  if (const char* e = std::getenv("VOLO_DURATION_SCALE"); e && *e) *pscale = std::atof(e);
  p->add_option("--duration-scale", *pscale,
                "With --tasks: give each task a duration from the seed's ranges (add 3-7 s, mult "
                "3-12 s) times this (env VOLO_DURATION_SCALE); unset, workers choose")
      ->check(CLI::NonNegativeNumber);
  p->add_option("--heartbeat-timeout", *hb_timeout,
                "Seconds without a heartbeat before a worker is declared dead")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  p->add_option("--max-body", popts->max_body_bytes, "Largest request body in bytes (413 above)")
      ->capture_default_str();
  p->add_option("--data", popts->data_dir,
                "Keep a journal in this directory so a restarted planner loses nothing "
                "(env VOLO_DATA; default: in memory only)");
  auto keep = std::make_shared<double>(24 * 3600);
  p->add_option("--keep-results", *keep,
                "Seconds a finished task stays readable before it is "
                "pruned (memory and journal)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  p->add_option("--max-queued", popts->core.max_queued,
                "Most tasks waiting at once; submissions beyond get 429")
      ->capture_default_str();
  auto token_file = std::make_shared<std::string>();
  auto join_file = std::make_shared<std::string>();
  p->add_option("--token-file", *token_file,
                "Bearer token clients must send to the API (env VOLO_TOKEN)");
  p->add_option("--join-token-file", *join_file,
                "Bearer token workers must send to join (env VOLO_JOIN_TOKEN)");
  p->add_option("--tls-cert", popts->tls_cert_file, "PEM certificate: serve HTTPS/WSS only");
  p->add_option("--tls-key", popts->tls_key_file, "PEM private key for --tls-cert");
  p->add_option("--log-level", *plevel, "trace, debug, info, warn, error")->capture_default_str();
  popts->data_dir = Env("VOLO_DATA", "");
  p->callback([=] {
    InitLogging("planner", *plevel);
    popts->keep_results = std::chrono::seconds(static_cast<int64_t>(*keep));
    popts->api_token = Secret(*token_file, "VOLO_TOKEN");
    popts->join_token = Secret(*join_file, "VOLO_JOIN_TOKEN");
    if (popts->tls_cert_file.empty() != popts->tls_key_file.empty()) {
      spdlog::error("give both --tls-cert and --tls-key, or neither");
      *exit_code = 1;
      return;
    }
    popts->core.heartbeat_timeout =
        std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(*hb_timeout));
    RunPlanner(*popts, *ptasks, *pseed, *pscale, exit_code);
  });

  // ---- worker ----
  auto* w = app.add_subcommand("worker", "Run a worker: registers with a planner, runs tasks");
  auto wopts = std::make_shared<worker::WorkerOptions>();
  auto wlevel = std::make_shared<std::string>("info");
  auto wops = std::make_shared<std::string>();
  wopts->planner_url = Env("PLANNER", Env("VOLO_PLANNER", ""));
  wopts->http_port = std::atoi(Env("PORT", "0").c_str());
  wopts->bind = Env("VOLO_BIND", "127.0.0.1");
  wopts->id = Env("VOLO_WORKER_ID", "");
  wopts->duration_scale = std::atof(Env("VOLO_DURATION_SCALE", "1").c_str());
  wopts->slots = std::atoi(Env("VOLO_SLOTS", "1").c_str());
  w->add_option("--planner", wopts->planner_url,
                "Planner URL, like http://host:3000 (env PLANNER)");
  w->add_option("--ops", *wops,
                "Operations to run, comma-separated (default: add,mult,sleep,echo,noop; the "
                "seed's ADD / MULT variables: with only ADD set, only add)");
  w->add_option("--slots", wopts->slots, "Tasks run at once (env VOLO_SLOTS)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  w->add_option("--id", wopts->id, "Worker id, unique in the fleet (default host-pid)");
  w->add_option("--port", wopts->http_port,
                "Port of the seed HTTP endpoints (POST /add, /mult; env PORT); 0 any, -1 off")
      ->capture_default_str();
  w->add_option("--bind", wopts->bind, "Address of the seed HTTP endpoints (env VOLO_BIND)")
      ->capture_default_str();
  w->add_option("--port-file", wopts->port_file, "Write the HTTP port here once listening");
  w->add_option("--duration-scale", wopts->duration_scale,
                "Scale the seed's simulated add/mult durations (env VOLO_DURATION_SCALE)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  auto wjoin = std::make_shared<std::string>();
  w->add_option("--join-token-file", *wjoin,
                "Bearer token the planner asks workers for (env VOLO_JOIN_TOKEN)");
  w->add_option("--log-level", *wlevel, "trace, debug, info, warn, error")->capture_default_str();
  w->callback([=] {
    InitLogging("worker", *wlevel);
    wopts->join_token = Secret(*wjoin, "VOLO_JOIN_TOKEN");
    if (!wops->empty()) {
      wopts->ops.clear();
      std::stringstream ss(*wops);
      std::string op;
      while (std::getline(ss, op, ',')) {
        if (!op.empty()) wopts->ops.push_back(op);
      }
    } else if (EnvFlag("ADD") != EnvFlag("MULT")) {
      wopts->ops = {EnvFlag("ADD") ? "add" : "mult"};
    }
    if (wopts->planner_url.empty() && wopts->http_port < 0) {
      spdlog::error("give --planner URL (or PLANNER), or serve the seed endpoints with --port");
      *exit_code = 1;
      return;
    }
    RunWorker(*wopts, exit_code);
  });

  // ---- up ----
  AddUpCommand(app, exit_code);

  // ---- submit ----
  auto* s = app.add_subcommand("submit", "Submit a task to a planner");
  auto planner = std::make_shared<std::string>(DefaultPlanner());
  auto sop = std::make_shared<std::string>();
  auto sargs = std::make_shared<std::string>("{}");
  auto sretries = std::make_shared<int>(0);
  auto stimeout = std::make_shared<double>(0);
  auto sprio = std::make_shared<int>(0);
  auto slabels = std::make_shared<std::vector<std::string>>();
  auto swait = std::make_shared<bool>(false);
  s->add_option("op", *sop, "Operation (add, mult, sleep, echo, noop, or one a worker offers)")
      ->required();
  s->add_option("--args", *sargs, "Arguments as a JSON object, like '{\"a\":1,\"b\":2}'");
  s->add_option("--planner", *planner, "Planner URL (env VOLO_PLANNER)")->capture_default_str();
  s->add_option("--token-file", g_token_file, "Bearer token for the API (env VOLO_TOKEN)");
  s->add_option("--retries", *sretries, "Retries after a failed attempt")
      ->check(CLI::Range(0, 100));
  s->add_option("--timeout", *stimeout, "Seconds an attempt may run")
      ->check(CLI::NonNegativeNumber);
  s->add_option("--priority", *sprio, "Higher runs first");
  s->add_option("--label", *slabels, "A label key=value (repeatable)");
  s->add_flag("--wait", *swait, "Wait for the result and print it");
  s->callback([=] {
    boost::system::error_code ec;
    json::value args = json::parse(*sargs, ec);
    if (ec || !args.is_object()) {
      std::cerr << "volo: --args must be a JSON object, like '{\"a\":1,\"b\":2}'\n";
      *exit_code = 1;
      return;
    }
    json::object task{{"op", *sop}, {"args", args}};
    if (*sretries) task["retries"] = *sretries;
    if (*stimeout > 0) task["timeout"] = *stimeout;
    if (*sprio) task["priority"] = *sprio;
    if (!slabels->empty()) {
      json::object labels;
      for (const auto& l : *slabels) {
        auto eq = l.find('=');
        if (eq == std::string::npos) {
          std::cerr << "volo: --label takes key=value, not '" << l << "'\n";
          *exit_code = 1;
          return;
        }
        labels[l.substr(0, eq)] = l.substr(eq + 1);
      }
      task["labels"] = labels;
    }
    auto r = Call(*planner, "POST", "/api/v1/tasks", json::serialize(task), exit_code);
    if (!r) return;
    auto submitted = api::ParseSubmitted(*r);
    if (!submitted.ok() || submitted->ids.size() != 1) {
      std::cerr << "volo: unexpected answer from the planner: " << wire::ToJson(*r) << "\n";
      *exit_code = 1;
      return;
    }
    uint64_t id = submitted->ids[0];
    if (!*swait) {
      std::cout << id << "\n";
      return;
    }
    while (true) {
      auto t = Call(*planner, "GET", "/api/v1/tasks/" + std::to_string(id) + "/wait?timeout=60", "",
                    exit_code, 70);
      if (!t) return;
      auto task = api::ParseTask(*t);
      if (!task.ok()) {
        std::cerr << "volo: unexpected answer from the planner: " << task.status().message()
                  << "\n";
        *exit_code = 1;
        return;
      }
      std::string state(api::TaskStatusName(task->state));
      if (task->state == api::TaskStatus::kDone) {
        std::cout << wire::ToJson(task->result) << "\n";
        return;
      }
      if (state == "failed" || state == "cancelled") {
        std::cerr << "volo: task " << id << " " << state << ": " << task->error.value_or("-")
                  << "\n";
        *exit_code = 1;
        return;
      }
    }
  });

  // ---- status ----
  auto* st = app.add_subcommand("status", "Show workers and task counts of a planner");
  auto stjson = std::make_shared<bool>(false);
  st->add_option("--planner", *planner, "Planner URL (env VOLO_PLANNER)")->capture_default_str();
  st->add_option("--token-file", g_token_file, "Bearer token for the API (env VOLO_TOKEN)");
  st->add_flag("--json", *stjson, "Print JSON instead of tables");
  st->callback([=] {
    auto status = Call(*planner, "GET", "/api/v1/status", "", exit_code);
    if (!status) return;
    auto workers = Call(*planner, "GET", "/api/v1/workers", "", exit_code);
    if (!workers) return;
    auto so = api::ParseStatus(*status);
    auto wl = api::ParseWorkerList(*workers);
    if (!so.ok() || !wl.ok()) {
      std::cerr << "volo: unexpected answer from the planner: "
                << (so.ok() ? wl.status() : so.status()).message() << "\n";
      *exit_code = 1;
      return;
    }
    if (*stjson) {
      json::object o = api::ToValue(*so).as_object();
      o["worker_list"] = api::ToValue(*wl).at("workers");
      std::cout << wire::ToJson(o) << "\n";
      return;
    }
    auto n = [](uint64_t v) { return std::to_string(v); };
    PrintTable({{"workers", "queued", "running", "done", "failed", "cancelled"},
                {n(so->workers), n(so->queued), n(so->running), n(so->done), n(so->failed),
                 n(so->cancelled)}});
    if (!wl->workers.empty()) {
      std::cout << "\n";
      std::vector<std::vector<std::string>> rows{
          {"worker", "kind", "ops", "slots", "running", "done", "busy s", "state"}};
      for (const api::WorkerView& w : wl->workers) {
        std::string ops;
        for (const auto& op : w.ops) ops += (ops.empty() ? "" : ",") + op;
        char busy[32];
        std::snprintf(busy, sizeof busy, "%.2f", w.busy_seconds);
        rows.push_back({w.id, std::string(api::WorkerKindName(w.kind)), ops,
                        std::to_string(w.slots), n(w.running), n(w.done), busy,
                        std::string(api::WorkerStateName(w.state))});
      }
      PrintTable(rows);
    }
    for (const api::WaitingView& w : so->waiting) {
      std::cout << "\nwaiting: " << w.queued << " " << w.op << " task(s): " << w.reason;
    }
    if (!so->waiting.empty()) std::cout << "\n";
  });

  // ---- wait ----
  auto* wt = app.add_subcommand("wait", "Wait for tasks to finish and print their results");
  auto wids = std::make_shared<std::vector<uint64_t>>();
  auto wtimeout = std::make_shared<double>(300);
  wt->add_option("ids", *wids, "Task ids")->required();
  wt->add_option("--planner", *planner, "Planner URL (env VOLO_PLANNER)")->capture_default_str();
  wt->add_option("--token-file", g_token_file, "Bearer token for the API (env VOLO_TOKEN)");
  wt->add_option("--timeout", *wtimeout, "Seconds to wait at most")->capture_default_str();
  wt->callback([=] {
    json::array ids;
    for (uint64_t id : *wids) ids.push_back(id);
    double left = *wtimeout;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(left);
    while (true) {
      double chunk = std::min(left, 60.0);
      json::object body{{"ids", ids}, {"timeout", chunk}};
      auto r = Call(*planner, "POST", "/api/v1/wait", json::serialize(body), exit_code, chunk + 10);
      if (!r) return;
      auto answer = api::ParseWait(*r);
      if (!answer.ok()) {
        std::cerr << "volo: unexpected answer from the planner: " << answer.status().message()
                  << "\n";
        *exit_code = 1;
        return;
      }
      bool complete = answer->complete;
      left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
      if (!complete && left > 0) continue;
      for (const api::TaskView& t : answer->tasks) {
        std::string state(api::TaskStatusName(t.state));
        std::cout << t.id << " " << state << " "
                  << (t.state == api::TaskStatus::kDone ? wire::ToJson(t.result)
                                                        : t.error.value_or("-"))
                  << "\n";
        if (state == "failed" || state == "cancelled") *exit_code = 1;
      }
      if (!complete) {
        std::cerr << "volo: timed out waiting\n";
        *exit_code = 3;
      }
      return;
    }
  });

  // ---- cancel ----
  auto* c = app.add_subcommand("cancel", "Cancel queued or running tasks");
  auto cids = std::make_shared<std::vector<uint64_t>>();
  c->add_option("ids", *cids, "Task ids")->required();
  c->add_option("--planner", *planner, "Planner URL (env VOLO_PLANNER)")->capture_default_str();
  c->add_option("--token-file", g_token_file, "Bearer token for the API (env VOLO_TOKEN)");
  c->callback([=] {
    for (uint64_t id : *cids) {
      if (Call(*planner, "POST", "/api/v1/tasks/" + std::to_string(id) + "/cancel", "",
               exit_code)) {
        std::cout << id << " cancelled\n";
      }
    }
  });
}

}  // namespace volo::cli
