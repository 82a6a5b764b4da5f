// The planner process: Core behind an HTTP/WebSocket server (REST API, native worker links,
// streaming clients, seed-compatible HTTP workers), on one io_context thread. The parts live in
// their own files (rest, sessions, links, commit_gate, blob_store, metrics, auth); this one
// owns them and wires them together.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "net/http.h"
#include "planner/core.h"
#include "planner/logs.h"
#include "provision/provisioner.h"

namespace boost::asio {
class io_context;
}

namespace volo::planner {

struct PlannerOptions {
  std::string bind = "127.0.0.1";
  uint16_t port = 3000;
  std::string port_file;  // written with the port once listening
  size_t max_body_bytes = 8 << 20;
  std::chrono::milliseconds heartbeat_interval{1000};
  std::chrono::milliseconds http_worker_timeout{60000};
  // Durable state: a SQLite journal in this directory; empty keeps everything in memory only.
  std::string data_dir;
  // Bundles (volo bundle push): their total size on disk (or in memory without data_dir), and
  // how long one that no task names is kept before it is collected.
  uint64_t max_bundle_bytes = uint64_t{4} << 30;
  std::chrono::seconds bundle_grace{3600};
  // Finished tasks are forgotten (in memory and in the journal) this long after they end.
  std::chrono::seconds keep_results{24 * 3600};
  // Bearer tokens: `api_token` for the REST API and streaming clients, `join_token` for
  // workers (native and POST /register). Empty: no check. Never logged.
  std::string api_token;
  std::string join_token;
  // With both set the planner speaks HTTPS and WSS only.
  std::string tls_cert_file;
  std::string tls_key_file;
  CoreOptions core;
  // A workflow file (docs/workflows.md) defined at start; empty: none until one is applied.
  std::string workflows_file;
  // Command tasks' output (logs.h): under data_dir/logs with data_dir, else in memory.
  LogLimits logs;
  // Pages served besides the API, to anyone (the FLY playground at /playground/, from the files
  // built into the binary: src/cli/playground_assets.h): the answer to a GET or HEAD outside
  // /api/, or nullopt for a path they do not have. Runs on the io thread.
  std::function<std::optional<net::HttpResponse>(const net::HttpRequest&)> pages;
  // `--provision local:MAX`: workers started on demand (provision/provisioner.h,
  // planner/provisioning.h); disabled by default. `provision_binary` is the volo to run
  // (empty: this process's own).
  provision::ProvisionOptions provision;
  std::string provision_binary;
};

class PlannerServer {
 public:
  PlannerServer(boost::asio::io_context& io, PlannerOptions options);
  ~PlannerServer();
  PlannerServer(const PlannerServer&) = delete;
  PlannerServer& operator=(const PlannerServer&) = delete;

  // Replays the journal (with data_dir), binds and starts serving; returns the port.
  // FailedPrecondition when asked to listen beyond loopback without both tokens.
  Result<uint16_t> Start();
  // Stops accepting, closes every connection (workers are told), cancels timers, and commits
  // and closes the journal.
  void Stop();
  Core& core();
  // A seed-style HTTP worker, as POST /register adds one.
  Status AddHttpWorker(const std::string& id, const std::string& url, std::vector<std::string> ops);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace volo::planner
