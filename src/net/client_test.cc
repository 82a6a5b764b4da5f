#include "net/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

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

// A port nothing listens on: bind one, then let it go.
uint16_t UnusedPort() {
  auto listener = std::make_unique<RawListener>();
  return listener->port();
}

TEST(HttpFetchTest, RefusedIsUnavailableNamingTheAddress) {
  uint16_t port = UnusedPort();
  auto r = HttpFetch("GET", "http://127.0.0.1:" + std::to_string(port) + "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << r.status().message();
}

TEST(HttpFetchTest, BadUrlIsInvalidArgument) {
  EXPECT_EQ(HttpFetch("GET", "127.0.0.1/x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpFetch("GET", "ftp://127.0.0.1/x").status().code(), StatusCode::kInvalidArgument);
}

TEST(HttpFetchTest, SilentServerIsDeadlineExceeded) {
  // The handler parks every request and never answers.
  IoThread io;
  Server server(io.io(), {});
  std::vector<Respond> parked;  // io thread only
  server.SetHttpHandler(
      [&](HttpRequest, Respond respond) { parked.push_back(std::move(respond)); });
  auto port = server.Listen();
  ASSERT_TRUE(port.ok());
  auto r = HttpFetch("GET", "http://127.0.0.1:" + std::to_string(*port) + "/never", "", {}, 200ms);
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  EXPECT_EQ(io.Run([&] { return parked.size(); }), 1u);  // it did reach the handler
  io.Join();
}

TEST(HttpFetchTest, NonHttpReplyIsCorruption) {
  RawListener listener;
  std::thread peer([&] {
    RawSocket socket = listener.Accept();
    socket.ReadHead();
    socket.Send("SSH-2.0-OpenSSH_9.2\r\nthis is not http\r\n\r\n");
    bool closed;
    socket.ReadToClose(&closed, 5s);
  });
  auto r =
      HttpFetch("GET", "http://127.0.0.1:" + std::to_string(listener.port()) + "/", "", {}, 5s);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
  peer.join();
}

TEST(HttpFetchTest, ResetBeforeResponseIsUnavailable) {
  RawListener listener;
  std::thread peer([&] {
    RawSocket socket = listener.Accept();
    socket.ReadHead();
    socket.Close();
  });
  auto r = HttpFetch("GET", "http://127.0.0.1:" + std::to_string(listener.port()) + "/");
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  peer.join();
}

TEST(HttpClientTest, RetriesOnceWhenTheIdleConnectionWasClosed) {
  // A server that answers with keep-alive and then closes anyway, like one whose idle timeout
  // fired. The pooled connection is dead; the client must notice and use a fresh one.
  RawListener listener;
  std::atomic<int> accepted{0};
  Awaited<bool> first_closed;
  std::thread peer([&] {
    for (const char* body : {"one", "two"}) {
      RawSocket socket = listener.Accept();
      if (!socket.valid()) return;
      ++accepted;
      socket.ReadHead();
      socket.Send(std::string("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n") + body);
      if (std::string(body) == "one") {
        socket.Close();
        first_closed.Set(true);
      } else {
        bool closed;
        socket.ReadToClose(&closed, 5s);
      }
    }
  });
  IoThread io;
  auto client = std::make_unique<HttpClient>(io.io());
  std::string url = "http://127.0.0.1:" + std::to_string(listener.port()) + "/";
  auto fetch = [&] {
    Awaited<Result<ClientResponse>> result;
    io.Run([&] {
      client->Request("GET", url, "", {}, 5s,
                      [&](Result<ClientResponse> r) { result.Set(std::move(r)); });
    });
    auto r = result.Wait();
    return r ? *r : Result<ClientResponse>(Internal("no answer"));
  };
  auto one = fetch();
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->body, "one");
  ASSERT_TRUE(first_closed.Wait());
  auto two = fetch();
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ(two->body, "two");
  EXPECT_EQ(accepted.load(), 2);
  io.Run([&] { client.reset(); });
  io.Join();
  peer.join();
}

TEST(HttpClientTest, DestroyingTheClientAbortsRequestsWithoutCallingBack) {
  IoThread io;
  Server server(io.io(), {});
  std::optional<Respond> parked;  // io thread only
  server.SetHttpHandler([&](HttpRequest, Respond respond) { parked.emplace(std::move(respond)); });
  auto port = server.Listen();
  ASSERT_TRUE(port.ok());
  auto client = std::make_unique<HttpClient>(io.io());
  std::atomic<int> calls{0};
  io.Run([&] {
    client->Request("GET", "http://127.0.0.1:" + std::to_string(*port) + "/", "", {}, 10s,
                    [&](Result<ClientResponse>) { ++calls; });
  });
  ASSERT_TRUE(WaitUntil([&] { return io.Run([&] { return parked.has_value(); }); }));
  io.Run([&] { client.reset(); });
  // The client's socket really closed: the server sees its caller gone.
  EXPECT_TRUE(WaitUntil([&] { return io.Run([&] { return !parked->alive(); }); }));
  io.Run([&] { (*parked)(HttpResponse::Json(200, "too late")); });
  io.Run([] {});  // one more turn for any stray callback
  EXPECT_EQ(calls.load(), 0);
  io.Join();
}

TEST(HttpClientTest, ConcurrentRequestsToOneHostAllComplete) {
  IoThread io;
  Server server(io.io(), {});
  server.SetHttpHandler([](HttpRequest request, Respond respond) {
    respond(HttpResponse::Json(200, request.Query("i")));
  });
  auto port = server.Listen();
  ASSERT_TRUE(port.ok());
  auto client = std::make_unique<HttpClient>(io.io());
  constexpr int kRequests = 50;
  std::atomic<int> good{0};
  std::atomic<int> done{0};
  io.Run([&] {
    for (int i = 0; i < kRequests; ++i) {
      client->Request("GET",
                      "http://127.0.0.1:" + std::to_string(*port) + "/?i=" + std::to_string(i), "",
                      {}, 10s, [&, i](Result<ClientResponse> r) {
                        if (r.ok() && r->body == std::to_string(i)) ++good;
                        ++done;
                      });
    }
  });
  ASSERT_TRUE(WaitUntil([&] { return done.load() == kRequests; }));
  EXPECT_EQ(good.load(), kRequests);
  io.Run([&] { client.reset(); });
  io.Join();
}

}  // namespace
}  // namespace volo::net
