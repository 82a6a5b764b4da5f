// A volo worker: connects to a planner over the native protocol (docs/protocol.md), runs the
// tasks it is given, and also serves the seed's HTTP endpoints (POST /add, POST /mult, GET /;
// seed.h) so the original exercise's planner can drive it. A planner that does not speak the
// native protocol (its WebSocket upgrade answers 404 or the like) is taken for a seed planner:
// the worker registers itself there with POST /register {"url", "id"} and says so in its log.
//
// Threading: everything runs on the io_context passed in; built-in operations wait on timers,
// not threads, so one thread serves any number of slots.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "worker/launcher.h"

namespace boost::asio {
class io_context;
}

namespace volo::worker {

struct WorkerOptions {
  std::string planner_url;  // http://host:port; empty: serve the seed endpoints only
  std::string id;           // unique among live workers; default host-pid
  // "fly": chunks of FLY fly instances (fly_executor.h), on `slots` threads.
  // "exec": users' commands (command.h), on `slots` threads, in directories under work_dir.
  std::vector<std::string> ops = {"add", "mult", "sleep", "echo", "noop", "fly", "exec"};
  int slots = 1;
  int http_port = 0;  // seed endpoints: -1 off, 0 any free port
  std::string bind = "127.0.0.1";
  std::string port_file;  // gets the seed endpoints' port once listening
  // The URL a seed planner is told to send tasks to (the seed's ADDRESS); empty: the bound
  // address (seed.h AdvertiseUrl).
  std::string advertise_url;
  double duration_scale = 1;  // scales add/mult simulated durations
  std::chrono::milliseconds drain_grace{30000};
  std::string join_token;  // sent as a bearer token when connecting; never logged
  // exec: where tasks' directories go (empty: $TMPDIR or /tmp, then volo-worker-<id>), how
  // commands start (null: directly, launcher.h), and how long a stopped command has between
  // SIGTERM and SIGKILL.
  std::string work_dir;
  std::shared_ptr<Launcher> launcher;
  std::chrono::milliseconds kill_grace{5000};
  // What the worker offers tasks that request resources (docs/architecture.md, "Placement"):
  // 0 means the machine's own, read at start (limits.h MachineResources).
  double cpus = 0;
  int64_t memory_mib = 0;
  std::vector<std::pair<std::string, int64_t>> resources;  // named: gpus=2
  // Most processes one task's command may hold at once (limits.h); 0: no limit. Off by
  // default: a limited command starts through the volo __limit shim, which costs a start of
  // the volo binary.
  int task_processes = 0;
  // exec: where bundles are unpacked (empty: <work_dir>-bundles) and how many bytes of
  // archives the cache holds before it removes the least recently used (bundle_cache.h).
  std::string bundle_cache_dir;
  int64_t bundle_cache_bytes = int64_t{10} << 30;
  // Function instances (functions.h) this worker hosts at once, with exec among its ops; 0:
  // none. Calls run through the same launcher (sandbox, limits) as exec's commands.
  int functions = 64;
};

class Agent {
 public:
  Agent(boost::asio::io_context& io, WorkerOptions options);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Starts the seed HTTP endpoints and connects to the planner (retrying until it answers).
  Status Start();
  // Stops taking work, finishes what it holds (up to drain_grace; the rest is handed back),
  // disconnects, then calls `done` on the io thread.
  void Drain(std::function<void()> done);
  // Port of the seed HTTP endpoints, 0 when off.
  uint16_t http_port() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace volo::worker
