#include "worker/fn_fly.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <ostream>
#include <vector>

#include "exec/frame.h"
#include "fly/compiler.h"
#include "fly/diagnostic.h"
#include "fly/line_output.h"
#include "fly/memory.h"
#include "fly/runtime.h"
#include "fly/serialize.h"
#include "fly/vm.h"

namespace volo::worker {
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kTail = 2 << 10;  // stderr kept for error messages
constexpr size_t kReadChunk = 256 << 10;
constexpr int kStdin = 0, kStdout = 1;
// Answer kinds (fn_fly.h).
constexpr int64_t kAnswer = 0, kRuntimeError = 1, kFatal = 2;

std::string Errno(int err) { return strerrordesc_np(err) ? strerrordesc_np(err) : "error"; }

std::string FirstLine(std::string_view text) {
  size_t nl = text.find('\n');
  return std::string(nl == std::string_view::npos ? text : text.substr(0, nl));
}

std::string SecondsText(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

// ---- the child ----

// Writes frames to the worker from any thread. Whoever finds no write in progress writes what
// has gathered meanwhile (its own frame and the others'), so answers that are ready together
// leave in one send.
class FrameOut {
 public:
  // False once the worker has gone.
  bool Send(std::string_view payload) {
    std::unique_lock<std::mutex> lock(mu_);
    if (gone_) return false;
    exec::AppendFrame(pending_, payload);
    if (writing_) return true;
    writing_ = true;
    while (!pending_.empty() && !gone_) {
      std::string batch;
      batch.swap(pending_);
      lock.unlock();
      bool ok = exec::SendBytes(kStdout, batch).ok();
      lock.lock();
      if (!ok) gone_ = true;
    }
    writing_ = false;
    return !gone_;
  }

 private:
  std::mutex mu_;
  std::string pending_;   // GUARDED_BY(mu_)
  bool writing_ = false;  // GUARDED_BY(mu_)
  bool gone_ = false;     // GUARDED_BY(mu_)
};

// What a VM prints goes to the worker as "log" frames, whole lines at a time (the Runtime
// flushes at every newline); an unterminated line waits for the next flush, or the VM's end.
class LogSink : public fly::LineOutput {
 public:
  explicit LogSink(FrameOut& out)
      : LineOutput(16 << 10, [&out](uint64_t, std::string_view text) {
          exec::FrameWriter w;
          w.Add("log").Add(text);
          out.Send(w.payload());
        }) {}
  ~LogSink() override { ForwardRest(); }
};

struct ChildCall {
  int64_t id = 0;
  std::string method, path, query, body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// The request as F's second argument: {method, path, query, headers: {lower-cased name: value}}
// (a header sent twice has its values joined with ", ").
fly::Value RequestValue(const ChildCall& c) {
  fly::Value req = fly::MakeMap();
  auto set = [](fly::Value map, std::string key, fly::Value v) {
    fly::AsMap(map)->m.Set(fly::MakeString(std::move(key)), v);
  };
  set(req, "method", fly::MakeString(c.method));
  set(req, "path", fly::MakeString(c.path));
  set(req, "query", fly::MakeString(c.query));
  fly::Value headers = fly::MakeMap();
  for (const auto& [name, value] : c.headers) {
    std::string key = name;
    for (char& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    fly::Value k = fly::MakeString(key);
    fly::Value* old = fly::AsMap(headers)->m.Find(k);
    if (old && old->Is(fly::ObjKind::kString)) {
      std::string joined = fly::AsStr(*old)->s + ", " + value;
      fly::AsMap(headers)->m.Set(k, fly::MakeString(std::move(joined)));
    } else {
      fly::AsMap(headers)->m.Set(k, fly::MakeString(value));
    }
  }
  set(req, "headers", headers);
  return req;
}

struct ChildAnswer {
  int64_t kind = kAnswer;
  int status = 200;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

bool HeaderTextOk(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n' || c == 0; });
}

// F's return value as the HTTP answer (docs/functions.md, "The fly runner"): a String is a 200
// with that text; null a 204; a map of only `status`, `headers` and `body` (one of status and
// body at least) that answer; anything else a 200 with the value as JSON.
ChildAnswer AnswerOf(fly::Value v, const std::string& func) {
  ChildAnswer a;
  auto refuse = [&](std::string why) {
    a = ChildAnswer();
    a.kind = kRuntimeError;
    a.status = 500;
    a.content_type = "text/plain; charset=utf-8";
    a.body = "function '" + func + "' answered " + why;
    return a;
  };
  auto as_json = [&](fly::Value x, std::string* out) {
    std::string error;
    if (!fly::SerializeValue(x, out, &error)) {
      refuse("a value that cannot be sent: " + error);
      return false;
    }
    return true;
  };
  if (v.IsNull()) {
    a.status = 204;
    return a;
  }
  if (v.Is(fly::ObjKind::kString)) {
    a.content_type = "text/plain; charset=utf-8";
    a.body = fly::AsStr(v)->s;
    return a;
  }
  bool response = false;
  if (v.Is(fly::ObjKind::kMap) && fly::AsMap(v)->m.size() > 0) {
    response = true;
    bool status_or_body = false;
    for (const auto& e : fly::AsMap(v)->m.entries()) {
      if (e.key.IsNull()) continue;
      std::string k = e.key.Is(fly::ObjKind::kString) ? fly::AsStr(e.key)->s : "";
      if (k != "status" && k != "headers" && k != "body") response = false;
      if (k == "status" || k == "body") status_or_body = true;
    }
    response = response && status_or_body;
  }
  if (!response) {
    a.content_type = "application/json";
    if (!as_json(v, &a.body)) return a;
    return a;
  }
  fly::Value status = fly::MapField(v, "status");
  if (!status.IsNull()) {
    if (!status.IsInt() || status.i < 100 || status.i > 599) {
      return refuse("status " + fly::ToString(status) + ": must be an integer from 100 to 599");
    }
    a.status = static_cast<int>(status.i);
  }
  fly::Value body = fly::MapField(v, "body");
  if (body.Is(fly::ObjKind::kString)) {
    a.content_type = "text/plain; charset=utf-8";
    a.body = fly::AsStr(body)->s;
  } else if (!body.IsNull()) {
    a.content_type = "application/json";
    if (!as_json(body, &a.body)) return a;
  }
  fly::Value headers = fly::MapField(v, "headers");
  if (!headers.IsNull()) {
    if (!headers.Is(fly::ObjKind::kMap)) return refuse("headers that are not a map");
    for (const auto& e : fly::AsMap(headers)->m.entries()) {
      if (e.key.IsNull()) continue;
      if (!e.key.Is(fly::ObjKind::kString) || fly::AsStr(e.key)->s.empty()) {
        return refuse("a header name that is not a non-empty String");
      }
      std::string name = fly::AsStr(e.key)->s;
      std::string value =
          e.val.Is(fly::ObjKind::kString) ? fly::AsStr(e.val)->s : fly::ToString(e.val);
      if (!HeaderTextOk(name) || !HeaderTextOk(value) ||
          name.find_first_of(" :\t") != std::string::npos) {
        return refuse("header '" + name + "' with characters a header cannot hold");
      }
      if (strcasecmp(name.c_str(), "content-type") == 0) {
        a.content_type = value;
      } else {
        a.headers.emplace_back(std::move(name), std::move(value));
      }
    }
  }
  return a;
}

int64_t ThreadCpuNanos() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t PeakRss() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;
}

// The calls waiting for a VM, and the reading of them from the worker. There is no reader
// thread: a VM with nothing to do reads the socket itself while no other VM does (and runs the
// first call it read, handing the others to the VMs waiting), so a call reaches its VM without
// a thread switch when one VM is idle.
class CallQueue {
 public:
  // The next call, reading the worker's frames when none is queued and no other VM reads.
  // Exits the process when the worker has gone (or sent something that is not a call).
  ChildCall Next() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (!calls_.empty()) {
        ChildCall c = std::move(calls_.front());
        calls_.pop_front();
        // Calls left over and no reader: another VM may take them, or become the reader.
        if (!calls_.empty() || !reading_) cv_.notify_one();
        return c;
      }
      if (reading_) {
        cv_.wait(lock);
        continue;
      }
      reading_ = true;
      lock.unlock();
      std::vector<ChildCall> batch = Read();
      lock.lock();
      reading_ = false;
      for (ChildCall& c : batch) calls_.push_back(std::move(c));
    }
  }

 private:
  std::vector<ChildCall> Read() {
    std::vector<ChildCall> batch;
    while (batch.empty()) {
      Result<size_t> got = frames_.Fill(kStdin, kReadChunk);
      if (!got.ok() || *got == 0) ::_exit(0);  // the worker closed the socket: stop
      for (std::string_view p; frames_.Next(&p);) {
        exec::FrameReader r(p);
        std::string_view k, method, path, query, body;
        ChildCall c;
        int64_t nh = 0;
        if (!r.Next(&k) || k != "call" || !r.NextInt(&c.id) || !r.Next(&method) || !r.Next(&path) ||
            !r.Next(&query) || !r.NextInt(&nh) || nh < 0) {
          ::_exit(2);
        }
        for (int64_t h = 0; h < nh; ++h) {
          std::string_view name, value;
          if (!r.Next(&name) || !r.Next(&value)) ::_exit(2);
          c.headers.emplace_back(name, value);
        }
        if (!r.Next(&body)) ::_exit(2);
        c.method = method;
        c.path = path;
        c.query = query;
        c.body = body;
        batch.push_back(std::move(c));
      }
      if (frames_.corrupt()) ::_exit(2);
    }
    return batch;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ChildCall> calls_;  // GUARDED_BY(mu_)
  bool reading_ = false;         // GUARDED_BY(mu_)
  exec::FrameBuffer frames_;     // used by the VM that reads
};

// One VM: its own Runtime (globals, output) on a thread of its own. Runs the program's top
// level, reports it through `started`, then serves calls.
void VmMain(const fly::Program& program, int fn, const std::string& func, FrameOut& out,
            CallQueue& queue, const std::function<void(std::string error)>& started) {
  LogSink sink(out);
  std::ostream printed(&sink);
  fly::RunOptions options;
  options.file = program.file;
  fly::Runtime rt(program, options, printed, printed);
  fly::Vm vm(rt);
  {
    fly::Value top;
    if (!vm.Call(0, nullptr, 0, &top)) {
      printed.flush();
      started("the program's top level: " + FirstLine(vm.error()));
      return;
    }
    fly::Release(top);
  }
  printed.flush();
  started("");
  const int arity = program.functions[static_cast<size_t>(fn)]->arity;
  for (;;) {
    ChildCall c = queue.Next();
    const int64_t cpu0 = ThreadCpuNanos();
    fly::Value args[2];
    int argc = 0;
    if (arity >= 1) args[argc++] = fly::MakeString(std::move(c.body));
    if (arity >= 2) args[argc++] = RequestValue(c);
    fly::Value result;
    ChildAnswer a;
    if (vm.Call(fn, args, argc, &result)) {
      a = AnswerOf(result, func);
      fly::Release(result);
    } else {
      const std::string& error = vm.error();
      // The whole error with its FLY stack trace goes to the log; the answer is its first line.
      printed << error << (error.empty() || error.back() != '\n' ? "\n" : "");
      printed.flush();
      a.kind =
          error.find("runtime error: out of memory") != std::string::npos ? kFatal : kRuntimeError;
      a.status = 500;
      a.content_type = "text/plain; charset=utf-8";
      a.body = FirstLine(error);
    }
    // Cycles the call made are freed now: no code of this Runtime runs between calls.
    rt.heap().Collect();
    exec::FrameWriter w;
    w.Add("answer").Add(c.id).Add(a.kind).Add(int64_t{a.status}).Add(a.content_type);
    w.Add(static_cast<int64_t>(a.headers.size()));
    for (const auto& [k, v] : a.headers) w.Add(k).Add(v);
    w.Add(a.body).Add(ThreadCpuNanos() - cpu0).Add(PeakRss());
    if (!out.Send(w.payload())) ::_exit(0);  // the worker has gone
    if (a.kind == kFatal) ::_exit(3);        // FLY's memory limit: this process is not trusted on
  }
}

}  // namespace

int FnFlyMain(int, char**) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::signal(SIGPIPE, SIG_IGN);
  std::string payload;
  if (!exec::ReceiveFrame(kStdin, &payload).ok()) return 2;
  exec::FrameReader in(payload);
  std::string_view kind, file, source, func;
  int64_t vms = 0, max_memory = 0;
  if (!in.Next(&kind) || kind != "init" || !in.Next(&file) || !in.Next(&source) ||
      !in.Next(&func) || !in.NextInt(&vms) || !in.NextInt(&max_memory) || vms < 1 || vms > 1000 ||
      max_memory < 0) {
    return 2;
  }
  FrameOut out;
  auto fail = [&](const std::string& why) {
    exec::FrameWriter w;
    w.Add("failed").Add(why);
    out.Send(w.payload());
    return 1;
  };
  if (max_memory > 0) fly::SetMemoryLimit(static_cast<uint64_t>(max_memory));
  std::vector<fly::Diagnostic> diags;
  std::unique_ptr<fly::Program> program = fly::CompileSource(file, source, diags);
  if (fly::HasErrors(diags)) {
    std::string text = fly::FormatDiagnostics(file, source, diags);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return fail(text);
  }
  const std::string fname(func);
  int fn = program->FindFunction(fname);
  if (fn <= 0) return fail(std::string(file) + " has no function '" + fname + "'");

  CallQueue queue;
  std::mutex started_mu;
  std::condition_variable started_cv;
  int started = 0;
  std::string start_error;
  for (int64_t i = 0; i < vms; ++i) {
    // The threads live as long as the process (it ends with _exit or by a signal).
    std::thread([&, fn] {
      VmMain(*program, fn, fname, out, queue, [&](std::string error) {
        std::lock_guard<std::mutex> lock(started_mu);
        ++started;
        if (!error.empty() && start_error.empty()) start_error = std::move(error);
        started_cv.notify_all();
      });
    }).detach();
  }
  {
    std::unique_lock<std::mutex> lock(started_mu);
    started_cv.wait(lock, [&] { return started == vms || !start_error.empty(); });
    if (!start_error.empty()) {
      std::string why = start_error;
      lock.unlock();
      fail(why);
      ::_exit(1);
    }
  }
  {
    exec::FrameWriter w;
    w.Add("ready");
    if (!out.Send(w.payload())) ::_exit(0);
  }
  // The VMs read and run the calls from here on (CallQueue).
  for (;;) ::pause();
}

// ---- the worker side ----

// Reads the child's socket on options.io's thread. The loop's handlers hold it, so it outlives
// the instance until they have run; the instance detaches itself (owner) before it goes.
struct FlyInstance::IoReader {
  IoReader(boost::asio::io_context& io, int fd) : sd(io, fd) {}
  boost::asio::posix::stream_descriptor sd;  // a duplicate of sock_, closed on the loop's thread
  std::mutex mu;
  FlyInstance* owner = nullptr;  // GUARDED_BY(mu); null once the instance is going
};

void FlyInstance::ReadAndWait(const std::shared_ptr<IoReader>& reader) {
  {
    std::lock_guard<std::mutex> lock(reader->mu);
    if (!reader->owner || !reader->owner->ReadFrames()) return;
  }
  // Read to the end of what was there, so the next bytes make the socket readable again (the
  // loop's epoll is edge-triggered; on its one thread no wait for them starts between the two).
  reader->sd.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [reader](const boost::system::error_code& ec) {
                          if (!ec) ReadAndWait(reader);
                        });
}

bool FlyInstance::ReadFrames() {
  auto broke = [&] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (broke_.empty()) broke_ = "broke the protocol";
    }
    (void)proc_->Signal(SIGKILL);
    return false;
  };
  for (;;) {
    Result<size_t> got = frames_.Fill(sock_, kReadChunk);
    if (!got.ok()) return false;
    if (*got == 0) return true;
    for (std::string_view p; frames_.Next(&p);) {
      if (!OnFrame(p)) return broke();
    }
    if (frames_.corrupt()) return broke();
    // A read short of the chunk emptied the socket: no read only to hear "nothing more" (bytes
    // that come after it make the socket readable again, and poll sees them as well).
    if (*got < kReadChunk) return true;
  }
}

Result<std::unique_ptr<FlyInstance>> FlyInstance::Start(FlyInstanceOptions options) {
  std::unique_ptr<FlyInstance> inst(new FlyInstance(std::move(options)));
  FlyInstanceOptions& o = inst->options_;
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return IoError("socketpair: " + Errno(errno));
  }
  int errp[2];
  if (::pipe2(errp, O_CLOEXEC) != 0) {
    ::close(sv[0]);
    ::close(sv[1]);
    return IoError("pipe: " + Errno(errno));
  }
  o.spec.stdin_fd = sv[1];
  o.spec.stdout_fd = sv[1];
  o.spec.stderr_fd = errp[1];
  auto launched = o.launcher->Launch(o.spec);
  ::close(sv[1]);
  ::close(errp[1]);
  inst->sock_ = sv[0];
  inst->err_ = errp[0];
  if (!launched.ok()) return launched.status();
  inst->proc_ = std::move(launched).value();
  ::fcntl(inst->err_, F_SETFL, O_NONBLOCK);
  inst->wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  exec::FrameWriter w;
  w.Add("init").Add(o.file).Add(o.source).Add(o.function).Add(int64_t{o.vms});
  w.Add(static_cast<int64_t>(o.max_memory));
  // Written before the monitor starts; a child that died already fails it, and its end is
  // then what the monitor reports.
  (void)exec::SendFrame(inst->sock_, w.payload());
  ::fcntl(inst->sock_, F_SETFL, O_NONBLOCK);
  if (o.io) {
    // The loop's descriptor is a duplicate, so that it is closed on the loop's thread while
    // this one is closed with the instance.
    int fd = ::fcntl(inst->sock_, F_DUPFD_CLOEXEC, 0);
    if (fd >= 0) {
      inst->io_reader_ = std::make_shared<IoReader>(*o.io, fd);
      inst->io_reader_->owner = inst.get();
      boost::asio::post(*o.io, [reader = inst->io_reader_] { ReadAndWait(reader); });
    } else {
      spdlog::warn("functions: dup: {}; the monitor reads the instance's answers", Errno(errno));
    }
  }
  inst->monitor_ = std::thread([p = inst.get()] { p->Monitor(); });
  return inst;
}

FlyInstance::FlyInstance(FlyInstanceOptions options) : options_(std::move(options)) {}

FlyInstance::~FlyInstance() {
  {
    // A stopped instance answers its calls in flight first (each ends by its timeout at the
    // latest, which kills the child), then its child ends; anything else is killed now.
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_ && !killed_) {
      auto limit = std::chrono::duration_cast<Clock::duration>(
                       std::chrono::duration<double>(options_.timeout)) +
                   2 * options_.kill_grace;
      cv_.wait_for(lock, limit, [&] { return exited_; });
    }
  }
  Kill();
  if (monitor_.joinable()) monitor_.join();
  if (io_reader_) {
    {
      std::lock_guard<std::mutex> lock(io_reader_->mu);
      io_reader_->owner = nullptr;
    }
    boost::asio::post(*options_.io, [reader = io_reader_] {
      boost::system::error_code ec;
      reader->sd.close(ec);
    });
  }
  proc_.reset();
  for (int fd : {sock_, err_, wake_}) {
    if (fd >= 0) ::close(fd);
  }
  if (!options_.dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(options_.dir, ec);
  }
}

void FlyInstance::Wake() {
  uint64_t one = 1;
  if (wake_ >= 0) (void)!::write(wake_, &one, sizeof one);
}

Status FlyInstance::WaitReady(double timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto until = Clock::now() +
               std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout));
  bool done = cv_.wait_until(
      lock, until, [&] { return ready_ || !failed_.empty() || exited_ || killed_ || stopping_; });
  if (ready_) return Status::Ok();
  if (killed_ || stopping_) return Cancelled("stopped before it was ready");
  if (!failed_.empty()) return InvalidArgument(failed_);
  if (!done) {
    lock.unlock();
    Kill();
    return DeadlineExceeded("did not compile and run its top level within " + SecondsText(timeout));
  }
  return Unavailable("ended before it was ready");
}

void FlyInstance::Call(const wire::FnCall& m, Answered done) {
  std::vector<std::pair<const wire::FnCall*, Answered>> one;
  one.emplace_back(&m, std::move(done));
  CallMany(std::move(one));
}

void FlyInstance::CallMany(std::vector<std::pair<const wire::FnCall*, Answered>> calls) {
  std::string why;
  std::string bytes;  // the frames of the calls taken, written at once
  std::vector<std::pair<const wire::FnCall*, Answered>> refused;
  // The monitor is not woken for a call: it never sleeps past the earliest deadline of the
  // calls it last saw, nor, with none, past one timeout from when it looked (Monitor), and a
  // call's deadline is one timeout from a time after that look (taken under the same lock).
  // So it wakes in time for every call's deadline, without a wake-up write per call.
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = Clock::now();
    const Clock::time_point deadline =
        options_.timeout > 0 ? now + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(options_.timeout))
                             : Clock::time_point::max();
    if (exited_ || killed_) {
      why = "its instance has ended" + (failed_.empty() ? "" : ": " + failed_);
    } else if (stopping_ || !ready_) {
      why = "its instance is stopping";
    }
    for (auto& [m, done] : calls) {
      if (!why.empty()) {
        refused.emplace_back(m, std::move(done));
        continue;
      }
      Pending p;
      p.done = std::move(done);
      p.started = now;
      p.deadline = deadline;
      p.instance = m->instance;
      calls_[m->call] = std::move(p);
    }
  }
  if (why.empty()) {
    for (const auto& c : calls) {
      const wire::FnCall& m = *c.first;
      exec::FrameWriter w;
      w.Add("call").Add(static_cast<int64_t>(m.call)).Add(m.method).Add(m.path).Add(m.query);
      w.Add(static_cast<int64_t>(m.headers.size()));
      for (const auto& [k, v] : m.headers) w.Add(k).Add(v);
      w.Add(m.body);
      exec::AppendFrame(bytes, w.payload());
    }
  }
  for (auto& [m, done] : refused) {
    wire::FnAnswer a;
    a.call = m->call;
    a.instance = m->instance;
    a.ok = false;
    a.error = why;
    done(std::move(a));
  }
  if (bytes.empty()) return;
  std::lock_guard<std::mutex> lock(write_mu_);
  // A child that has gone fails the write; its end is reported by the monitor.
  (void)exec::SendBytes(sock_, bytes);
}

void FlyInstance::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  Wake();
}

void FlyInstance::Kill() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    killed_ = true;
  }
  cv_.notify_all();
  if (proc_) (void)proc_->Signal(SIGKILL);
  Wake();
}

bool FlyInstance::exited() const {
  std::lock_guard<std::mutex> lock(mu_);
  return exited_;
}

pid_t FlyInstance::pid() const { return proc_ ? proc_->pid() : -1; }

bool FlyInstance::OnFrame(std::string_view payload) {
  exec::FrameReader r(payload);
  std::string_view kind;
  if (!r.Next(&kind)) return false;
  if (kind == "log") {
    std::string_view text;
    if (!r.Next(&text)) return false;
    if (options_.on_log && !text.empty()) options_.on_log(text);
    return true;
  }
  if (kind == "ready") {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_ = true;
    }
    cv_.notify_all();
    return true;
  }
  if (kind == "failed") {
    std::string_view why;
    if (!r.Next(&why)) return false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      failed_ = why.empty() ? "failed" : std::string(why);
    }
    cv_.notify_all();
    return true;
  }
  if (kind != "answer") return false;
  int64_t id = 0, k = 0, status = 0, nh = 0, cpu_ns = 0, rss = 0;
  std::string_view ctype, body;
  if (!r.NextInt(&id) || !r.NextInt(&k) || !r.NextInt(&status) || !r.Next(&ctype) ||
      !r.NextInt(&nh) || nh < 0) {
    return false;
  }
  wire::FnAnswer a;
  a.call = static_cast<uint64_t>(id);
  for (int64_t h = 0; h < nh; ++h) {
    std::string_view name, value;
    if (!r.Next(&name) || !r.Next(&value)) return false;
    a.headers.emplace_back(name, value);
  }
  if (!r.Next(&body) || !r.NextInt(&cpu_ns) || !r.NextInt(&rss)) return false;
  if (!ctype.empty()) a.headers.emplace_back("Content-Type", ctype);
  Answered done;
  Clock::time_point started;
  bool last = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = calls_.find(a.call);
    if (it == calls_.end()) return true;  // past its timeout: the child is being killed
    if (k == kFatal) {
      // FLY's memory limit: the child exits; its end, reported with this message, answers the
      // call (so that the planner has forgotten the instance before the caller hears of it).
      fatal_ = std::string(body);
      return true;
    }
    done = std::move(it->second.done);
    started = it->second.started;
    a.instance = it->second.instance;
    calls_.erase(it);
    last = stopping_ && calls_.empty();
  }
  // A stopping instance's monitor ends the child once its last call is answered.
  if (last && io_reader_) Wake();
  a.wall = std::chrono::duration<double>(Clock::now() - started).count();
  a.cpu = static_cast<double>(cpu_ns) / 1e9;
  a.max_rss = rss;
  a.status = static_cast<int>(status);
  a.body = std::string(body);
  done(std::move(a));
  return true;
}

void FlyInstance::Monitor() {
  std::string timed_out;  // why the monitor killed the child
  // With options.io, the loop's thread reads the socket.
  bool sock_open = !io_reader_, err_open = true, exited = false, closed_write = false;
  Clock::time_point kill_at = Clock::time_point::max();
  std::vector<char> buf(64 << 10);
  auto read_frames = [&] {
    if (!ReadFrames()) sock_open = false;
  };
  auto read_err = [&] {
    for (;;) {
      ssize_t n = ::read(err_, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        err_open = false;
        return;
      }
      std::string_view data(buf.data(), static_cast<size_t>(n));
      {
        std::lock_guard<std::mutex> lock(mu_);
        tail_.append(data);
        if (tail_.size() > 2 * kTail) tail_.erase(0, tail_.size() - kTail);
      }
      if (options_.on_log) options_.on_log(data);
    }
  };
  while (!exited) {
    auto now = Clock::now();
    Clock::time_point next = kill_at;
    bool overdue = false;
    bool stop_now = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = calls_.begin(); it != calls_.end();) {
        if (it->second.deadline <= now) {
          overdue = true;
          it = calls_.erase(it);
        } else {
          next = std::min(next, it->second.deadline);
          ++it;
        }
      }
      // With no call, it still looks again within one timeout (CallMany).
      if (calls_.empty() && options_.timeout > 0) {
        next = std::min(next, now + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(options_.timeout)));
      }
      stop_now = stopping_ && calls_.empty() && !closed_write;
      if (killed_) next = std::min(next, now + std::chrono::milliseconds(100));
    }
    if (overdue && timed_out.empty()) {
      // A VM cannot be stopped from outside: the child goes, with the calls it was running,
      // and its end (reported before any answer of those calls) names the timeout.
      timed_out = "a call timed out after " + SecondsText(options_.timeout);
      (void)proc_->Signal(SIGKILL);
    }
    if (stop_now) {
      // The child reads the end of its input and exits; killed if it does not in time.
      closed_write = true;
      ::shutdown(sock_, SHUT_WR);
      kill_at = Clock::now() + options_.kill_grace;
      next = std::min(next, kill_at);
    }
    if (now >= kill_at) {
      (void)proc_->Signal(SIGKILL);
      kill_at = Clock::time_point::max();
    }
    int timeout_ms = -1;
    if (next != Clock::time_point::max()) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()).count();
      timeout_ms = static_cast<int>(std::clamp<int64_t>(ms + 1, 0, 60000));
    }
    pollfd p[4];
    int n = 0, sock_i = -1, err_i = -1;
    if (sock_open) {
      sock_i = n;
      p[n++] = {sock_, POLLIN, 0};
    }
    if (err_open) {
      err_i = n;
      p[n++] = {err_, POLLIN, 0};
    }
    const int exit_i = n;
    p[n++] = {proc_->exit_fd(), POLLIN, 0};
    const int wake_i = n;
    p[n++] = {wake_, POLLIN, 0};
    int r = ::poll(p, static_cast<nfds_t>(n), timeout_ms);
    if (r < 0 && errno != EINTR) {
      spdlog::error("functions: poll: {}", Errno(errno));
      (void)proc_->Signal(SIGKILL);
    }
    if (r <= 0) continue;
    if (p[wake_i].revents) {
      uint64_t drain;
      while (::read(wake_, &drain, sizeof drain) > 0) {
      }
    }
    if (sock_i >= 0 && p[sock_i].revents) read_frames();
    if (err_i >= 0 && p[err_i].revents) read_err();
    if (p[exit_i].revents) {
      // What it wrote before it ended still counts (answers included).
      if (sock_open) read_frames();
      if (io_reader_) {
        // Taken from the loop's reader (its lock keeps the two from reading at once), so the
        // end is reported after them even when the loop is busy or no longer runs.
        std::lock_guard<std::mutex> lock(io_reader_->mu);
        if (io_reader_->owner) ReadFrames();
      }
      if (err_open) read_err();
      CommandExit e = proc_->Wait();
      std::string why;
      bool report;
      {
        std::lock_guard<std::mutex> lock(mu_);
        exited_ = true;
        report = !killed_ && !(stopping_ && closed_write && e.status.ok());
        if (!timed_out.empty()) {
          why = timed_out;
        } else if (!broke_.empty()) {
          why = broke_;
        } else if (!fatal_.empty()) {
          why = fatal_;
        } else if (e.status.ok() && !failed_.empty()) {
          why = failed_;
        } else {
          why = e.Describe(options_.spec.limits);
          if (!failed_.empty() && failed_ != why) why = failed_ + " (" + why + ")";
          std::string t = tail_;
          while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
          if (t.size() > kTail) t = "..." + t.substr(t.size() - kTail);
          if (!t.empty()) why += ": " + t;
        }
        if (failed_.empty()) failed_ = why;
        calls_.clear();  // never answered: the end is reported instead
      }
      cv_.notify_all();
      exited = true;
      if (report && options_.on_exit) options_.on_exit(why);
    }
  }
  if (options_.on_log) options_.on_log(std::string_view());
}

}  // namespace volo::worker
