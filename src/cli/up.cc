#include "cli/up.h"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "cli/api.h"
#include "cli/commands.h"
#include "cli/process.h"
#include "cli/text.h"
#include "cluster/cluster_env.h"
#include "common/clock.h"
#include "fly/interpreter.h"
#include "net/client.h"

namespace volo::cli {
namespace json = boost::json;
namespace fs = std::filesystem;

std::vector<wire::TaskSpec> RandomSeedTasks(int n, uint64_t seed, double duration_scale) {
  std::mt19937_64 rng(seed ? seed : std::random_device{}());
  std::uniform_int_distribution<int> op(0, 1), num(0, 99);
  std::vector<wire::TaskSpec> out(n);
  for (auto& t : out) {
    bool mult = op(rng);
    t.op = mult ? "mult" : "add";
    t.args = "{\"a\":" + std::to_string(num(rng)) + ",\"b\":" + std::to_string(num(rng));
    if (duration_scale >= 0) {
      double d = std::uniform_real_distribution<double>(3, mult ? 12 : 7)(rng) * duration_scale;
      char buf[48];
      std::snprintf(buf, sizeof buf, ",\"duration\":%.6f", d);
      t.args += buf;
    }
    t.args += "}";
  }
  return out;
}

namespace {

std::atomic<bool> g_interrupted{false};
void OnInterrupt(int) { g_interrupted = true; }

struct UpOptions {
  int workers = 0, mult = 0, add = 0, tasks = 0, slots = 1;
  double scale = 1;
  bool json = false;
  uint64_t seed = 0;
  bool keep_logs = false;
  // After `--`: a command to run against the fleet (`run prog.fly [--env ..] [--seed N]`).
  std::vector<std::string> command;
};

struct Child {
  std::string name;
  pid_t pid = 0;
  std::string log;
  bool ended = false;  // exited and reaped
};

class Fleet {
 public:
  explicit Fleet(fs::path dir) : dir_(std::move(dir)) {}
  ~Fleet() { StopAll(); }
  Result<pid_t> Start(const std::string& name, std::vector<std::string> argv) {
    std::string log = (dir_ / (name + ".log")).string();
    auto pid = Spawn(argv, log);
    if (pid.ok()) children_.push_back({name, *pid, log});
    return pid;
  }
  // Workers first (they drain), then the planner.
  void StopAll() {
    for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
      if (!it->ended) Signal(it->pid, SIGTERM);
    }
    for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
      if (!it->ended && !WaitExit(it->pid, 10)) {
        Signal(it->pid, SIGKILL);
        WaitExit(it->pid, 5);
      }
    }
    children_.clear();
  }
  // The name of a child that has already ended (reaped here, so never signalled again), or "".
  std::string Ended() {
    for (auto& c : children_) {
      if (!c.ended && WaitExit(c.pid, 0)) c.ended = true;
      if (c.ended) return c.name;
    }
    return "";
  }
  void PrintLogs(std::ostream& os) const {
    for (const auto& c : children_) {
      std::ifstream f(c.log);
      std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      // (Streaming an empty file's rdbuf would set failbit on `os` and silence the rest.)
      os << "---- " << c.name << (c.ended ? ", ended" : "") << " (" << c.log << ")\n"
         << (text.empty() ? "(nothing logged)\n" : text) << "\n";
    }
  }

 private:
  fs::path dir_;
  std::vector<Child> children_;
};

bool Interrupted() { return g_interrupted.load(); }

// How long volo up waits for a live planner to listen and live workers to register.
constexpr auto kStartPatience = std::chrono::minutes(3);

std::optional<json::value> Get(const std::string& url) {
  auto r = net::HttpFetch("GET", url, "", {}, std::chrono::seconds(10));
  if (!r.ok() || r->status != 200) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  if (ec) return std::nullopt;
  return v;
}

// Progress of a run on stderr: on a terminal one line redrawn in place (a bar with done/total,
// running, failed, elapsed and ETA); otherwise a plain line every few seconds, so logs and
// pipes see it as it happens.
class Progress {
 public:
  Progress(uint64_t total, double t0) : total_(total), t0_(t0), tty_(isatty(STDERR_FILENO) != 0) {}

  void Update(uint64_t finished, uint64_t running, uint64_t failed) {
    double now = WallSeconds();
    double every = tty_ ? 0.2 : 3.0;
    bool last = finished >= total_;
    if (!first_ && !last && now - shown_ < every) return;
    if (!tty_ && !first_ && last && finished == finished_) return;
    first_ = false;
    shown_ = now;
    finished_ = finished;
    double elapsed = now - t0_;
    std::string eta = "?";
    if (finished >= total_) {
      eta = "0s";
    } else if (finished > 0) {
      eta = ShortDuration(elapsed / static_cast<double>(finished) *
                          static_cast<double>(total_ - finished));
    }
    std::string text = std::to_string(finished) + "/" + std::to_string(total_) + " done, " +
                       std::to_string(running) + " running, " + std::to_string(failed) +
                       " failed, " + ShortDuration(elapsed) + " elapsed, ETA " + eta;
    if (tty_) {
      std::cerr << "\r" << Bar(finished, total_, 30) << " " << text << "\x1b[K" << std::flush;
      drawn_ = true;
    } else {
      std::cerr << "volo up: " << text << "\n" << std::flush;
    }
  }
  // Ends the redrawn line, if any.
  void Finish() {
    if (drawn_) std::cerr << "\n" << std::flush;
    drawn_ = false;
  }

 private:
  const uint64_t total_;
  const double t0_;
  const bool tty_;
  bool first_ = true;
  bool drawn_ = false;
  double shown_ = 0;
  uint64_t finished_ = 0;
};

// `volo up ... -- run prog.fly [--env NAME=SPEC] [--seed N]`: the program's environments not
// bound by --env run on the fleet at `url`.
Result<fly::RunOptions> ParseRunCommand(const std::vector<std::string>& cmd) {
  if (cmd.empty() || cmd[0] != "run") {
    return InvalidArgument("after --, give `run prog.fly [--env NAME=SPEC] [--seed N]`");
  }
  fly::RunOptions r;
  for (size_t k = 1; k < cmd.size(); ++k) {
    const std::string& a = cmd[k];
    auto value = [&](const std::string& flag) -> Result<std::string> {
      if (a.rfind(flag + "=", 0) == 0) return a.substr(flag.size() + 1);
      if (k + 1 >= cmd.size()) return InvalidArgument(flag + " needs a value");
      return cmd[++k];
    };
    if (a == "--env" || a.rfind("--env=", 0) == 0) {
      VOLO_ASSIGN_OR_RETURN(std::string v, value("--env"));
      r.env_bindings.push_back(v);
    } else if (a == "--seed" || a.rfind("--seed=", 0) == 0) {
      VOLO_ASSIGN_OR_RETURN(std::string v, value("--seed"));
      char* end = nullptr;
      r.seed = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end) return InvalidArgument("--seed needs a number, got '" + v + "'");
      r.has_seed = true;
    } else if (!a.empty() && a[0] == '-') {
      return InvalidArgument("run: unknown flag " + a);
    } else if (r.file.empty()) {
      r.file = a;
    } else {
      return InvalidArgument("run: one program at a time (got " + r.file + " and " + a + ")");
    }
  }
  if (r.file.empty())
    return InvalidArgument("run: which program? (volo up --workers N -- run prog.fly)");
  return r;
}

int RunUp(const UpOptions& o) {
  int total_workers = o.workers + o.mult + o.add;
  std::optional<fly::RunOptions> program;
  if (!o.command.empty()) {
    auto r = ParseRunCommand(o.command);
    if (!r.ok()) {
      std::cerr << "volo up: " << r.status().message() << "\n";
      return 2;
    }
    program = std::move(*r);
  }
  if (total_workers == 0) {
    std::cerr << "volo up: give at least one worker (--workers, --mult or --add)\n";
    return 2;
  }
  fs::path dir = fs::temp_directory_path() / ("volo-up-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  std::string self = SelfPath();
  Fleet fleet(dir);
  auto fail = [&](const std::string& msg) {
    std::cerr << "volo up: " << msg << "\n";
    fleet.PrintLogs(std::cerr);
    return 1;
  };

  std::string port_file = (dir / "planner.port").string();
  auto planner = fleet.Start(
      "planner", {self, "planner", "--port", "0", "--port-file", port_file, "--log-level", "warn"});
  if (!planner.ok()) return fail(planner.status().message());
  // The waits below end early when a child has died; a live one that is slow (a loaded
  // machine, a sanitizer build) gets minutes, and the user hears why the fleet is not up yet.
  const auto started = std::chrono::steady_clock::now();
  auto waited = [&] { return std::chrono::steady_clock::now() - started; };
  bool said_slow = false;
  std::string port;
  while (port.empty()) {
    std::ifstream f(port_file);
    std::getline(f, port);
    if (!port.empty()) break;
    if (Interrupted()) return 130;
    if (!fleet.Ended().empty()) return fail("the planner exited before it listened");
    if (waited() > kStartPatience) return fail("the planner did not listen within 3 minutes");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::string url = "http://127.0.0.1:" + port;

  char scale[32];
  std::snprintf(scale, sizeof scale, "%g", o.scale);
  auto start_worker = [&](const std::string& id, const std::string& ops) {
    return fleet.Start(id, {self, "worker", "--planner", url, "--id", id, "--ops", ops, "--slots",
                            std::to_string(o.slots), "--port", "-1", "--duration-scale", scale,
                            "--log-level", "warn"});
  };
  std::map<std::string, std::string> worker_ops;
  // Workers of a fleet that runs a program also run its fly instances.
  for (int i = 1; i <= o.workers; ++i) {
    worker_ops["w-" + std::to_string(i)] = program ? "add,mult,fly" : "add,mult";
  }
  for (int i = 1; i <= o.mult; ++i) worker_ops["mult-" + std::to_string(i)] = "mult";
  for (int i = 1; i <= o.add; ++i) worker_ops["add-" + std::to_string(i)] = "add";
  for (const auto& [id, ops] : worker_ops) {
    auto pid = start_worker(id, ops);
    if (!pid.ok()) return fail(pid.status().message());
  }
  // Wait until every worker has registered, so the run measures scheduling, not start-up.
  while (true) {
    auto st = Get(url + "/api/v1/status");
    int64_t registered = st ? st->at("workers").to_number<int64_t>() : 0;
    if (registered == total_workers) break;
    if (Interrupted()) return 130;
    if (std::string gone = fleet.Ended(); !gone.empty()) {
      return fail(gone + " exited while the fleet was starting");
    }
    if (waited() > kStartPatience) {
      return fail(std::to_string(registered) + " of " + Count(total_workers, "worker") +
                  " registered with the planner within 3 minutes");
    }
    if (!said_slow && waited() > std::chrono::seconds(10)) {
      said_slow = true;
      std::cerr << "volo up: waiting for the workers to register (" << registered << " of "
                << total_workers << " so far)\n";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (program) {
    // The program's output alone goes to stdout.
    std::cerr << "volo up: planner at " << url << " with " << Count(total_workers, "worker")
              << "; running " << program->file << " on them\n";
    std::cerr << "volo up: dashboard at " << url << "/\n";
    program->bind_all = "cluster:" + url;
    program->make_environment = cluster::MakeEnvironmentFactory();
    // Ctrl-C: the program's chunks are cancelled and the fleet stops in order.
    int code = RunProgramCancellably(*program, [&] {
      std::cerr << "volo up: stopping the fleet\n";
      fleet.StopAll();
      if (!o.keep_logs) fs::remove_all(dir);
    });
    std::cout.flush();
    if (code != 0 && o.keep_logs) fleet.PrintLogs(std::cerr);
    fleet.StopAll();
    if (!o.keep_logs) fs::remove_all(dir);
    return code;
  }
  // With --json stdout holds the one document; the running commentary goes to stderr.
  std::ostream& info = o.json ? std::cerr : std::cout;
  info << "volo up: planner at " << url << " with " << Count(total_workers, "worker") << " ("
       << o.workers << " general, " << o.mult << " mult, " << o.add << " add)\n";
  info << "volo up: dashboard at " << url << "/\n" << std::flush;
  if (o.tasks == 0) {
    info << "volo up: no --tasks; the fleet runs until Ctrl-C\n" << std::flush;
    while (!Interrupted()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    info << "volo up: stopping the fleet\n";
    return 130;
  }

  std::string body = "{\"tasks\":[";
  auto specs = RandomSeedTasks(o.tasks, o.seed, -1);
  for (size_t i = 0; i < specs.size(); ++i) {
    if (i) body += ',';
    body += "{\"op\":\"" + specs[i].op + "\",\"args\":" + specs[i].args + "}";
  }
  body += "]}";
  double t0 = WallSeconds();
  auto sub = net::HttpFetch("POST", url + "/api/v1/tasks", body,
                            {{"Content-Type", "application/json"}}, std::chrono::seconds(30));
  if (!sub.ok() || sub->status != 201) {
    return fail("submitting the tasks failed: " + (sub.ok() ? sub->body : sub.status().message()));
  }
  Progress progress(static_cast<uint64_t>(o.tasks), t0);
  bool interrupted = false;
  while (true) {
    if (Interrupted()) {
      interrupted = true;
      break;
    }
    auto st = Get(url + "/api/v1/status");
    if (!st || !st->is_object()) {
      if (Interrupted()) continue;  // reported at the top of the loop
      return fail("the planner stopped answering");
    }
    const json::object& so = st->as_object();
    auto n = [&](const char* k) {
      const json::value* v = so.if_contains(k);
      return v && v->is_number() ? v->to_number<uint64_t>() : 0;
    };
    uint64_t finished = n("done") + n("failed") + n("cancelled");
    progress.Update(finished, n("running"), n("failed") + n("cancelled"));
    if (finished >= static_cast<uint64_t>(o.tasks)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  progress.Finish();
  if (interrupted) std::cerr << "volo up: interrupted; the summary so far:\n";

  // Every task as the planner has it, in pages; workers in natural order of their ids.
  json::array tasks;
  for (uint64_t after = 0;;) {
    auto page = Get(url + "/api/v1/tasks?limit=10000&after=" + std::to_string(after));
    const json::array* a =
        page && page->is_object() ? page->as_object().at("tasks").if_array() : nullptr;
    if (!a || a->empty()) break;
    for (const auto& t : *a) tasks.push_back(t);
    after = a->back().at("id").to_number<uint64_t>();
  }
  json::array workers;
  if (auto w = Get(url + "/api/v1/workers"); w && w->is_object()) {
    if (const json::array* a = w->as_object().at("workers").if_array()) workers = *a;
  }
  std::stable_sort(workers.begin(), workers.end(), [](const json::value& a, const json::value& b) {
    return NaturalLess(a.at("id").as_string(), b.at("id").as_string());
  });

  // Times relative to the submission; the makespan is when the last task ended.
  double makespan = 0, total_work = 0, longest = 0;
  std::map<std::string, double> work_by_op;
  size_t done = 0, failed = 0, cancelled = 0, unfinished = 0;
  for (const auto& tv : tasks) {
    const json::object& t = tv.as_object();
    std::string_view state = t.at("state").as_string();
    if (state == "done") {
      ++done;
    } else if (state == "failed") {
      ++failed;
    } else if (state == "cancelled") {
      ++cancelled;
    } else {
      ++unfinished;
    }
    if (t.at("started").is_null() || t.at("finished").is_null()) continue;
    double start = t.at("started").to_number<double>() - t0;
    double end = t.at("finished").to_number<double>() - t0;
    makespan = std::max(makespan, end);
    double d = std::max(0.0, end - start);
    total_work += d;
    longest = std::max(longest, d);
    work_by_op[std::string(t.at("op").as_string())] += d;
  }
  // The lower bound any scheduler faces: all work over all workers, each operation's work over
  // the workers that can run it, and the longest single task.
  double bound = std::max(total_work / total_workers, longest);
  if (o.workers + o.mult > 0) bound = std::max(bound, work_by_op["mult"] / (o.workers + o.mult));
  if (o.workers + o.add > 0) bound = std::max(bound, work_by_op["add"] / (o.workers + o.add));

  if (o.json) {
    // The tasks and workers exactly as the REST API names them (Unix-time `submitted`,
    // `started`, `finished`), plus the run's own figures, every number a plain decimal.
    json::object doc{{"planner", url},
                     {"submitted", t0},
                     {"tasks", tasks},
                     {"workers", workers},
                     {"done", done},
                     {"failed", failed + cancelled},
                     {"unfinished", unfinished},
                     {"interrupted", interrupted},
                     {"makespan", makespan},
                     {"lower_bound", bound}};
    std::cout << PlainJson(doc) << "\n";
  } else {
    std::vector<std::vector<std::string>> rows{{"worker", "ops", "tasks", "busy s"}};
    for (const auto& wv : workers) {
      const json::object& w = wv.as_object();
      std::string ops;
      for (const auto& op : w.at("ops").as_array()) {
        ops += (ops.empty() ? "" : ",") + std::string(op.as_string());
      }
      rows.push_back({std::string(w.at("id").as_string()), ops, Str(w.at("done")),
                      PlainDecimal(w.at("busy_seconds").to_number<double>(), 3)});
    }
    std::cout << "\n" << Table(rows) << "\n";
    std::string line = Count(static_cast<int64_t>(tasks.size()), "task") + ": " +
                       std::to_string(done) + " done, " + std::to_string(failed) + " failed";
    if (cancelled) line += ", " + std::to_string(cancelled) + " cancelled";
    if (unfinished) line += ", " + std::to_string(unfinished) + " unfinished";
    char tail[160];
    std::snprintf(tail, sizeof tail, "; makespan %.3f s; lower bound %.3f s (%.2fx)", makespan,
                  bound, bound > 0 ? makespan / bound : 0.0);
    std::cout << line << tail << "\n";
  }
  std::cout.flush();
  fleet.StopAll();
  if (!o.keep_logs) fs::remove_all(dir);
  if (interrupted) return 130;
  return failed + cancelled + unfinished ? 1 : 0;
}

}  // namespace

void AddUpCommand(CLI::App& app, int* exit_code) {
  auto* up = app.add_subcommand(
      "up",
      "Start a planner and workers as local processes, run tasks, stop everything. Prints the "
      "planner's URL at once and progress while the tasks run (a bar on a terminal, a line "
      "every few seconds otherwise); Ctrl-C stops the fleet and prints the summary so far");
  auto o = std::make_shared<UpOptions>();
  up->add_option("--workers", o->workers, "General workers (add and mult)")
      ->check(CLI::Range(0, 1000));
  up->add_option("--mult", o->mult, "Workers that only multiply")->check(CLI::Range(0, 1000));
  up->add_option("--add", o->add, "Workers that only add")->check(CLI::Range(0, 1000));
  up->add_option("--tasks", o->tasks, "Random add/mult tasks to run (0: keep the fleet up)")
      ->check(CLI::Range(0, 1000000));
  up->add_option("--slots", o->slots, "Tasks each worker runs at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  up->add_option("--duration-scale", o->scale,
                 "Scale the simulated add (3-7 s) and mult (3-12 s) durations (env "
                 "VOLO_DURATION_SCALE)")
      ->capture_default_str()
      ->envname("VOLO_DURATION_SCALE")
      ->check(CLI::NonNegativeNumber);
  up->add_option("--seed", o->seed, "Random seed for the tasks (0: a random one)");
  up->add_flag("--json", o->json,
               "At the end print one JSON document: every task as the REST API shows it "
               "(worker, submitted/started/finished Unix times), the workers, the makespan and "
               "its lower bound");
  up->add_flag("--keep-logs", o->keep_logs, "Keep the processes' logs in /tmp/volo-up-PID");
  up->add_option("command", o->command,
                 "After --: run prog.fly [--env NAME=SPEC] [--seed N] on the fleet (its "
                 "environments not bound by --env run on the workers), then stop everything");
  up->callback([o, exit_code] { *exit_code = RunUp(*o); });
}

}  // namespace volo::cli
