#include "worker/agent.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <unordered_map>

#include "common/clock.h"
#include "net/client.h"
#include "net/server.h"
#include "wire/messages.h"
#include "worker/builtin.h"
#include "worker/bundle_cache.h"
#include "worker/command.h"
#include "worker/fly_executor.h"
#include "worker/functions.h"
#include "worker/limits.h"
#include "worker/sandbox.h"
#include "worker/seed.h"

namespace volo::worker {
namespace asio = boost::asio;
using namespace std::chrono_literals;

struct Agent::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, WorkerOptions o)
      : io(io),
        options(std::move(o)),
        rng(std::random_device{}()),
        heartbeat(io),
        retry(io),
        grace(io),
        fn_recheck(io) {
    if (options.id.empty()) {
      char host[64] = "worker";
      gethostname(host, sizeof host - 1);
      options.id = std::string(host) + "-" + std::to_string(getpid());
    }
    ops.insert(options.ops.begin(), options.ops.end());
  }

  asio::io_context& io;
  WorkerOptions options;
  std::set<std::string> ops;
  std::mt19937_64 rng;
  std::unique_ptr<net::Server> http;
  uint16_t http_port = 0;
  std::shared_ptr<net::WsConnection> conn;
  asio::steady_timer heartbeat, retry, grace;
  asio::steady_timer fn_recheck;  // draining: looks again whether function calls are done
  std::chrono::milliseconds backoff{100};
  int heartbeat_ms = 1000;
  bool registered = false;
  bool draining = false;
  bool stopped = false;
  std::function<void()> on_drained;
  // Tasks this connection holds, with the timer that finishes each timed one.
  std::unordered_map<uint64_t, std::unique_ptr<asio::steady_timer>> running;
  wire::ResultsEncoder results;
  // Fly chunks' live output, sent ahead of the results in the same turn (the planner drops
  // output for a task it has seen finish).
  wire::OutputEncoder output;
  bool flush_pending = false;
  std::unique_ptr<SeedEndpoints> seed;      // the seed's HTTP endpoints, when --port is not -1
  std::unique_ptr<net::HttpClient> client;  // POST /register to a seed planner
  // Registered with a planner that does not speak the native protocol (seed.h); it pushes
  // tasks to the seed endpoints, and the worker stops trying to connect.
  bool seed_registered = false;
  // What the worker offers tasks that request resources: the flags, else the machine's.
  wire::Resources advertised;
  bool grace_over = false;  // draining: stop waiting for the seed endpoints' tasks
  int64_t connect_failures = 0;
  std::unique_ptr<FlyExecutor> fly;           // when "fly" is among the ops
  std::unique_ptr<CommandExecutor> commands;  // when "exec" is among the ops
  std::shared_ptr<BundleCache> bundles;       // with exec
  std::unique_ptr<FunctionHost> fn_host;      // with exec and functions > 0
  uint64_t fn_epoch = 0;                      // FunctionHost::StopAll calls so far
  bool planner_fn_batch = false;              // the planner reads fn_batch (welcome)
  // The function host's messages on their way to the io thread (from the host's threads and
  // instances' monitors): whatever piled up while the io thread was busy leaves in one fn_batch.
  struct FnOutbox {
    std::mutex mu;
    std::vector<std::pair<std::string, uint64_t>> messages;  // GUARDED_BY(mu); with their epoch
    bool posted = false;                                     // GUARDED_BY(mu)
  };
  std::shared_ptr<FnOutbox> fn_outbox = std::make_shared<FnOutbox>();
  void OnFn(wire::FnPlannerMessage m);
  void SendFnOutbox();
  // Commands' output on its way to the planner. Slot threads wait while `pending` (bytes
  // handed over and not yet written to the connection) is over kMaxPendingLogs, so a command
  // writing faster than the planner takes it waits on its pipe instead of growing the worker.
  struct LogFlow {
    std::mutex mu;
    std::condition_variable cv;
    size_t pending = 0;  // GUARDED_BY(mu)
  };
  static constexpr size_t kMaxPendingLogs = 4 << 20;
  std::shared_ptr<LogFlow> log_flow = std::make_shared<LogFlow>();
  wire::LogsEncoder logs;
  std::unique_ptr<asio::steady_timer> log_timer;
  void OnLog(uint64_t id, int stream, std::string data);
  // Recomputes `pending` from what the connection still holds; re-checks soon while high.
  void ReleaseLogs();

  Status StartHttp();
  void Connect();
  void OnMessage(std::string_view text);
  void OnClosed(const Status& why);
  void RunTasks(std::vector<wire::Assignment> tasks);
  // Stops running task `id` without reporting it (its timer, or its fly chunk); the caller
  // takes it off `running`.
  void Abandon(uint64_t id, const std::unique_ptr<asio::steady_timer>& timer);
  // `crashed`: the process that ran it died (the planner counts it towards poison tasks).
  void Finish(uint64_t id, bool ok, std::string value, double started, bool crashed = false);
  void FlushSoon();
  void Flush();
  void SendHeartbeats();
  void MaybeDrained();
  std::string StatusJson();
  void RegisterWithSeedPlanner(int upgrade_status);
  void RetryLater();
};

Status Agent::Impl::StartHttp() {
  if (options.http_port < 0) return Status::Ok();
  net::ServerOptions so;
  so.bind = options.bind;
  so.port = static_cast<uint16_t>(options.http_port);
  so.max_body_bytes = 1 << 20;
  http = std::make_unique<net::Server>(io, so);
  std::weak_ptr<Impl> weak = weak_from_this();
  seed = std::make_unique<SeedEndpoints>(
      io, options.id, ops, options.duration_scale,
      [weak] {
        auto self = weak.lock();
        return self ? self->StatusJson() : std::string("{}");
      },
      [weak] {
        if (auto self = weak.lock()) self->MaybeDrained();
      });
  http->SetHttpHandler([weak](net::HttpRequest req, net::Respond respond) {
    if (auto self = weak.lock()) self->seed->Handle(std::move(req), std::move(respond));
  });
  VOLO_ASSIGN_OR_RETURN(http_port, http->Listen());
  if (!options.port_file.empty()) {
    std::string tmp = options.port_file + ".tmp";
    {
      std::ofstream f(tmp);
      f << http_port << "\n";
    }
    if (std::rename(tmp.c_str(), options.port_file.c_str()) != 0) {
      return IoError("cannot write " + options.port_file);
    }
  }
  spdlog::info("seed HTTP endpoints on http://{}:{}", options.bind, http_port);
  return Status::Ok();
}

// GET /status of the HTTP endpoints: volo's view of this worker.
std::string Agent::Impl::StatusJson() {
  std::string out = "{\"id\":";
  wire::AppendJsonString(out, options.id);
  out += ",\"ops\":[";
  bool first = true;
  for (const auto& op : ops) {
    if (!first) out += ',';
    first = false;
    wire::AppendJsonString(out, op);
  }
  out += "],\"working\":[";
  first = true;
  for (const auto& op : seed ? seed->working() : std::vector<std::string>{}) {
    if (!first) out += ',';
    first = false;
    wire::AppendJsonString(out, op);
  }
  out += "],\"planner\":";
  out += seed_registered ? "\"seed\"" : registered ? "\"volo\"" : "null";
  out += ",\"connected\":";
  out += registered || seed_registered ? "true" : "false";
  out += ",\"running\":" + std::to_string(running.size());
  if (fly) {
    FlyStats st = fly->stats();
    out += ",\"fly\":{\"blobs_fetched\":" + std::to_string(st.programs_fetched) +
           ",\"programs_compiled\":" + std::to_string(st.programs_compiled) +
           ",\"chunks\":" + std::to_string(st.chunks) +
           ",\"instances\":" + std::to_string(st.instances) +
           ",\"crashes\":" + std::to_string(st.crashes) +
           ",\"runners_started\":" + std::to_string(st.runners_started) + "}";
  }
  if (commands) {
    CommandStats st = commands->stats();
    out += ",\"exec\":{\"started\":" + std::to_string(st.started) +
           ",\"failed\":" + std::to_string(st.failed) + ",\"killed\":" + std::to_string(st.killed) +
           ",\"log_bytes\":" + std::to_string(st.log_bytes) + ",\"work_dir\":";
    wire::AppendJsonString(out, commands->work_dir());
    out += ",\"sandbox\":";
    wire::AppendJsonString(out, options.launcher ? options.launcher->name() : "none");
    if (options.launcher) {
      SandboxStats sb = BwrapStats(*options.launcher);
      out += ",\"zygotes\":{\"started\":" + std::to_string(sb.zygotes_started) +
             ",\"running\":" + std::to_string(sb.zygotes_running) +
             ",\"warm_starts\":" + std::to_string(sb.warm_starts) +
             ",\"cold_starts\":" + std::to_string(sb.cold_starts) + "}";
    }
    out += "}";
  }
  if (fn_host) {
    FunctionHostStats st = fn_host->stats();
    out += ",\"functions\":{\"instances\":" + std::to_string(st.instances) +
           ",\"started\":" + std::to_string(st.started) + ",\"calls\":" + std::to_string(st.calls) +
           ",\"failed\":" + std::to_string(st.failed) + "}";
  }
  if (bundles) {
    BundleCacheStats b = bundles->stats();
    out += ",\"bundles\":{\"fetches\":" + std::to_string(b.fetches) +
           ",\"bytes_fetched\":" + std::to_string(b.bytes_fetched) +
           ",\"hits\":" + std::to_string(b.hits) + ",\"evictions\":" + std::to_string(b.evictions) +
           ",\"cached\":" + std::to_string(b.bundles) +
           ",\"cached_bytes\":" + std::to_string(b.bytes) + "}";
  }
  out += "}";
  return out;
}

void Agent::Impl::Connect() {
  if (stopped || seed_registered || options.planner_url.empty()) return;
  std::string url = options.planner_url;
  if (url.rfind("http://", 0) == 0) url = "ws://" + url.substr(7);
  if (url.rfind("https://", 0) == 0) url = "wss://" + url.substr(8);
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/api/v1/workers/connect";
  std::weak_ptr<Impl> weak = weak_from_this();
  net::WsHandlers h;
  h.on_message = [weak](const std::shared_ptr<net::WsConnection>&, std::string_view text) {
    if (auto self = weak.lock()) self->OnMessage(text);
  };
  h.on_close = [weak](const std::shared_ptr<net::WsConnection>& c, const Status& why) {
    auto self = weak.lock();
    if (self && self->conn == c) self->OnClosed(why);
  };
  net::Headers headers;
  if (!options.join_token.empty()) {
    headers.emplace_back("Authorization", "Bearer " + options.join_token);
  }
  net::WsConnect(
      io, url, std::move(headers), std::move(h), 5s,
      [weak](Result<std::shared_ptr<net::WsConnection>> r) {
        auto self = weak.lock();
        if (!self) return;
        if (!r.ok()) {
          if (auto code = RefusedUpgradeStatus(r.status());
              code && MeansNoNativeProtocol(*code) && !self->draining) {
            self->RegisterWithSeedPlanner(*code);
            return;
          }
          if (self->connect_failures++ % 20 == 0) {
            auto code = RefusedUpgradeStatus(r.status());
            if (code && (*code == 401 || *code == 403)) {
              spdlog::error(
                  "the planner at {} refused this worker's join token (HTTP {}): give the "
                  "planner's --join-token-file (or VOLO_JOIN_TOKEN); retrying",
                  self->options.planner_url, *code);
            } else {
              spdlog::warn("cannot reach the planner at {}: {}; retrying",
                           self->options.planner_url, r.status().message());
            }
          }
          self->OnClosed(r.status());
          return;
        }
        self->connect_failures = 0;
        self->conn = *r;
        self->conn->Send(wire::EncodeRegister(
            {self->options.id, std::vector<std::string>(self->ops.begin(), self->ops.end()),
             self->options.slots, self->advertised, self->fn_host ? self->options.functions : 0,
             /*fn_batch=*/true}));
      });
}

// The planner answered the native upgrade with `upgrade_status`: it is not a volo planner, so
// register as the seed's workers do, and let it push tasks to the seed endpoints.
void Agent::Impl::RegisterWithSeedPlanner(int upgrade_status) {
  if (!http) {
    if (connect_failures++ % 20 == 0) {
      spdlog::error(
          "the planner at {} does not speak volo's protocol (HTTP {} on the WebSocket upgrade) "
          "and this worker serves no HTTP endpoints (--port -1), so it cannot register there; "
          "retrying",
          options.planner_url, upgrade_status);
    }
    RetryLater();
    return;
  }
  std::string base = options.planner_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string url = AdvertiseUrl(options.advertise_url, options.bind, http_port);
  net::Headers headers{{"Content-Type", "application/json"}};
  if (!options.join_token.empty()) {
    headers.emplace_back("Authorization", "Bearer " + options.join_token);
  }
  if (!client) client = std::make_unique<net::HttpClient>(io);
  client->Request(
      "POST", base + "/register", SeedRegisterBody(url, options.id), std::move(headers), 10s,
      [weak = weak_from_this(), url, upgrade_status](Result<net::ClientResponse> r) {
        auto self = weak.lock();
        if (!self || self->stopped) return;
        if (r.ok() && r->status >= 200 && r->status < 300) {
          self->seed_registered = true;
          self->connect_failures = 0;
          self->backoff = 100ms;
          spdlog::info(
              "the planner at {} does not speak volo's protocol (HTTP {} on the WebSocket "
              "upgrade): registered with its POST /register as {} at {} (seed mode: it sends "
              "tasks to POST {}/<op>; ops {})",
              self->options.planner_url, upgrade_status, self->options.id, url, url,
              fmt::join(self->ops, ","));
          return;
        }
        const std::string why =
            r.ok() ? "HTTP " + std::to_string(r->status) + ": " + r->body.substr(0, 200)
                   : r.status().message();
        if (self->connect_failures++ % 20 == 0) {
          spdlog::warn("seed planner at {}: POST /register failed: {}; retrying",
                       self->options.planner_url, why);
        }
        self->RetryLater();
      });
}

void Agent::Impl::RetryLater() {
  if (stopped || draining) return;
  retry.expires_after(backoff);
  backoff = std::min<std::chrono::milliseconds>(backoff * 2, 2s);
  retry.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (!ec && self) self->Connect();
  });
}

void Agent::Impl::OnClosed(const Status& why) {
  bool was_registered = registered;
  registered = false;
  planner_fn_batch = false;
  conn.reset();
  heartbeat.cancel();
  // The planner has queued again whatever this connection held.
  for (auto& [id, timer] : running) Abandon(id, timer);
  running.clear();
  results = wire::ResultsEncoder();
  logs = wire::LogsEncoder();
  ReleaseLogs();
  // The planner forgot this worker's function instances; their calls are answered by it.
  if (fn_host) {
    fn_host->StopAll();
    ++fn_epoch;
  }
  output = wire::OutputEncoder();
  if (was_registered) spdlog::warn("disconnected from the planner: {}", why.message());
  if (draining) {
    MaybeDrained();
    return;
  }
  RetryLater();
}

void Agent::Impl::OnMessage(std::string_view text) {
  auto msg = wire::ParsePlannerMessage(text);
  if (!msg.ok()) {
    spdlog::error("planner sent a bad message: {}", msg.status().message());
    return;
  }
  std::visit(
      [&](auto&& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, wire::Welcome>) {
          registered = true;
          backoff = 100ms;
          heartbeat_ms = m.heartbeat_ms;
          planner_fn_batch = m.fn_batch;
          spdlog::info("registered with {} as {} (ops {}, slots {}, offering {})",
                       options.planner_url, options.id, fmt::join(ops, ","), options.slots,
                       wire::DescribeResources(advertised));
          SendHeartbeats();
        } else if constexpr (std::is_same_v<T, wire::Tasks>) {
          RunTasks(std::move(m.tasks));
        } else if constexpr (std::is_same_v<T, wire::Cancel>) {
          for (uint64_t id : m.ids) {
            auto it = running.find(id);
            if (it == running.end()) continue;
            Abandon(id, it->second);
            running.erase(it);
          }
          MaybeDrained();
        } else if constexpr (std::is_same_v<T, wire::Error>) {
          spdlog::error("planner: {}", m.message);
        } else if constexpr (std::is_same_v<T, wire::FnPlannerBatch>) {
          // Calls next to each other go to the host together (a fly instance's in one write).
          std::vector<wire::FnCall> calls;
          for (auto& fm : m.messages) {
            if (auto* c = std::get_if<wire::FnCall>(&fm); c && fn_host) {
              calls.push_back(std::move(*c));
              continue;
            }
            if (!calls.empty()) fn_host->CallMany(std::exchange(calls, {}));
            OnFn(std::move(fm));
          }
          if (!calls.empty()) fn_host->CallMany(std::move(calls));
        } else if constexpr (std::is_same_v<T, wire::FnStart> || std::is_same_v<T, wire::FnCall> ||
                             std::is_same_v<T, wire::FnStop>) {
          OnFn(std::move(m));
        }
      },
      *msg);
}

void Agent::Impl::OnFn(wire::FnPlannerMessage msg) {
  std::visit(
      [&](auto&& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, wire::FnStart>) {
          if (fn_host) {
            fn_host->Start(std::move(m));
          } else if (conn) {
            conn->Send(wire::EncodeFnExited(
                {m.instance, "worker " + options.id + " hosts no function instances"}));
          }
        } else if constexpr (std::is_same_v<T, wire::FnCall>) {
          if (fn_host) fn_host->Call(std::move(m));
        } else if constexpr (std::is_same_v<T, wire::FnStop>) {
          if (fn_host) fn_host->Stop(m.instance);
        }
      },
      std::move(msg));
}

void Agent::Impl::SendFnOutbox() {
  std::vector<std::pair<std::string, uint64_t>> messages;
  {
    std::lock_guard<std::mutex> lock(fn_outbox->mu);
    messages.swap(fn_outbox->messages);
    fn_outbox->posted = false;
  }
  if (!conn) return;
  wire::FnBatcher batch;
  for (auto& [m, epoch] : messages) {
    if (epoch != fn_epoch) continue;  // made for a planner connection that is gone
    if (planner_fn_batch) {
      batch.Add(std::move(m));
    } else {
      conn->Send(std::move(m));
    }
  }
  for (std::string& m : batch.Finish()) conn->Send(std::move(m));
}

void Agent::Impl::Abandon(uint64_t id, const std::unique_ptr<asio::steady_timer>& timer) {
  if (timer) timer->cancel();
  if (fly) fly->Cancel(id);
  if (commands) commands->Cancel(id);
}

void Agent::Impl::RunTasks(std::vector<wire::Assignment> tasks) {
  std::vector<uint64_t> refused;
  for (auto& t : tasks) {
    if (draining) {
      refused.push_back(t.id);
      continue;
    }
    double started = WallSeconds();
    if (!ops.count(t.op)) {
      Finish(t.id, false, "worker " + options.id + " does not run '" + t.op + "'", started);
      continue;
    }
    if (t.op == "fly" && fly) {
      // Runs in a runner process; the outcome comes back to this (the io) thread.
      running.emplace(t.id, nullptr);
      fly->Submit(
          t.id, std::move(t.args),
          [weak = weak_from_this(), &io = io, id = t.id, started](FlyOutcome o) {
            asio::post(io, [weak, id, started, o = std::move(o)]() mutable {
              auto self = weak.lock();
              if (!self || !self->running.count(id)) return;  // cancelled or reassigned
              self->running.erase(id);
              self->Finish(id, o.ok, std::move(o.value), started, o.crashed);
              self->MaybeDrained();
            });
          },
          [weak = weak_from_this(), &io = io, id = t.id](uint64_t offset, std::string text) {
            asio::post(io, [weak, id, offset, text = std::move(text)] {
              auto self = weak.lock();
              if (!self || !self->running.count(id)) return;
              self->output.Add(id, offset, text);
              // A chatty chunk is sent on in pieces of about a MiB, not held whole.
              if (self->output.bytes() >= (size_t{1} << 20)) {
                self->Flush();
              } else {
                self->FlushSoon();
              }
            });
          });
      continue;
    }
    if (t.op == "exec" && commands) {
      running.emplace(t.id, nullptr);
      // The memory and CPUs the task asked the planner for are also its command's limits,
      // unless its arguments set them themselves.
      if (t.resources.memory_mib > 0 || t.resources.millicpus > 0) {
        boost::system::error_code ec;
        boost::json::value v = boost::json::parse(t.args, ec);
        if (!ec && v.is_object()) {
          boost::json::object& o = v.get_object();
          if (t.resources.memory_mib > 0 && !o.contains("memory")) {
            o["memory"] = t.resources.memory_mib;
          }
          if (t.resources.millicpus > 0 && !o.contains("cpus")) {
            o["cpus"] = static_cast<double>(t.resources.millicpus) / 1000;
          }
          t.args = boost::json::serialize(v);
        }
      }
      commands->Submit(t.id, std::move(t.args),
                       [weak = weak_from_this(), &io = io, id = t.id, started](CommandOutcome o) {
                         asio::post(io, [weak, id, started, o = std::move(o)]() mutable {
                           auto self = weak.lock();
                           if (!self || !self->running.count(id)) return;
                           self->running.erase(id);
                           self->Finish(id, o.ok, std::move(o.value), started);
                           self->MaybeDrained();
                         });
                       });
      continue;
    }
    auto plan = PlanBuiltin(t.op, t.args, options.duration_scale, rng);
    if (!plan.ok()) {
      Finish(t.id, false, plan.status().message(), started);
      continue;
    }
    if (plan->seconds <= 0) {
      Finish(t.id, true, std::move(plan->result), started);
      continue;
    }
    auto timer = std::make_unique<asio::steady_timer>(io);
    timer->expires_after(std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>(plan->seconds)));
    timer->async_wait([weak = weak_from_this(), id = t.id, result = std::move(plan->result),
                       started](boost::system::error_code ec) mutable {
      auto self = weak.lock();
      if (ec || !self || !self->running.count(id)) return;
      self->running.erase(id);
      self->Finish(id, true, std::move(result), started);
      self->MaybeDrained();
    });
    running.emplace(t.id, std::move(timer));
  }
  if (!refused.empty() && conn) conn->Send(wire::EncodeRefused(refused));
}

void Agent::Impl::Finish(uint64_t id, bool ok, std::string value, double started, bool crashed) {
  results.Add({id, ok, std::move(value), started, WallSeconds(), crashed});
  FlushSoon();
}

void Agent::Impl::FlushSoon() {
  if (flush_pending) return;
  flush_pending = true;
  asio::post(io, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->Flush();
  });
}

void Agent::Impl::Flush() {
  flush_pending = false;
  // Output first: a task's result must not reach the planner before its last output.
  if (!logs.empty()) {
    std::string msg = logs.Finish();
    if (conn) conn->Send(std::move(msg));
    ReleaseLogs();
  }
  if (!output.empty()) {
    std::string msg = output.Finish();
    if (conn) conn->Send(std::move(msg));
  }
  if (results.empty()) return;
  std::string msg = results.Finish();
  if (conn) conn->Send(std::move(msg));
}

void Agent::Impl::OnLog(uint64_t id, int stream, std::string data) {
  if (!conn || !running.count(id)) {
    ReleaseLogs();
    return;
  }
  logs.Add(id, stream, data);
  if (logs.size() >= (1 << 20)) {
    Flush();
  } else {
    FlushSoon();
  }
}

void Agent::Impl::ReleaseLogs() {
  size_t held = (conn ? conn->queued_bytes() : 0) + logs.size();
  {
    std::lock_guard<std::mutex> lock(log_flow->mu);
    log_flow->pending = held;
  }
  log_flow->cv.notify_all();
  if (held <= kMaxPendingLogs || stopped) return;
  if (!log_timer) log_timer = std::make_unique<asio::steady_timer>(io);
  log_timer->expires_after(2ms);
  log_timer->async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (!ec && self) self->ReleaseLogs();
  });
}

void Agent::Impl::SendHeartbeats() {
  heartbeat.expires_after(std::chrono::milliseconds(heartbeat_ms));
  heartbeat.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || !self->conn) return;
    self->conn->Send(wire::EncodeHeartbeat());
    self->SendHeartbeats();
  });
}

void Agent::Impl::MaybeDrained() {
  if (!draining || !running.empty() || (seed && seed->busy() && !grace_over) || !on_drained) return;
  // Function calls in flight finish too (the planner stopped this worker's instances when it
  // said it was leaving, so no new call comes). Their answers leave from host threads, so
  // this looks again shortly rather than counting messages.
  if (fn_host && conn && !grace_over && fn_host->stats().busy > 0) {
    fn_recheck.expires_after(std::chrono::milliseconds(20));
    fn_recheck.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      if (auto self = weak.lock(); self && !ec) self->MaybeDrained();
    });
    return;
  }
  Flush();
  grace.cancel();
  fn_recheck.cancel();
  stopped = true;
  retry.cancel();
  heartbeat.cancel();
  if (conn) conn->Close("worker leaving");
  if (http) http->Stop();
  auto done = std::move(on_drained);
  on_drained = nullptr;
  // Let the close frame and the last results go out before the caller stops the loop.
  asio::post(io, std::move(done));
}

Agent::Agent(asio::io_context& io, WorkerOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(options))) {}

Agent::~Agent() {
  impl_->fly.reset();
  impl_->fn_host.reset();
  {
    // Slot threads waiting to hand over output give up (their commands are being killed).
    std::lock_guard<std::mutex> lock(impl_->log_flow->mu);
    impl_->log_flow->pending = 0;
  }
  impl_->log_flow->cv.notify_all();
  impl_->commands.reset();
  if (impl_->log_timer) impl_->log_timer->cancel();
  impl_->stopped = true;
  impl_->retry.cancel();
  impl_->heartbeat.cancel();
  impl_->grace.cancel();
  impl_->fn_recheck.cancel();
  for (auto& [id, timer] : impl_->running) {
    if (timer) timer->cancel();
  }
  if (impl_->conn) impl_->conn->Close("worker stopped");
  if (impl_->http) impl_->http->Stop();
  impl_->seed.reset();
  impl_->client.reset();
}

Status Agent::Start() {
  if (impl_->ops.empty()) return InvalidArgument("a worker needs at least one operation");
  for (const auto& op : impl_->ops) {
    if (!wire::IsBuiltinOp(op) && op != "fly" && op != "exec") {
      return InvalidArgument("unknown operation '" + op +
                             "' (this worker runs: add, mult, sleep, echo, noop, fly, exec)");
    }
  }
  if (impl_->options.slots < 1) return InvalidArgument("slots must be at least 1");
  {
    const WorkerOptions& o = impl_->options;
    if (o.cpus < 0 || o.memory_mib < 0) {
      return InvalidArgument("--cpus and --memory must not be negative");
    }
    MachineResources machine = DetectMachine();
    wire::Resources& r = impl_->advertised;
    r.millicpus =
        o.cpus > 0 ? static_cast<int64_t>(std::ceil(o.cpus * 1000 - 1e-6)) : machine.millicpus;
    r.memory_mib = o.memory_mib > 0 ? o.memory_mib : machine.memory_mib;
    for (const auto& [name, n] : o.resources) {
      if (!wire::ValidName(name) || n < 0) {
        return InvalidArgument("resource '" + name + "': a name and a whole number");
      }
      std::erase_if(r.named, [&](const auto& p) { return p.first == name; });
      if (n > 0) r.named.emplace_back(name, n);
    }
    std::sort(r.named.begin(), r.named.end());
  }
  if (impl_->ops.count("fly")) {
    FlyExecutorOptions fo;
    fo.slots = impl_->options.slots;
    fo.planner_url = impl_->options.planner_url;
    fo.token = impl_->options.join_token;
    impl_->fly = std::make_unique<FlyExecutor>(std::move(fo));
  }
  if (impl_->ops.count("exec")) {
    CommandExecutorOptions co;
    co.slots = impl_->options.slots;
    co.work_dir = impl_->options.work_dir;
    const char* tmp = std::getenv("TMPDIR");
    const std::string base =
        std::string(tmp && *tmp ? tmp : "/tmp") + "/volo-worker-" + impl_->options.id;
    if (co.work_dir.empty()) {
      // This process's own: two workers of one id on a machine (tests side by side, a worker
      // started again while the killed one's task directories remain) never meet in it.
      co.work_dir = base + "-" + std::to_string(::getpid());
    }
    co.launcher = impl_->options.launcher;
    impl_->bundles = std::make_shared<BundleCache>(
        impl_->options.bundle_cache_dir.empty()
            ? (impl_->options.work_dir.empty() ? base : co.work_dir) + "-bundles"
            : impl_->options.bundle_cache_dir,
        impl_->options.bundle_cache_bytes,
        BundleCache::FetchFromPlanner(impl_->options.planner_url, impl_->options.join_token));
    co.bundles = impl_->bundles;
    if (!co.launcher) {
      // Limits as this machine allows them (limits.h): cgroups where writable, else rlimits.
      std::shared_ptr<Limits> limits = Limits::Probe();
      spdlog::info("exec: task limits enforced with {}; at most {} processes per command",
                   limits->Describe(), impl_->options.task_processes);
      co.launcher = MakeDirectLauncher(std::move(limits), impl_->options.task_processes);
    }
    co.kill_grace = impl_->options.kill_grace;
    auto sink = [weak = std::weak_ptr<Impl>(impl_), flow = impl_->log_flow, &io = impl_->io](
                    uint64_t id, int stream, std::string_view data,
                    const std::atomic<bool>& cancelled) {
      {
        std::unique_lock<std::mutex> lock(flow->mu);
        while (flow->pending > Impl::kMaxPendingLogs && !cancelled) {
          flow->cv.wait_for(lock, 50ms);
        }
        flow->pending += data.size();
      }
      asio::post(io, [weak, id, stream, d = std::string(data)]() mutable {
        if (auto self = weak.lock()) self->OnLog(id, stream, std::move(d));
      });
    };
    std::shared_ptr<Launcher> launcher = co.launcher;
    // Calls' directories go beside tasks' ones, each removed when its call ends.
    std::string fn_dir = co.work_dir;
    VOLO_ASSIGN_OR_RETURN(impl_->commands, CommandExecutor::Create(std::move(co), sink));
    if (impl_->options.functions > 0) {
      FunctionHostOptions fo;
      fo.work_dir = fn_dir;
      fo.launcher = launcher;
      fo.bundles = impl_->bundles;
      fo.kill_grace = impl_->options.kill_grace;
      // Fly instances' answers are read on the io thread: no thread switch per warm call.
      fo.io = &impl_->io;
      // One post per pile of messages, not one per message (FnOutbox).
      auto send = [weak = std::weak_ptr<Impl>(impl_), box = impl_->fn_outbox, &io = impl_->io](
                      std::string msg, uint64_t epoch) {
        {
          std::lock_guard<std::mutex> lock(box->mu);
          box->messages.emplace_back(std::move(msg), epoch);
          if (box->posted) return;
          box->posted = true;
        }
        asio::post(io, [weak] {
          if (auto self = weak.lock()) self->SendFnOutbox();
        });
      };
      VOLO_ASSIGN_OR_RETURN(impl_->fn_host, FunctionHost::Create(std::move(fo), send));
      spdlog::info("functions: hosts up to {} instances, calls run like exec's commands",
                   impl_->options.functions);
    }
    spdlog::info("exec: commands run with the '{}' launcher in {}",
                 impl_->options.launcher ? impl_->options.launcher->name() : "none",
                 impl_->commands->work_dir());
  }
  VOLO_RETURN_IF_ERROR(impl_->StartHttp());
  impl_->Connect();
  return Status::Ok();
}

void Agent::Drain(std::function<void()> done) {
  Impl& s = *impl_;
  if (s.draining) return;
  s.draining = true;
  s.on_drained = std::move(done);
  if (s.seed) s.seed->StopTaking();
  spdlog::info("draining: finishing {} running task(s){}, taking no more",
               s.running.size() + (s.seed ? s.seed->working().size() : 0),
               s.fn_host ? fmt::format(" and {} function call(s)", s.fn_host->stats().busy) : "");
  if (s.conn) s.conn->Send(wire::EncodeLeaving());
  s.grace.expires_after(s.options.drain_grace);
  s.grace.async_wait([weak = std::weak_ptr<Impl>(impl_)](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    // Out of time: hand back what is still running so another worker runs it (a seed
    // planner sees the connection drop and queues its task again).
    self->grace_over = true;
    std::vector<uint64_t> ids;
    for (auto& [id, timer] : self->running) {
      self->Abandon(id, timer);
      ids.push_back(id);
    }
    self->running.clear();
    if (self->conn && !ids.empty()) self->conn->Send(wire::EncodeRefused(ids));
    self->MaybeDrained();
  });
  s.MaybeDrained();
}

uint16_t Agent::http_port() const { return impl_->http_port; }

}  // namespace volo::worker
