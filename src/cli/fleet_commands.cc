// volo planner | worker | submit | wait | cancel (status, tasks, task: task_commands.cc;
// up: up.cc)
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>

#include "api/views.h"
#include "cli/api.h"
#include "cli/commands.h"
#include "cli/playground_assets.h"
#include "cli/text.h"
#include "cli/up.h"
#include "common/log.h"
#include "net/client.h"
#include "planner/server.h"
#include "provision/provisioner.h"
#include "wire/messages.h"
#include "worker/agent.h"
#include "worker/sandbox.h"
#include "worker/seed.h"
#include "workflow/definition.h"

namespace volo::cli {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

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
    std::cout << "planner: " << Count(tasks, "task") << " queued; waiting for workers\n"
              << std::flush;
    planner::Core& core = server.core();
    core.SetFinishedHook([&core, left, tasks, first_id, t0](const planner::Task& t) {
      if (t.id.value() < first_id || t.id.value() >= first_id + tasks) return;
      --*left;
      std::string worker = t.worker != planner::kNoWorker ? core.worker(t.worker).id.value() : "-";
      bool done = t.state == planner::TaskState::kDone;
      std::cout << "task " << t.id.value() << " " << core.op_name(t.op) << " " << t.args
                << (done ? " = " : ": ") << t.result << " (" << planner::TaskStateName(t.state)
                << " on " << worker << ") [" << tasks - *left << "/" << tasks << "]\n";
      if (*left == 0) {
        std::cout << "planner: "
                  << (tasks == 1 ? "the task" : "all " + std::to_string(tasks) + " tasks")
                  << " finished in " << PlainDecimal(WallSeconds() - t0, 3) << " s\n";
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

}  // namespace

void AddFleetCommands(CLI::App& app, int* exit_code) {
  // ---- planner ----
  auto* p = app.add_subcommand("planner", "Run a planner: holds tasks, hands them to workers");
  auto popts = std::make_shared<planner::PlannerOptions>();
  auto ptasks = std::make_shared<int>(0);
  auto pseed = std::make_shared<uint64_t>(0);
  auto plevel = std::make_shared<std::string>("info");
  auto hb_timeout = std::make_shared<double>(5);
  auto pport = std::make_shared<int>(3000);
  popts->bind = Env("VOLO_BIND", "127.0.0.1");
  p->add_option("--port", *pport, "Port to listen on, 0 for any free one (env PORT)")
      ->capture_default_str()
      ->envname("PORT")
      ->check(CLI::Range(0, 65535));
  p->add_option("--bind", popts->bind, "Address to listen on (env VOLO_BIND)")
      ->capture_default_str();
  p->add_option("--port-file", popts->port_file, "Write the port to this file once listening");
  p->add_option("--tasks", *ptasks,
                "Seed demo: queue N random add/mult tasks at start and print their results "
                "(env TASKS)")
      ->envname("TASKS")
      ->check(CLI::Range(0, 1000000));
  p->add_option("--seed", *pseed, "Random seed for --tasks (0: a random one)");
  auto pscale = std::make_shared<double>(-1);
  p->add_option("--duration-scale", *pscale,
                "With --tasks: give each task a random duration (add 3-7 s, mult 3-12 s) times "
                "this (env VOLO_DURATION_SCALE); unset, workers choose")
      ->envname("VOLO_DURATION_SCALE")
      ->check(CLI::NonNegativeNumber);
  p->add_option("--heartbeat-timeout", *hb_timeout,
                "Seconds without a heartbeat before a worker is declared dead")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  p->add_option("--max-body", popts->max_body_bytes, "Largest request body in bytes (413 above)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{1} << 32));
  p->add_option("--data", popts->data_dir,
                "Keep a journal in this directory so a restarted planner loses nothing "
                "(env VOLO_DATA; default: in memory only)");
  auto log_task = std::make_shared<double>(64);
  auto log_total = std::make_shared<double>(1024);
  p->add_option("--log-limit", *log_task,
                "MiB of output (stdout and stderr) kept per command task; the rest is dropped")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  p->add_option("--log-total", *log_total,
                "MiB of command output kept for all tasks together (on disk under --data, else "
                "in memory)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e7));
  auto keep = std::make_shared<double>(24 * 3600);
  p->add_option("--keep-results", *keep,
                "Seconds a finished task stays readable before it is "
                "pruned (memory and journal)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  p->add_option("--max-bundle-bytes", popts->max_bundle_bytes,
                "Total size of the bundles the planner keeps (under --data/bundles, or in memory); "
                "an upload beyond gets 413")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 50));
  auto bundle_grace = std::make_shared<double>(3600);
  p->add_option("--bundle-grace", *bundle_grace,
                "Seconds a bundle no task names is kept before it is collected")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  p->add_option("--max-queued", popts->core.max_queued,
                "Most tasks waiting at once; submissions beyond get 429")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  p->add_option("--max-crashes", popts->core.max_crashes,
                "A task whose attempts crashed or lost their worker this many times fails with "
                "that history instead of going to the next worker; 0: no limit "
                "(env VOLO_MAX_CRASHES)")
      ->envname("VOLO_MAX_CRASHES")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  p->add_option("--workflows", popts->workflows_file,
                "Define the workflows of this YAML file at start (more with "
                "`volo workflow apply`)")
      ->check(CLI::ExistingFile);
  auto token_file = std::make_shared<std::string>();
  auto join_file = std::make_shared<std::string>();
  p->add_option("--token-file", *token_file,
                "Bearer token clients must send to the API (env VOLO_TOKEN)");
  p->add_option("--join-token-file", *join_file,
                "Bearer token workers must send to join (env VOLO_JOIN_TOKEN)");
  p->add_option("--tls-cert", popts->tls_cert_file, "PEM certificate: serve HTTPS/WSS only");
  p->add_option("--tls-key", popts->tls_key_file, "PEM private key for --tls-cert");
  auto prov = std::make_shared<std::string>();
  auto prov_idle = std::make_shared<std::string>("60s");
  p->add_option("--provision", *prov,
                "Start workers on demand: local:MAX runs up to MAX `volo worker` processes on "
                "this machine while tasks or function calls wait that no live worker can take, "
                "and stops them when idle (docs/functions.md, \"Workers on demand\")");
  p->add_option("--provision-idle", *prov_idle,
                "With --provision: a provisioned worker with no task and no function instance "
                "for this long is stopped (90, 500ms, 90s, 2m, 1h)")
      ->capture_default_str();
  p->add_option("--provision-slots", popts->provision.slots,
                "With --provision: each provisioned worker's --slots")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  p->add_option("--provision-sandbox", popts->provision.sandbox,
                "With --provision: each provisioned worker's --sandbox for exec and functions "
                "(bwrap, or none to run commands as the planner's user)")
      ->capture_default_str()
      ->check(CLI::IsMember({"bwrap", "none"}));
  p->add_option("--log-level", *plevel, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  popts->data_dir = Env("VOLO_DATA", "");
  p->callback([=] {
    InitLogging("planner", *plevel);
    popts->port = static_cast<uint16_t>(*pport);
    popts->keep_results = std::chrono::seconds(static_cast<int64_t>(*keep));
    popts->logs.per_task = static_cast<uint64_t>(*log_task * 1024 * 1024);
    popts->logs.total = static_cast<uint64_t>(*log_total * 1024 * 1024);
    popts->bundle_grace = std::chrono::seconds(std::max<int64_t>(1, std::llround(*bundle_grace)));
    popts->api_token = Secret(*token_file, "VOLO_TOKEN");
    popts->join_token = Secret(*join_file, "VOLO_JOIN_TOKEN");
    if (popts->tls_cert_file.empty() != popts->tls_key_file.empty()) {
      throw CLI::ValidationError("give both --tls-cert and --tls-key, or neither");
    }
    popts->core.heartbeat_timeout =
        std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(*hb_timeout));
    if (!prov->empty()) {
      if (Status st = provision::ParseProvisionSpec(*prov, popts->provision); !st.ok()) {
        throw CLI::ValidationError(std::string(st.message()));
      }
    }
    auto idle = provision::ParseDuration(*prov_idle);
    if (!idle.ok()) {
      throw CLI::ValidationError("--provision-idle " + std::string(idle.status().message()));
    }
    popts->provision.idle = *idle;
    if (!PlaygroundFiles().empty()) popts->pages = PlaygroundPage;  // /playground/
    RunPlanner(*popts, *ptasks, *pseed, *pscale, exit_code);
  });

  // ---- worker ----
  auto* w = app.add_subcommand("worker", "Run a worker: registers with a planner, runs tasks");
  auto wopts = std::make_shared<worker::WorkerOptions>();
  auto wlevel = std::make_shared<std::string>("info");
  auto wops = std::make_shared<std::string>();
  wopts->planner_url = Env("PLANNER", Env("VOLO_PLANNER", "http://127.0.0.1:3000"));
  wopts->bind = Env("VOLO_BIND", "127.0.0.1");
  wopts->id = Env("VOLO_WORKER_ID", "");
  CLI::Option* wplanner =
      w->add_option("--planner", wopts->planner_url,
                    "Planner URL (env PLANNER, else VOLO_PLANNER); `none`: only serve the HTTP "
                    "endpoints (--port) for a planner that pushes tasks")
          ->capture_default_str()
          ->check(PlannerUrl(/*allow_none=*/true));
  w->add_option("--ops", *wops,
                "Operations to run, comma-separated (default: add,mult,sleep,echo,noop,fly,exec; "
                "exec runs users' commands). "
                "Without --ops, the seed's ADD and MULT variables (true/false, both true when "
                "unset; 1/0 too) choose among add and mult: MULT=false alone runs only add");
  w->add_option("--slots", wopts->slots, "Tasks run at once (env VOLO_SLOTS)")
      ->capture_default_str()
      ->envname("VOLO_SLOTS")
      ->check(CLI::Range(1, 4096));
  auto wres = std::make_shared<std::vector<std::string>>();
  w->add_option("--cpus", wopts->cpus,
                "CPUs offered to tasks that request cpus, fractions allowed (default: the "
                "machine's, within its cgroup's CPU quota)")
      ->check(CLI::Range(0.001, 1e6));
  w->add_option("--memory", wopts->memory_mib,
                "Memory in MiB offered to tasks that request memory (default: the machine's, "
                "within its cgroup's memory limit)")
      ->check(CLI::Range(int64_t{1}, wire::kMaxMemoryMib));
  w->add_option("--resource", *wres,
                "A named resource the worker has, NAME=AMOUNT like gpus=2 (repeatable)");
  auto wqueues = std::make_shared<std::vector<std::string>>();
  w->add_option("--queue,--queues", *wqueues,
                "Also run the steps of workflows with `queue: NAME` (Celery Director's queues; "
                "repeatable or comma-separated): offers the resource queue:NAME, one per slot")
      ->delimiter(',');
  CLI::Option* wprocs =
      w->add_option("--task-processes", wopts->task_processes,
                    "Most processes and threads one task's command may hold at once (0: no "
                    "limit). Default: " +
                        std::to_string(worker::kDefaultSandboxedProcesses) +
                        " for sandboxed commands (the warm sandbox sets it with the command's "
                        "cgroup), none with --sandbox none (where a limit starts each command "
                        "through a shim, about one extra process start)")
          ->check(CLI::Range(0, 1 << 22));
  w->add_option("--id", wopts->id, "Worker id, unique in the fleet (default host-pid)");
  w->add_option("--port", wopts->http_port,
                "Port of the HTTP task endpoints (POST /add, /mult; env PORT); 0 any, -1 off")
      ->capture_default_str()
      ->envname("PORT")
      ->check(CLI::Range(-1, 65535));
  w->add_option("--bind", wopts->bind, "Address of the HTTP task endpoints (env VOLO_BIND)")
      ->capture_default_str();
  w->add_option("--port-file", wopts->port_file, "Write the HTTP port here once listening");
  wopts->advertise_url = Env("ADDRESS", "");
  w->add_option("--advertise-url", wopts->advertise_url,
                "URL a seed planner is told to send tasks to, when the worker registers with one "
                "by POST /register (env ADDRESS; default http://BIND:PORT, the host name for "
                "0.0.0.0)");
  w->add_option("--duration-scale", wopts->duration_scale,
                "Scale the simulated add (3-7 s) and mult (3-12 s) durations (env "
                "VOLO_DURATION_SCALE)")
      ->capture_default_str()
      ->envname("VOLO_DURATION_SCALE")
      ->check(CLI::NonNegativeNumber);
  w->add_option("--work-dir", wopts->work_dir,
                "exec: directory for the tasks' own directories, each removed when its task "
                "ends (env VOLO_WORK_DIR; default $TMPDIR/volo-worker-ID-PID, this process's own)")
      ->envname("VOLO_WORK_DIR");
  auto wgrace = std::make_shared<double>(5);
  w->add_option("--kill-grace", *wgrace,
                "exec: seconds a timed-out or cancelled command has between SIGTERM and SIGKILL "
                "(to its whole process tree)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  auto wsandbox = std::make_shared<std::string>("bwrap");
  auto wsandbox_ro = std::make_shared<std::vector<std::string>>();
  auto wsandbox_net = std::make_shared<bool>(false);
  auto wzygote = std::make_shared<bool>(true);
  w->add_option("--sandbox", *wsandbox,
                "exec: bwrap runs each command under bubblewrap (new user, PID, IPC, UTS and "
                "network namespaces; only /usr, a few /etc files, its bundle read-only and its own "
                "directory writable; docs/security.md); none runs commands directly as the "
                "worker's user. Without a usable bwrap the worker does not offer exec unless "
                "started with --sandbox none")
      ->capture_default_str()
      ->check(CLI::IsMember({"bwrap", "none"}));
  w->add_option("--sandbox-ro-bind", *wsandbox_ro,
                "exec with bwrap: also show this host directory read-only (repeatable; e.g. /opt)");
  w->add_flag("--sandbox-network", *wsandbox_net,
              "exec with bwrap: every command keeps the host's network (else only tasks with "
              "\"network\": true)");
  w->add_flag("--sandbox-zygote", *wzygote,
              "exec with bwrap: keep a warm sandbox per bundle and fork each command in it, in "
              "PID, mount, IPC and network namespaces of its own (about a tenth of the cost of "
              "a bwrap per command; docs/security.md); --sandbox-zygote=false starts a bwrap "
              "per command")
      ->capture_default_str();
  w->add_option("--bundle-cache", wopts->bundle_cache_dir,
                "exec: where bundles are unpacked (default: the work directory's path + "
                "\"-bundles\")");
  w->add_option("--bundle-cache-bytes", wopts->bundle_cache_bytes,
                "exec: bytes of bundles kept unpacked; beyond, the least recently used bundle no "
                "task holds is removed")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1} << 20, int64_t{1} << 50));
  w->add_option("--functions", wopts->functions,
                "Function instances (volo fn) this worker hosts at once, with exec among its ops; "
                "their calls run like exec's commands (sandbox, limits). 0: none")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  auto wjoin = std::make_shared<std::string>();
  w->add_option("--join-token-file", *wjoin,
                "Bearer token the planner asks workers for (env VOLO_JOIN_TOKEN)");
  w->add_option("--log-level", *wlevel, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  w->callback([=] {
    InitLogging("worker", *wlevel);
    wopts->join_token = Secret(*wjoin, "VOLO_JOIN_TOKEN");
    for (const auto& text : *wres) {
      wire::Resources named;
      Status st = wire::AddResourceText(named, text);
      if (st.ok() && named.named.empty()) {
        st = InvalidArgument("resource '" + text + "': give cpus and memory with --cpus and " +
                             "--memory, and named resources above 0 here");
      }
      if (!st.ok()) throw CLI::ValidationError("--resource", st.message());
      for (auto& p : named.named) wopts->resources.push_back(std::move(p));
    }
    for (const auto& queue : *wqueues) {
      wire::Resources named;
      Status st = wire::AddResourceText(named, std::string(workflow::kQueueResourcePrefix) + queue +
                                                   "=" + std::to_string(wopts->slots));
      if (!st.ok()) {
        throw CLI::ValidationError("--queue", "'" + queue +
                                                  "': must be 1-122 characters of letters, "
                                                  "digits, _ . : -");
      }
      for (auto& p : named.named) wopts->resources.push_back(std::move(p));
    }
    wopts->kill_grace = std::chrono::milliseconds(static_cast<int64_t>(*wgrace * 1000));
    if (!wops->empty()) {
      wopts->ops.clear();
      std::stringstream ss(*wops);
      std::string op;
      while (std::getline(ss, op, ',')) {
        if (!op.empty()) wopts->ops.push_back(op);
      }
    } else {
      auto env = [](const char* name) -> std::optional<std::string> {
        const char* v = std::getenv(name);
        return v ? std::optional<std::string>(v) : std::nullopt;
      };
      auto seed_ops = worker::SeedOps(env("ADD"), env("MULT"));
      if (!seed_ops.ok()) {
        spdlog::error("{}", seed_ops.status().message());
        *exit_code = 1;
        return;
      }
      if (*seed_ops) wopts->ops = **seed_ops;
    }
    if (std::find(wopts->ops.begin(), wopts->ops.end(), "exec") != wopts->ops.end()) {
      if (*wsandbox == "none") {
        spdlog::warn(
            "exec: commands run without a sandbox, as this worker's user with its view of the "
            "machine (--sandbox none)");
      } else {
        worker::SandboxOptions so;
        so.ro_binds = *wsandbox_ro;
        so.network = *wsandbox_net;
        // Task limits apply inside the sandbox too: the worker moves each command's task init
        // into its cgroup (or the task init sets its rlimits) before the command starts.
        so.limits = worker::Limits::Probe();
        // The default only where a cgroup enforces it per tree: RLIMIT_NPROC counts all of a
        // user's processes, so the fallback is for a limit someone asked for.
        so.max_processes = wprocs->count() > 0 ? wopts->task_processes
                           : so.limits->mode() == worker::LimitMode::kRlimit
                               ? 0
                               : worker::kDefaultSandboxedProcesses;
        so.zygote = *wzygote;
        spdlog::info(
            "exec: sandboxed with bwrap{}; task limits enforced with {}; at most {} "
            "processes per command",
            so.zygote ? " in warm sandboxes" : "", so.limits->Describe(), so.max_processes);
        Status usable = worker::CheckSandbox(so);
        if (!usable.ok()) {
          if (!wops->empty()) {  // exec was asked for by name: refuse rather than run it bare
            spdlog::error("{}", usable.message());
            *exit_code = 1;
            return;
          }
          spdlog::warn("{}; this worker does not offer exec", usable.message());
          std::erase(wopts->ops, std::string("exec"));
        } else {
          wopts->launcher = worker::MakeBwrapLauncher(std::move(so));
        }
      }
    }
    if (wopts->planner_url == "none") {
      if (wopts->http_port < 0) {
        throw CLI::ValidationError("--planner none needs the HTTP endpoints: give --port N");
      }
      wopts->planner_url.clear();
      spdlog::info("no planner: serving the HTTP task endpoints only");
    } else {
      spdlog::info("connecting to the planner at {}{}", wopts->planner_url,
                   wplanner->count() || !Env("PLANNER", Env("VOLO_PLANNER", "")).empty()
                       ? ""
                       : " (the default; set --planner or PLANNER)");
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
  auto scpus = std::make_shared<double>(0);
  auto smemory = std::make_shared<int64_t>(0);
  auto sres = std::make_shared<std::vector<std::string>>();
  auto swait = std::make_shared<bool>(false);
  auto swords = std::make_shared<std::vector<std::string>>();
  auto scf = std::make_shared<CommandFlags>();
  s->add_option("op", *sop,
                "Operation (add, mult, sleep, echo, noop, exec, or one a worker offers); with "
                "--cmd, the program to run");
  s->add_option("words", *swords, "With --cmd: the program's arguments (after --)");
  AddCommandFlags(*s, scf.get());
  s->add_option("--args", *sargs, "Arguments as a JSON object, like '{\"a\":1,\"b\":2}'");
  AddPlannerFlags(*s, planner.get());
  s->add_option("--retries", *sretries, "Retries after a failed attempt")
      ->check(CLI::Range(0, 100));
  s->add_option("--timeout", *stimeout, "Seconds an attempt may run")
      ->check(CLI::NonNegativeNumber);
  s->add_option("--priority", *sprio, "Higher runs first (-1000000 to 1000000)")
      ->check(CLI::Range(-1000000, 1000000));
  s->add_option("--label", *slabels, "A label key=value (repeatable)");
  s->add_option("--cpus", *scpus, "CPUs the task needs on its worker (fractions allowed: 0.5)")
      ->check(CLI::NonNegativeNumber);
  s->add_option("--memory", *smemory,
                "Memory in MiB the task needs; its command is killed above it")
      ->check(CLI::NonNegativeNumber);
  s->add_option("--resource", *sres, "A named resource the task needs, NAME=AMOUNT (repeatable)");
  s->add_flag("--wait", *swait,
              "Wait for the result and print it; a command prints its stdout and stderr and "
              "volo exits with its exit code; an array shows its progress and a summary");
  auto sbundle = std::make_shared<std::string>();
  s->add_option("--bundle", *sbundle,
                "Push this directory as a bundle (volo bundle push) and run the task with it "
                "(args.bundle)")
      ->check(CLI::ExistingDirectory);
  s->callback([=] {
    if (IsCommandSubmit(*scf)) {
      if (!sbundle->empty()) {
        scf->bundle = PushBundle(*planner, *sbundle, exit_code);
        if (scf->bundle.empty()) return;
      }
      std::vector<std::string> argv;
      if (!sop->empty()) argv.push_back(*sop);
      argv.insert(argv.end(), swords->begin(), swords->end());
      std::vector<std::pair<std::string, std::string>> labels;
      for (const auto& l : *slabels) {
        auto eq = l.find('=');
        if (eq == std::string::npos || eq == 0) {
          throw CLI::ValidationError("--label", "give key=value, not '" + l + "'");
        }
        labels.emplace_back(l.substr(0, eq), l.substr(eq + 1));
      }
      *exit_code =
          SubmitCommand(*planner, *scf, argv, *sretries, *stimeout, *sprio, labels, *swait);
      return;
    }
    if (sop->empty())
      throw CLI::ValidationError("op", "name the operation (or give --cmd/--shell)");
    if (!swords->empty()) {
      throw CLI::ValidationError("op", "takes one operation; its arguments go in --args");
    }
    boost::system::error_code ec;
    json::value args = json::parse(*sargs, ec);
    if (ec || !args.is_object()) {
      throw CLI::ValidationError(
          "--args", "give a JSON object, like '{\"a\":1,\"b\":2}', not '" + *sargs + "'");
    }
    if (!sbundle->empty()) {
      std::string id = PushBundle(*planner, *sbundle, exit_code);
      if (id.empty()) return;
      args.as_object()["bundle"] = id;
    }
    json::object task{{"op", *sop}, {"args", args}};
    if (*sretries) task["retries"] = *sretries;
    if (*stimeout > 0) task["timeout"] = *stimeout;
    if (*sprio) task["priority"] = *sprio;
    if (!slabels->empty()) {
      json::object labels;
      for (const auto& l : *slabels) {
        auto eq = l.find('=');
        if (eq == std::string::npos || eq == 0) {
          throw CLI::ValidationError("--label", "give key=value, not '" + l + "'");
        }
        labels[l.substr(0, eq)] = l.substr(eq + 1);
      }
      task["labels"] = labels;
    }
    wire::Resources res;
    res.millicpus = static_cast<int64_t>(std::ceil(*scpus * 1000 - 1e-6));
    res.memory_mib = *smemory;
    for (const auto& text : *sres) {
      if (Status st = wire::AddResourceText(res, text); !st.ok()) {
        throw CLI::ValidationError("--resource", st.message());
      }
    }
    if (!res.empty()) {
      std::string text;
      wire::AppendResources(text, res);
      task["resources"] = json::parse(text);
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

  // ---- wait ----
  auto* wt = app.add_subcommand("wait", "Wait for tasks to finish and print their results");
  auto wids = std::make_shared<std::vector<uint64_t>>();
  auto wtimeout = std::make_shared<double>(300);
  auto warray = std::make_shared<uint64_t>(0);
  wt->add_option("ids", *wids, "Task ids")->check(CLI::PositiveNumber);
  wt->add_option("--array", *warray,
                 "Wait for an array (its id, from volo submit --each): a progress bar on a "
                 "terminal, a line per change when piped, then a summary with exit codes")
      ->check(CLI::PositiveNumber);
  AddPlannerFlags(*wt, planner.get());
  wt->add_option("--timeout", *wtimeout, "Seconds to wait at most (exit code 3 when they run out)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  wt->callback([=] {
    if (*warray) {
      if (!wids->empty())
        throw CLI::ValidationError("--array", "give task ids or --array, not both");
      *exit_code = WaitArray(*planner, *warray, *wtimeout);
      return;
    }
    if (wids->empty()) throw CLI::ValidationError("ids", "give task ids (or --array ID)");
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
        std::cerr << "volo: timed out waiting after " << ShortDuration(*wtimeout) << "\n";
        *exit_code = 3;
      }
      return;
    }
  });

  // ---- cancel ----
  auto* c = app.add_subcommand("cancel", "Cancel queued or running tasks");
  auto cids = std::make_shared<std::vector<uint64_t>>();
  c->add_option("ids", *cids, "Task ids")->required()->check(CLI::PositiveNumber);
  AddPlannerFlags(*c, planner.get());
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
