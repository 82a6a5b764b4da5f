// Helpers for the net tests: an io_context on its own thread, a value handed between threads
// with a deadline, and blocking raw-socket peers for the cases a well-behaved client or server
// cannot produce (garbage bytes, silent servers, half-read bodies).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace volo::net::testing {

using namespace std::chrono_literals;
inline constexpr auto kWait = std::chrono::seconds(10);
// Deadlines catch hangs and never measure speed, so a sanitizer build (several times slower)
// waits that much longer: WaitUntil multiplies its timeout by this.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr int kPatience = 6;
#else
inline constexpr int kPatience = 1;
#endif

// Runs an io_context on a thread until Join().
class IoThread {
 public:
  IoThread() : guard_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~IoThread() { Join(); }
  boost::asio::io_context& io() { return io_; }

  // Runs `f` on the io thread and returns its result.
  template <typename F>
  auto Run(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto future = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return future.get();
  }

  void Join() {
    if (!thread_.joinable()) return;
    guard_.reset();
    io_.stop();
    thread_.join();
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

// A value set on one thread and awaited on another.
template <typename T>
class Awaited {
 public:
  void Set(T value) {
    std::lock_guard lock(mu_);
    value_.emplace(std::move(value));
    cv_.notify_all();
  }
  // The value, or nullopt if it did not arrive in time.
  std::optional<T> Wait(std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return value_.has_value(); });
    return value_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<T> value_;
};

// Polls `pred` until it holds or `timeout` (times kPatience) passes.
inline bool WaitUntil(const std::function<bool()>& pred,
                      std::chrono::milliseconds timeout = kWait) {
  auto deadline = std::chrono::steady_clock::now() + timeout * kPatience;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Blocking socket helpers with deadlines.
class RawSocket {
 public:
  explicit RawSocket(int fd = -1) : fd_(fd) {}
  RawSocket(RawSocket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  ~RawSocket() { Close(); }
  RawSocket& operator=(RawSocket&& other) noexcept {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    return *this;
  }

  static RawSocket Connect(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd);
      return RawSocket();
    }
    return RawSocket(fd);
  }

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads until `stop(received)` holds, the peer closes, or the deadline passes. `closed` tells
  // whether the peer closed (EOF or reset).
  std::string ReadUntil(const std::function<bool(const std::string&)>& stop, bool* closed = nullptr,
                        std::chrono::milliseconds timeout = kWait) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    if (closed) *closed = false;
    while (!stop(out)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        if (closed) *closed = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  std::string ReadToClose(bool* closed, std::chrono::milliseconds timeout = kWait) {
    return ReadUntil([](const std::string&) { return false; }, closed, timeout);
  }
  // Reads one HTTP head ("...\r\n\r\n") plus whatever came with it.
  std::string ReadHead(std::chrono::milliseconds timeout = kWait) {
    return ReadUntil([](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; },
                     nullptr, timeout);
  }

 private:
  int fd_;
};

// A listening socket on 127.0.0.1 whose connections a test script handles by hand.
class RawListener {
 public:
  RawListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 16);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~RawListener() { ::close(fd_); }
  uint16_t port() const { return port_; }

  RawSocket Accept(std::chrono::milliseconds timeout = kWait) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return RawSocket();
    return RawSocket(::accept(fd_, nullptr, nullptr));
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace volo::net::testing
