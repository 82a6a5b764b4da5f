// `volo fn deploy|invoke|ls|show|rm|rollback|logs|usage`: functions as a service
// (docs/functions.md; the planner's side is src/planner/functions.h).
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>

#include "cli/api.h"
#include "cli/commands.h"
#include "net/client.h"

namespace volo::cli {
namespace json = boost::json;

namespace {

struct DeployFlags {
  std::string name;
  std::vector<std::string> words;
  bool cmd = false;
  bool http = false;
  std::string fly_file, fly_function;  // --fly FILE --func F
  std::string ready;
  double ready_timeout = 0;
  std::string bundle_dir;
  int min = 0, max = 10, concurrency = 1, queue = 100;
  double idle = 300, timeout = 60, cpus = 0;
  double wait = 60;  // seconds `deploy` waits for the new revision to take calls
  int64_t memory = 0;
  std::vector<std::string> env;
  bool is_public = false;
};

// "@FILE" is the file's bytes, "@-" this process's stdin, anything else the text itself.
std::optional<std::string> ReadData(const std::string& arg) {
  if (arg.empty() || arg[0] != '@') return arg;
  if (arg == "@-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream f(arg.substr(1), std::ios::binary);
  if (!f) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// An error answer's message: its JSON "error", else the body.
std::string ErrorOf(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (!ec && v.is_object() && v.as_object().contains("error")) {
    return Str(v.as_object().at("error"));
  }
  return body;
}

// Waits until the planner sends NAME's new calls to revision `rev` (its "serving" revision):
// a deploy or rollback switches only once an instance of the new revision is ready. 0 when it
// does within `wait` seconds (or `wait` is 0), else 1 with what still serves.
int WaitServing(const std::string& planner, const std::string& name, const std::string& rev,
                double wait) {
  if (wait <= 0) return 0;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(wait * 1000));
  std::string serving;
  for (auto pause = std::chrono::milliseconds(5);;
       pause = std::min(pause * 2, std::chrono::milliseconds(250))) {
    int exit_code = 0;
    auto r = Call(planner, "GET", "/api/v1/functions/" + name, "", &exit_code);
    if (!r) return exit_code;
    const json::object& o = r->as_object();
    // A planner without the field switches the same way; there is nothing to wait on.
    if (!o.contains("serving")) return 0;
    serving = Str(o.at("serving"));
    if (serving == rev) return 0;
    if (std::chrono::steady_clock::now() + pause > deadline) break;
    std::this_thread::sleep_for(pause);
  }
  std::cerr << "volo: revision " << rev.substr(0, 12) << " of " << name
            << " is not taking calls after " << wait << " s; calls still go to revision "
            << serving.substr(0, 12) << " (volo fn logs " << name << " shows its instances)\n";
  return 1;
}

int Deploy(const std::string& planner, const DeployFlags& d) {
  const bool fly = !d.fly_file.empty();
  if (fly && (d.cmd || d.http || !d.words.empty())) {
    std::cerr << "volo: --fly is a runner of its own, without --cmd, --http or a program\n";
    return 2;
  }
  if (fly && d.fly_function.empty()) {
    std::cerr << "volo: give the function each call calls: volo fn deploy " << d.name << " --fly "
              << d.fly_file << " --func F\n";
    return 2;
  }
  if (!fly && !d.fly_function.empty()) {
    std::cerr << "volo: --func is for --fly functions\n";
    return 2;
  }
  if (!fly && (!d.cmd || d.words.empty())) {
    std::cerr << "volo: give the function's program with --cmd (or --fly FILE --func F): volo "
                 "fn deploy "
              << d.name << " [--http] --cmd -- PROGRAM ARGS...\n";
    return 2;
  }
  if (!d.http && (!d.ready.empty() || d.ready_timeout > 0)) {
    std::cerr << "volo: --ready and --ready-timeout are for --http functions\n";
    return 2;
  }
  json::object spec;
  spec["runner"] = fly ? "fly" : d.http ? "http" : "cmd";
  if (!d.ready.empty()) spec["ready"] = d.ready;
  if (d.ready_timeout > 0) spec["ready_timeout"] = d.ready_timeout;
  if (fly) {
    // The program travels in the spec. With --bundle, FILE is a path inside the bundle (the
    // program then runs beside its files); without, its base name is what messages show.
    std::string path = d.bundle_dir.empty() ? d.fly_file : d.bundle_dir + "/" + d.fly_file;
    std::ifstream f(path, std::ios::binary);
    if (!f) {
      std::cerr << "volo: cannot read " << path << "\n";
      return 2;
    }
    std::string source{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
    std::string name = d.fly_file;
    if (d.bundle_dir.empty()) {
      if (auto slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);
    }
    json::object flyspec;
    flyspec["file"] = name;
    flyspec["source"] = std::move(source);
    flyspec["function"] = d.fly_function;
    spec["fly"] = std::move(flyspec);
  } else {
    json::array argv;
    for (const auto& w : d.words) argv.emplace_back(w);
    spec["cmd"] = std::move(argv);
  }
  int exit_code = 0;
  if (!d.bundle_dir.empty()) {
    std::string id = PushBundle(planner, d.bundle_dir, &exit_code);
    if (id.empty()) return exit_code ? exit_code : 1;
    spec["bundle"] = id;
  }
  json::object env;
  for (const auto& e : d.env) {
    auto eq = e.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "volo: --env takes NAME=VALUE, not '" << e << "'\n";
      return 2;
    }
    env[e.substr(0, eq)] = e.substr(eq + 1);
  }
  spec["env"] = std::move(env);
  spec["min"] = d.min;
  spec["max"] = d.max;
  spec["concurrency"] = d.concurrency;
  spec["queue"] = d.queue;
  spec["idle"] = d.idle;
  spec["timeout"] = d.timeout;
  spec["memory"] = d.memory;
  spec["cpus"] = d.cpus;
  spec["public"] = d.is_public;
  auto r = Call(planner, "PUT", "/api/v1/functions/" + d.name, json::serialize(spec), &exit_code);
  if (!r) return exit_code;
  const json::object& o = r->as_object();
  std::string rev = o.contains("revision") ? Str(o.at("revision")) : "";
  bool changed = o.contains("changed") && o.at("changed").is_bool() && o.at("changed").as_bool();
  std::cout << d.name << " " << rev.substr(0, 12)
            << (changed ? " deployed" : " unchanged (already the current revision)") << "\n";
  std::cout.flush();
  return WaitServing(planner, d.name, rev, d.wait);
}

// `method planner+path` with the API token and `headers`, for an answer that is the function's
// own (not JSON): the answer, or nullopt once it has said why there is none (the planner not
// reached, or an error status).
std::optional<net::ClientResponse> FetchFn(const std::string& planner, const std::string& method,
                                           const std::string& path, const std::string& body,
                                           net::Headers headers,
                                           std::chrono::milliseconds timeout) {
  if (std::string token = ApiToken(); !token.empty()) {
    headers.emplace_back("Authorization", "Bearer " + token);
  }
  auto r = net::HttpFetch(method, planner + path, body, headers, timeout);
  if (!r.ok()) {
    std::cerr << "volo: cannot reach the planner at " << planner << ": " << r.status().message()
              << "\n";
    return std::nullopt;
  }
  if (r->status >= 400) {
    std::cerr << "volo: HTTP " << r->status << ": " << ErrorOf(r->body) << "\n";
    return std::nullopt;
  }
  return std::move(*r);
}

// `volo fn result NAME ID [--wait S]`: an async call's answer (GET
// /api/v1/functions/NAME/calls/ID); exits 1 on an error answer, 3 while the call still runs.
int AsyncAnswer(const std::string& planner, const std::string& name, const std::string& id,
                double wait) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(wait * 1000));
  for (auto pause = std::chrono::milliseconds(20);;
       pause = std::min(pause * 2, std::chrono::milliseconds(1000))) {
    auto r = FetchFn(planner, "GET", "/api/v1/functions/" + name + "/calls/" + id, "", {},
                     std::chrono::seconds(60));
    if (!r) return 1;
    if (r->status != 202) {
      std::cout << r->body;
      std::cout.flush();
      return 0;
    }
    if (std::chrono::steady_clock::now() + pause > deadline) {
      std::cerr << "volo: call " << id << " of " << name << " is still running\n";
      return 3;
    }
    std::this_thread::sleep_for(pause);
  }
}

int Invoke(const std::string& planner, const std::string& name, const std::string& data,
           double timeout, bool async) {
  auto body = ReadData(data);
  if (!body) {
    std::cerr << "volo: cannot read " << data.substr(1) << "\n";
    return 1;
  }
  auto r = FetchFn(planner, "POST", "/fn/" + name + (async ? "?async=1" : ""), *body,
                   {{"Content-Type", "application/octet-stream"}},
                   std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000)));
  if (!r) return 1;
  if (async) {
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("id")) {
      std::cerr << "volo: the planner's answer has no call id: " << r->body << "\n";
      return 1;
    }
    std::cout << Str(v.as_object().at("id")) << "\n";
    return 0;
  }
  std::cout << r->body;
  std::cout.flush();
  return 0;
}

std::string Seconds(const json::value& v) {
  if (!v.is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", v.to_number<double>());
  return buf;
}

int List(const std::string& planner) {
  int exit_code = 0;
  auto r = Call(planner, "GET", "/api/v1/functions", "", &exit_code);
  if (!r) return exit_code;
  std::vector<std::vector<std::string>> rows{
      {"NAME", "REVISION", "INSTANCES", "CALLS", "ERRORS", "COLD STARTS", "COMMAND"}};
  for (const auto& f : r->as_object().at("functions").as_array()) {
    const json::object& o = f.as_object();
    const json::object& inst = o.at("instances").as_object();
    const json::object& spec = o.at("spec").as_object();
    std::string cmd;
    for (const auto& w : spec.at("cmd").as_array()) cmd += (cmd.empty() ? "" : " ") + Str(w);
    if (const json::value* fly = spec.if_contains("fly"); fly && fly->is_object()) {
      // A fly function's program: its file and function.
      cmd = "fly " + Str(fly->as_object().at("file")) + " " + Str(fly->as_object().at("function")) +
            "()";
    }
    rows.push_back({Str(o.at("name")), Str(o.at("revision")).substr(0, 12),
                    Str(inst.at("ready")) + "/" + Str(inst.at("total")), Str(o.at("calls")),
                    Str(o.at("errors")), Str(o.at("cold_starts")), cmd});
  }
  if (rows.size() == 1) {
    std::cout << "no functions (deploy one with `volo fn deploy NAME --cmd -- PROGRAM`)\n";
    return 0;
  }
  std::cout << Table(rows);
  return 0;
}

int Show(const std::string& planner, const std::string& name) {
  int exit_code = 0;
  auto r = Call(planner, "GET", "/api/v1/functions/" + name, "", &exit_code);
  if (!r) return exit_code;
  std::cout << PlainJson(*r) << "\n";
  return 0;
}

// Prints the function's log from the start (what the planner still keeps); with `follow`, keeps
// printing what comes until interrupted.
int Logs(const std::string& planner, const std::string& name, bool follow) {
  uint64_t offset = 0;
  for (;;) {
    int exit_code = 0;
    auto r = Call(planner, "GET",
                  "/api/v1/functions/" + name + "/logs?offset=" + std::to_string(offset) +
                      (follow ? "&follow=1" : ""),
                  "", &exit_code, 60);
    if (!r || !r->is_object()) return exit_code ? exit_code : 1;
    const json::object& o = r->as_object();
    const json::value* text = o.if_contains("text");
    const json::value* start = o.if_contains("start");
    const json::value* next = o.if_contains("next");
    if (!text || !text->is_string() || !next || !next->is_number() || !start ||
        !start->is_number()) {
      std::cerr << "volo: the planner's answer has no log\n";
      return 1;
    }
    const auto first = start->to_number<uint64_t>();
    if (first > offset && offset > 0) {
      std::cerr << "volo: " << first - offset << " bytes of the log were dropped meanwhile\n";
    }
    std::cout << std::string_view(text->get_string()) << std::flush;
    const auto after = next->to_number<uint64_t>();
    const bool more = after != offset;
    offset = after;
    if (!follow && !more) return 0;
    if (!follow && o.at("size").to_number<uint64_t>() <= offset) return 0;
  }
}

int Usage(const std::string& planner, const std::string& name, const std::string& from,
          const std::string& to, bool as_json) {
  std::string path = "/api/v1/functions/" + name + "/usage";
  std::string q;
  if (!from.empty()) q += "from=" + from;
  if (!to.empty()) q += std::string(q.empty() ? "" : "&") + "to=" + to;
  if (!q.empty()) path += "?" + q;
  int exit_code = 0;
  auto r = Call(planner, "GET", path, "", &exit_code);
  if (!r) return exit_code;
  if (as_json) {
    std::cout << PlainJson(*r) << "\n";
    return 0;
  }
  const json::object& o = r->as_object();
  std::vector<std::vector<std::string>> rows{
      {"CALLER", "CALLS", "ERRORS", "COLD", "WALL", "RUN", "CPU", "PEAK MEMORY"}};
  auto row = [&](const std::string& who, const json::object& s) {
    rows.push_back({who, Str(s.at("calls")), Str(s.at("errors")), Str(s.at("cold")),
                    Seconds(s.at("wall_seconds")), Seconds(s.at("run_seconds")),
                    Seconds(s.at("cpu_seconds")), Str(s.at("peak_memory"))});
  };
  for (const auto& [caller, s] : o.at("callers").as_object())
    row(std::string(caller), s.as_object());
  row("(all)", o);
  std::cout << Table(rows);
  return 0;
}

}  // namespace

void AddFunctionCommands(CLI::App& app, int* exit_code) {
  auto* fn = app.add_subcommand(
      "fn",
      "Functions as a service: deploy a program by name, call it over HTTP (docs/functions.md)");
  fn->require_subcommand(1);
  auto planner = std::make_shared<std::string>(DefaultPlanner());

  // ---- deploy ----
  auto d = std::make_shared<DeployFlags>();
  auto* dep = fn->add_subcommand(
      "deploy",
      "Deploy a function (a new revision when anything changed): volo fn deploy NAME [--bundle "
      "DIR] [--http] --cmd -- PROGRAM ARGS... Each call runs PROGRAM in the sandbox with the "
      "request body on stdin; its stdout is the answer. With --http, PROGRAM is a long-lived "
      "HTTP server listening on 127.0.0.1:$PORT, and calls are proxied to it. Or volo fn deploy "
      "NAME [--bundle DIR] --fly FILE --func F: each call calls the FLY function F(body) or "
      "F(body, request) in a warm VM, and its return value is the answer "
      "(docs/functions.md, \"Runners\")");
  dep->add_option("name", d->name, "The function's name (a-z, 0-9, '-')")->required();
  dep->add_option("words", d->words, "After --: the program and its arguments");
  dep->add_flag("--cmd", d->cmd,
                "The cmd runner: one sandboxed process per call, the words after -- its program");
  dep->add_flag("--http", d->http,
                "The http runner: PROGRAM (after --cmd --) serves HTTP on 127.0.0.1:$PORT in the "
                "sandbox; each instance is one such process, and calls are proxied to it");
  dep->add_option("--fly", d->fly_file,
                  "The fly runner: this FLY program (inside --bundle DIR when given) is "
                  "compiled once per instance, and each call calls its function --func");
  dep->add_option("--func", d->fly_function,
                  "With --fly: the function a call calls, F(), F(body) or F(body, request); a "
                  "String it returns is the answer's body, a map {status, headers, body} the "
                  "whole answer");
  dep->add_option("--ready", d->ready,
                  "With --http: the path an instance must answer a GET on (any status below "
                  "500) before it takes calls (default /)");
  dep->add_option("--ready-timeout", d->ready_timeout,
                  "With --http: seconds an instance may take to become ready before it is "
                  "stopped and reported (default 30)")
      ->check(CLI::Range(0.001, 604800.0));
  dep->add_option("--bundle", d->bundle_dir,
                  "Push this directory as a bundle; the program runs in it (read-only)")
      ->check(CLI::ExistingDirectory);
  dep->add_option("--min", d->min, "Instances kept running without calls")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  dep->add_option("--max", d->max, "Instances at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  dep->add_option("--concurrency", d->concurrency, "Calls one instance runs at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  dep->add_option("--queue", d->queue,
                  "Calls held while every instance is busy or starting; beyond, 429")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  dep->add_option("--idle", d->idle, "Seconds without calls before an instance stops")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 604800.0));
  dep->add_option("--timeout", d->timeout, "Seconds a call may take, waiting included")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 604800.0));
  dep->add_option("--memory", d->memory, "MiB one call's processes may use (0: no limit)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  dep->add_option("--cpus", d->cpus, "CPUs a call uses (counted, not enforced yet)")
      ->check(CLI::NonNegativeNumber);
  dep->add_option("--env", d->env, "NAME=VALUE in the program's environment (repeatable)");
  dep->add_flag("--public", d->is_public, "Callable without the API token");
  dep->add_option("--wait", d->wait,
                  "Seconds to wait for the new revision to take the calls (its first instance "
                  "ready, when an older revision has instances running); 0: do not wait. "
                  "Exits 1 if it does not in time")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 604800.0));
  AddPlannerFlags(*dep, planner.get());
  dep->callback([=] { *exit_code = Deploy(*planner, *d); });

  // ---- invoke ----
  auto iname = std::make_shared<std::string>();
  auto idata = std::make_shared<std::string>();
  auto itimeout = std::make_shared<double>(600);
  auto* inv = fn->add_subcommand(
      "invoke", "Call a function (POST /fn/NAME) and print its answer; exits 1 on an error");
  inv->add_option("name", *iname, "The function")->required();
  inv->add_option("--data,-d", *idata,
                  "The request body: @FILE for a file's bytes, @- for stdin, else the text");
  inv->add_option("--timeout", *itimeout, "Seconds to wait for the answer")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 604800.0));
  auto iasync = std::make_shared<bool>(false);
  inv->add_flag("--async", *iasync,
                "Do not wait: print the call's id (its answer: volo fn result NAME ID)");
  AddPlannerFlags(*inv, planner.get());
  inv->callback([=] { *exit_code = Invoke(*planner, *iname, *idata, *itimeout, *iasync); });

  auto resname = std::make_shared<std::string>();
  auto resid = std::make_shared<std::string>();
  auto reswait = std::make_shared<double>(0);
  auto* res = fn->add_subcommand(
      "result",
      "An async call's answer (printed as invoke does); exits 3 while the call still runs");
  res->add_option("name", *resname, "The function")->required();
  res->add_option("id", *resid, "The id `volo fn invoke --async` printed")->required();
  res->add_option("--wait", *reswait, "Seconds to wait for the call to be done")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 604800.0));
  AddPlannerFlags(*res, planner.get());
  res->callback([=] { *exit_code = AsyncAnswer(*planner, *resname, *resid, *reswait); });

  // ---- ls / show / rm / rollback ----
  auto* ls = fn->add_subcommand("ls", "List the functions, their instances and calls");
  AddPlannerFlags(*ls, planner.get());
  ls->callback([=] { *exit_code = List(*planner); });

  auto sname = std::make_shared<std::string>();
  auto* show = fn->add_subcommand("show", "A function's spec, revisions and counters (JSON)");
  show->add_option("name", *sname, "The function")->required();
  AddPlannerFlags(*show, planner.get());
  show->callback([=] { *exit_code = Show(*planner, *sname); });

  auto rname = std::make_shared<std::string>();
  auto* rm = fn->add_subcommand("rm", "Remove a function: its instances stop");
  rm->add_option("name", *rname, "The function")->required();
  AddPlannerFlags(*rm, planner.get());
  rm->callback([=] {
    auto r = Call(*planner, "DELETE", "/api/v1/functions/" + *rname, "", exit_code);
    if (r) std::cout << *rname << " removed\n";
  });

  auto bname = std::make_shared<std::string>();
  auto* rb = fn->add_subcommand(
      "rollback", "Make the previous revision current again; returns once it takes the calls");
  rb->add_option("name", *bname, "The function")->required();
  auto bwait = std::make_shared<double>(60);
  rb->add_option("--wait", *bwait,
                 "Seconds to wait for that revision to take the calls; 0: do not wait. Exits 1 "
                 "if it does not in time")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 604800.0));
  AddPlannerFlags(*rb, planner.get());
  rb->callback([=] {
    auto r = Call(*planner, "POST", "/api/v1/functions/" + *bname + "/rollback", "", exit_code);
    if (!r) return;
    std::string rev = Str(r->as_object().at("revision"));
    std::cout << *bname << " rolled back to " << rev.substr(0, 12) << "\n";
    std::cout.flush();
    *exit_code = WaitServing(*planner, *bname, rev, *bwait);
  });

  // ---- logs ----
  auto lname = std::make_shared<std::string>();
  auto lfollow = std::make_shared<bool>(false);
  auto* logs = fn->add_subcommand(
      "logs",
      "What a function's instances wrote on stderr (the planner keeps the last MiB per "
      "function), each line with its time, revision and instance");
  logs->add_option("name", *lname, "The function")->required();
  logs->add_flag("-f,--follow", *lfollow, "Keep printing new lines until interrupted");
  AddPlannerFlags(*logs, planner.get());
  logs->callback([=] { *exit_code = Logs(*planner, *lname, *lfollow); });

  // ---- usage ----
  auto uname = std::make_shared<std::string>();
  auto ufrom = std::make_shared<std::string>();
  auto uto = std::make_shared<std::string>();
  auto ujson = std::make_shared<bool>(false);
  auto* use = fn->add_subcommand(
      "usage", "Metered calls of a function over a period, in all and per caller");
  use->add_option("name", *uname, "The function")->required();
  use->add_option("--from", *ufrom, "Calls that arrived at or after this Unix time (seconds)");
  use->add_option("--to", *uto, "... and before this one");
  use->add_flag("--json", *ujson, "Print the planner's JSON answer");
  AddPlannerFlags(*use, planner.get());
  use->callback([=] { *exit_code = Usage(*planner, *uname, *ufrom, *uto, *ujson); });
}

}  // namespace volo::cli
