#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/client.h"
#include "net/server.h"
#include "net/test_util.h"

namespace volo::net {
namespace {

using namespace std::chrono_literals;
using testing::Awaited;
using testing::IoThread;
using testing::RawListener;
using testing::RawSocket;
using testing::WaitUntil;

using WsPtr = std::shared_ptr<WsConnection>;

// A session written as one coroutine: a greeting answers the first message, then each message
// is recorded and numbered until "bye", which closes the connection.
boost::asio::awaitable<void> Greeter(WsPtr conn, struct Recorder* recorder);

// Everything one side of a WebSocket saw. Written on the io thread, read by the test under mu.
struct Recorder {
  std::mutex mu;
  std::vector<std::string> messages;
  std::vector<Status> closes;
  WsPtr connection;

  WsHandlers Handlers(std::function<void(const WsPtr&, std::string_view)> also = nullptr) {
    WsHandlers handlers;
    handlers.on_message = [this, also](const WsPtr& c, std::string_view m) {
      {
        std::lock_guard lock(mu);
        messages.emplace_back(m);
        connection = c;
      }
      if (also) also(c, m);
    };
    handlers.on_close = [this](const WsPtr&, const Status& why) {
      std::lock_guard lock(mu);
      closes.push_back(why);
    };
    return handlers;
  }
  size_t message_count() {
    std::lock_guard lock(mu);
    return messages.size();
  }
  size_t close_count() {
    std::lock_guard lock(mu);
    return closes.size();
  }
};

class WsTest : public ::testing::Test {
 protected:
  void Start(ServerOptions options = {}) {
    server_ = std::make_unique<Server>(io_.io(), std::move(options));
    server_->SetWsAcceptor(
        [this](const HttpRequest& request) -> std::variant<WsHandlers, HttpResponse> {
          if (request.Header("authorization") != "Bearer good") {
            return HttpResponse::Error(401, "bad token");
          }
          if (session_) {
            WsHandlers h = server_side_.Handlers();
            h.session = [this](WsPtr conn) { return Greeter(std::move(conn), &server_side_); };
            return h;
          }
          return server_side_.Handlers(
              echo_ ? [](const WsPtr& c, std::string_view m) { c->Send("echo:" + std::string(m)); }
                    : std::function<void(const WsPtr&, std::string_view)>());
        });
    auto port = server_->Listen();
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = *port;
  }
  void TearDown() override {
    io_.Run([&] {
      client_.reset();
      server_.reset();
    });
    io_.Join();
  }

  Result<WsPtr> Connect(Headers headers = {{"Authorization", "Bearer good"}},
                        std::chrono::milliseconds timeout = 5s, uint16_t port = 0) {
    Awaited<Result<WsPtr>> result;
    io_.Run([&] {
      WsConnect(io_.io(), "ws://127.0.0.1:" + std::to_string(port ? port : port_) + "/ws",
                std::move(headers), client_side_.Handlers(), timeout,
                [&](Result<WsPtr> r) { result.Set(std::move(r)); });
    });
    auto r = result.Wait();
    if (!r) return Internal("WsConnect never called back");
    if (r->ok()) client_ = r->value();
    return *r;
  }

  IoThread io_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  bool echo_ = true;
  bool session_ = false;
  Recorder server_side_;
  Recorder client_side_;
  WsPtr client_;
};

TEST_F(WsTest, EchoBothWays) {
  Start();
  auto c = Connect();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  io_.Run([&] { client_->Send("hello"); });
  ASSERT_TRUE(WaitUntil([&] { return client_side_.message_count() == 1; }));
  EXPECT_EQ(client_side_.messages[0], "echo:hello");
  EXPECT_EQ(server_side_.messages[0], "hello");

  // The server pushes on its own, not only in reply.
  io_.Run([&] {
    std::lock_guard lock(server_side_.mu);
    EXPECT_TRUE(server_side_.connection->open());
    EXPECT_TRUE(server_side_.connection->remote().starts_with("127.0.0.1:"));
    server_side_.connection->Send("push");
  });
  ASSERT_TRUE(WaitUntil([&] { return client_side_.message_count() == 2; }));
  EXPECT_EQ(client_side_.messages[1], "push");
}

boost::asio::awaitable<void> Greeter(WsPtr conn, Recorder* recorder) {
  std::string_view m;
  if (!co_await conn->Read(&m)) co_return;
  conn->Send("welcome " + std::string(m));
  int n = 0;
  while (co_await conn->Read(&m)) {
    {
      std::lock_guard lock(recorder->mu);
      recorder->messages.emplace_back(m);
    }
    if (m == "bye") {
      conn->Close("bye");
      co_return;
    }
    conn->Send(std::to_string(++n) + ":" + std::string(m));
  }
}

TEST_F(WsTest, ASessionCoroutineReadsTheConnectionInOrderAndMayEndIt) {
  session_ = true;
  Start();
  ASSERT_TRUE(Connect().ok());
  io_.Run([&] {
    for (const char* m : {"hello", "a", "b", "bye", "after the end"}) client_->Send(m);
  });
  ASSERT_TRUE(WaitUntil(
      [&] { return client_side_.close_count() == 1 && server_side_.close_count() == 1; }));
  EXPECT_EQ(client_side_.messages, (std::vector<std::string>{"welcome hello", "1:a", "2:b"}));
  // The session saw what it read; the message after its end went nowhere (no on_message).
  EXPECT_EQ(server_side_.messages, (std::vector<std::string>{"a", "b", "bye"}));
  EXPECT_TRUE(server_side_.closes[0].ok()) << server_side_.closes[0].ToString();
  EXPECT_TRUE(client_side_.closes[0].ok()) << client_side_.closes[0].ToString();
}

TEST_F(WsTest, TenThousandMessagesKeepTheirOrder) {
  Start();
  ASSERT_TRUE(Connect().ok());
  constexpr int kMessages = 10000;
  io_.Run([&] {
    for (int i = 0; i < kMessages; ++i) client_->Send(std::to_string(i));
  });
  ASSERT_TRUE(WaitUntil([&] { return client_side_.message_count() == kMessages; }));
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_EQ(server_side_.messages[i], std::to_string(i));
    ASSERT_EQ(client_side_.messages[i], "echo:" + std::to_string(i));
  }
  EXPECT_EQ(io_.Run([&] { return client_->queued_bytes(); }), 0u);
}

TEST_F(WsTest, ManySmallMessagesThroughput) {
  // Reports the rate; asserts only delivery, since timing depends on the machine.
  echo_ = false;
  Start();
  ASSERT_TRUE(Connect().ok());
  constexpr int kMessages = 200000;
  std::string payload(32, 'm');
  auto start = std::chrono::steady_clock::now();
  io_.Run([&] {
    for (int i = 0; i < kMessages; ++i) client_->Send(payload);
    EXPECT_EQ(client_->queued_bytes(), kMessages * payload.size());
  });
  ASSERT_TRUE(WaitUntil([&] { return server_side_.message_count() == kMessages; }, 60s));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ perf ] %d messages of %zu bytes in %.3f s: %.0f messages/s\n", kMessages,
              payload.size(), seconds, kMessages / seconds);
}

TEST_F(WsTest, RefusedUpgradeIsFailedPreconditionWithStatusAndBody) {
  Start();
  auto c = Connect({{"Authorization", "Bearer bad"}});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kFailedPrecondition) << c.status().ToString();
  EXPECT_NE(c.status().message().find("401"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("bad token"), std::string::npos) << c.status().message();
  EXPECT_EQ(server_side_.close_count(), 0u);
}

TEST_F(WsTest, RefusedConnectionIsUnavailable) {
  uint16_t port = std::make_unique<RawListener>()->port();  // closed again right away
  auto c = Connect({}, 5s, port);
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable) << c.status().ToString();
  EXPECT_NE(c.status().message().find(std::to_string(port)), std::string::npos);
}

TEST_F(WsTest, SilentServerIsDeadlineExceeded) {
  // The kernel completes the TCP handshake from the backlog; nobody ever answers the upgrade.
  RawListener listener;
  auto c = Connect({}, 200ms, listener.port());
  EXPECT_EQ(c.status().code(), StatusCode::kDeadlineExceeded) << c.status().ToString();
}

TEST_F(WsTest, ClientCloseReachesBothSidesOnce) {
  Start();
  ASSERT_TRUE(Connect().ok());
  io_.Run([&] { client_->Send("x"); });
  ASSERT_TRUE(WaitUntil([&] { return server_side_.message_count() == 1; }));
  io_.Run([&] {
    client_->Close("done");
    EXPECT_FALSE(client_->open());
    client_->Send("ignored after close");  // a no-op, not a crash
  });
  ASSERT_TRUE(WaitUntil(
      [&] { return client_side_.close_count() == 1 && server_side_.close_count() == 1; }));
  EXPECT_TRUE(client_side_.closes[0].ok()) << client_side_.closes[0].ToString();
  EXPECT_TRUE(server_side_.closes[0].ok()) << server_side_.closes[0].ToString();
  EXPECT_EQ(server_side_.message_count(), 1u);
  io_.Run([] {});
  EXPECT_EQ(client_side_.close_count(), 1u);
  EXPECT_EQ(server_side_.close_count(), 1u);
}

TEST_F(WsTest, OversizedMessageClosesTheConnection) {
  ServerOptions options;
  options.max_ws_message_bytes = 1024;
  Start(options);
  ASSERT_TRUE(Connect().ok());
  io_.Run([&] {
    client_->Send(std::string(1024, 'a'));
    client_->Send(std::string(4096, 'b'));
  });
  ASSERT_TRUE(WaitUntil(
      [&] { return client_side_.close_count() == 1 && server_side_.close_count() == 1; }));
  EXPECT_EQ(server_side_.message_count(), 1u);
  EXPECT_EQ(server_side_.closes[0].code(), StatusCode::kInvalidArgument)
      << server_side_.closes[0].ToString();
  EXPECT_EQ(client_side_.closes[0].code(), StatusCode::kUnavailable);
  EXPECT_NE(client_side_.closes[0].message().find("1009"), std::string::npos)
      << client_side_.closes[0].message();
}

// Stop() closes open WebSockets with going-away, each side's on_close runs exactly once, and the
// io_context then runs out of work by itself.
TEST(WsStopTest, StopClosesWebSocketsAndLetsRunReturn) {
  boost::asio::io_context io;
  Server server(io, {});
  Recorder server_side;
  Recorder client_side;
  server.SetWsAcceptor([&](const HttpRequest&) -> std::variant<WsHandlers, HttpResponse> {
    return server_side.Handlers([&](const WsPtr&, std::string_view) {
      // Stop from inside a handler, as the planner would on a shutdown command.
      server.Stop();
    });
  });
  auto port = server.Listen();
  ASSERT_TRUE(port.ok());
  WsPtr client;
  Status connect_status = Internal("not called");
  WsConnect(io, "ws://127.0.0.1:" + std::to_string(*port) + "/", {}, client_side.Handlers(), 5s,
            [&](Result<WsPtr> r) {
              connect_status = r.status();
              if (r.ok()) {
                client = *r;
                client->Send("stop please");
              }
            });
  // Also an idle keep-alive HTTP connection, which Stop must close too.
  RawSocket idle_http = RawSocket::Connect(*port);
  ASSERT_TRUE(idle_http.valid());
  Awaited<bool> returned;
  std::thread runner([&] {
    io.run();
    returned.Set(true);
  });
  bool run_returned = returned.Wait().has_value();
  if (!run_returned) io.stop();
  runner.join();
  ASSERT_TRUE(run_returned) << "io_context.run() did not return after Stop()";
  EXPECT_TRUE(connect_status.ok()) << connect_status.ToString();
  ASSERT_EQ(server_side.closes.size(), 1u);
  EXPECT_EQ(server_side.closes[0].code(), StatusCode::kCancelled);
  ASSERT_EQ(client_side.closes.size(), 1u);
  EXPECT_EQ(client_side.closes[0].code(), StatusCode::kUnavailable);
  EXPECT_NE(client_side.closes[0].message().find("1001"), std::string::npos)
      << client_side.closes[0].message();
  EXPECT_FALSE(client->open());
  bool closed = false;
  idle_http.ReadToClose(&closed, 5s);
  EXPECT_TRUE(closed);
}

}  // namespace
}  // namespace volo::net
