#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <mutex>
#include <sstream>

#include "net/client.h"

extern char** environ;

namespace volo::itest {

const char* VoloBinary() {
  // VOLO_BINARY in the environment runs the tests against another build (or an installed volo).
  const char* override = std::getenv("VOLO_BINARY");
  return override != nullptr && *override != '\0' ? override : VOLO_BINARY;
}

namespace {
// Deadlines catch hangs and never measure speed, so a sanitizer build (several times slower)
// waits that much longer: PollUntil (and through it WaitExit, RunVolo and ReadPortFile) and
// WaitFinished multiply their timeouts by this.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kPatience = 6;
#else
constexpr int kPatience = 1;
#endif
}  // namespace

bool PollUntil(const std::function<bool()>& done, milliseconds timeout, milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout * kPatience;
  // Nobody notifies this condition variable: it only bounds the pause between two polls.
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock lock(mu);
  for (;;) {
    if (done()) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    cv.wait_until(lock, std::min(now + interval, deadline));
  }
}

int Child::ExitCode() const {
  if (!exited) return std::numeric_limits<int>::min();
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return -WTERMSIG(wait_status);
  return std::numeric_limits<int>::min();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

namespace {

// Variables volo reads; a test sets them explicitly or not at all.
bool IsVoloVariable(std::string_view name) {
  static const std::set<std::string, std::less<>> kSeed = {"PORT", "PLANNER", "ADD",
                                                           "MULT", "TASKS",   "ADDRESS"};
  return kSeed.contains(name) || name.starts_with("VOLO_");
}

std::string SanitizedTestName() {
  std::string name = "volo-itest";
  if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info()) {
    name += "-";
    name += info->test_suite_name();
    name += "-";
    name += info->name();
  }
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
  }
  return name;
}

}  // namespace

Harness::Harness() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp && *tmp ? tmp : "/tmp") + "/" + SanitizedTestName() + "-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << pattern << ": " << std::strerror(errno);
    dir_ = "/tmp";
    keep_ = true;
    return;
  }
  dir_ = buf.data();
}

Harness::~Harness() {
  KillAll();
  if (!keep_) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string Harness::TempPath(const std::string& name) const { return dir_ + "/" + name; }

Child* Harness::Spawn(const std::string& name, const std::vector<std::string>& args,
                      const EnvOverrides& env, const std::string& binary) {
  std::vector<std::string> argv = {binary};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string log = TempPath(name + "-" + std::to_string(children_.size()) + ".log");
  return SpawnWithFiles(name, argv, env, log, log);
}

Child* Harness::SpawnWithFiles(const std::string& name, const std::vector<std::string>& argv,
                               const EnvOverrides& env, const std::string& out_path,
                               const std::string& err_path) {
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    const auto eq = entry.find('=');
    const std::string key(entry.substr(0, eq));
    if (IsVoloVariable(key) || env.contains(key)) continue;
    env_strings.emplace_back(entry);
  }
  for (const auto& [key, value] : env) {
    if (value) env_strings.push_back(key + "=" + *value);
  }
  std::vector<char*> argv_c;
  for (const auto& a : argv) argv_c.push_back(const_cast<char*>(a.c_str()));
  argv_c.push_back(nullptr);
  std::vector<char*> env_c;
  for (auto& e : env_strings) env_c.push_back(e.data());
  env_c.push_back(nullptr);

  const int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int err_fd = out_path == err_path
                         ? out_fd
                         : open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out_fd < 0 || err_fd < 0 || null_fd < 0) {
    ADD_FAILURE() << "cannot open log files for " << name << ": " << std::strerror(errno);
    return nullptr;
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);  // the test died between fork and prctl
    dup2(null_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    // Sockets of in-test servers must not leak into children: a stopped fake worker has to
    // refuse connections, not linger in a child's inherited listening socket.
    if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
      for (int fd = 3; fd < 4096; ++fd) close(fd);
    }
    execve(argv_c[0], argv_c.data(), env_c.data());
    _exit(127);
  }
  const int fork_errno = errno;
  close(null_fd);
  if (err_fd != out_fd) close(err_fd);
  close(out_fd);
  if (pid < 0) {
    ADD_FAILURE() << "fork for " << name << ": " << std::strerror(fork_errno);
    return nullptr;
  }
  setpgid(pid, pid);  // also here, so a kill of the group right after Spawn cannot miss it
  auto child = std::make_unique<Child>();
  child->name = name;
  child->pid = pid;
  child->log_path = err_path;
  if (out_path != err_path) child->out_path = out_path;
  children_.push_back(std::move(child));
  return children_.back().get();
}

void Harness::Signal(Child& child, int sig) {
  if (!Reap(child)) kill(child.pid, sig);
}

bool Harness::Reap(Child& child) {
  if (child.exited) return true;
  int status = 0;
  const pid_t r = waitpid(child.pid, &status, WNOHANG);
  if (r == child.pid || (r < 0 && errno == ECHILD)) {
    child.exited = true;
    child.wait_status = status;
  }
  return child.exited;
}

bool Harness::WaitExit(Child& child, milliseconds timeout) {
  return PollUntil([&] { return Reap(child); }, timeout, milliseconds(10));
}

void Harness::Kill(Child& child) {
  // The group first: it holds whatever the child started in its group (volo up gives its
  // planner and workers groups of their own; they end on SIGTERM when volo up dies).
  kill(-child.pid, SIGKILL);
  if (!Reap(child)) {
    kill(child.pid, SIGKILL);
    int status = 0;
    if (waitpid(child.pid, &status, 0) == child.pid) child.wait_status = status;
    child.exited = true;
  }
}

void Harness::KillAll() {
  for (auto& child : children_) {
    kill(-child->pid, SIGKILL);  // grandchildren too, even when the child itself has exited
    Kill(*child);
  }
}

CommandResult Harness::RunVolo(const std::vector<std::string>& args, const EnvOverrides& env,
                               milliseconds timeout) {
  std::vector<std::string> argv = {VoloBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string base =
      TempPath("volo-" + (args.empty() ? "" : args[0]) + "-" + std::to_string(children_.size()));
  CommandResult result;
  Child* child = SpawnWithFiles("volo " + (args.empty() ? "" : args[0]), argv, env, base + ".out",
                                base + ".err");
  if (child == nullptr) return result;
  result.pid = child->pid;
  result.finished = WaitExit(*child, timeout);
  if (!result.finished) Kill(*child);
  result.exit_code = child->ExitCode();
  result.out = ReadFile(base + ".out");
  result.err = ReadFile(base + ".err");
  return result;
}

std::optional<uint16_t> Harness::ReadPortFile(const std::string& path, Child& child,
                                              milliseconds timeout) {
  std::optional<uint16_t> port;
  std::string previous;
  PollUntil(
      [&] {
        std::string text = ReadFile(path);
        const bool complete_line = !text.empty() && text.back() == '\n';
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
          text.pop_back();
        }
        const bool digits = !text.empty() && text.size() <= 5 &&
                            text.find_first_not_of("0123456789") == std::string::npos;
        // Without a trailing newline the file may be half written: accept a value seen twice.
        if (digits && (complete_line || text == previous)) {
          const int value = std::stoi(text);
          if (value > 0 && value < 65536) {
            port = static_cast<uint16_t>(value);
            return true;
          }
        }
        previous = text;
        return Reap(child);
      },
      timeout);
  return port;
}

void Harness::PrintLogs(std::ostream& out) const {
  constexpr size_t kTail = 48 << 10;
  auto print = [&](const std::string& title, const std::string& path) {
    std::string text = ReadFile(path);
    out << "===== " << title << " (" << path << ") =====\n";
    if (text.size() > kTail) {
      out << "[... " << text.size() - kTail << " bytes cut ...]\n";
      text = text.substr(text.size() - kTail);
    }
    out << text;
    if (!text.empty() && text.back() != '\n') out << '\n';
  };
  for (const auto& child : children_) {
    const std::string title =
        child->name + " pid " + std::to_string(child->pid) +
        (child->exited ? ", exit " + std::to_string(child->ExitCode()) : ", running");
    if (!child->out_path.empty()) print(title + " stdout", child->out_path);
    print(title + (child->out_path.empty() ? " log" : " stderr"), child->log_path);
  }
}

// ---- HTTP and JSON --------------------------------------------------------------------------

const json::object& Reply::obj() const {
  static const json::object kEmpty;
  return json.is_object() ? json.as_object() : kEmpty;
}

std::string Reply::Describe() const {
  if (status == 0) return "no HTTP answer: " + transport_error;
  return "HTTP " + std::to_string(status) + " " + body.substr(0, 500);
}

Reply Http(const std::string& method, const std::string& url, const std::string& body,
           milliseconds timeout) {
  Reply reply;
  net::Headers headers;
  if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
  auto r = net::HttpFetch(method, url, body, headers, timeout);
  if (!r.ok()) {
    reply.transport_error = r.status().ToString();
    return reply;
  }
  reply.status = r->status;
  reply.body = std::move(r->body);
  reply.json = ParseJson(reply.body);
  return reply;
}

CallStream::CallStream(std::function<Reply()> call, std::function<bool(const Reply&)> good)
    : thread_([this, call = std::move(call), good = std::move(good)] {
        while (!stop_) {
          Reply r = call();
          if (good(r)) {
            ++ok_;
            continue;
          }
          std::lock_guard<std::mutex> lock(mu_);
          last_failure_ = r.Describe();
          ++failed_;
        }
      }) {}

std::string CallStream::last_failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_failure_;
}

void CallStream::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

json::value ParseJson(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return nullptr;
  return v;
}

double Num(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.as_int64());
  if (v.is_uint64()) return static_cast<double>(v.as_uint64());
  if (v.is_double()) return v.as_double();
  return std::nan("");
}

std::string Str(const json::object& o, const std::string& key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

double NumAt(const json::object& o, const std::string& key) {
  const auto* v = o.if_contains(key);
  return v ? Num(*v) : std::nan("");
}

std::set<std::string> StrSet(const json::object& o, const std::string& key) {
  std::set<std::string> out;
  const auto* v = o.if_contains(key);
  if (v && v->is_array()) {
    for (const auto& e : v->as_array()) {
      if (e.is_string()) out.emplace(e.as_string());
    }
  }
  return out;
}

double ExpectedResult(const std::string& op, const json::object& args) {
  const double a = NumAt(args, "a");
  const double b = NumAt(args, "b");
  if (op == "add") return a + b;
  if (op == "mult") return a * b;
  return std::nan("");
}

// ---- the fixture ----------------------------------------------------------------------------

void VoloTest::TearDown() {
  if (HasFailure()) {
    h_.KeepFiles();
    std::cerr << "\n##### logs of every child (files kept in " << h_.dir() << ")\n";
    h_.PrintLogs(std::cerr);
  }
  h_.KillAll();
}

PlannerProc VoloTest::StartPlanner(const std::vector<std::string>& extra, const EnvOverrides& env,
                                   uint16_t port_wanted) {
  PlannerProc p;
  const std::string port_file =
      TempPath("planner-" + std::to_string(h_.children().size()) + ".port");
  std::vector<std::string> args = {"planner",     "--port",  std::to_string(port_wanted),
                                   "--port-file", port_file, "--log-level",
                                   "debug"};
  args.insert(args.end(), extra.begin(), extra.end());
  p.child = h_.Spawn("planner", args, env);
  if (p.child == nullptr) return p;
  const auto port = h_.ReadPortFile(port_file, *p.child);
  if (!port) {
    ADD_FAILURE() << "planner wrote no port to " << port_file
                  << (p.child->exited ? " and exited" : " in time");
    return p;
  }
  p.port = *port;
  p.url = "http://127.0.0.1:" + std::to_string(p.port);
  Reply last;
  if (!PollUntil(
          [&] {
            last = Get(p.url + "/healthz");
            return last.status == 200 || h_.Reap(*p.child);
          },
          seconds(20)) ||
      last.status != 200) {
    ADD_FAILURE() << "planner on port " << p.port << " is not healthy: " << last.Describe();
    p.port = 0;
  }
  return p;
}

std::string VoloTest::TempPath(const std::string& name) const { return h_.TempPath(name); }

Child* VoloTest::StartWorker(const PlannerProc& planner, const WorkerSpec& spec) {
  std::vector<std::string> args = {"worker", "--planner", planner.url, "--id", spec.id};
  args.insert(args.end(), spec.args.begin(), spec.args.end());
  Child* child = h_.Spawn("worker-" + spec.id, args, spec.env);
  if (child == nullptr || !spec.wait_registered) return child;
  const bool registered = PollUntil(
      [&] { return FindWorker(planner, spec.id).has_value() || h_.Reap(*child); }, seconds(20));
  if (!registered || child->exited) {
    ADD_FAILURE() << "worker " << spec.id << " did not register"
                  << (child->exited ? " (it exited " + std::to_string(child->ExitCode()) + ")"
                                    : "");
  }
  return child;
}

uint64_t VoloTest::Submit(const PlannerProc& planner, const json::object& task) {
  const Reply r = Post(planner.Api("/tasks"), json::serialize(task));
  const double id = NumAt(r.obj(), "id");
  if (r.status != 201 || std::isnan(id)) {
    ADD_FAILURE() << "submit " << json::serialize(task) << ": " << r.Describe();
    return 0;
  }
  return static_cast<uint64_t>(id);
}

std::vector<uint64_t> VoloTest::SubmitMany(const PlannerProc& planner, const json::array& tasks) {
  json::object body;
  body["tasks"] = tasks;
  const Reply r = Post(planner.Api("/tasks"), json::serialize(body));
  std::vector<uint64_t> ids;
  const auto* arr = r.obj().if_contains("ids");
  if (r.status != 201 || arr == nullptr || !arr->is_array()) {
    ADD_FAILURE() << "batch submit of " << tasks.size() << " tasks: " << r.Describe();
    return ids;
  }
  for (const auto& v : arr->as_array()) ids.push_back(static_cast<uint64_t>(Num(v)));
  EXPECT_EQ(ids.size(), tasks.size()) << r.Describe();
  return ids;
}

json::object VoloTest::GetTask(const PlannerProc& planner, uint64_t id) {
  const Reply r = Get(planner.Api("/tasks/" + std::to_string(id)));
  EXPECT_EQ(r.status, 200) << "GET task " << id << ": " << r.Describe();
  return r.obj();
}

json::array VoloTest::Workers(const PlannerProc& planner) {
  const Reply r = Get(planner.Api("/workers"));
  const auto* w = r.obj().if_contains("workers");
  if (r.status != 200 || w == nullptr || !w->is_array()) return {};
  return w->as_array();
}

std::optional<json::object> VoloTest::FindWorker(const PlannerProc& planner,
                                                 const std::string& id) {
  for (const auto& w : Workers(planner)) {
    if (w.is_object() && Str(w.as_object(), "id") == id) return w.as_object();
  }
  return std::nullopt;
}

json::object VoloTest::Status(const PlannerProc& planner) {
  const Reply r = Get(planner.Api("/status"));
  EXPECT_EQ(r.status, 200) << "GET status: " << r.Describe();
  return r.obj();
}

namespace {
bool IsFinished(const json::object& task) {
  const std::string s = Str(task, "state");
  return s == "done" || s == "failed" || s == "cancelled";
}
}  // namespace

std::vector<json::object> VoloTest::WaitFinished(const PlannerProc& planner,
                                                 const std::vector<uint64_t>& ids,
                                                 milliseconds timeout) {
  std::map<uint64_t, json::object> seen;
  json::array id_array;
  for (uint64_t id : ids) id_array.push_back(id);
  const auto deadline = std::chrono::steady_clock::now() + timeout * kPatience;
  bool complete = false;
  Reply last;
  while (!complete && std::chrono::steady_clock::now() < deadline) {
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    const double wait_s = std::max(0.1, std::min(10.0, left.count() / 1000.0));
    json::object body{{"ids", id_array}, {"timeout", wait_s}};
    last = Post(planner.Api("/wait"), json::serialize(body),
                milliseconds(static_cast<int>(wait_s * 1000)) + seconds(10));
    const auto* tasks = last.obj().if_contains("tasks");
    if (last.status != 200 || tasks == nullptr || !tasks->is_array()) break;
    for (const auto& t : tasks->as_array()) {
      if (t.is_object()) seen[static_cast<uint64_t>(NumAt(t.as_object(), "id"))] = t.as_object();
    }
    const auto* c = last.obj().if_contains("complete");
    complete = c && c->is_bool() && c->as_bool();
  }
  if (!complete && std::chrono::steady_clock::now() < deadline) {
    // POST /api/v1/wait did not work (its own test says so); poll each task instead, so the
    // test still checks what it is about.
    std::cerr << "note: POST /api/v1/wait failed (" << last.Describe()
              << "); polling GET /api/v1/tasks/{id}\n";
    PollUntil(
        [&] {
          for (uint64_t id : ids) {
            auto it = seen.find(id);
            if (it != seen.end() && IsFinished(it->second)) continue;
            const Reply r = Get(planner.Api("/tasks/" + std::to_string(id)));
            if (r.status != 200) return false;
            seen[id] = r.obj();
            if (!IsFinished(r.obj())) return false;
          }
          return true;
        },
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now()),
        milliseconds(50));
  }
  std::vector<json::object> out;
  std::string unfinished;
  for (uint64_t id : ids) {
    json::object t = seen.contains(id) ? seen[id] : json::object{};
    if (!IsFinished(t)) unfinished += " " + std::to_string(id) + ":" + json::serialize(t);
    out.push_back(std::move(t));
  }
  EXPECT_TRUE(unfinished.empty()) << "tasks not finished after " << timeout.count()
                                  << " ms:" << unfinished;
  return out;
}

json::object SeedTask(const std::string& op, double a, double b) {
  return json::object{{"op", op}, {"args", json::object{{"a", a}, {"b", b}}}};
}

json::array MixedTasks(int n) {
  json::array tasks;
  for (int i = 0; i < n; ++i) {
    tasks.push_back(SeedTask(i % 2 == 0 ? "add" : "mult", i + 1, i + 2));
  }
  return tasks;
}

void ExpectDoneWithRightResult(const json::object& task) {
  const std::string op = Str(task, "op");
  EXPECT_EQ(Str(task, "state"), "done") << json::serialize(task);
  const auto* error = task.if_contains("error");
  EXPECT_TRUE(error == nullptr || error->is_null()) << json::serialize(task);
  const auto* args = task.if_contains("args");
  const auto* result = task.if_contains("result");
  ASSERT_TRUE(args && args->is_object() && result) << json::serialize(task);
  EXPECT_DOUBLE_EQ(Num(*result), ExpectedResult(op, args->as_object())) << json::serialize(task);
}

}  // namespace volo::itest
