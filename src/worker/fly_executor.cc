#include "worker/fly_executor.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "common/sha256.h"
#include "exec/frame.h"
#include "exec/process.h"
#include "fly/memory.h"
#include "net/client.h"
#include "worker/fly_runner.h"

extern char** environ;

namespace volo::worker {
namespace json = boost::json;

namespace {

std::string Str(const json::object& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
}

int64_t Int(const json::object& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_number()) return -1;
  boost::system::error_code ec;
  int64_t v = it->value().to_number<int64_t>(ec);
  return ec ? -1 : v;
}

}  // namespace

// One slot: its runner process, owned by the slot's thread.
struct FlyExecutor::Slot {
  // Slot thread only.
  exec::Process process;
  int sock = -1;
  RunnerProgress* progress = nullptr;
  // Shared with Cancel and the destructor. GUARDED_BY(FlyExecutor::mu_)
  pid_t pid = -1;        // the runner to kill, -1 once reaped
  uint64_t running = 0;  // the task id of the chunk it runs, 0 between chunks
  bool killed = false;   // Cancel or the destructor killed the runner

  bool alive() const { return sock >= 0; }
};

FlyExecutor::FlyExecutor(FlyExecutorOptions options) : options_(std::move(options)) {
  int n = std::max(options_.slots, 1);
  if (options_.runner_max_memory == 0) {
    options_.runner_max_memory = fly::DefaultMemoryLimit() / static_cast<uint64_t>(n);
  }
  for (int k = 0; k < n; ++k) slots_.push_back(std::make_unique<Slot>());
  for (auto& slot : slots_) threads_.emplace_back([this, s = slot.get()] { Loop(*s); });
}

FlyExecutor::~FlyExecutor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.StopLocked();
    for (auto& slot : slots_) {
      if (slot->pid > 0) ::kill(slot->pid, SIGKILL);
      slot->killed = true;
    }
  }
  queue_.WakeAll();
  for (auto& t : threads_) t.join();
}

void FlyExecutor::Submit(uint64_t id, std::string args, Done done, Output output) {
  queue_.Push({id, std::move(args), std::move(done), std::move(output)});
}

void FlyExecutor::Cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.DropLocked(id)) return;
  // The VM would stop at its next loop turn, but a chunk can be inside a long native call;
  // killing the runner stops it now, and a new runner costs a few milliseconds.
  for (auto& slot : slots_) {
    if (slot->running == id && slot->pid > 0 && !slot->killed) {
      ::kill(slot->pid, SIGKILL);
      slot->killed = true;
    }
  }
}

FlyStats FlyExecutor::stats() const {
  return {fetched_.load(),   compiled_.load(), chunks_.load(),
          instances_.load(), crashes_.load(),  started_.load()};
}

namespace {

// Starts a runner for `slot`: a socketpair for frames and a shared page for its progress.
Status StartRunner(const FlyExecutorOptions& options, exec::Process* process, int* sock,
                   RunnerProgress** progress) {
  int page = ::memfd_create("volo-fly-runner", MFD_CLOEXEC);
  if (page < 0 || ::ftruncate(page, sizeof(RunnerProgress)) != 0) {
    if (page >= 0) ::close(page);
    return IoError("cannot create the runner's progress page");
  }
  void* mem = ::mmap(nullptr, sizeof(RunnerProgress), PROT_READ | PROT_WRITE, MAP_SHARED, page, 0);
  if (mem == MAP_FAILED) {
    ::close(page);
    return IoError("cannot map the runner's progress page");
  }
  auto* p = new (mem) RunnerProgress();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    ::munmap(mem, sizeof(RunnerProgress));
    ::close(page);
    return IoError("cannot create the runner's socket");
  }
  exec::SpawnOptions so;
  so.path = options.runner_path;
  so.argv = options.runner_argv;
  so.argv.push_back(std::to_string(::getpid()));
  so.argv.push_back(std::to_string(options.runner_max_memory));
  // The runner runs users' programs: it gets the worker's environment without its secrets.
  so.env.emplace();
  for (char** e = environ; *e; ++e) {
    std::string_view entry(*e);
    if (entry.rfind("VOLO_JOIN_TOKEN=", 0) == 0 || entry.rfind("VOLO_TOKEN=", 0) == 0) continue;
    so.env->emplace_back(entry);
  }
  so.fds = {{sv[1], kRunnerSocketFd}, {page, kRunnerProgressFd}};
  auto child = exec::Spawn(so);
  ::close(sv[1]);
  ::close(page);
  if (!child.ok()) {
    ::close(sv[0]);
    ::munmap(mem, sizeof(RunnerProgress));
    return child.status();
  }
  *process = std::move(*child);
  *sock = sv[0];
  *progress = p;
  return Status::Ok();
}

}  // namespace

void FlyExecutor::Loop(Slot& slot) {
  // Reaps the slot's runner (killing it if it still runs) and says how it ended.
  auto reap = [&]() -> exec::ExitStatus {
    {
      std::lock_guard<std::mutex> lock(mu_);
      slot.pid = -1;
    }
    exec::ExitStatus st = slot.process.Kill();
    ::close(slot.sock);
    slot.sock = -1;
    ::munmap(slot.progress, sizeof(RunnerProgress));
    slot.progress = nullptr;
    return st;
  };
  // Starts a runner unless one is alive; false (logged) when it cannot.
  auto start = [&]() -> Status {
    if (slot.alive()) return Status::Ok();
    Status st = StartRunner(options_, &slot.process, &slot.sock, &slot.progress);
    if (!st.ok()) {
      spdlog::error("fly: cannot start a runner: {}", st.message());
      return st;
    }
    ++started_;
    std::lock_guard<std::mutex> lock(mu_);
    slot.pid = slot.process.pid();
    if (queue_.stopped_locked()) {
      ::kill(slot.pid, SIGKILL);
      slot.killed = true;
    }
    return Status::Ok();
  };
  (void)start();  // at once, so the first chunk does not wait for it
  for (;;) {
    Item item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      std::optional<Item> taken = queue_.TakeLocked(lock);
      if (!taken) break;
      item = std::move(*taken);
      slot.running = item.id;
      slot.killed = false;
    }
    FlyOutcome outcome;
    auto chunk = Prepare(item.args);
    if (!chunk.ok()) {
      outcome.value = "fly: " + chunk.status().message();
    } else {
      exec::FrameWriter w;
      w.Add("run").Add(static_cast<int64_t>(item.id)).Add(chunk->hash).Add(chunk->file);
      w.Add(chunk->source).Add(chunk->spec).Add(chunk->first).Add(chunk->count);
      for (const auto& a : chunk->args) w.Add(a);
      // A runner found dead before it took the chunk (killed while idle) is replaced and the
      // chunk sent again, once.
      for (int attempt = 0; attempt < 2; ++attempt) {
        Status st = start();
        if (!st.ok()) {
          outcome.value = "fly: cannot start a runner: " + st.message();
          break;
        }
        std::string reply;
        st = exec::SendFrame(slot.sock, w.payload());
        if (st.ok()) st = exec::ReceiveFrame(slot.sock, &reply);
        // Output frames come ahead of the result, as the chunk prints.
        while (st.ok()) {
          exec::FrameReader r(reply);
          std::string_view kind, text;
          int64_t id = 0, offset = 0;
          if (!r.Next(&kind) || kind != "output") break;
          if (r.NextInt(&id) && id == static_cast<int64_t>(item.id) && r.NextInt(&offset) &&
              offset >= 0 && r.Next(&text) && item.output) {
            item.output(static_cast<uint64_t>(offset), std::string(text));
          }
          st = exec::ReceiveFrame(slot.sock, &reply);
        }
        if (st.ok()) {
          exec::FrameReader r(reply);
          std::string_view kind, value;
          int64_t id = 0, ok = 0, compiled = 0, instances = 0;
          if (r.Next(&kind) && kind == "result" && r.NextInt(&id) &&
              id == static_cast<int64_t>(item.id) && r.NextInt(&ok) && r.Next(&value) &&
              r.NextInt(&compiled) && r.NextInt(&instances)) {
            outcome.ok = ok == 1;
            outcome.value = std::string(value);
            compiled_ += compiled;
            ++chunks_;
            instances_ += instances;
          } else {
            reap();
            outcome.value = "fly: the runner sent a malformed reply";
          }
          break;
        }
        // The runner has gone: which chunk and instance did it die in?
        bool took = slot.progress->chunk.load(std::memory_order_acquire) == item.id;
        int64_t instance = slot.progress->instance.load(std::memory_order_relaxed);
        exec::ExitStatus how = reap();
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (slot.killed) break;  // cancelled: nobody wants an outcome
        }
        if (!took && attempt == 0) continue;
        ++crashes_;
        outcome.crashed = true;
        std::string what = how.Describe();
        if (instance >= chunk->first && instance < chunk->first + chunk->count) {
          outcome.value = "instance " + std::to_string(instance) + ": " + what;
        } else {
          outcome.value = "fly: the runner " + std::string(how.signal ? "was " : "") + what +
                          " before the chunk's first instance started";
        }
        spdlog::warn("fly task {}: {}; a new runner takes its slot", item.id, outcome.value);
        break;
      }
    }
    bool killed;
    {
      std::lock_guard<std::mutex> lock(mu_);
      slot.running = 0;
      killed = slot.killed;
      slot.killed = false;
    }
    if (killed) {
      if (slot.alive()) reap();
    } else {
      item.done(std::move(outcome));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.stopped_locked()) break;
    }
    (void)start();  // replace a runner that died, before the next chunk arrives
  }
  if (slot.alive()) reap();
}

Result<std::string> FlyExecutor::Blob(const std::string& hash) {
  // Called with cache_mu_ held.
  auto it = blobs_.find(hash);
  if (it != blobs_.end()) return it->second;
  net::Headers headers;
  if (!options_.token.empty()) headers.emplace_back("Authorization", "Bearer " + options_.token);
  std::string base = options_.planner_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  auto r =
      net::HttpFetch("GET", base + "/api/v1/blobs/" + hash, "", headers, std::chrono::seconds(30));
  if (!r.ok()) return Unavailable("fetching blob " + hash + ": " + r.status().message());
  if (r->status != 200) {
    return NotFound("the planner has no blob " + hash + " (HTTP " + std::to_string(r->status) +
                    ")");
  }
  if (Sha256Hex(r->body) != hash) return Corruption("blob " + hash + " does not match its hash");
  ++fetched_;
  spdlog::info("fly: fetched blob {} ({} bytes)", hash.substr(0, 12), r->body.size());
  if (blobs_.size() > 256) blobs_.clear();
  blobs_[hash] = r->body;
  return std::move(r->body);
}

Result<FlyExecutor::Chunk> FlyExecutor::Prepare(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return InvalidArgument("the task's args are not a JSON object");
  const json::object& o = v.as_object();
  Chunk c;
  c.hash = Str(o, "program");
  c.file = Str(o, "file");
  c.first = Int(o, "first");
  c.count = Int(o, "count");
  if (c.hash.empty() || c.first < 0 || c.count < 0) {
    return InvalidArgument("args need program (a SHA-256), first and count");
  }
  c.spec = Str(o, "spec");
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    VOLO_ASSIGN_OR_RETURN(c.source, Blob(c.hash));
    if (c.spec.empty()) {
      VOLO_ASSIGN_OR_RETURN(c.spec, Blob(Str(o, "spec_blob")));
    }
  }
  if (auto it = o.find("args"); it != o.end() && it->value().is_array()) {
    for (const auto& a : it->value().as_array()) {
      c.args.push_back(a.is_string() ? std::string(a.as_string()) : "");
    }
  }
  return c;
}

}  // namespace volo::worker
