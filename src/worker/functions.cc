#include "worker/functions.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <set>

#include "worker/fn_fly.h"
#include "worker/fn_http.h"
#include "worker/process_watch.h"

namespace volo::worker {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kStderrTail = 2 << 10;
// How long a fly instance may take to compile its program and run its top level.
constexpr double kFlyReadyTimeout = 30;

std::string Errno(int err) { return strerrordesc_np(err) ? strerrordesc_np(err) : "error"; }

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void RemoveTree(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!ec) return;
  // The call may have taken its own permissions away.
  for (auto it =
           fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
  }
  ::chmod(dir.c_str(), 0700);
  fs::remove_all(dir, ec);
  if (ec) spdlog::warn("functions: cannot remove {}: {}", dir, ec.message());
}

// Bytes that are not UTF-8 would make the JSON text invalid: keeps ASCII and well-formed
// multi-byte sequences only, replacing the rest with '?'.
std::string Utf8Only(std::string_view t) {
  std::string out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size();) {
    unsigned char c = static_cast<unsigned char>(t[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = n > 0 && i + n <= t.size();
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(t[i + k]) >> 6) == 2;
    if (ok) {
      out.append(t, i, n);
      i += n;
    } else {
      out += '?';
      ++i;
    }
  }
  return out;
}

// The stderr tail for an error message: trimmed, valid UTF-8 is the planner's concern (it
// escapes what it sends as JSON).
std::string Trim(std::string t) {
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  if (t.size() >= kStderrTail) {
    size_t nl = t.find('\n');
    if (nl != std::string::npos && nl + 1 < t.size()) t = "..." + t.substr(nl + 1);
  }
  return Utf8Only(t);
}

// Cuts an instance's stderr into fn_log texts: whole lines, at most wire::kFnLogMaxText bytes
// in one (a longer line is cut there). Add passes on what is complete, End the rest.
class LogLines {
 public:
  using Emit = std::function<void(std::string text)>;
  void Add(std::string_view data, const Emit& emit) {
    pending_.append(data);
    for (;;) {
      size_t nl = pending_.rfind('\n', wire::kFnLogMaxText - 1);
      if (nl != std::string::npos) {
        emit(Utf8Only(std::string_view(pending_).substr(0, nl + 1)));
        pending_.erase(0, nl + 1);
      } else if (pending_.size() >= wire::kFnLogMaxText) {
        emit(Utf8Only(std::string_view(pending_).substr(0, wire::kFnLogMaxText - 1)) + "\n");
        pending_.erase(0, wire::kFnLogMaxText - 1);
      } else {
        return;
      }
    }
  }
  void End(const Emit& emit) {
    if (!pending_.empty()) emit(Utf8Only(pending_) + "\n");
    pending_.clear();
  }

 private:
  std::string pending_;
};

std::string SecondsText(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

}  // namespace

struct FunctionHost::Instance {
  wire::FnStart spec;
  std::unique_ptr<BundleCache::Lease> bundle;
  uint64_t epoch = 0;
  uint16_t port = 0;                   // http
  std::unique_ptr<HttpInstance> http;  // http: its process
  std::unique_ptr<FlyInstance> fly;    // fly: its process
};

struct FunctionHost::Running {
  int wake = -1;  // eventfd: written to kill the call this thread runs
  std::atomic<bool> killed{false};
  uint64_t epoch = 0;
};

Result<std::unique_ptr<FunctionHost>> FunctionHost::Create(FunctionHostOptions options, Send send) {
  if (!options.launcher) return InvalidArgument("functions: no launcher");
  std::error_code ec;
  fs::create_directories(options.work_dir, ec);
  if (ec) {
    return IoError("functions: cannot create " + options.work_dir + ": " + ec.message());
  }
  return std::unique_ptr<FunctionHost>(new FunctionHost(std::move(options), std::move(send)));
}

FunctionHost::FunctionHost(FunctionHostOptions options, Send send)
    : options_(std::move(options)), send_(std::move(send)) {
  for (const char* name : {"PATH", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ"}) {
    if (const char* v = ::getenv(name)) base_env_.push_back(std::string(name) + "=" + v);
  }
  if (!::getenv("PATH")) base_env_.push_back("PATH=/usr/local/bin:/usr/bin:/bin");
}

FunctionHost::~FunctionHost() {
  // Instances and queued work are let go outside the lock: an http instance's end waits for
  // its process and its monitor thread, which may be reporting to this host.
  std::deque<std::function<void(Running&)>> queued;
  std::map<uint64_t, std::shared_ptr<Instance>> instances;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    queued.swap(queue_);
    instances.swap(instances_);
    for (auto& [id, inst] : instances) {
      if (inst->http) inst->http->Kill();
      if (inst->fly) inst->fly->Kill();
    }
    for (auto& [id, inst] : starting_) {
      if (inst->http) inst->http->Kill();
      if (inst->fly) inst->fly->Kill();
    }
    for (Running* r : running_) {
      r->killed = true;
      uint64_t one = 1;
      (void)!::write(r->wake, &one, sizeof one);
    }
  }
  cv_.notify_all();
  queued.clear();
  instances.clear();
  for (auto& t : threads_) t.join();
  // The work directory is the caller's (the worker's exec directory); each call removed its own.
}

void FunctionHost::Enqueue(std::function<void(Running&)> work) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_) return;
  queue_.push_back(std::move(work));
  if (idle_threads_ < static_cast<int>(queue_.size()) &&
      static_cast<int>(threads_.size()) < options_.max_threads) {
    threads_.emplace_back([this] { Loop(); });
  }
  cv_.notify_one();
}

void FunctionHost::Loop() {
  Running run;
  run.wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    ++idle_threads_;
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    --idle_threads_;
    if (stop_) break;
    auto work = std::move(queue_.front());
    queue_.pop_front();
    run.killed = false;
    run.epoch = epoch_;
    uint64_t drain;
    while (::read(run.wake, &drain, sizeof drain) > 0) {
    }
    running_.push_back(&run);
    lock.unlock();
    work(run);
    work = nullptr;  // its captures (maybe the last hold on an instance) go outside the lock
    lock.lock();
    std::erase(running_, &run);
  }
  if (run.wake >= 0) ::close(run.wake);
}

void FunctionHost::Start(wire::FnStart m) {
  Enqueue([this, m = std::move(m)](Running&) { RunStart(m); });
}

void FunctionHost::RunStart(const wire::FnStart& m) {
  const auto t0 = Clock::now();
  uint64_t epoch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    epoch = epoch_;
  }
  auto inst = std::make_shared<Instance>();
  inst->spec = m;
  inst->epoch = epoch;
  if (!m.bundle.empty()) {
    if (!options_.bundles) return Exited(m.instance, epoch, "this worker keeps no bundles");
    auto lease = options_.bundles->Acquire(m.bundle);
    if (!lease.ok()) return Exited(m.instance, epoch, std::string(lease.status().message()));
    inst->bundle = std::move(lease).value();
  }
  if (m.runner == "http") return StartHttp(inst, t0, epoch);
  if (m.runner == "fly") return StartFly(inst, t0, epoch);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (epoch != epoch_ || stop_) return;          // the planner went away meanwhile
    if (stopped_early_.erase(m.instance)) return;  // stopped before it was ready
    instances_[m.instance] = inst;
  }
  Ready(m, t0, epoch, "");
}

void FunctionHost::Exited(uint64_t instance, uint64_t epoch, std::string why) {
  send_(wire::EncodeFnExited({instance, std::move(why)}), epoch);
}

void FunctionHost::Ready(const wire::FnStart& m, Clock::time_point t0, uint64_t epoch,
                         const std::string& where) {
  ++started_;
  spdlog::info("function {}: instance {} ready{} (revision {})", m.function, m.instance, where,
               m.revision.substr(0, 12));
  send_(wire::EncodeFnReady({m.instance, Since(t0) * 1000}), epoch);
}

std::string FunctionHost::MakeInstanceDir(const wire::FnStart& m, uint64_t epoch) {
  std::string dir =
      options_.work_dir + "/fn-" + std::to_string(m.instance) + "-" + std::to_string(serial_++);
  if (::mkdir(dir.c_str(), 0700) == 0) return dir;
  Exited(m.instance, epoch, "cannot create the instance's directory " + dir + ": " + Errno(errno));
  return "";
}

std::function<void(std::string_view)> FunctionHost::LogForwarder(const wire::FnStart& m,
                                                                 uint64_t epoch) {
  return [this, id = m.instance, function = m.function, revision = m.revision, epoch,
          lines = std::make_shared<LogLines>()](std::string_view data) {
    auto emit = [&](std::string text) {
      send_(wire::EncodeFnLog({id, function, revision, std::move(text)}), epoch);
    };
    if (data.empty()) {
      lines->End(emit);
    } else {
      lines->Add(data, emit);
    }
  };
}

LaunchSpec FunctionHost::InstanceSpec(const Instance& inst, const std::string& dir) const {
  const wire::FnStart& m = inst.spec;
  LaunchSpec ls;
  ls.env = base_env_;
  ls.env.push_back("HOME=" + dir);
  ls.env.push_back("TMPDIR=" + dir);
  ls.env.push_back("VOLO_FUNCTION=" + m.function);
  ls.env.push_back("VOLO_FUNCTION_REVISION=" + m.revision);
  if (inst.bundle) {
    ls.bundle_dir = inst.bundle->dir();
    ls.env.push_back("VOLO_BUNDLE_DIR=" + ls.bundle_dir);
  }
  for (const auto& [k, v] : m.env) {
    std::string prefix = k + "=";
    std::erase_if(ls.env, [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
    ls.env.push_back(prefix + v);
  }
  ls.task_dir = dir;
  ls.cwd = inst.bundle ? ls.bundle_dir : dir;
  ls.limits.memory_bytes = m.memory_mib * (int64_t{1} << 20);
  ls.limits.cpus = m.cpus;
  return ls;
}

void FunctionHost::StartHttp(const std::shared_ptr<Instance>& inst, Clock::time_point t0,
                             uint64_t epoch) {
  const wire::FnStart& m = inst->spec;
  const std::string dir = MakeInstanceDir(m, epoch);
  if (dir.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    inst->port = PickPort(ports_);
    if (inst->port) ports_.push_back(inst->port);
  }
  if (!inst->port) {
    RemoveTree(dir);
    return Exited(m.instance, epoch, "no free port on the worker's loopback");
  }
  HttpInstanceOptions ho;
  ho.launcher = options_.launcher;
  ho.port = inst->port;
  ho.dir = dir;
  ho.kill_grace = options_.kill_grace;
  ho.max_response = options_.max_response;
  const uint64_t id = m.instance;
  ho.on_exit = [this, id](const std::string& why) { HttpExited(id, why); };
  // Its stderr goes to the planner (`volo fn logs`) line by line as it comes.
  ho.on_stderr = LogForwarder(m, epoch);
  ho.spec = InstanceSpec(*inst, dir);
  LaunchSpec& ls = ho.spec;
  ls.argv = m.argv;
  // The port is the worker's to give: the function's --env does not override it.
  std::erase_if(ls.env, [](const std::string& e) { return e.rfind("PORT=", 0) == 0; });
  ls.env.push_back("PORT=" + std::to_string(inst->port));
  auto release_port = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase(ports_, inst->port);
  };
  auto started = HttpInstance::Start(std::move(ho));
  if (!started.ok()) {
    release_port();
    RemoveTree(dir);
    return Exited(m.instance, epoch, "cannot start: " + std::string(started.status().message()));
  }
  inst->http = std::move(started).value();
  if (!AwaitReady(inst, epoch, [&] { return inst->http->WaitReady(m.ready, m.ready_timeout); })) {
    inst->http->Kill();
    release_port();
    inst->http.reset();
    return;
  }
  Ready(m, t0, epoch, " on port " + std::to_string(inst->port));
  // It may have ended between its answer and now, unseen (its end found no instance).
  if (inst->http->exited()) HttpExited(id, "ended right after it became ready");
}

void FunctionHost::StartFly(const std::shared_ptr<Instance>& inst, Clock::time_point t0,
                            uint64_t epoch) {
  const wire::FnStart& m = inst->spec;
  const std::string dir = MakeInstanceDir(m, epoch);
  if (dir.empty()) return;
  FlyInstanceOptions fo;
  fo.launcher = options_.launcher;
  fo.dir = dir;
  fo.file = m.fly_file;
  fo.source = m.fly_source;
  fo.function = m.fly_function;
  fo.vms = std::max(1, m.concurrency);
  fo.timeout = m.timeout;
  fo.kill_grace = options_.kill_grace;
  fo.io = options_.io;
  // FLY's own limit below the instance's, so that a program that allocates too much fails
  // with FLY's message before the kernel or the cgroup kills it.
  const int64_t memory = m.memory_mib * (int64_t{1} << 20);
  fo.max_memory = memory > 0 ? static_cast<uint64_t>(memory) / 4 * 3 : 0;
  const uint64_t id = m.instance;
  fo.on_exit = [this, id](const std::string& why) { HttpExited(id, why); };
  fo.on_log = LogForwarder(m, epoch);
  fo.spec = InstanceSpec(*inst, dir);
  fo.spec.argv = {"volo", std::string(kFnFlyCommand)};
  fo.spec.own_binary = true;
  auto started = FlyInstance::Start(std::move(fo));
  if (!started.ok()) {
    RemoveTree(dir);
    return Exited(m.instance, epoch, "cannot start: " + std::string(started.status().message()));
  }
  inst->fly = std::move(started).value();
  if (!AwaitReady(inst, epoch, [&] { return inst->fly->WaitReady(kFlyReadyTimeout); })) {
    inst->fly->Kill();
    inst->fly.reset();
    return;
  }
  Ready(m, t0, epoch, " (fly, pid " + std::to_string(inst->fly->pid()) + ")");
  if (inst->fly->exited()) HttpExited(id, "ended right after it became ready");
}

bool FunctionHost::AwaitReady(const std::shared_ptr<Instance>& inst, uint64_t epoch,
                              const std::function<Status()>& wait) {
  const wire::FnStart& m = inst->spec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Known before it is ready, so that fn_stop or StopAll can end the wait.
    starting_[m.instance] = inst;
  }
  Status ready = wait();
  {
    std::lock_guard<std::mutex> lock(mu_);
    starting_.erase(m.instance);
    bool stopped = stopped_early_.erase(m.instance) > 0;
    if (ready.ok() && !stopped && epoch == epoch_ && !stop_) {
      instances_[m.instance] = inst;
      return true;
    }
  }
  if (!ready.ok() && ready.code() != StatusCode::kCancelled) {
    spdlog::warn("function {}: instance {} did not become ready: {}", m.function, m.instance,
                 ready.message());
    Exited(m.instance, epoch, std::string(ready.message()));
  }
  return false;
}

void FunctionHost::HttpExited(uint64_t instance, const std::string& why) {
  std::shared_ptr<Instance> inst;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = instances_.find(instance);
    if (it == instances_.end()) return;
    inst = std::move(it->second);
    instances_.erase(it);
  }
  spdlog::warn("function {}: instance {} ended: {}", inst->spec.function, instance, why);
  Exited(instance, inst->epoch, why);
  Release(std::move(inst));
}

void FunctionHost::Release(std::shared_ptr<Instance> inst) {
  if (!inst || (!inst->http && !inst->fly)) return;
  // An http or fly instance stops gracefully (its calls in flight finish), on a host thread:
  // the end of its process is waited for there.
  if (inst->http) inst->http->Stop();
  if (inst->fly) inst->fly->Stop();
  Enqueue([this, inst = std::move(inst)](Running&) mutable {
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::erase(ports_, inst->port);
    }
    // The instance itself goes when the last call holding it is done (here, or on its
    // thread).
    inst.reset();
  });
}

void FunctionHost::Call(wire::FnCall m) {
  std::shared_ptr<Instance> inst;
  uint64_t epoch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = instances_.find(m.instance);
    if (it != instances_.end()) inst = it->second;
    epoch = epoch_;
  }
  if (!inst) {
    wire::FnAnswer a;
    a.call = m.call;
    a.instance = m.instance;
    a.ok = false;
    a.error = "instance " + std::to_string(m.instance) + " is not running on this worker";
    send_(wire::EncodeFnAnswer(a), epoch);
    return;
  }
  if (inst->fly) {
    // No host thread: the instance's monitor answers.
    inst->fly->Call(m, FlyAnswered(epoch));
    return;
  }
  Enqueue(
      [this, inst, m = std::move(m)](Running& run) mutable { RunCall(run, inst, std::move(m)); });
}

std::function<void(wire::FnAnswer)> FunctionHost::FlyAnswered(uint64_t epoch) {
  // Two words, kept inside the std::function: no allocation per call.
  return [this, epoch](wire::FnAnswer a) {
    ++calls_;
    if (!a.ok) ++failed_;
    std::string msg = wire::EncodeFnAnswer(a);
    std::lock_guard<std::mutex> lock(mu_);
    if (epoch != epoch_) return;  // the planner is gone: nobody waits
    send_(std::move(msg), epoch);
  };
}

void FunctionHost::CallMany(std::vector<wire::FnCall> calls) {
  if (calls.size() == 1) return Call(std::move(calls[0]));
  std::vector<std::shared_ptr<Instance>> insts(calls.size());
  uint64_t epoch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < calls.size(); ++i) {
      auto it = instances_.find(calls[i].instance);
      if (it != instances_.end()) insts[i] = it->second;
    }
    epoch = epoch_;
  }
  // A fly instance's calls go to it in one write, in order; any other call as Call sends it.
  std::map<FlyInstance*, std::vector<std::pair<const wire::FnCall*, FlyInstance::Answered>>> fly;
  for (size_t i = 0; i < calls.size(); ++i) {
    if (insts[i] && insts[i]->fly) {
      fly[insts[i]->fly.get()].emplace_back(&calls[i], FlyAnswered(epoch));
    } else {
      Call(std::move(calls[i]));
    }
  }
  for (auto& [instance, group] : fly) instance->CallMany(std::move(group));
}

void FunctionHost::Stop(uint64_t instance) {
  std::shared_ptr<Instance> inst;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = instances_.find(instance);
    if (it != instances_.end()) {
      inst = std::move(it->second);
      instances_.erase(it);
      spdlog::info("function instance {} stopped", instance);
    } else {
      stopped_early_.insert(instance);  // its start may still be running
      if (auto s = starting_.find(instance); s != starting_.end()) {
        // Ends its readiness wait.
        if (s->second->http) s->second->http->Stop();
        if (s->second->fly) s->second->fly->Stop();
      }
    }
  }
  Release(std::move(inst));
}

void FunctionHost::StopAll() {
  std::deque<std::function<void(Running&)>> queued;
  std::map<uint64_t, std::shared_ptr<Instance>> instances;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++epoch_;
    queued.swap(queue_);
    instances.swap(instances_);
    for (auto& [id, inst] : instances) {
      if (inst->http) inst->http->Kill();
      if (inst->fly) inst->fly->Kill();
      std::erase(ports_, inst->port);
    }
    for (auto& [id, inst] : starting_) {
      if (inst->http) inst->http->Kill();
      if (inst->fly) inst->fly->Kill();
    }
    stopped_early_.clear();
    for (Running* r : running_) {
      r->killed = true;
      uint64_t one = 1;
      (void)!::write(r->wake, &one, sizeof one);
    }
  }
  // Outside the lock (killed, they end at once).
  queued.clear();
  instances.clear();
}

FunctionHostStats FunctionHost::stats() const {
  FunctionHostStats s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s.instances = static_cast<int64_t>(instances_.size());
    s.busy = static_cast<int64_t>(queue_.size() + running_.size());
  }
  s.started = started_;
  s.calls = calls_;
  s.failed = failed_;
  return s;
}

void FunctionHost::RunCall(Running& run, const std::shared_ptr<Instance>& inst, wire::FnCall m) {
  wire::FnAnswer answer;
  answer.call = m.call;
  answer.instance = m.instance;
  if (inst->http) {
    ++calls_;
    inst->http->Call(m, inst->spec.timeout, answer);
  } else {
    Execute(run, *inst, m, answer);
  }
  if (!answer.ok) ++failed_;
  std::lock_guard<std::mutex> lock(mu_);
  if (run.epoch != epoch_ || run.killed) return;  // the planner is gone: nobody waits
  send_(wire::EncodeFnAnswer(answer), run.epoch);
}

namespace {

// The request's environment variables for the program: CGI's REQUEST_METHOD, PATH_INFO,
// QUERY_STRING, CONTENT_LENGTH, CONTENT_TYPE and HTTP_* (a header's name upper-cased, '-' as
// '_'; names with other characters are left out).
std::vector<std::string> RequestEnv(const wire::FnCall& m) {
  std::vector<std::string> env = {"REQUEST_METHOD=" + m.method, "PATH_INFO=" + m.path,
                                  "QUERY_STRING=" + m.query,
                                  "CONTENT_LENGTH=" + std::to_string(m.body.size())};
  std::vector<std::string> seen;
  for (const auto& [name, value] : m.headers) {
    std::string key;
    bool ok = !name.empty();
    for (char c : name) {
      if (std::isalnum(static_cast<unsigned char>(c))) {
        key += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      } else if (c == '-') {
        key += '_';
      } else {
        ok = false;  // not a header name a shell variable can carry
      }
    }
    if (!ok || value.find('\0') != std::string::npos) continue;
    key = key == "CONTENT_TYPE" ? key : key == "CONTENT_LENGTH" ? "" : "HTTP_" + key;
    if (key.empty()) continue;
    // A header sent more than once: its values joined with ", " (RFC 9110, 5.3).
    auto it = std::find(seen.begin(), seen.end(), key);
    if (it != seen.end()) {
      for (std::string& e : env) {
        if (e.starts_with(key + "=")) e += ", " + value;
      }
      continue;
    }
    seen.push_back(key);
    env.push_back(key + "=" + value);
  }
  return env;
}

}  // namespace

void FunctionHost::Execute(Running& run, const Instance& instance, const wire::FnCall& m,
                           wire::FnAnswer& answer) {
  const auto started = Clock::now();
  const Instance* inst = &instance;
  const wire::FnStart& spec = inst->spec;
  auto finish = [&](bool ok, std::string error) {
    answer.ok = ok;
    answer.error = std::move(error);
    answer.wall = Since(started);
  };
  ++calls_;
  std::string dir = options_.work_dir + "/fn-" + std::to_string(m.instance) + "-" +
                    std::to_string(m.call) + "-" + std::to_string(serial_++);
  if (::mkdir(dir.c_str(), 0700) != 0) {
    return finish(false, "cannot create the call's directory " + dir + ": " + Errno(errno));
  }
  struct DirGuard {
    std::string dir;
    ~DirGuard() { RemoveTree(dir); }
  } guard{dir};

  LaunchSpec ls;
  ls.argv = spec.argv;
  ls.env = base_env_;
  ls.env.push_back("HOME=" + dir);
  ls.env.push_back("TMPDIR=" + dir);
  ls.env.push_back("VOLO_FUNCTION=" + spec.function);
  ls.env.push_back("VOLO_FUNCTION_REVISION=" + spec.revision);
  ls.env.push_back("VOLO_CALL_ID=" + std::to_string(m.call));
  if (inst->bundle) {
    ls.bundle_dir = inst->bundle->dir();
    ls.env.push_back("VOLO_BUNDLE_DIR=" + ls.bundle_dir);
  }
  // The HTTP request, CGI-like (docs/functions.md, "The request"); the function's own --env
  // wins over these.
  for (std::string& e : RequestEnv(m)) ls.env.push_back(std::move(e));
  for (const auto& [k, v] : spec.env) {
    std::string prefix = k + "=";
    std::erase_if(ls.env, [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
    ls.env.push_back(prefix + v);
  }
  ls.task_dir = dir;
  // The program runs where its bundle is (so `./handler` works), else in its own directory.
  ls.cwd = inst->bundle ? ls.bundle_dir : dir;
  ls.limits.memory_bytes = spec.memory_mib * (int64_t{1} << 20);
  ls.limits.cpus = spec.cpus;

  ChildPipes pipes;
  if (Status st = pipes.Open(&m.body); !st.ok()) return finish(false, std::string(st.message()));
  auto launched = pipes.Launch(*options_.launcher, ls);
  if (!launched.ok()) {
    return finish(false, "cannot start: " + std::string(launched.status().message()));
  }
  Launched& proc = **launched;

  std::string out;
  OutputTail err_tail(kStderrTail);
  // Its stderr goes to the planner (`volo fn logs`) as it comes, whole lines.
  LogLines log;
  const LogLines::Emit emit_log = [&](std::string text) {
    send_(wire::EncodeFnLog({m.instance, spec.function, spec.revision, std::move(text)}),
          run.epoch);
  };
  bool too_large = false;
  WatchOptions watch;
  watch.out_fd = pipes.out();
  watch.err_fd = pipes.err();
  watch.wake_fd = run.wake;  // written after `killed`
  watch.deadline = DeadlineAfter(started, spec.timeout);
  watch.kill_grace = options_.kill_grace;
  // The planner went away or the worker stops: no one waits for this answer.
  watch.check = [&] { return run.killed ? WatchRequest::kKill : WatchRequest::kNone; };
  watch.on_output = [&](int s, std::string_view data) {
    if (s == 1) {
      if (data.empty()) {
        log.End(emit_log);
        return true;
      }
      log.Add(data, emit_log);
      err_tail.Add(data);
      return true;
    }
    if (too_large || out.size() + data.size() <= options_.max_response) {
      if (!too_large) out.append(data);
      return true;
    }
    too_large = true;
    return false;
  };
  const WatchResult watched = WatchProcess(proc, watch);
  const CommandExit& result = watched.exit;
  answer.cpu = result.cpu_seconds;
  answer.max_rss = result.max_rss_bytes;
  std::string tail = Trim(err_tail.Get());
  auto with_tail = [&](std::string why) { return tail.empty() ? why : why + ": " + tail; };
  if (run.killed) return finish(false, "stopped");
  if (too_large) {
    return finish(false, "its answer is larger than the limit of " +
                             std::to_string(options_.max_response) + " bytes");
  }
  if (watched.timed_out) {
    return finish(false, with_tail("timed out after " + SecondsText(spec.timeout)));
  }
  if (!result.status.ok() || result.memory_exceeded) {
    answer.crashed = !result.status.exited() || result.memory_exceeded;
    return finish(false, with_tail(result.Describe(ls.limits)));
  }
  answer.status = 200;
  answer.body = std::move(out);
  finish(true, "");
}

}  // namespace volo::worker
