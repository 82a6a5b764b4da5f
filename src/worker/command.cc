#include "worker/command.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "common/clock.h"
#include "wire/messages.h"
#include "worker/process_watch.h"

namespace volo::worker {
namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kStderrTail = 2 << 10;  // of stderr, in a failed attempt's error

std::string Errno(int err) { return strerrordesc_np(err) ? strerrordesc_np(err) : "error"; }

// Removes a task's directory, also where the command took its own permissions away.
void RemoveTree(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!ec) return;
  for (auto it =
           fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      ::chmod(it->path().c_str(), 0700);
    }
  }
  ::chmod(dir.c_str(), 0700);
  fs::remove_all(dir, ec);
  if (ec) spdlog::warn("exec: cannot remove {}: {}", dir, ec.message());
}

// The stderr tail for an error message: whole lines, trimmed.
std::string ErrorTail(const std::string& tail) {
  std::string t = tail;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  if (t.size() == kStderrTail) {  // cut mid-line: start at the next line
    size_t nl = t.find('\n');
    if (nl != std::string::npos && nl + 1 < t.size()) t = "..." + t.substr(nl + 1);
  }
  return ValidUtf8(t);
}

// Kills (SIGKILL) every process of this user whose environment still holds this attempt's
// VOLO_TASK_DIR: what left the command's process group (setsid, a double fork) and so escaped
// the group's signals. Run only when a command was stopped or held its output open after its
// main process ended, as scanning /proc costs about a millisecond. Returns how many it found.
int SweepStragglers(const std::string& dir) {
  std::string needle = std::string(1, '\0') + "VOLO_TASK_DIR=" + dir + std::string(1, '\0');
  int killed = 0;
  std::error_code ec;
  for (int round = 0; round < 3; ++round) {  // a straggler may fork while it is swept
    int found = 0;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
      const std::string name = entry.path().filename().string();
      if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
      pid_t pid = static_cast<pid_t>(std::atol(name.c_str()));
      if (pid == ::getpid()) continue;
      int fd = ::open(("/proc/" + name + "/environ").c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      std::string env(1, '\0');
      char buf[16384];
      for (ssize_t n; env.size() < (1 << 20) && (n = ::read(fd, buf, sizeof buf)) > 0;) {
        env.append(buf, static_cast<size_t>(n));
      }
      ::close(fd);
      env.push_back('\0');
      if (env.find(needle) == std::string::npos) continue;
      if (::kill(pid, SIGKILL) == 0) ++found;
    }
    killed += found;
    if (found == 0) break;
  }
  return killed;
}

// A command's parsed args.
struct ExecArgs {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;
  std::string stdin_text;
  bool has_stdin = false;
  std::string cwd;
  double timeout = 0;
  std::string bundle;
  bool network = false;
  CommandLimits limits;
};

Result<ExecArgs> ParseArgs(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec || !v.is_object()) return InvalidArgument("args: must be a JSON object");
  const json::object& o = v.get_object();
  VOLO_RETURN_IF_ERROR(wire::ValidateExecArgs(o, "args"));
  ExecArgs a;
  if (const json::value* c = o.if_contains("cmd")) {
    for (const auto& s : c->get_array()) a.argv.emplace_back(s.get_string());
  } else {
    a.argv = {"/bin/sh", "-c", std::string(o.at("shell").get_string())};
  }
  if (const json::value* e = o.if_contains("env")) {
    for (const auto& kv : e->get_object()) {
      a.env.emplace_back(std::string(kv.key()), std::string(kv.value().get_string()));
    }
  }
  if (const json::value* s = o.if_contains("stdin")) {
    a.stdin_text = std::string(s->get_string());
    a.has_stdin = true;
  }
  if (const json::value* c = o.if_contains("cwd")) a.cwd = std::string(c->get_string());
  if (const json::value* t = o.if_contains("timeout")) a.timeout = t->to_number<double>();
  if (const json::value* b = o.if_contains("bundle")) a.bundle = std::string(b->get_string());
  if (const json::value* n = o.if_contains("network")) a.network = n->get_bool();
  if (const json::value* c = o.if_contains("cpus")) a.limits.cpus = c->to_number<double>();
  if (const json::value* m = o.if_contains("memory")) {
    a.limits.memory_bytes = static_cast<int64_t>(m->to_number<double>() * 1024 * 1024);
  }
  return a;
}

// "2 s", "0.5 s".
std::string Seconds(double s) {
  std::string out = std::to_string(s);
  while (out.find('.') != std::string::npos && (out.back() == '0' || out.back() == '.')) {
    bool dot = out.back() == '.';
    out.pop_back();
    if (dot) break;
  }
  return out + " s";
}

}  // namespace

std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    }
    if (ok && len > 1) {
      uint32_t cp = c & (0xFF >> (len + 1));
      for (size_t k = 1; k < len; ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
      const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= min[len] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

struct CommandExecutor::Slot {
  int wake = -1;  // eventfd: a Cancel for the running task
  // GUARDED_BY(mu_): the task running here, and whether it was cancelled.
  uint64_t running = 0;
  std::atomic<bool> cancelled{false};
};

Result<std::unique_ptr<CommandExecutor>> CommandExecutor::Create(CommandExecutorOptions options,
                                                                 LogSink sink) {
  if (options.slots < 1) return InvalidArgument("slots must be at least 1");
  if (options.work_dir.empty()) return InvalidArgument("exec needs a work directory");
  std::error_code ec;
  const bool created = fs::create_directories(options.work_dir, ec);
  if (ec)
    return IoError("cannot create the work directory " + options.work_dir + ": " + ec.message());
  options.work_dir = fs::canonical(options.work_dir, ec).string();
  if (ec) return IoError("work directory " + options.work_dir + ": " + ec.message());
  if (::access(options.work_dir.c_str(), W_OK | X_OK) != 0) {
    return IoError("the work directory " + options.work_dir + " is not writable");
  }
  if (!options.launcher) options.launcher = MakeDirectLauncher();
  auto executor =
      std::unique_ptr<CommandExecutor>(new CommandExecutor(std::move(options), std::move(sink)));
  executor->created_dir_ = created;
  return executor;
}

CommandExecutor::CommandExecutor(CommandExecutorOptions options, LogSink sink)
    : options_(std::move(options)), sink_(std::move(sink)) {
  char host[256] = "";
  ::gethostname(host, sizeof host - 1);
  hostname_ = host;
  for (const char* name : {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ"}) {
    if (const char* v = ::getenv(name)) base_env_.push_back(std::string(name) + "=" + v);
  }
  if (!::getenv("PATH")) base_env_.push_back("PATH=/usr/local/bin:/usr/bin:/bin");
  base_env_.push_back("HOSTNAME=" + hostname_);
  for (int i = 0; i < options_.slots; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    slots_.push_back(std::move(slot));
  }
  for (auto& slot : slots_) threads_.emplace_back([this, s = slot.get()] { Loop(*s); });
}

CommandExecutor::~CommandExecutor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.StopLocked();
    for (auto& slot : slots_) {
      if (slot->running) {
        slot->cancelled = true;
        uint64_t one = 1;
        (void)!::write(slot->wake, &one, sizeof one);
      }
    }
  }
  queue_.WakeAll();
  for (auto& t : threads_) t.join();
  for (auto& slot : slots_) ::close(slot->wake);
  // A work directory this worker made goes with it (it is empty: each task's is removed).
  if (created_dir_) ::rmdir(options_.work_dir.c_str());
}

void CommandExecutor::Submit(uint64_t id, std::string args, Done done) {
  queue_.Push({id, std::move(args), std::move(done)});
}

void CommandExecutor::Cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.DropLocked(id)) return;
  for (auto& slot : slots_) {
    if (slot->running == id) {
      slot->cancelled = true;
      uint64_t one = 1;
      (void)!::write(slot->wake, &one, sizeof one);
    }
  }
}

CommandStats CommandExecutor::stats() const {
  return {started_.load(), failed_.load(), killed_.load(), log_bytes_.load()};
}

void CommandExecutor::Loop(Slot& slot) {
  for (;;) {
    Item item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      std::optional<Item> taken = queue_.TakeLocked(lock);
      if (!taken) return;
      item = std::move(*taken);
      slot.running = item.id;
      slot.cancelled = false;
      uint64_t drain;
      while (::read(slot.wake, &drain, sizeof drain) > 0) {
      }
    }
    CommandOutcome outcome = Run(slot, item);
    bool cancelled;
    {
      std::lock_guard<std::mutex> lock(mu_);
      slot.running = 0;
      cancelled = slot.cancelled || queue_.stopped_locked();
    }
    if (!cancelled && item.done) item.done(std::move(outcome));
  }
}

CommandOutcome CommandExecutor::Run(Slot& slot, const Item& item) {
  const auto started = Clock::now();
  auto fail = [](std::string why) { return CommandOutcome{false, std::move(why)}; };
  auto parsed = ParseArgs(item.args);
  if (!parsed.ok()) return fail(std::string(parsed.status().message()));
  ExecArgs& a = *parsed;

  // The task's own directory, fresh for each attempt.
  std::string dir =
      options_.work_dir + "/task-" + std::to_string(item.id) + "-" + std::to_string(serial_++);
  if (::mkdir(dir.c_str(), 0700) != 0) {
    return fail("cannot create the task's directory " + dir + ": " + Errno(errno));
  }
  struct DirGuard {
    std::string dir;
    ~DirGuard() { RemoveTree(dir); }
  } guard{dir};
  std::string cwd = dir;
  if (!a.cwd.empty()) {
    // Validated: relative and never above the task's directory (lexically). Created when
    // missing, and checked again once it exists, so a symlink cannot lead out either.
    cwd = (fs::path(dir) / a.cwd).lexically_normal().string();
    while (cwd.size() > 1 && cwd.back() == '/') cwd.pop_back();
    std::error_code ec;
    fs::create_directories(cwd, ec);
    std::string real = fs::canonical(cwd, ec).string();
    if (ec || (real != dir && real.rfind(dir + "/", 0) != 0)) {
      return fail("args.cwd: '" + a.cwd + "' escapes the task's directory");
    }
  }

  LaunchSpec spec;
  spec.argv = a.argv;
  spec.env = base_env_;
  spec.env.push_back("VOLO_TASK_ID=" + std::to_string(item.id));
  spec.env.push_back("VOLO_TASK_DIR=" + dir);
  spec.env.push_back("TMPDIR=" + dir);
  for (const auto& [k, v] : a.env) {
    std::string prefix = k + "=";
    std::erase_if(spec.env, [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
    spec.env.push_back(prefix + v);
  }
  spec.task_dir = dir;
  spec.cwd = cwd;
  spec.network = a.network;
  spec.limits = a.limits;
  std::unique_ptr<BundleCache::Lease> bundle;  // keeps it from eviction until the task ends
  if (!a.bundle.empty()) {
    if (!options_.bundles) return fail("args.bundle: this worker keeps no bundles");
    auto lease = options_.bundles->Acquire(a.bundle);
    if (!lease.ok()) return fail(std::string(lease.status().message()));
    bundle = std::move(lease).value();
    spec.bundle_dir = bundle->dir();
    spec.env.push_back("VOLO_BUNDLE_DIR=" + spec.bundle_dir);
  }

  // stdin from a memory file; stdout and stderr through pipes read here.
  ChildPipes pipes;
  if (Status st = pipes.Open(a.has_stdin ? &a.stdin_text : nullptr); !st.ok()) {
    return fail(std::string(st.message()));
  }
  auto launched = pipes.Launch(*options_.launcher, spec);
  if (!launched.ok()) {
    ++failed_;
    return fail(std::string(launched.status().message()));
  }
  ++started_;
  Launched& proc = **launched;

  std::string inline_out[2];
  bool truncated[2] = {false, false};
  OutputTail err_tail(kStderrTail);
  WatchOptions watch;
  watch.out_fd = pipes.out();
  watch.err_fd = pipes.err();
  watch.wake_fd = slot.wake;  // written by Cancel and the destructor, after `cancelled`
  watch.deadline = DeadlineAfter(started, a.timeout);
  watch.kill_grace = options_.kill_grace;
  watch.check = [&] { return slot.cancelled ? WatchRequest::kStop : WatchRequest::kNone; };
  watch.on_output = [&](int s, std::string_view data) {
    if (data.empty()) return true;
    if (inline_out[s].size() < options_.inline_bytes) {
      size_t take = std::min(data.size(), options_.inline_bytes - inline_out[s].size());
      inline_out[s].append(data.substr(0, take));
      if (take < data.size()) truncated[s] = true;
    } else {
      truncated[s] = true;
    }
    if (s == 1) err_tail.Add(data);
    log_bytes_ += static_cast<int64_t>(data.size());
    if (sink_) sink_(item.id, s + 1, data, slot.cancelled);
    return true;
  };
  const WatchResult watched = WatchProcess(proc, watch);
  const CommandExit& result = watched.exit;
  // Stopped, or its output still held open after it ended: something may have left its group.
  if (watched.stopped || watched.held_open) {
    if (int n = SweepStragglers(dir); n > 0) {
      spdlog::info("exec: task {}: killed {} process(es) that had left its process group", item.id,
                   n);
    }
  }
  const double duration = std::chrono::duration<double>(Clock::now() - started).count();
  if (slot.cancelled) {
    ++killed_;
    return fail("cancelled");
  }
  if (watched.timed_out) {
    ++killed_;
    ++failed_;
    std::string why = "timed out after " + Seconds(a.timeout);
    std::string tail = ErrorTail(err_tail.Get());
    return fail(tail.empty() ? why : why + "; stderr: " + tail);
  }
  if (!result.status.ok() || result.memory_exceeded) {
    ++failed_;
    std::string why = result.Describe(spec.limits);
    std::string tail = ErrorTail(err_tail.Get());
    return fail(tail.empty() ? why : why + ": " + tail);
  }
  std::string out = "{\"exit_code\":0,\"stdout\":";
  wire::AppendJsonString(out, ValidUtf8(inline_out[0]));
  out += ",\"stderr\":";
  wire::AppendJsonString(out, ValidUtf8(inline_out[1]));
  out += ",\"stdout_truncated\":";
  out += truncated[0] ? "true" : "false";
  out += ",\"stderr_truncated\":";
  out += truncated[1] ? "true" : "false";
  out += ",\"duration\":";
  wire::AppendJsonNumber(out, duration);
  out += ",\"cpu_seconds\":";
  wire::AppendJsonNumber(out, result.cpu_seconds);
  out += ",\"max_rss\":" + std::to_string(result.max_rss_bytes) + "}";
  return {true, std::move(out)};
}

}  // namespace volo::worker
