// The planner under abuse, on real processes: floods of connections that never authenticate,
// and a stream message of millions of tasks. Each time the fleet must keep working.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <thread>

#include "fakes.h"
#include "harness.h"
#include "net/client.h"

namespace volo::itest {
namespace {

// Raises this process's descriptor limit to its hard limit (children inherit it); returns the
// new soft limit.
rlim_t RaiseFileLimit() {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  getrlimit(RLIMIT_NOFILE, &lim);
  return lim.rlim_cur;
}

// A non-blocking TCP connection to 127.0.0.1:port from `source`; -1 on failure.
int ConnectFrom(const std::string& source, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    ::close(fd);
    return -1;
  }
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote);
  if (r != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Connections that connect and then say nothing, from several loopback addresses, held open
// by a thread that reopens every one the server closes, until destroyed.
class HalfOpenFlood {
 public:
  HalfOpenFlood(uint16_t port, size_t count, int addresses) : port_(port) {
    for (size_t i = 0; i < count; ++i) {
      sources_.push_back("127.0.1." + std::to_string(2 + static_cast<int>(i) % addresses));
      fds_.push_back(ConnectFrom(sources_.back(), port_));
    }
    thread_ = std::thread([this] { Hold(); });
  }
  ~HalfOpenFlood() {
    stop_ = true;
    thread_.join();
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  size_t open() const { return open_; }
  size_t reopened() const { return reopened_; }

 private:
  void Hold() {
    std::vector<pollfd> polls(fds_.size());
    while (!stop_) {
      size_t open = 0;
      for (size_t i = 0; i < fds_.size(); ++i) {
        if (fds_[i] < 0) fds_[i] = ConnectFrom(sources_[i], port_);
        polls[i] = {fds_[i], POLLIN, 0};
      }
      ::poll(polls.data(), polls.size(), 100);
      for (size_t i = 0; i < fds_.size(); ++i) {
        if (fds_[i] < 0) continue;
        if (polls[i].revents & (POLLIN | POLLHUP | POLLERR)) {
          char buf[256];
          if (::recv(fds_[i], buf, sizeof buf, MSG_DONTWAIT) <= 0) {
            ::close(fds_[i]);
            fds_[i] = -1;
            ++reopened_;
            continue;
          }
        }
        ++open;
      }
      open_ = open;
    }
  }

  uint16_t port_;
  std::vector<std::string> sources_;
  std::vector<int> fds_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> open_{0};
  std::atomic<size_t> reopened_{0};
};

class LimitsTest : public VoloTest {};

// 10,100 connections from 40 addresses that never send a byte used to take every connection
// slot, locking out every worker and client for as long as they were held.
TEST_F(LimitsTest, HalfOpenFloodLocksNobodyOut) {
  ASSERT_GE(RaiseFileLimit(), 12000u) << "the test needs ~10,100 descriptors";
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  HalfOpenFlood flood(planner.port, 10100, 40);
  // The flood is in place: most connections were made (the rest wait in the backlog).
  ASSERT_TRUE(PollUntil([&] { return flood.open() >= 5000; }, seconds(60)))
      << "only " << flood.open() << " connections open";

  StartWorker(planner, {.id = "under-flood", .args = {"--duration-scale", "0.001"}});
  const uint64_t id = Submit(planner, SeedTask("add", 20, 22));
  ASSERT_NE(id, 0u);
  ExpectDoneWithRightResult(WaitFinished(planner, {id})[0]);
  EXPECT_GT(flood.open(), 1000u) << "the flood was not held while the fleet worked";
}

// Idle connections that sent a request without a token (a probe, a scanner) count in the
// unauthenticated budget: 300 of them from the workers' own address keep no worker out.
TEST_F(LimitsTest, IdleUnauthenticatedConnectionsDoNotCrowdOutWorkers) {
  const std::string api = "api-secret-9191", join = "join-secret-9292";
  const std::string api_file = TempPath("api"), join_file = TempPath("join");
  std::ofstream(api_file) << api << "\n";
  std::ofstream(join_file) << join << "\n";
  PlannerProc planner = StartPlanner({"--token-file", api_file, "--join-token-file", join_file});
  ASSERT_NE(planner.port, 0);
  std::vector<int> idle;
  for (int i = 0; i < 300; ++i) {
    int fd = ConnectFrom("127.0.0.1", planner.port);
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  const std::string probe = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(PollUntil(
      [&] {
        size_t sent = 0;
        for (int fd : idle) sent += ::send(fd, probe.data(), probe.size(), MSG_NOSIGNAL) > 0;
        return sent == idle.size();
      },
      seconds(20)));

  Child* worker = StartWorker(planner, {.id = "joiner",
                                        .args = {"--duration-scale", "0.001"},
                                        .env = {{"VOLO_JOIN_TOKEN", join}},
                                        .wait_registered = false});
  ASSERT_NE(worker, nullptr);
  net::Headers auth{{"Authorization", "Bearer " + api}};
  auto submitted = net::HttpFetch("POST", planner.Api("/tasks"),
                                  R"({"op":"add","args":{"a":1,"b":2}})", auth, seconds(10));
  ASSERT_TRUE(submitted.ok()) << submitted.status().ToString();
  ASSERT_EQ(submitted->status, 201) << submitted->body;
  std::string last;
  EXPECT_TRUE(PollUntil(
      [&] {
        auto r = net::HttpFetch("GET", planner.Api("/tasks/1"), "", auth, seconds(10));
        last = r.ok() ? r->body : r.status().ToString();
        return r.ok() && r->body.find("\"state\":\"done\"") != std::string::npos;
      },
      seconds(30)))
      << last;
  for (int fd : idle) ::close(fd);
}

// VmRSS or VmHWM of a process, in MiB.
double MemoryMiB(pid_t pid, const std::string& field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024;
  }
  return -1;
}

// A 60 MiB stream message of 4.5 million tasks was parsed whole before the 100,000-task limit
// was checked (planner memory to 532 MiB, and 715 MiB stayed).
TEST_F(LimitsTest, HugeStreamMessageIsRefusedWithoutBuildingIt) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  FakeWsClient client;
  ASSERT_EQ(client.Connect("ws://127.0.0.1:" + std::to_string(planner.port) + "/api/v1/stream"),
            "");
  std::string huge = R"({"t":"submit","tag":7,"tasks":[)";
  const std::string task = R"({"op":"noop"},)";
  huge.reserve(60 << 20);
  while (huge.size() + task.size() + 2 < (60u << 20)) huge += task;
  huge.back() = ']';
  huge += '}';
  client.Send(std::move(huge));
  std::string error;
  ASSERT_TRUE(PollUntil(
      [&] {
        auto errors = client.MessagesOfType("error");
        if (!errors.empty()) error = Str(errors[0], "message");
        return !error.empty() || client.closed();
      },
      seconds(120)));
  EXPECT_NE(error.find("at most 100000"), std::string::npos) << error;
  const double peak = MemoryMiB(planner.child->pid, "VmHWM");
  const double now = MemoryMiB(planner.child->pid, "VmRSS");
#if !defined(__SANITIZE_ADDRESS__)  // AddressSanitizer's shadow memory and quarantine dwarf it
  EXPECT_LT(peak, 200) << "planner peak RSS " << peak << " MiB";
  EXPECT_LT(now, 200) << "planner RSS " << now << " MiB";
#else
  (void)peak;
  (void)now;
#endif

  // The same connection still submits.
  client.Send(R"({"t":"submit","tag":8,"tasks":[{"op":"noop"}]})");
  EXPECT_TRUE(PollUntil([&] { return !client.MessagesOfType("submitted").empty(); }, seconds(20)))
      << "no ack for a small submit after the refused one";
  EXPECT_EQ(Get(planner.url + "/healthz").status, 200);
}

}  // namespace
}  // namespace volo::itest
