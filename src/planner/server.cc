#include "planner/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fstream>
#include <sstream>

#include "journal/journal.h"
#include "net/admission.h"
#include "net/client.h"
#include "net/server.h"
#include "planner/auth.h"
#include "planner/blob_store.h"
#include "planner/bundle_store.h"
#include "planner/commit_gate.h"
#include "planner/dashboard.h"
#include "planner/functions.h"
#include "planner/links.h"
#include "planner/provisioning.h"
#include "planner/rest.h"
#include "planner/sessions.h"
#include "planner/workflows.h"
#include "provision/local.h"
#include "wire/messages.h"

namespace volo::planner {
namespace asio = boost::asio;
using net::HttpRequest;
using net::HttpResponse;

namespace {

bool IsLoopback(const std::string& bind) {
  return bind == "localhost" || bind == "::1" || bind.rfind("127.", 0) == 0;
}

net::ServerOptions ServerOptionsFor(const PlannerOptions& o) {
  net::ServerOptions so;
  so.bind = o.bind;
  so.port = o.port;
  so.max_body_bytes = o.max_body_bytes;
  so.tls_cert_file = o.tls_cert_file;
  so.tls_key_file = o.tls_key_file;
  // A bundle upload may be as large as the bundle store, when it carries the API token (so a
  // stranger cannot make the planner buffer gigabytes before it answers 401).
  so.body_limit_for = [api = Token(o.api_token), max = o.max_bundle_bytes](const HttpRequest& h) {
    bool upload = h.method == "PUT" && h.path.rfind("/api/v1/bundles/", 0) == 0;
    return upload && BearerMatches(h, api) ? static_cast<size_t>(max) : size_t{0};
  };
  return so;
}

// A connection earns the authenticated budget with either token (net/admission.h). Without
// tokens every request authenticates, and only half-open connections stay in the small budget.
net::AdmissionOptions AdmissionFor(const PlannerOptions& o) {
  net::AdmissionOptions a;
  a.authenticated = [api = Token(o.api_token), join = Token(o.join_token)](const HttpRequest& req) {
    return BearerMatches(req, api) || BearerMatches(req, join);
  };
  return a;
}

// The URL provisioned workers on this machine reach the planner at.
std::string WorkerUrl(const PlannerOptions& o, uint16_t port) {
  std::string host = o.bind;
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return (o.tls_cert_file.empty() ? "http://" : "https://") + host + ":" + std::to_string(port);
}

}  // namespace

// Function messages to native workers: those made in one turn of the event loop leave together
// (WsWorkerLink::SendFn; functions.h).
class WsFunctionTransport final : public FunctionTransport {
 public:
  explicit WsFunctionTransport(
      std::unordered_map<WorkerIndex, std::shared_ptr<WsWorkerLink>>& links)
      : links_(links) {}
  void Start(WorkerIndex w, const wire::FnStart& m) override { Send(w, wire::EncodeFnStart(m)); }
  void Call(WorkerIndex w, const wire::FnCall& m) override { Send(w, wire::EncodeFnCall(m)); }
  void Stop(WorkerIndex w, uint64_t instance) override { Send(w, wire::EncodeFnStop({instance})); }

 private:
  void Send(WorkerIndex w, std::string msg) {
    if (auto it = links_.find(w); it != links_.end()) it->second->SendFn(std::move(msg));
  }
  std::unordered_map<WorkerIndex, std::shared_ptr<WsWorkerLink>>& links_;
};

// The process: owns Core, the network server, the journal and the timers, and wires them
// together. Every member is used on the io thread only.
struct PlannerServer::Impl final : RestEnv {
  Impl(asio::io_context& io, PlannerOptions o)
      : io(io),
        options(std::move(o)),
        core(clock, options.core),
        server(io, ServerOptionsFor(options)),
        http(io),
        tick(io),
        prune_timer(io),
        bundle_timer(io),
        workflows(core, clock,
                  [this](std::function<void()> fn) {
                    asio::post(this->io, [fn = std::move(fn), alive = alive] {
                      if (*alive) fn();
                    });
                  }),
        fn_transport(ws_links),
        functions(clock, fn_transport),
        rest{core, blobs, *this, Token(options.api_token), Token(options.join_token), &workflows},
        sessions{io,
                 core,
                 [this](std::function<void(const Status&)> ack) { Durable(std::move(ack)); },
                 static_cast<int>(options.heartbeat_interval.count()),
                 ws_links,
                 next_client},
        dashboard(core, *this, DashboardOptions{.secure_cookie = !options.tls_cert_file.empty()}) {
    rest.dashboard = &dashboard;
    workflows.SetBlobSink([this](const std::string& sha256, std::string bytes) {
      return blobs.Put(sha256, std::move(bytes));
    });
  }

  asio::io_context& io;
  PlannerOptions options;
  SteadyClock clock;
  Core core;
  net::Server server;
  net::HttpClient http;
  asio::steady_timer tick;
  asio::steady_timer prune_timer;
  asio::steady_timer bundle_timer;
  std::unique_ptr<BundleStore> bundles;
  BlobStore blobs;
  std::unique_ptr<journal::Journal> journal;
  std::unique_ptr<CommitGate> gate = std::make_unique<CommitGate>(io, nullptr);
  std::vector<std::unique_ptr<HttpWorkerLink>> http_links;
  std::unordered_map<WorkerIndex, std::shared_ptr<WsWorkerLink>> ws_links;
  uint64_t next_client = 1;
  bool stopped = false;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  WorkflowService workflows;
  std::unique_ptr<LogStore> logs;
  WsFunctionTransport fn_transport;
  FunctionService functions;
  RestContext rest;
  SessionContext sessions;
  Dashboard dashboard;
  std::unique_ptr<ProvisionDriver> provision;  // with --provision

  // ---- RestEnv ----
  std::function<void()> After(Nanos delay, std::function<void()> fn) override {
    auto timer = std::make_shared<asio::steady_timer>(io);
    timer->expires_after(delay);
    timer->async_wait([timer, fn = std::move(fn), alive = alive](boost::system::error_code ec) {
      if (ec || !*alive) return;
      fn();
    });
    // Cancelling frees the timer (and what `fn` holds) now rather than when it would expire.
    return [weak = std::weak_ptr<asio::steady_timer>(timer)] {
      if (auto t = weak.lock()) t->cancel();
    };
  }
  void Durable(std::function<void(const Status&)> ack) override { gate->Durable(std::move(ack)); }
  Status EnrolHttpWorker(const std::string& id, const std::string& url,
                         std::vector<std::string> ops) override {
    std::string ops_csv;
    for (const auto& op : ops) ops_csv += (ops_csv.empty() ? "" : ",") + op;
    VOLO_RETURN_IF_ERROR(AddHttpWorker(id, url, std::move(ops)));
    if (journal) {
      journal->HttpWorker({id, url, ops_csv});
      gate->ScheduleCommit();
    }
    return Status::Ok();
  }
  bool stopping() const override { return stopped; }

  Status AddHttpWorker(const std::string& id, const std::string& url, std::vector<std::string> ops);
  void Handle(HttpRequest req, net::Respond respond);
  std::variant<net::WsHandlers, HttpResponse> AcceptWs(const HttpRequest& req);
  Status Replay();

  void StartTick() {
    tick.expires_after(std::chrono::milliseconds(50));
    tick.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped) return;
      core.Tick();
      workflows.Tick();
      functions.Tick();
      if (provision) provision->Tick();
      StartTick();
    });
  }
  void StartPruning() {
    auto every = std::clamp<std::chrono::seconds>(
        options.keep_results / 10, std::chrono::seconds(1), std::chrono::seconds(60));
    prune_timer.expires_after(every);
    prune_timer.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped) return;
      double cutoff = core.WallNow() - static_cast<double>(options.keep_results.count());
      size_t n = core.Prune(cutoff);
      if (journal) {
        journal->Prune(cutoff);
        gate->ScheduleCommit();
      }
      if (n && logs) logs->DropMissing(core);
      if (n) spdlog::info("pruned {} finished task(s)", n);
      StartPruning();
    });
  }
  // Bundles no task names any more go after the grace period; the sweep runs a tenth of it.
  void StartBundleSweeps() {
    auto every = std::clamp<std::chrono::seconds>(
        options.bundle_grace / 10, std::chrono::seconds(1), std::chrono::seconds(60));
    bundle_timer.expires_after(every);
    bundle_timer.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped) return;
      auto refs = BundleReferences(core);
      for (const auto& id : functions.Bundles()) ++refs[id];
      auto removed =
          bundles->Collect([&](const std::string& id) { return refs.count(id) != 0; },
                           core.WallNow(), static_cast<double>(options.bundle_grace.count()));
      for (const auto& id : removed) spdlog::info("bundle {} collected: no task names it", id);
      StartBundleSweeps();
    });
  }
};

void PlannerServer::Impl::Handle(HttpRequest req, net::Respond respond) {
  if (!journal) {
    HandleRequest(rest, req, [respond](HttpResponse r) { respond(std::move(r)); });
    return;
  }
  // Nothing the API shows may be lost by a crash: every answer waits for the commit of what
  // has been recorded so far (usually already done, so it goes out at once).
  HandleRequest(rest, req, [this, respond](HttpResponse r) {
    Durable([respond, r = std::move(r)](const Status&) mutable { respond(std::move(r)); });
  });
}

std::variant<net::WsHandlers, HttpResponse> PlannerServer::Impl::AcceptWs(const HttpRequest& req) {
  if (req.path == "/api/v1/events") return AcceptFeed(dashboard, rest, req);
  // No page elsewhere may connect a browser as a worker or a streaming client.
  if (auto refused = RefuseForeignBrowser(req, rest.api_token, true)) return std::move(*refused);
  if (req.path == "/api/v1/workers/connect") {
    if (!BearerMatches(req, rest.join_token)) return Unauthorized("workers");
    return WorkerSession(sessions);
  }
  if (req.path == "/api/v1/stream") {
    if (!BearerMatches(req, rest.api_token)) return Unauthorized("the API");
    return StreamSession(sessions);
  }
  return HttpResponse::Error(404, "no WebSocket endpoint at " + req.path +
                                      " (workers: /api/v1/workers/connect, clients: "
                                      "/api/v1/stream, the dashboard: /api/v1/events)");
}

Status PlannerServer::Impl::AddHttpWorker(const std::string& id, const std::string& url,
                                          std::vector<std::string> ops) {
  if (!wire::ValidName(id) && id != url) {
    return InvalidArgument("id: must be 1-128 characters of letters, digits, _ . : -");
  }
  // A seed worker that registers again (it restarted) replaces its old registration.
  if (auto old = core.FindWorker(WorkerId(id))) {
    if (core.worker(*old).kind != WorkerKind::kHttp) {
      return AlreadyExists("a native worker is already registered as '" + id + "'");
    }
    core.RemoveWorker(*old, "registered again");
  }
  auto link = std::make_unique<HttpWorkerLink>(core, http, url, options.http_worker_timeout);
  HttpWorkerLink* raw = link.get();
  http_links.push_back(std::move(link));
  // One task per operation at a time (Core enforces it): a seed worker that runs an add and a
  // mult at once gets both, and one that cannot answers 403 for the second. The link learns
  // its index after AddWorker; it only needs it when a response arrives, which is later.
  int slots = static_cast<int>(ops.size());
  auto r = core.AddWorker(WorkerId(id), WorkerKind::kHttp, ops, slots, raw);
  if (!r.ok()) return r.status();
  raw->index = *r;
  spdlog::info("http worker {} registered at {}", id, url);
  return Status::Ok();
}

// Rebuilds Core from the journal: tasks in id order, then the seed workers that registered.
Status PlannerServer::Impl::Replay() {
  VOLO_ASSIGN_OR_RETURN(journal, journal::Journal::Open(options.data_dir));
  size_t tasks = 0;
  std::vector<journal::HttpWorkerRecord> http_workers;
  VOLO_RETURN_IF_ERROR(journal->Load(
      [&](journal::TaskRecord&& r) {
        ++tasks;
        core.Restore(std::move(r));
      },
      [&](journal::HttpWorkerRecord&& w) { http_workers.push_back(std::move(w)); }));
  Counts c = core.counts();
  spdlog::info("journal {}: {} task(s) ({} queued again, {} done, {} failed, {} cancelled)",
               journal->path(), tasks, c.queued, c.done, c.failed, c.cancelled);
  gate = std::make_unique<CommitGate>(io, journal.get());
  core.SetJournal(gate.get());
  // Workflows: the --workflows file first (runs of its workflows replay against it), then the
  // log of definitions applied since, runs and their steps.
  if (!options.workflows_file.empty()) {
    auto names = workflows.ApplyFile(options.workflows_file);
    if (!names.ok()) return names.status();
    spdlog::info("workflows from {}: {}", options.workflows_file, names->size());
  }
  std::vector<journal::WorkflowRecord> log;
  VOLO_RETURN_IF_ERROR(
      journal->LoadWorkflows([&](journal::WorkflowRecord&& r) { log.push_back(std::move(r)); }));
  VOLO_RETURN_IF_ERROR(workflows.Replay(std::move(log)));
  workflows.SetRecorder([this](journal::WorkflowRecord r) {
    journal->Workflow(std::move(r));
    gate->ScheduleCommit();
  });
  // Functions: each as its last recorded state; instances start again as calls come.
  size_t fns = 0;
  VOLO_RETURN_IF_ERROR(journal->LoadFunctions([&](journal::FunctionRecord&& r) {
    Status s = functions.Restore(r.name, r.state);
    if (s.ok()) {
      ++fns;
    } else {
      spdlog::warn("{}", s.message());
    }
  }));
  if (fns) spdlog::info("journal: {} function(s)", fns);
  functions.SetRecorder([this](const std::string& name, const std::string& state) {
    journal->Function({name, state});
    gate->ScheduleCommit();
  });
  for (auto& w : http_workers) {
    std::vector<std::string> ops;
    std::stringstream ss(w.ops);
    for (std::string op; std::getline(ss, op, ',');) ops.push_back(op);
    Status s = AddHttpWorker(w.id, w.url, ops);
    if (!s.ok()) spdlog::warn("http worker {} from the journal: {}", w.id, s.message());
  }
  return Status::Ok();
}

PlannerServer::PlannerServer(asio::io_context& io, PlannerOptions options)
    : impl_(std::make_unique<Impl>(io, std::move(options))) {
  net::SetAdmission(impl_->server, AdmissionFor(impl_->options));
  impl_->server.SetHttpHandler(
      [this](HttpRequest req, net::Respond respond) { impl_->Handle(std::move(req), respond); });
  impl_->server.SetWsAcceptor([this](const HttpRequest& req) { return impl_->AcceptWs(req); });
}

PlannerServer::~PlannerServer() { Stop(); }

Result<uint16_t> PlannerServer::Start() {
  Impl& m = *impl_;
  if (!IsLoopback(m.options.bind) &&
      (m.options.api_token.empty() || m.options.join_token.empty())) {
    return FailedPrecondition("refusing to listen on " + m.options.bind +
                              " without tokens: give --token-file and --join-token-file (or "
                              "VOLO_TOKEN and VOLO_JOIN_TOKEN), or bind to 127.0.0.1");
  }
  if (!m.options.api_token.empty() && m.options.api_token == m.options.join_token) {
    // One secret for both would let every worker read and submit tasks, and every client
    // enrol a worker: the two roles would be one.
    return FailedPrecondition(
        "the API token and the join token are the same; give each its own secret (--token-file "
        "and --join-token-file must name different files with different contents)");
  }
  if (!m.options.data_dir.empty()) VOLO_RETURN_IF_ERROR(m.Replay());
  VOLO_ASSIGN_OR_RETURN(
      m.bundles,
      BundleStore::Open(m.options.data_dir.empty() ? "" : m.options.data_dir + "/bundles",
                        m.options.max_bundle_bytes, m.core.WallNow()));
  m.rest.bundles = m.bundles.get();
  m.rest.functions = &m.functions;
  m.sessions.functions = &m.functions;
  if (m.options.data_dir.empty() && !m.options.workflows_file.empty()) {
    auto names = m.workflows.ApplyFile(m.options.workflows_file);
    if (!names.ok()) return names.status();
    spdlog::info("workflows from {}: {}", m.options.workflows_file, names->size());
  }
  VOLO_ASSIGN_OR_RETURN(
      m.logs, LogStore::Open(m.options.data_dir.empty() ? "" : m.options.data_dir + "/logs",
                             m.options.logs));
  m.logs->DropMissing(m.core);
  m.rest.logs = m.logs.get();
  m.rest.pages = &m.options.pages;
  m.sessions.logs = m.logs.get();
  VOLO_ASSIGN_OR_RETURN(uint16_t port, m.server.Listen());
  if (!m.options.port_file.empty()) {
    std::string tmp = m.options.port_file + ".tmp";
    {
      std::ofstream f(tmp);
      f << port << "\n";
      if (!f) return IoError("cannot write " + tmp);
    }
    if (std::rename(tmp.c_str(), m.options.port_file.c_str()) != 0) {
      return IoError("cannot write " + m.options.port_file);
    }
  }
  if (m.options.provision.enabled()) {
    provision::LocalOptions lo;
    lo.binary =
        m.options.provision_binary.empty() ? provision::SelfBinary() : m.options.provision_binary;
    lo.planner_url = WorkerUrl(m.options, port);
    lo.join_token = m.options.join_token;
    lo.sandbox = m.options.provision.sandbox;
    m.provision = std::make_unique<ProvisionDriver>(
        m.core, m.functions, m.clock, m.options.provision,
        std::make_unique<provision::LocalProvisioner>(m.clock, lo));
    m.rest.provisioned = [p = m.provision.get()](const std::string& id) {
      return p->IsProvisioned(id);
    };
    m.rest.provision_metrics = [p = m.provision.get()] { return p->MetricsText(); };
    spdlog::info("provision: up to {} local worker(s) on demand, stopped after {} s idle ({})",
                 m.options.provision.max,
                 std::chrono::duration<double>(m.options.provision.idle).count(), lo.binary);
  }
  m.StartTick();
  m.dashboard.Start();
  m.StartPruning();
  m.StartBundleSweeps();
  return port;
}

void PlannerServer::Stop() {
  Impl& m = *impl_;
  if (m.stopped) return;
  m.stopped = true;
  m.tick.cancel();
  m.prune_timer.cancel();
  m.bundle_timer.cancel();
  m.dashboard.Stop();
  for (auto& l : m.http_links) l->Drop("stopping");
  m.server.Stop();
  // Provisioned workers go with the planner: SIGTERM, and SIGKILL to those still running after
  // the grace.
  if (m.provision) m.provision->Shutdown(std::chrono::seconds(5));
  if (m.journal) {
    m.journal->Close();
    spdlog::info("journal committed and closed");
  }
  *m.alive = false;
}

Core& PlannerServer::core() { return impl_->core; }

Status PlannerServer::AddHttpWorker(const std::string& id, const std::string& url,
                                    std::vector<std::string> ops) {
  return impl_->AddHttpWorker(id, url, std::move(ops));
}

}  // namespace volo::planner
