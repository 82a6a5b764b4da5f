#include "worker/limits.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

namespace volo::worker {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes `text` to a control file in one write(2), as the kernel wants.
bool WriteFile(const std::string& path, std::string_view text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = ::write(fd, text.data(), text.size());
  int err = errno;
  ::close(fd);
  errno = err;
  return n == static_cast<ssize_t>(text.size());
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// The first integer in `text` after `key` and a space ("oom_kill 3"), or -1.
int64_t KeyedValue(std::string_view text, std::string_view key) {
  size_t pos = 0;
  while ((pos = text.find(key, pos)) != std::string_view::npos) {
    bool at_line_start = pos == 0 || text[pos - 1] == '\n';
    size_t v = pos + key.size();
    if (at_line_start && v < text.size() && text[v] == ' ') {
      int64_t out = -1;
      std::from_chars(text.data() + v + 1, text.data() + text.size(), out);
      return out;
    }
    pos = v;
  }
  return -1;
}

int64_t ParseInt(std::string_view text, int64_t fallback) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\n')) text.remove_prefix(1);
  int64_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  return r.ec == std::errc() ? v : fallback;
}

struct Mount {
  std::string point;
  std::string fstype;
  std::string options;  // super options: "rw,memory" for a v1 memory hierarchy
};

std::vector<Mount> CgroupMounts() {
  std::vector<Mount> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
    std::istringstream ls(line);
    std::string id, parent, dev, root, point, opts, word;
    ls >> id >> parent >> dev >> root >> point >> opts;
    while (ls >> word && word != "-") {
    }
    Mount m;
    std::string source;
    ls >> m.fstype >> source >> m.options;
    if (m.fstype != "cgroup" && m.fstype != "cgroup2") continue;
    m.point = point;
    out.push_back(std::move(m));
  }
  return out;
}

// This process's cgroup path in the v1 hierarchy with `controller`, or (controller empty) in
// the v2 one.
std::string OwnCgroup(std::string_view controller) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    // N:CONTROLLERS:PATH
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string_view ctrls(line.data() + a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (controller.empty()) {
      if (line.compare(0, a, "0") == 0 && ctrls.empty()) return path;
      continue;
    }
    size_t pos = 0;
    while (pos <= ctrls.size()) {
      size_t comma = ctrls.find(',', pos);
      if (comma == std::string_view::npos) comma = ctrls.size();
      if (ctrls.substr(pos, comma - pos) == controller) return path;
      pos = comma + 1;
    }
  }
  return "";
}

bool HasOption(const std::string& options, std::string_view opt) {
  size_t pos = 0;
  while (pos <= options.size()) {
    size_t comma = options.find(',', pos);
    if (comma == std::string::npos) comma = options.size();
    if (std::string_view(options).substr(pos, comma - pos) == opt) return true;
    pos = comma + 1;
  }
  return false;
}

// The v1 mount point of `controller`'s hierarchy, or "".
std::string V1Mount(const std::vector<Mount>& mounts, std::string_view controller) {
  for (const Mount& m : mounts) {
    if (m.fstype == "cgroup" && HasOption(m.options, controller)) return m.point;
  }
  return "";
}

std::string Join(const std::string& mount, const std::string& path) {
  if (path.empty() || path == "/") return mount;
  return mount + path;
}

// Removes a cgroup directory, waiting a little for processes that are being killed to leave.
void RemoveCgroup(const std::string& dir) {
  if (dir.empty()) return;
  for (int i = 0; i < 100; ++i) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
    if (errno != EBUSY) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::vector<pid_t> Procs(const std::string& dir) {
  std::vector<pid_t> out;
  std::istringstream in(ReadFile(dir + "/cgroup.procs"));
  pid_t p;
  while (in >> p) out.push_back(p);
  return out;
}

// The base directory of an earlier process with this pid (killed before it could clean up)
// holds that process's commands' cgroups: kill what is still in them and remove them, so the
// names this worker gives its commands (t1, t2, ...) are free again.
void ClearStale(const std::string& base) {
  if (base.empty()) return;
  std::vector<std::string> dirs;
  if (DIR* d = ::opendir(base.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st {};
      std::string path = base + "/" + name;
      if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) dirs.push_back(path);
    }
    ::closedir(d);
  }
  for (const std::string& dir : dirs) {
    if (!WriteFile(dir + "/cgroup.kill", "1")) {
      for (pid_t p : Procs(dir)) ::kill(p, SIGKILL);
    }
    RemoveCgroup(dir);
  }
}

// cpu.max / cpu.cfs_quota_us: `cpus` CPUs' worth of each 100 ms period (at least 1 ms).
constexpr int64_t kCpuPeriod = 100000;
int64_t CpuQuota(double cpus) {
  return std::max<int64_t>(1000, static_cast<int64_t>(cpus * kCpuPeriod + 0.5));
}

// Processes (and threads) this user has now: RLIMIT_NPROC counts them all.
int64_t UserProcessCount() {
  uid_t uid = ::getuid();
  int64_t n = 0;
  DIR* d = ::opendir("/proc");
  if (!d) return 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    struct stat st {};
    std::string status = std::string("/proc/") + e->d_name + "/status";
    if (::stat((std::string("/proc/") + e->d_name).c_str(), &st) != 0 || st.st_uid != uid) {
      continue;
    }
    int64_t threads = KeyedValue(ReadFile(status), "Threads:");
    n += threads > 0 ? threads : 1;
  }
  ::closedir(d);
  return n;
}

}  // namespace

std::string_view LimitModeName(LimitMode m) {
  switch (m) {
    case LimitMode::kCgroupV2:
      return "cgroup v2";
    case LimitMode::kCgroupV1:
      return "cgroup v1";
    case LimitMode::kRlimit:
      break;
  }
  return "rlimits";
}

// ---- the machine ----

MachineResources DetectMachine() {
  MachineResources m;
  cpu_set_t set;
  CPU_ZERO(&set);
  int cpus = ::sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
  if (cpus <= 0) cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  m.millicpus = int64_t{cpus} * 1000;
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page = ::sysconf(_SC_PAGESIZE);
  m.memory_mib = pages > 0 && page > 0 ? (int64_t{pages} * page) >> 20 : 0;

  auto mounts = CgroupMounts();
  int64_t quota_milli = 0, limit_bytes = 0;
  for (const Mount& mt : mounts) {
    if (mt.fstype != "cgroup2") continue;
    std::string dir = Join(mt.point, OwnCgroup(""));
    // cpu.max: "QUOTA PERIOD" or "max PERIOD"; memory.max: bytes or "max".
    std::istringstream cpu(ReadFile(dir + "/cpu.max"));
    std::string quota;
    int64_t period = 0;
    if (cpu >> quota >> period && quota != "max" && period > 0) {
      quota_milli = ParseInt(quota, 0) * 1000 / period;
    }
    std::string mem = ReadFile(dir + "/memory.max");
    if (!mem.empty() && mem.rfind("max", 0) != 0) limit_bytes = ParseInt(mem, 0);
  }
  if (std::string cpu_mount = V1Mount(mounts, "cpu"); !cpu_mount.empty() && quota_milli == 0) {
    std::string dir = Join(cpu_mount, OwnCgroup("cpu"));
    int64_t quota = ParseInt(ReadFile(dir + "/cpu.cfs_quota_us"), -1);
    int64_t period = ParseInt(ReadFile(dir + "/cpu.cfs_period_us"), 0);
    if (quota > 0 && period > 0) quota_milli = quota * 1000 / period;
  }
  if (std::string mem_mount = V1Mount(mounts, "memory"); !mem_mount.empty() && !limit_bytes) {
    std::string dir = Join(mem_mount, OwnCgroup("memory"));
    int64_t v = ParseInt(ReadFile(dir + "/memory.limit_in_bytes"), 0);
    // "No limit" in v1 is a huge page-aligned number.
    if (v > 0 && v < (int64_t{1} << 60)) limit_bytes = v;
  }
  if (quota_milli > 0) m.millicpus = std::max<int64_t>(1, std::min(m.millicpus, quota_milli));
  if (limit_bytes > 0) m.memory_mib = std::min(m.memory_mib, limit_bytes >> 20);
  if (m.memory_mib <= 0) m.memory_mib = 1;
  return m;
}

// ---- probing ----

std::unique_ptr<Limits> Limits::Probe(std::string shim) {
  std::unique_ptr<Limits> l(new Limits());
  l->shim_ = std::move(shim);
  if (l->TryV2() || l->TryV1()) return l;
  l->mode_ = LimitMode::kRlimit;
  return l;
}

std::unique_ptr<Limits> Limits::RlimitOnly(std::string shim) {
  std::unique_ptr<Limits> l(new Limits());
  l->shim_ = std::move(shim);
  return l;
}

bool Limits::TryV2() {
  std::string mount;
  for (const Mount& m : CgroupMounts()) {
    if (m.fstype == "cgroup2") mount = m.point;
  }
  if (mount.empty()) return false;
  std::string own = Join(mount, OwnCgroup(""));
  std::string controllers = ReadFile(own + "/cgroup.controllers");
  if (controllers.find("memory") == std::string::npos ||
      controllers.find("pids") == std::string::npos) {
    return false;  // not delegated to us (or bound to v1 hierarchies)
  }
  // Children get the memory and pids controllers only when the parent enables them, and a
  // non-root cgroup that enables them may hold no process itself: if the worker's own cgroup
  // has processes, the worker moves into a leaf beside its commands' cgroups first.
  // CPU quotas too where the cpu controller is ours (else CPUs are counted, not enforced).
  std::string enable = "+memory +pids";
  if (controllers.find("cpu") != std::string::npos &&
      (WriteFile(own + "/cgroup.subtree_control", enable + " +cpu") || errno == EBUSY)) {
    enable += " +cpu";
  }
  if (!WriteFile(own + "/cgroup.subtree_control", enable)) {
    if (errno != EBUSY) return false;
    std::string leaf = own + "/volo-worker-" + std::to_string(::getpid());
    if (::mkdir(leaf.c_str(), 0755) != 0 && errno != EEXIST) return false;
    if (!WriteFile(leaf + "/cgroup.procs", std::to_string(::getpid()))) {
      ::rmdir(leaf.c_str());
      return false;
    }
    if (!WriteFile(own + "/cgroup.subtree_control", enable)) return false;
  }
  std::string base = own + "/volo-tasks-" + std::to_string(::getpid());
  if (::mkdir(base.c_str(), 0755) != 0) {
    if (errno != EEXIST) return false;
    ClearStale(base);
  }
  if (!WriteFile(base + "/cgroup.subtree_control", enable)) {
    ::rmdir(base.c_str());
    return false;
  }
  mode_ = LimitMode::kCgroupV2;
  memory_base_ = base;
  cpu_v2_ = enable.find("+cpu") != std::string::npos &&
            ReadFile(base + "/cgroup.subtree_control").find("cpu") != std::string::npos;
  return true;
}

bool Limits::TryV1() {
  auto mounts = CgroupMounts();
  std::string mem = V1Mount(mounts, "memory");
  std::string pids = V1Mount(mounts, "pids");
  if (mem.empty() || pids.empty()) return false;
  std::string tag = "/volo-" + std::to_string(::getpid());
  std::string mem_base = Join(mem, OwnCgroup("memory")) + tag;
  std::string pids_base = Join(pids, OwnCgroup("pids")) + tag;
  if (::mkdir(mem_base.c_str(), 0755) != 0) {
    if (errno != EEXIST) return false;
    ClearStale(mem_base);
  }
  if (::mkdir(pids_base.c_str(), 0755) != 0) {
    if (errno != EEXIST) {
      ::rmdir(mem_base.c_str());
      return false;
    }
    ClearStale(pids_base);
  }
  mode_ = LimitMode::kCgroupV1;
  memory_base_ = mem_base;
  pids_base_ = pids_base;
  // CPU quotas where the cpu hierarchy is writable too (else CPUs are counted, not enforced).
  if (std::string cpu = V1Mount(mounts, "cpu"); !cpu.empty()) {
    std::string cpu_base = Join(cpu, OwnCgroup("cpu")) + tag;
    if (::mkdir(cpu_base.c_str(), 0755) == 0) {
      cpu_base_ = cpu_base;
    } else if (errno == EEXIST) {
      ClearStale(cpu_base);
      cpu_base_ = cpu_base;
    }
  }
  return true;
}

Limits::~Limits() {
  RemoveCgroup(memory_base_);
  RemoveCgroup(pids_base_);
  RemoveCgroup(cpu_base_);
}

std::vector<std::string> Limits::BaseDirs() const {
  std::vector<std::string> out;
  for (const std::string* d : {&memory_base_, &pids_base_, &cpu_base_}) {
    if (!d->empty()) out.push_back(*d);
  }
  return out;
}

std::string Limits::Describe() const {
  switch (mode_) {
    case LimitMode::kCgroupV2:
      return "cgroup v2 (" + memory_base_ + (cpu_v2_ ? "" : "; CPUs counted, not enforced") + ")";
    case LimitMode::kCgroupV1:
      return "cgroup v1 (memory: " + memory_base_ + ", pids: " + pids_base_ +
             (cpu_base_.empty() ? "; CPUs counted, not enforced" : ", cpu: " + cpu_base_) + ")";
    case LimitMode::kRlimit:
      break;
  }
  return "rlimits (no writable cgroup: memory limits apply per process, as RLIMIT_DATA; "
         "process limits per user, as RLIMIT_NPROC)";
}

Result<std::unique_ptr<TaskLimit>> Limits::Prepare(const CommandLimits& limits) {
  if (limits.memory_bytes < 0 || limits.max_processes < 0 || limits.cpus < 0) {
    return InvalidArgument("limits must not be negative");
  }
  std::unique_ptr<TaskLimit> t(new TaskLimit());
  t->limits_ = limits;
  t->mode_ = mode_;
  t->shim_ = shim_;
  if (mode_ == LimitMode::kRlimit) return t;
  std::string name = "/t" + std::to_string(next_.fetch_add(1));
  auto fail = [&](const std::string& what) -> Status {
    Status s = IoError("cannot set up the task's cgroup (" + what + "): " + strerror(errno));
    RemoveCgroup(t->memory_dir_);
    RemoveCgroup(t->pids_dir_);
    RemoveCgroup(t->cpu_dir_);
    t->memory_dir_.clear();
    t->pids_dir_.clear();
    t->cpu_dir_.clear();
    return s;
  };
  // v2: one cgroup for everything. v1: the pids hierarchy's holds the tree (Signal, Empty);
  // the memory and cpu ones only when there is a limit of theirs to set, as a memory cgroup
  // costs the kernel far more to make and take down than the command's start.
  if (mode_ == LimitMode::kCgroupV2 || limits.memory_bytes > 0) {
    t->memory_dir_ = memory_base_ + name;
    if (::mkdir(t->memory_dir_.c_str(), 0755) != 0) return fail(t->memory_dir_);
  }
  if (mode_ == LimitMode::kCgroupV2) {
    if (limits.memory_bytes > 0) {
      if (!WriteFile(t->memory_dir_ + "/memory.max", std::to_string(limits.memory_bytes))) {
        return fail("memory.max");
      }
      // Swap would let the tree grow past its limit unseen; the file exists only with swap.
      (void)WriteFile(t->memory_dir_ + "/memory.swap.max", "0");
      // Over the limit, the whole tree goes, not one process of it.
      (void)WriteFile(t->memory_dir_ + "/memory.oom.group", "1");
    }
    if (limits.max_processes > 0 &&
        !WriteFile(t->memory_dir_ + "/pids.max", std::to_string(limits.max_processes))) {
      return fail("pids.max");
    }
    if (limits.cpus > 0 && cpu_v2_ &&
        !WriteFile(t->memory_dir_ + "/cpu.max",
                   std::to_string(CpuQuota(limits.cpus)) + " " + std::to_string(kCpuPeriod))) {
      return fail("cpu.max");
    }
    return t;
  }
  t->pids_dir_ = pids_base_ + name;
  if (::mkdir(t->pids_dir_.c_str(), 0755) != 0) return fail(t->pids_dir_);
  if (limits.memory_bytes > 0) {
    if (!WriteFile(t->memory_dir_ + "/memory.limit_in_bytes",
                   std::to_string(limits.memory_bytes))) {
      return fail("memory.limit_in_bytes");
    }
    // Memory plus swap, when the kernel accounts swap: the same bound.
    (void)WriteFile(t->memory_dir_ + "/memory.memsw.limit_in_bytes",
                    std::to_string(limits.memory_bytes));
  }
  if (limits.max_processes > 0 &&
      !WriteFile(t->pids_dir_ + "/pids.max", std::to_string(limits.max_processes))) {
    return fail("pids.max");
  }
  if (limits.cpus > 0 && !cpu_base_.empty()) {
    t->cpu_dir_ = cpu_base_ + name;
    if (::mkdir(t->cpu_dir_.c_str(), 0755) != 0) return fail(t->cpu_dir_);
    if (!WriteFile(t->cpu_dir_ + "/cpu.cfs_period_us", std::to_string(kCpuPeriod)) ||
        !WriteFile(t->cpu_dir_ + "/cpu.cfs_quota_us", std::to_string(CpuQuota(limits.cpus)))) {
      return fail("cpu.cfs_quota_us");
    }
  }
  return t;
}

// ---- one command ----

TaskLimit::~TaskLimit() {
  if (memory_dir_.empty() && pids_dir_.empty() && cpu_dir_.empty()) return;
  (void)Signal(SIGKILL);
  RemoveCgroup(memory_dir_);
  RemoveCgroup(pids_dir_);
  RemoveCgroup(cpu_dir_);
}

std::vector<std::string> TaskLimit::Wrap(const std::vector<std::string>& argv) const {
  std::vector<std::string> out = {shim_, std::string(kLimitShimCommand)};
  if (!memory_dir_.empty()) {
    out.push_back("--cgroup");
    out.push_back(memory_dir_);
  }
  for (const std::string* dir : {&pids_dir_, &cpu_dir_}) {
    if (dir->empty()) continue;
    out.push_back("--cgroup");
    out.push_back(*dir);
  }
  if (mode_ == LimitMode::kRlimit) {
    if (limits_.memory_bytes > 0) {
      out.push_back("--rlimit-data");
      out.push_back(std::to_string(limits_.memory_bytes));
    }
    if (limits_.max_processes > 0) {
      out.push_back("--nproc");
      out.push_back(std::to_string(limits_.max_processes));
    }
  }
  out.push_back("--");
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

Status TaskLimit::Join(pid_t pid) const {
  for (const std::string& dir : {memory_dir_, pids_dir_, cpu_dir_}) {
    if (dir.empty()) continue;
    if (!WriteFile(dir + "/cgroup.procs", std::to_string(pid))) {
      return IoError("cannot move the command into its cgroup " + dir + ": " + strerror(errno));
    }
  }
  return Status::Ok();
}

int64_t TaskLimit::RlimitData() const {
  return mode_ == LimitMode::kRlimit ? limits_.memory_bytes : 0;
}

int64_t TaskLimit::RlimitNproc() const {
  if (mode_ != LimitMode::kRlimit || limits_.max_processes <= 0) return 0;
  return UserProcessCount() + limits_.max_processes;
}

Status TaskLimit::Signal(int sig) {
  std::string dir = !pids_dir_.empty() ? pids_dir_ : memory_dir_;
  if (dir.empty()) return Status::Ok();
  if (sig == SIGKILL && mode_ == LimitMode::kCgroupV2 && Exists(dir + "/cgroup.kill")) {
    if (WriteFile(dir + "/cgroup.kill", "1")) return Status::Ok();
  }
  // A fork bomb may add processes while we read the list: go round until none is left, a
  // bounded number of times.
  for (int round = 0; round < 50; ++round) {
    auto procs = Procs(dir);
    if (procs.empty()) break;
    for (pid_t p : procs) ::kill(p, sig);
    if (sig != SIGKILL) break;
  }
  return Status::Ok();
}

bool TaskLimit::Empty() const {
  std::string dir = !pids_dir_.empty() ? pids_dir_ : memory_dir_;
  return dir.empty() || Procs(dir).empty();
}

int64_t TaskLimit::ThrottledPeriods() const {
  std::string dir = mode_ == LimitMode::kCgroupV2 ? memory_dir_ : cpu_dir_;
  if (dir.empty()) return 0;
  return std::max<int64_t>(0, KeyedValue(ReadFile(dir + "/cpu.stat"), "nr_throttled"));
}

void TaskLimit::Collect(CommandExit& exit) const {
  if (memory_dir_.empty()) return;
  int64_t peak = -1;
  int64_t oom_kills = 0;
  if (mode_ == LimitMode::kCgroupV2) {
    peak = ParseInt(ReadFile(memory_dir_ + "/memory.peak"), -1);
    oom_kills = KeyedValue(ReadFile(memory_dir_ + "/memory.events"), "oom_kill");
  } else {
    peak = ParseInt(ReadFile(memory_dir_ + "/memory.max_usage_in_bytes"), -1);
    oom_kills = KeyedValue(ReadFile(memory_dir_ + "/memory.oom_control"), "oom_kill");
  }
  // The cgroup's peak counts the whole tree (and page cache); keep the larger.
  if (peak > exit.max_rss_bytes) exit.max_rss_bytes = peak;
  if (limits_.memory_bytes > 0 && oom_kills > 0) exit.memory_exceeded = true;
}

// ---- the shim ----

int LimitShimMain(int argc, char** argv) {
  auto die = [](const std::string& msg) {
    std::fprintf(stderr, "volo __limit: %s\n", msg.c_str());
    return 127;
  };
  int i = 2;
  for (; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (i + 1 >= argc) return die("flag " + std::string(a) + " needs a value");
    std::string value = argv[++i];
    if (a == "--cgroup") {
      // Joins before anything of the program runs: its children start inside.
      if (!WriteFile(value + "/cgroup.procs", std::to_string(::getpid()))) {
        return die("cannot join cgroup " + value + ": " + strerror(errno));
      }
    } else if (a == "--rlimit-data") {
      rlim_t bytes = static_cast<rlim_t>(ParseInt(value, 0));
      rlimit rl{bytes, bytes};
      if (::setrlimit(RLIMIT_DATA, &rl) != 0) {
        return die("cannot set RLIMIT_DATA: " + std::string(strerror(errno)));
      }
    } else if (a == "--nproc") {
      // RLIMIT_NPROC counts every process of the user: allow what it has plus the limit.
      rlim_t n = static_cast<rlim_t>(UserProcessCount() + ParseInt(value, 0));
      rlimit rl{n, n};
      if (::setrlimit(RLIMIT_NPROC, &rl) != 0) {
        return die("cannot set RLIMIT_NPROC: " + std::string(strerror(errno)));
      }
    } else {
      return die("unknown flag " + std::string(a));
    }
  }
  if (i >= argc) return die("no program after --");
  ::execvp(argv[i], argv + i);
  return die("cannot start '" + std::string(argv[i]) + "': " + strerror(errno));
}

}  // namespace volo::worker
