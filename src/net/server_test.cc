#include "net/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/admission.h"
#include "net/client.h"
#include "net/test_util.h"

namespace volo::net {
namespace {

using namespace std::chrono_literals;
using testing::Awaited;
using testing::IoThread;
using testing::RawSocket;
using testing::WaitUntil;

// A server on an ephemeral port, driven by an io thread; handlers run on that thread.
class ServerTest : public ::testing::Test {
 protected:
  void Start(ServerOptions options = {}, std::optional<AdmissionOptions> admission = {}) {
    server_ = std::make_unique<Server>(io_.io(), std::move(options));
    if (admission) SetAdmission(*server_, std::move(*admission));
    server_->SetHttpHandler([this](HttpRequest request, Respond respond) {
      if (handler_) handler_(std::move(request), std::move(respond));
    });
    auto port = server_->Listen();
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = *port;
    ASSERT_NE(port_, 0);
  }
  void TearDown() override {
    io_.Join();
    server_.reset();
  }
  std::string Url(const std::string& target) {
    return "http://127.0.0.1:" + std::to_string(port_) + target;
  }

  IoThread io_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  HttpHandler handler_;  // set before requests; read on the io thread
};

TEST_F(ServerTest, GetAndPostRoundTrip) {
  handler_ = [](HttpRequest request, Respond respond) {
    respond(HttpResponse::Json(201, "{\"method\":\"" + request.method + "\",\"path\":\"" +
                                        request.path + "\",\"body\":\"" + request.body +
                                        "\",\"x\":\"" + std::string(request.Header("x-volo")) +
                                        "\"}"));
  };
  Start();
  auto get = HttpFetch("GET", Url("/api/v1/ping"), "", {{"X-Volo", "a"}});
  ASSERT_TRUE(get.ok()) << get.status().ToString();
  EXPECT_EQ(get->status, 201);
  EXPECT_EQ(get->content_type, "application/json");
  EXPECT_EQ(get->body, R"({"method":"GET","path":"/api/v1/ping","body":"","x":"a"})");

  auto post = HttpFetch("POST", Url("/api/v1/tasks"), "hello", {{"x-VOLO", "b"}});
  ASSERT_TRUE(post.ok()) << post.status().ToString();
  EXPECT_EQ(post->body, R"({"method":"POST","path":"/api/v1/tasks","body":"hello","x":"b"})");
}

TEST_F(ServerTest, DecodesPathAndQuery) {
  Awaited<HttpRequest> seen;
  handler_ = [&](HttpRequest request, Respond respond) {
    seen.Set(request);
    respond(HttpResponse::Json(200, "{}"));
  };
  Start();
  auto r = HttpFetch("GET", Url("/files/a%20b?x=1&name=hello%20world&plus=a+b&x=2&empty="));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto request = seen.Wait();
  ASSERT_TRUE(request);
  EXPECT_EQ(request->target, "/files/a%20b?x=1&name=hello%20world&plus=a+b&x=2&empty=");
  EXPECT_EQ(request->path, "/files/a b");
  EXPECT_EQ(request->Query("x"), "2");  // the last one wins
  EXPECT_EQ(request->Query("name"), "hello world");
  EXPECT_EQ(request->Query("plus"), "a b");
  EXPECT_EQ(request->Query("empty", "fallback"), "");
  EXPECT_EQ(request->Query("missing", "fallback"), "fallback");
  EXPECT_TRUE(request->remote.starts_with("127.0.0.1:")) << request->remote;
}

TEST_F(ServerTest, KeepAliveReusesTheConnection) {
  std::vector<std::string> remotes;  // io thread only
  handler_ = [&](HttpRequest request, Respond respond) {
    remotes.push_back(request.remote);
    respond(HttpResponse::Json(200, std::to_string(remotes.size())));
  };
  Start();
  auto client = std::make_unique<HttpClient>(io_.io());
  // Each request is issued from the previous one's callback, so the connection is idle again.
  Awaited<std::vector<std::string>> bodies;
  auto collected = std::make_shared<std::vector<std::string>>();
  std::function<void(int)> next = [&](int left) {
    client->Request("GET", Url("/n"), "", {}, 5s, [&, left](Result<ClientResponse> r) {
      collected->push_back(r.ok() ? r->body : r.status().ToString());
      if (left > 1) {
        next(left - 1);
      } else {
        bodies.Set(*collected);
      }
    });
  };
  io_.Run([&] { next(3); });
  auto got = bodies.Wait();
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, (std::vector<std::string>{"1", "2", "3"}));
  auto seen = io_.Run([&] { return remotes; });
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], seen[1]);
  EXPECT_EQ(seen[1], seen[2]);
  io_.Run([&] { client.reset(); });
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  // The first request is answered late; the second must still come back second.
  std::vector<Respond> waiting;
  handler_ = [&](HttpRequest request, Respond respond) {
    if (request.path == "/slow") {
      waiting.push_back(std::move(respond));
    } else {
      respond(HttpResponse::Json(200, "fast"));
    }
  };
  Start();
  RawSocket socket = RawSocket::Connect(port_);
  ASSERT_TRUE(socket.valid());
  ASSERT_TRUE(
      socket.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(WaitUntil([&] { return io_.Run([&] { return waiting.size() == 1; }); }));
  io_.Run([&] {
    waiting[0](HttpResponse::Json(200, "slow"));
    waiting.clear();
  });
  std::string out =
      socket.ReadUntil([](const std::string& s) { return s.find("fast") != std::string::npos; });
  auto slow = out.find("slow");
  auto fast = out.find("fast");
  ASSERT_NE(slow, std::string::npos) << out;
  ASSERT_NE(fast, std::string::npos) << out;
  EXPECT_LT(slow, fast);
}

TEST_F(ServerTest, HeadIsAnsweredWithTheHeadAlone) {
  // Whatever the handler answers a HEAD with (here a body), only the head goes out, with the
  // body's length; the next request on the connection is answered cleanly after it.
  handler_ = [&](HttpRequest request, Respond respond) {
    respond(HttpResponse::Json(request.method == "HEAD" ? 405 : 200, "{\"x\":\"0123456789\"}"));
  };
  Start();
  RawSocket socket = RawSocket::Connect(port_);
  ASSERT_TRUE(socket.valid());
  ASSERT_TRUE(socket.Send("HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string out = socket.ReadUntil(
      [](const std::string& s) { return s.find("0123456789\"}") != std::string::npos; });
  EXPECT_TRUE(out.starts_with("HTTP/1.1 405 Method Not Allowed\r\n")) << out;
  auto second = out.find("HTTP/1.1 200 OK\r\n");
  ASSERT_NE(second, std::string::npos) << out;
  std::string first = out.substr(0, second);
  EXPECT_TRUE(first.ends_with("Content-Length: 18\r\n\r\n")) << first;  // the GET's length
  EXPECT_TRUE(out.ends_with("\r\n\r\n{\"x\":\"0123456789\"}")) << out;
}

// Splits `data` into complete responses (head and Content-Length body); what is left of an
// incomplete one stays in `data`.
std::vector<std::pair<std::string, std::string>> TakeResponses(std::string* data) {
  std::vector<std::pair<std::string, std::string>> out;
  for (;;) {
    auto end = data->find("\r\n\r\n");
    if (end == std::string::npos) break;
    std::string head = data->substr(0, end + 4);
    auto at = head.find("Content-Length: ");
    if (at == std::string::npos) break;
    size_t length = std::stoul(head.substr(at + 16));
    if (data->size() < end + 4 + length) break;
    out.emplace_back(head, data->substr(end + 4, length));
    data->erase(0, end + 4 + length);
  }
  return out;
}

TEST_F(ServerTest, ManyRequestsOfVariedSizesOnOneKeepAliveConnection) {
  // The connection reuses its buffers from one request to the next: every request, small after
  // large, large head after small, pipelined in bursts or one at a time, answered long-polled
  // or at once, must come back whole and in order.
  std::vector<std::string> remotes;  // io thread only
  handler_ = [&](HttpRequest request, Respond respond) {
    remotes.push_back(request.remote);
    std::string body = request.method + " " + request.path + " " + request.Query("i") + " " +
                       std::to_string(request.body.size()) + " " +
                       std::to_string(request.Header("X-Pad").size()) + " " +
                       (request.body.empty() ? "" : request.body.substr(0, 1)) +
                       request.body.substr(request.body.empty() ? 0 : request.body.size() - 1);
    HttpResponse response = HttpResponse::Json(200, std::move(body));
    response.headers.emplace_back("X-Echo", std::string(request.Header("X-Pad").size() % 97, 'e'));
    if (std::stoi(request.Query("i")) % 3 == 0) {
      // Long-poll: answered from a later turn of the io loop.
      boost::asio::post(io_.io(), [respond, response] { respond(response); });
    } else {
      respond(std::move(response));
    }
  };
  Start();
  RawSocket socket = RawSocket::Connect(port_);
  ASSERT_TRUE(socket.valid());
  const std::vector<size_t> bodies = {0, 1, 200000, 3, 0, 70000, 5, 1 << 20, 0, 17};
  const std::vector<size_t> pads = {0, 9000, 10, 0, 12000, 1, 300, 0, 15000, 2};
  std::vector<std::string> expected;
  std::string data;
  std::vector<std::pair<std::string, std::string>> got;
  int sent = 0;
  for (int round = 0; round < 4; ++round) {
    // Rounds 0 and 2 send one request at a time; 1 and 3 pipeline the whole batch.
    std::string burst;
    for (size_t k = 0; k < bodies.size(); ++k, ++sent) {
      const size_t body_size = bodies[(k + static_cast<size_t>(round)) % bodies.size()];
      const size_t pad = pads[(k * 3 + static_cast<size_t>(round)) % pads.size()];
      std::string body(body_size, 'b');
      if (!body.empty()) {
        body.front() = static_cast<char>('a' + sent % 26);
        body.back() = static_cast<char>('A' + sent % 26);
      }
      const std::string method = body.empty() && sent % 2 ? "GET" : "POST";
      std::string request = method + " /r/" + std::to_string(sent) + "?i=" + std::to_string(sent) +
                            " HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(pad, 'p') +
                            "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                            body;
      std::string first_last =
          body.empty() ? "" : std::string(1, body.front()) + std::string(1, body.back());
      expected.push_back(method + " /r/" + std::to_string(sent) + " " + std::to_string(sent) + " " +
                         std::to_string(body.size()) + " " + std::to_string(pad) + " " +
                         first_last);
      if (round % 2 == 0) {
        ASSERT_TRUE(socket.Send(request));
        const size_t want = got.size() + 1;
        data += socket.ReadUntil([&](const std::string& more) {
          std::string all = data + more;
          return got.size() + TakeResponses(&all).size() >= want;
        });
        for (auto& r : TakeResponses(&data)) got.push_back(std::move(r));
        ASSERT_EQ(got.size(), want) << "request " << sent << "; read: " << data.substr(0, 300);
      } else {
        burst += request;
      }
    }
    if (!burst.empty()) {
      ASSERT_TRUE(socket.Send(burst));
      const size_t want = got.size() + bodies.size();
      data += socket.ReadUntil([&](const std::string& more) {
        std::string all = data + more;
        return got.size() + TakeResponses(&all).size() >= want;
      });
      for (auto& r : TakeResponses(&data)) got.push_back(std::move(r));
      ASSERT_EQ(got.size(), want) << "read: " << data.substr(0, 300);
    }
  }
  ASSERT_EQ(got.size(), expected.size());
  for (size_t k = 0; k < got.size(); ++k) {
    EXPECT_TRUE(got[k].first.starts_with("HTTP/1.1 200 OK\r\n")) << got[k].first;
    EXPECT_EQ(got[k].first.find("Connection: close"), std::string::npos) << got[k].first;
    EXPECT_EQ(got[k].second, expected[k]) << "response " << k;
  }
  EXPECT_TRUE(data.empty()) << data.substr(0, 300);
  auto seen = io_.Run([&] { return remotes; });
  ASSERT_EQ(seen.size(), expected.size());
  for (const auto& r : seen) EXPECT_EQ(r, seen[0]);
}

TEST_F(ServerTest, BodyOverLimitGets413) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  std::atomic<int> handled{0};
  handler_ = [&](HttpRequest, Respond respond) {
    ++handled;
    respond(HttpResponse::Json(200, "{}"));
  };
  Start(options);
  auto big = HttpFetch("POST", Url("/upload"), std::string(64 << 10, 'x'));
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  EXPECT_EQ(big->status, 413);
  EXPECT_NE(big->body.find("\"error\""), std::string::npos) << big->body;
  EXPECT_NE(big->body.find("1024"), std::string::npos) << big->body;
  EXPECT_EQ(handled.load(), 0);
  // A body at the limit still goes through, and the server keeps serving.
  auto ok = HttpFetch("POST", Url("/upload"), std::string(1024, 'x'));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(handled.load(), 1);
}

TEST_F(ServerTest, OversizedHeadersGet431) {
  ServerOptions options;
  options.max_header_bytes = 1024;
  handler_ = [](HttpRequest, Respond respond) { respond(HttpResponse::Json(200, "{}")); };
  Start(options);
  auto r = HttpFetch("GET", Url("/"), "", {{"X-Big", std::string(4096, 'y')}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 431);
}

TEST_F(ServerTest, GarbageGets400ThenClose) {
  std::atomic<int> handled{0};
  handler_ = [&](HttpRequest, Respond respond) {
    ++handled;
    respond(HttpResponse::Json(200, "{}"));
  };
  Start();
  RawSocket socket = RawSocket::Connect(port_);
  ASSERT_TRUE(socket.Send("\x01\x02 this is not http at all\r\n\r\n"));
  bool closed = false;
  std::string out = socket.ReadToClose(&closed);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400")) << out;
  EXPECT_NE(out.find("\"error\""), std::string::npos) << out;
  EXPECT_TRUE(closed);
  EXPECT_EQ(handled.load(), 0);
}

TEST_F(ServerTest, LongPollRespondsLater) {
  Awaited<bool> parked;
  std::optional<Respond> parked_respond;  // io thread only
  handler_ = [&](HttpRequest, Respond respond) {
    parked_respond.emplace(std::move(respond));
    parked.Set(true);
  };
  Start();
  Awaited<Result<ClientResponse>> result;
  auto client = std::make_unique<HttpClient>(io_.io());
  io_.Run([&] {
    client->Request("GET", Url("/wait"), "", {}, 10s,
                    [&](Result<ClientResponse> r) { result.Set(std::move(r)); });
  });
  ASSERT_TRUE(parked.Wait());
  EXPECT_TRUE(io_.Run([&] { return parked_respond->alive(); }));
  EXPECT_FALSE(result.Wait(0ms));  // nothing answered yet
  io_.Run([&] { (*parked_respond)(HttpResponse::Json(200, "late")); });
  auto r = result.Wait();
  ASSERT_TRUE(r && r->ok()) << (r ? r->status().ToString() : "no result");
  EXPECT_EQ((*r)->body, "late");
  // A second call is ignored rather than corrupting the connection.
  io_.Run([&] { (*parked_respond)(HttpResponse::Json(200, "again")); });
  io_.Run([&] { client.reset(); });
}

TEST_F(ServerTest, DroppedRespondGets500) {
  handler_ = [](HttpRequest, Respond) {};
  Start();
  auto r = HttpFetch("GET", Url("/dropped"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("\"error\""), std::string::npos);
}

TEST_F(ServerTest, RespondIsNotAliveAfterClientLeaves) {
  std::optional<Respond> parked;  // io thread only
  handler_ = [&](HttpRequest, Respond respond) { parked.emplace(std::move(respond)); };
  Start();
  RawSocket socket = RawSocket::Connect(port_);
  ASSERT_TRUE(socket.Send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(WaitUntil([&] { return io_.Run([&] { return parked.has_value(); }); }));
  EXPECT_TRUE(io_.Run([&] { return parked->alive(); }));
  socket.Close();
  EXPECT_TRUE(WaitUntil([&] { return io_.Run([&] { return !parked->alive(); }); }));
  io_.Run([&] { (*parked)(HttpResponse::Json(200, "nobody listens")); });  // must not crash
}

TEST_F(ServerTest, HandlerExceptionGets500) {
  handler_ = [](HttpRequest, Respond) { throw std::runtime_error("boom"); };
  Start();
  auto r = HttpFetch("GET", Url("/"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("boom"), std::string::npos) << r->body;
}

TEST_F(ServerTest, UpgradeWithoutAcceptorGets404) {
  Start();
  Awaited<Result<std::shared_ptr<WsConnection>>> result;
  WsConnect(io_.io(), "ws://127.0.0.1:" + std::to_string(port_) + "/ws", {}, {}, 5s,
            [&](Result<std::shared_ptr<WsConnection>> r) { result.Set(std::move(r)); });
  auto r = result.Wait();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r->status().message().find("404"), std::string::npos) << r->status().message();
}

TEST_F(ServerTest, ListenReportsBindErrors) {
  Start();
  ServerOptions taken;
  taken.port = port_;
  Server second(io_.io(), taken);
  // SO_REUSEADDR does not allow two listeners on one port.
  auto r = second.Listen();
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  ServerOptions bad;
  bad.bind = "not-an-address";
  Server third(io_.io(), bad);
  EXPECT_EQ(third.Listen().status().code(), StatusCode::kInvalidArgument);
  io_.Join();  // the Servers above must go away while the io thread is not running
}

// A blocking connection to 127.0.0.1:port from the loopback address `source` (127.0.0.0/8 all
// reaches this host, so one machine can play several clients).
RawSocket ConnectFrom(const char* source, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof(remote)) != 0) {
    ::close(fd);
    return RawSocket();
  }
  return RawSocket(fd);
}

// Sends a keep-alive GET and returns the response head and body read so far.
std::string Get(RawSocket& socket) {
  socket.Send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
  return socket.ReadUntil([](const std::string& s) { return s.find("}") != std::string::npos; });
}

TEST_F(ServerTest, ConnectionsPerClientAreLimited) {
  handler_ = [](HttpRequest, Respond respond) { respond(HttpResponse::Json(200, "{}")); };
  ServerOptions options;
  options.max_connections_per_client = 2;
  Start(options);
  std::vector<RawSocket> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(ConnectFrom("127.0.0.1", port_));
    ASSERT_TRUE(held.back().valid());
    ASSERT_NE(Get(held.back()).find("HTTP/1.1 200"), std::string::npos);
  }
  RawSocket third = ConnectFrom("127.0.0.1", port_);
  ASSERT_TRUE(third.valid());
  std::string refused = Get(third);
  EXPECT_NE(refused.find("HTTP/1.1 429"), std::string::npos) << refused;
  EXPECT_NE(refused.find("Retry-After: 1"), std::string::npos) << refused;
  EXPECT_NE(refused.find(R"({"error":"too many connections from 127.0.0.1 (limit 2))"),
            std::string::npos)
      << refused;
  bool closed = false;
  third.ReadToClose(&closed);
  EXPECT_TRUE(closed);

  // Another address is a different client.
  RawSocket other = ConnectFrom("127.0.0.2", port_);
  ASSERT_TRUE(other.valid());
  EXPECT_NE(Get(other).find("HTTP/1.1 200"), std::string::npos);

  // Closing one frees its slot (once the server has noticed); the refill takes it again.
  held[0].Close();
  RawSocket refill;
  EXPECT_TRUE(WaitUntil([&] {
    refill = ConnectFrom("127.0.0.1", port_);
    return Get(refill).find("HTTP/1.1 200") != std::string::npos;
  }));

  // A refused WebSocket upgrade reads as such.
  Awaited<Result<std::shared_ptr<WsConnection>>> ws;
  io_.Run([&] {
    WsConnect(io_.io(), Url("/ws").replace(0, 4, "ws"), {}, {}, 5s,
              [&](Result<std::shared_ptr<WsConnection>> r) { ws.Set(std::move(r)); });
  });
  auto r = ws.Wait();
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->ok());
  EXPECT_NE(r->status().message().find("429"), std::string::npos) << r->status().ToString();
}

TEST_F(ServerTest, TotalConnectionsAreLimited) {
  handler_ = [](HttpRequest, Respond respond) { respond(HttpResponse::Json(200, "{}")); };
  ServerOptions options;
  options.max_connections = 2;
  Start(options);
  RawSocket a = ConnectFrom("127.0.0.1", port_);
  RawSocket b = ConnectFrom("127.0.0.2", port_);
  ASSERT_NE(Get(a).find("HTTP/1.1 200"), std::string::npos);
  ASSERT_NE(Get(b).find("HTTP/1.1 200"), std::string::npos);
  RawSocket c = ConnectFrom("127.0.0.3", port_);
  std::string refused = Get(c);
  EXPECT_NE(refused.find("HTTP/1.1 429"), std::string::npos) << refused;
  EXPECT_NE(refused.find("limit of 2 connections"), std::string::npos) << refused;
  b.Close();
  EXPECT_TRUE(WaitUntil([&] {
    RawSocket again = ConnectFrom("127.0.0.3", port_);
    return Get(again).find("HTTP/1.1 200") != std::string::npos;
  }));
}

// Connections that have not authenticated live in their own small budget: the oldest makes
// room for a newcomer, and they never count against the per-client and total limits.
TEST_F(ServerTest, OldestUnauthenticatedConnectionMakesRoom) {
  handler_ = [](HttpRequest, Respond respond) { respond(HttpResponse::Json(200, "{}")); };
  AdmissionOptions admission;
  admission.max_unauthenticated = 3;
  admission.authenticated = [](const HttpRequest& r) { return r.Header("X-Key") == "k"; };
  Start({}, admission);
  std::vector<RawSocket> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(ConnectFrom("127.0.0.1", port_));
    ASSERT_TRUE(idle.back().valid());
  }
  // Accepted after the three (the accept queue is FIFO), it evicts the oldest.
  RawSocket fresh = ConnectFrom("127.0.0.1", port_);
  fresh.Send("GET /x HTTP/1.1\r\nHost: a\r\nX-Key: k\r\n\r\n");
  EXPECT_NE(fresh.ReadHead().find("HTTP/1.1 200"), std::string::npos);
  bool closed = false;
  idle[0].ReadToClose(&closed);
  EXPECT_TRUE(closed) << "the oldest idle connection was not closed to make room";
}

TEST_F(ServerTest, UnauthenticatedRequestsAreServedOutsideTheClientLimit) {
  handler_ = [](HttpRequest, Respond respond) { respond(HttpResponse::Json(200, "{}")); };
  ServerOptions options;
  options.max_connections_per_client = 1;
  AdmissionOptions admission;
  admission.authenticated = [](const HttpRequest& r) { return r.Header("X-Key") == "k"; };
  Start(options, admission);
  // Two probes without credentials: both answered, neither takes the client's one slot.
  RawSocket a = ConnectFrom("127.0.0.1", port_);
  RawSocket b = ConnectFrom("127.0.0.1", port_);
  EXPECT_NE(Get(a).find("HTTP/1.1 200"), std::string::npos);
  EXPECT_NE(Get(b).find("HTTP/1.1 200"), std::string::npos);
  RawSocket c = ConnectFrom("127.0.0.1", port_);
  c.Send("GET /x HTTP/1.1\r\nHost: a\r\nX-Key: k\r\n\r\n");
  EXPECT_NE(c.ReadHead().find("HTTP/1.1 200"), std::string::npos);
  // The slot is taken now: a second authenticated connection from the address is refused.
  RawSocket d = ConnectFrom("127.0.0.1", port_);
  d.Send("GET /x HTTP/1.1\r\nHost: a\r\nX-Key: k\r\n\r\n");
  EXPECT_NE(d.ReadHead().find("HTTP/1.1 429"), std::string::npos);
}

TEST_F(ServerTest, SilentConnectionIsClosedAfterTheHeaderDeadline) {
  handler_ = [](HttpRequest, Respond respond) { respond(HttpResponse::Json(200, "{}")); };
  AdmissionOptions admission;
  admission.unauthenticated_timeout = 200ms;
  Start({}, admission);
  RawSocket silent = ConnectFrom("127.0.0.1", port_);
  bool closed = false;
  silent.ReadToClose(&closed);
  EXPECT_TRUE(closed);
}

}  // namespace
}  // namespace volo::net
