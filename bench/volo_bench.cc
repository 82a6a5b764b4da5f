// volo_bench: drives a running planner the way a client would, over the streaming WebSocket
// (docs/rest-api.md), and prints one JSON line of measurements.
//
//   volo_bench throughput URL N [BATCH]   no-op tasks submitted in batches, pipelined; tasks/s
//   volo_bench latency URL N               one task at a time: round trip p50/p99 in µs
//   volo_bench fill URL N                  queues N no-op tasks (no workers), then exits
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "net/client.h"
#include "wire/messages.h"

using namespace volo;
using Clock = std::chrono::steady_clock;

namespace {

std::string WsUrl(std::string url) {
  if (url.rfind("http://", 0) == 0) url = "ws://" + url.substr(7);
  return url + "/api/v1/stream";
}

struct Driver {
  boost::asio::io_context io;
  std::shared_ptr<net::WsConnection> conn;
  std::function<void(const wire::StreamMessage&)> on_message;
  std::string error;

  bool Connect(const std::string& url) {
    net::WsHandlers h;
    h.on_message = [this](const std::shared_ptr<net::WsConnection>&, std::string_view text) {
      auto m = wire::ParseStreamMessage(text);
      if (!m.ok()) {
        error = m.status().message();
        io.stop();
        return;
      }
      if (auto* e = std::get_if<wire::Error>(&*m)) {
        error = e->message;
        io.stop();
        return;
      }
      on_message(*m);
    };
    h.on_close = [this](const std::shared_ptr<net::WsConnection>&, const Status& why) {
      if (error.empty()) error = "connection closed: " + why.message();
      io.stop();
    };
    bool ok = false;
    net::WsConnect(io, WsUrl(url), {}, std::move(h), std::chrono::seconds(5),
                   [&](Result<std::shared_ptr<net::WsConnection>> r) {
                     if (r.ok()) {
                       conn = *r;
                       ok = true;
                     } else {
                       error = r.status().message();
                     }
                     io.stop();
                   });
    io.run();
    io.restart();
    return ok;
  }
};

std::string Batch(int64_t tag, size_t n) {
  std::string out = "{\"t\":\"submit\",\"tag\":" + std::to_string(tag) + ",\"tasks\":[";
  for (size_t i = 0; i < n; ++i) {
    if (i) out += ',';
    out += "{\"op\":\"noop\"}";
  }
  out += "]}";
  return out;
}

int Throughput(const std::string& url, size_t n, size_t batch) {
  Driver d;
  if (!d.Connect(url)) {
    std::fprintf(stderr, "cannot connect: %s\n", d.error.c_str());
    return 1;
  }
  size_t sent = 0, finished = 0, failed = 0;
  const size_t window = 8 * batch;  // tasks submitted but not finished
  auto send_more = [&] {
    while (sent < n && sent - finished < window) {
      size_t k = std::min(batch, n - sent);
      d.conn->Send(Batch(static_cast<int64_t>(sent), k));
      sent += k;
    }
  };
  auto t0 = Clock::now();
  d.on_message = [&](const wire::StreamMessage& m) {
    if (auto* r = std::get_if<wire::ClientResults>(&m)) {
      for (const auto& res : r->results) failed += res.state != "done";
      finished += r->results.size();
      if (finished >= n) {
        d.io.stop();
        return;
      }
      send_more();
    }
  };
  send_more();
  d.io.run();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (finished < n) {
    std::fprintf(stderr, "stopped after %zu of %zu: %s\n", finished, n, d.error.c_str());
    return 1;
  }
  std::printf(
      "{\"bench\":\"throughput\",\"tasks\":%zu,\"failed\":%zu,\"seconds\":%.4f,"
      "\"tasks_per_s\":%.0f}\n",
      n, failed, secs, n / secs);
  return failed ? 1 : 0;
}

int Latency(const std::string& url, size_t n) {
  Driver d;
  if (!d.Connect(url)) {
    std::fprintf(stderr, "cannot connect: %s\n", d.error.c_str());
    return 1;
  }
  std::vector<double> us;
  us.reserve(n);
  size_t i = 0;
  Clock::time_point start;
  const std::string msg = Batch(0, 1);
  auto next = [&] {
    start = Clock::now();
    d.conn->Send(msg);
  };
  d.on_message = [&](const wire::StreamMessage& m) {
    if (!std::holds_alternative<wire::ClientResults>(m)) return;
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    if (++i == n) {
      d.io.stop();
      return;
    }
    next();
  };
  next();
  d.io.run();
  if (us.size() < n) {
    std::fprintf(stderr, "stopped after %zu of %zu: %s\n", us.size(), n, d.error.c_str());
    return 1;
  }
  // The first few include connection warm-up; drop 1%.
  std::vector<double> s(us.begin() + static_cast<long>(n / 100), us.end());
  std::sort(s.begin(), s.end());
  auto pct = [&](double p) { return s[std::min(s.size() - 1, static_cast<size_t>(p * s.size()))]; };
  std::printf(
      "{\"bench\":\"latency\",\"tasks\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,"
      "\"max_us\":%.1f}\n",
      n, pct(0.5), pct(0.99), s.back());
  return 0;
}

int Fill(const std::string& url, size_t n) {
  Driver d;
  if (!d.Connect(url)) {
    std::fprintf(stderr, "cannot connect: %s\n", d.error.c_str());
    return 1;
  }
  size_t acked = 0, sent = 0;
  const size_t batch = 10000;
  d.on_message = [&](const wire::StreamMessage& m) {
    if (auto* s = std::get_if<wire::Submitted>(&m)) {
      acked += s->count;
      if (acked >= n) {
        d.io.stop();
        return;
      }
      if (sent < n) {
        size_t k = std::min(batch, n - sent);
        d.conn->Send(Batch(0, k));
        sent += k;
      }
    }
  };
  for (int i = 0; i < 4 && sent < n; ++i) {
    size_t k = std::min(batch, n - sent);
    d.conn->Send(Batch(0, k));
    sent += k;
  }
  d.io.run();
  std::printf("{\"bench\":\"fill\",\"tasks\":%zu}\n", acked);
  return acked >= n ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: volo_bench throughput|latency|fill URL N [BATCH]\n");
    return 2;
  }
  std::string mode = argv[1], url = argv[2];
  size_t n = std::strtoull(argv[3], nullptr, 10);
  if (mode == "throughput")
    return Throughput(url, n, argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 1000);
  if (mode == "latency") return Latency(url, n);
  if (mode == "fill") return Fill(url, n);
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
