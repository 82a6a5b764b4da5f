#include "worker/fn_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "worker/process_watch.h"

namespace volo::worker {
namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kMaxLine = 16 << 10;  // a longer output line is cut into pieces
constexpr int kMaxIdle = 64;           // keep-alive connections kept per instance

std::string Errno(int err) { return strerrordesc_np(err) ? strerrordesc_np(err) : "error"; }

std::string NsOf(pid_t pid, const char* ns) {
  char buf[128];
  std::string path =
      pid == 0 ? std::string("/proc/self/ns/") + ns : "/proc/" + std::to_string(pid) + "/ns/" + ns;
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// The first child of `pid`, or 0.
pid_t FirstChild(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  long child = 0;
  if (in >> child) return static_cast<pid_t>(child);
  return 0;
}

bool HopByHop(std::string_view name) {
  static const char* kNames[] = {
      "connection", "keep-alive", "proxy-connection", "transfer-encoding",  "te",
      "trailer",    "upgrade",    "content-length",   "proxy-authenticate", "proxy-authorization",
      "expect"};
  return std::any_of(std::begin(kNames), std::end(kNames),
                     [&](const char* n) { return beast::iequals(name, n); });
}

// The connector's loop (a forked child of the worker: only system calls from here on). fd 0 is
// its socket to the worker, 1 and 2 the sandbox's user and network namespaces.
[[noreturn]] void ConnectorMain(uint16_t port) {
  int setup = 0;
  if (::setns(1, CLONE_NEWUSER) != 0 || ::setns(2, CLONE_NEWNET) != 0) setup = errno;
  ::close(1);
  ::close(2);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (;;) {
    char c;
    ssize_t n = ::read(0, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(0);
    int err = setup, s = -1;
    if (err == 0) {
      s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (s < 0) {
        err = errno;
      } else if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        err = errno;
        ::close(s);
        s = -1;
      }
    }
    iovec iov{&err, sizeof err};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (s >= 0) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* cm = CMSG_FIRSTHDR(&msg);
      cm->cmsg_level = SOL_SOCKET;
      cm->cmsg_type = SCM_RIGHTS;
      cm->cmsg_len = CMSG_LEN(sizeof(int));
      ::memcpy(CMSG_DATA(cm), &s, sizeof s);
    }
    while (::sendmsg(0, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
    if (s >= 0) ::close(s);
  }
}

// One HTTP exchange on a connected socket. `done` false: the connection cannot be reused.
struct Exchange {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  beast::error_code ec;
  bool timed_out = false;
  bool reusable = false;
};

Exchange RoundTrip(int& fd, http::request<http::string_body>& req, Clock::time_point deadline,
                   size_t max_response) {
  thread_local asio::io_context ioc;
  Exchange x;
  asio::ip::tcp::socket sock(ioc);
  sock.assign(asio::ip::tcp::v4(), fd, x.ec);
  if (x.ec) return x;
  fd = -1;  // the socket owns it now
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_response);
  parser.header_limit(64 << 10);
  bool finished = false;
  http::async_write(sock, req, [&](beast::error_code ec, size_t) {
    if (ec) {
      x.ec = ec;
      finished = true;
      return;
    }
    http::async_read(sock, buf, parser, [&](beast::error_code ec2, size_t) {
      x.ec = ec2;
      finished = true;
    });
  });
  ioc.restart();
  auto now = Clock::now();
  ioc.run_for(deadline > now ? deadline - now : Clock::duration::zero());
  if (!finished) {
    x.timed_out = true;
    beast::error_code ignored;
    sock.cancel(ignored);
    sock.close(ignored);
    ioc.restart();
    ioc.run();
    return x;
  }
  if (x.ec) return x;
  auto& res = parser.get();
  x.status = static_cast<int>(res.result_int());
  for (const auto& f : res) {
    std::string_view name(f.name_string().data(), f.name_string().size());
    if (HopByHop(name)) continue;
    x.headers.emplace_back(std::string(name), std::string(f.value()));
  }
  x.reusable = res.keep_alive() && buf.size() == 0;
  x.body = std::move(res.body());
  if (x.reusable) {
    beast::error_code ignored;
    fd = sock.release(ignored);
    if (ignored) fd = -1;
  }
  return x;
}

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string SecondsText(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

}  // namespace

uint16_t PickPort(const std::vector<uint16_t>& taken) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return 0;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    uint16_t port = 0;
    if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(s);
    if (port != 0 && std::find(taken.begin(), taken.end(), port) == taken.end()) return port;
  }
  return 0;
}

std::string EncodePath(const std::string& path) {
  if (path.empty()) return "/";
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  if (path[0] != '/') out += '/';
  for (unsigned char c : path) {
    if (std::isalnum(c) || (c != 0 && std::strchr("/-._~!$&'()*+,;=:@", c))) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<std::unique_ptr<HttpInstance>> HttpInstance::Start(HttpInstanceOptions options) {
  std::unique_ptr<HttpInstance> inst(new HttpInstance(std::move(options)));
  HttpInstanceOptions& o = inst->options_;
  int out[2] = {-1, -1}, err[2] = {-1, -1};
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) return IoError("/dev/null: " + Errno(errno));
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    for (int fd : {null_fd, out[0], out[1], err[0], err[1]}) {
      if (fd >= 0) ::close(fd);
    }
    return IoError("pipe: " + Errno(e));
  }
  o.spec.stdin_fd = null_fd;
  o.spec.stdout_fd = out[1];
  o.spec.stderr_fd = err[1];
  auto launched = o.launcher->Launch(o.spec);
  ::close(null_fd);
  ::close(out[1]);
  ::close(err[1]);
  inst->out_ = out[0];
  inst->err_ = err[0];
  if (!launched.ok()) return launched.status();
  inst->proc_ = std::move(launched).value();
  ::fcntl(inst->out_, F_SETFL, O_NONBLOCK);
  ::fcntl(inst->err_, F_SETFL, O_NONBLOCK);
  inst->wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  inst->monitor_ = std::thread([p = inst.get()] { p->Monitor(); });
  return inst;
}

HttpInstance::HttpInstance(HttpInstanceOptions options) : options_(std::move(options)) {}

HttpInstance::~HttpInstance() {
  if (monitor_.joinable()) {
    bool stopping;
    {
      std::lock_guard lock(mu_);
      stopping = stopping_ && !killed_;
    }
    // Stopped: it has its grace period to end (the monitor sends SIGTERM, then SIGKILL).
    if (stopping) (void)EndedWith(options_.kill_grace + std::chrono::seconds(1));
    Kill();
    if (monitor_.get_id() == std::this_thread::get_id()) {
      monitor_.detach();  // let go from its own report: it ends right after
    } else {
      monitor_.join();
    }
  }
  proc_.reset();
  for (int fd : idle_) ::close(fd);
  for (int fd : {out_, err_, wake_, connector_}) {
    if (fd >= 0) ::close(fd);
  }
  if (connector_pid_ > 0) {
    while (::waitpid(connector_pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  std::error_code ec;
  if (!options_.dir.empty()) std::filesystem::remove_all(options_.dir, ec);
}

void HttpInstance::Wake() {
  uint64_t one = 1;
  (void)!::write(wake_, &one, sizeof one);
}

void HttpInstance::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  Wake();
}

void HttpInstance::Kill() {
  {
    std::lock_guard lock(mu_);
    killed_ = true;
  }
  Wake();
}

bool HttpInstance::exited() const {
  std::lock_guard lock(mu_);
  return exited_;
}

pid_t HttpInstance::pid() const { return proc_ ? proc_->pid() : -1; }

void HttpInstance::Monitor() {
  std::string partial[2];
  WatchOptions watch;
  watch.out_fd = out_;
  watch.err_fd = err_;
  watch.wake_fd = wake_;
  watch.kill_grace = options_.kill_grace;
  // Stopped once the calls in flight have finished (the last one wakes the watch).
  watch.check = [&] {
    std::lock_guard lock(mu_);
    return killed_                       ? WatchRequest::kKill
           : stopping_ && inflight_ == 0 ? WatchRequest::kStop
                                         : WatchRequest::kNone;
  };
  watch.on_output = [&](int s, std::string_view data) {
    if (data.empty()) {
      if (!partial[s].empty() && options_.on_output) options_.on_output(partial[s]);
      partial[s].clear();
      if (s == 1 && options_.on_stderr) options_.on_stderr({});
      return true;
    }
    if (s == 1 && options_.on_stderr) options_.on_stderr(data);
    {
      std::lock_guard lock(mu_);
      tail_.Add(data);
    }
    for (char c : data) {
      if (c == '\n' || partial[s].size() >= kMaxLine) {
        if (options_.on_output) options_.on_output(partial[s]);
        partial[s].clear();
        if (c == '\n') continue;
      }
      partial[s] += c;
    }
    return true;
  };
  const CommandExit result = WatchProcess(*proc_, watch).exit;
  std::string why = result.Describe(options_.spec.limits);
  bool report;
  {
    std::lock_guard lock(mu_);
    std::string tail = tail_.Get();
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
    if (!tail.empty()) why += ": " + tail;
    report = !stopping_ && !killed_;
  }
  // Reported before the calls waiting on the end learn it: the planner hears that the
  // instance is gone before their answers, and sends no more calls to it.
  if (report && options_.on_exit) options_.on_exit(why);
  {
    std::lock_guard lock(mu_);
    why_ = why;
    exited_ = true;
    for (int fd : idle_) ::close(fd);
    idle_.clear();
  }
  cv_.notify_all();
}

std::string HttpInstance::EndedWith(std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, wait, [&] { return exited_; });
  return exited_ ? why_ : "";
}

int HttpInstance::ConnectDirect() {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(options_.port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(s);
    return -e;
  }
  return s;
}

bool HttpInstance::ResolveConnector() {
  // connector_mu_ held.
  const std::string my_user = NsOf(0, "user"), my_net = NsOf(0, "net");
  pid_t p = proc_->pid();
  // The launched process may be a shim or bwrap's outer process, in our namespaces: the
  // sandbox is its first descendant in a user namespace of its own.
  for (int depth = 0; p > 0 && depth < 8; ++depth) {
    std::string user = NsOf(p, "user");
    if (user.empty()) return false;  // gone, or not there yet
    if (user != my_user) {
      std::string net = NsOf(p, "net");
      if (net.empty()) return false;
      if (net == my_net) {
        route_ = Route::kDirect;  // a sandbox with the host's network
        return true;
      }
      std::string base = "/proc/" + std::to_string(p) + "/ns/";
      int ufd = ::open((base + "user").c_str(), O_RDONLY | O_CLOEXEC);
      int nfd = ::open((base + "net").c_str(), O_RDONLY | O_CLOEXEC);
      int sv[2] = {-1, -1};
      if (ufd < 0 || nfd < 0 || ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        for (int fd : {ufd, nfd}) {
          if (fd >= 0) ::close(fd);
        }
        return false;
      }
      const uint16_t port = options_.port;
      pid_t child = ::fork();
      if (child == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        int a = ::fcntl(sv[1], F_DUPFD, 1000);
        int b = ::fcntl(ufd, F_DUPFD, 1000);
        int c = ::fcntl(nfd, F_DUPFD, 1000);
        if (a < 0 || b < 0 || c < 0 || ::dup2(a, 0) < 0 || ::dup2(b, 1) < 0 || ::dup2(c, 2) < 0) {
          ::_exit(127);
        }
        ::syscall(SYS_close_range, 3u, ~0u, 0u);
        ConnectorMain(port);
      }
      int fork_errno = errno;
      ::close(ufd);
      ::close(nfd);
      ::close(sv[1]);
      if (child < 0) {
        ::close(sv[0]);
        spdlog::warn("functions: cannot start the connector: {}", Errno(fork_errno));
        return false;
      }
      connector_ = sv[0];
      connector_pid_ = child;
      route_ = Route::kConnector;
      return true;
    }
    p = FirstChild(p);
  }
  return false;
}

int HttpInstance::ConnectThroughConnector() {
  // connector_mu_ held.
  char c = 'c';
  if (::send(connector_, &c, 1, MSG_NOSIGNAL) != 1) return -EPIPE;
  int err = 0, fd = -1;
  iovec iov{&err, sizeof err};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  while ((n = ::recvmsg(connector_, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof err)) return -EPIPE;
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
      ::memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    }
  }
  if (err != 0) {
    if (fd >= 0) ::close(fd);
    return -err;
  }
  return fd >= 0 ? fd : -EPIPE;
}

int HttpInstance::Connect(bool* pooled) {
  *pooled = false;
  {
    std::lock_guard lock(mu_);
    if (exited_) return -EPIPE;
    if (!idle_.empty()) {
      int fd = idle_.back();
      idle_.pop_back();
      *pooled = true;
      return fd;
    }
  }
  std::lock_guard lock(connector_mu_);
  if (route_ == Route::kUnknown) {
    if (options_.launcher->name() != "bwrap") {
      route_ = Route::kDirect;
    } else if (!ResolveConnector()) {
      return -ESRCH;  // the sandbox is not there yet
    }
  }
  int fd = route_ == Route::kDirect ? ConnectDirect() : ConnectThroughConnector();
  if (fd >= 0) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

void HttpInstance::Release(int fd, bool reuse) {
  if (fd < 0) return;
  {
    std::lock_guard lock(mu_);
    if (reuse && !exited_ && static_cast<int>(idle_.size()) < kMaxIdle) {
      idle_.push_back(fd);
      return;
    }
  }
  ::close(fd);
}

Status HttpInstance::WaitReady(const std::string& path, double timeout) {
  const auto t0 = Clock::now();
  const auto deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout));
  auto pause = std::chrono::milliseconds(2);
  std::string last = "no answer yet";
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (killed_ || stopping_) return Cancelled("stopped before it was ready");
    }
    std::string ended = EndedWith(std::chrono::milliseconds(0));
    if (!ended.empty()) return Unavailable("ended before it was ready: " + ended);
    if (Clock::now() >= deadline) break;
    bool pooled;
    int fd = Connect(&pooled);
    if (fd >= 0) {
      http::request<http::string_body> req{http::verb::get, path, 11};
      req.set(http::field::host, "127.0.0.1:" + std::to_string(options_.port));
      req.set(http::field::user_agent, "volo-readiness");
      req.keep_alive(true);
      auto step = std::min(deadline, Clock::now() + std::chrono::seconds(2));
      Exchange x = RoundTrip(fd, req, step, options_.max_response);
      Release(fd, x.reusable);
      if (!x.ec && !x.timed_out && x.status > 0 && x.status < 500) return Status::Ok();
      // An attempt cut short by the deadline says less than the one before it.
      if (!x.timed_out || step < deadline || last == "no answer yet") {
        last = x.timed_out ? "the readiness check timed out"
               : x.ec      ? x.ec.message()
                           : "GET " + path + " answered " + std::to_string(x.status);
      }
    } else {
      last = fd == -ESRCH ? "its sandbox was not found yet" : "connect: " + Errno(-fd);
    }
    // Until then: wait a little, or for the process's end. A check costs tens of microseconds
    // and the first call waits for the first check that passes, so the first seconds (where
    // most servers get ready) are checked every few milliseconds; a slower starter is checked
    // less and less often, up to every 50 ms.
    auto left = deadline - Clock::now();
    auto wait = std::min<Clock::duration>(pause, std::max<Clock::duration>(left, {}));
    ended = EndedWith(std::chrono::duration_cast<std::chrono::milliseconds>(wait));
    if (!ended.empty()) return Unavailable("ended before it was ready: " + ended);
    if (Clock::now() - t0 > std::chrono::seconds(2)) {
      pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
  }
  Kill();
  return DeadlineExceeded("did not answer GET " + path + " within " + SecondsText(timeout) + " (" +
                          last + ")");
}

void HttpInstance::Call(const wire::FnCall& m, double timeout, wire::FnAnswer& answer) {
  const auto started = Clock::now();
  const auto deadline = timeout > 0 ? started + std::chrono::duration_cast<Clock::duration>(
                                                    std::chrono::duration<double>(timeout))
                                    : Clock::time_point::max() - std::chrono::hours(24);
  {
    std::lock_guard lock(mu_);
    ++inflight_;
  }
  struct Done {
    HttpInstance* self;
    ~Done() {
      bool wake;
      {
        std::lock_guard lock(self->mu_);
        wake = --self->inflight_ == 0 && self->stopping_;
      }
      if (wake) self->Wake();
    }
  } done{this};
  auto fail = [&](std::string error, bool crashed) {
    answer.ok = false;
    answer.error = std::move(error);
    answer.crashed = crashed;
    answer.wall = Since(started);
  };
  auto ended = [&](std::chrono::milliseconds wait, const std::string& otherwise) {
    std::string why = EndedWith(wait);
    if (why.empty()) return fail(otherwise, false);
    fail("its instance ended mid-call: " + why, why.find("killed by") != std::string::npos);
  };

  std::string target = EncodePath(m.path);
  if (!m.query.empty()) target += "?" + m.query;
  http::request<http::string_body> req;
  req.version(11);
  http::verb verb = http::string_to_verb(m.method);
  if (verb == http::verb::unknown) {
    req.method_string(m.method);
  } else {
    req.method(verb);
  }
  req.target(target);
  bool host = false;
  for (const auto& [k, v] : m.headers) {
    if (HopByHop(k)) continue;
    if (beast::iequals(k, "host")) host = true;
    req.insert(k, v);
  }
  if (!host) req.set(http::field::host, "127.0.0.1:" + std::to_string(options_.port));
  req.body() = m.body;
  req.keep_alive(true);
  if (!m.body.empty() || verb == http::verb::post || verb == http::verb::put) {
    req.prepare_payload();
  }

  // A pooled connection the server closed meanwhile fails at once: one more try on a new one.
  for (int attempt = 0;; ++attempt) {
    bool pooled;
    int fd = Connect(&pooled);
    if (fd < 0) {
      return ended(std::chrono::milliseconds(500), "cannot connect to its instance: " + Errno(-fd));
    }
    Exchange x = RoundTrip(fd, req, deadline, options_.max_response);
    if (x.timed_out) {
      Release(fd, false);
      return fail("timed out after " + SecondsText(timeout), false);
    }
    if (x.ec) {
      Release(fd, false);
      if (x.ec == http::error::body_limit) {
        return fail("its answer is larger than the limit of " +
                        std::to_string(options_.max_response) + " bytes",
                    false);
      }
      bool stale = x.ec == http::error::end_of_stream || x.ec == asio::error::connection_reset ||
                   x.ec == asio::error::broken_pipe;
      if (stale && pooled && attempt == 0 && EndedWith(std::chrono::milliseconds(0)).empty())
        continue;
      // A crashing process may take a moment to end (its core dump): wait for it, to name it.
      return ended(std::chrono::milliseconds(3000),
                   "the connection to its instance failed: " + x.ec.message());
    }
    Release(fd, x.reusable);
    answer.ok = true;
    answer.status = x.status;
    answer.headers = std::move(x.headers);
    answer.body = std::move(x.body);
    answer.wall = Since(started);
    return;
  }
}

}  // namespace volo::worker
