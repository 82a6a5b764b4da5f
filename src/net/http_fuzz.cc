// libFuzzer target: arbitrary bytes as what a client sends to net::Server. Each input goes over a
// socketpair into the server's real connection path (request parsing with the server's limits,
// target validation, 100-continue, pipelining, error responses, the WebSocket upgrade and frame
// parsing), then the client side half-closes and reads until the server closes. The server must
// not crash, must close the connection, and whatever it sends must be HTTP.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "net/internal.h"
#include "net/server.h"

namespace volo::net {
namespace {

struct Harness {
  Harness() {
    ServerOptions options;
    // Small limits so that short inputs reach the 413/431/1009 paths too.
    options.max_body_bytes = 1024;
    options.max_header_bytes = 1024;
    options.max_ws_message_bytes = 1024;
    server = std::make_unique<Server>(io, options);
    server->SetHttpHandler([](HttpRequest request, Respond respond) {
      std::string body = request.method + " " + request.path + " " + request.Query("q") + " " +
                         std::string(request.Header("content-type")) + " " +
                         std::to_string(request.body.size());
      respond(HttpResponse::Json(request.path == "/teapot" ? 418 : 200, std::move(body)));
    });
    server->SetWsAcceptor([](const HttpRequest& request) -> std::variant<WsHandlers, HttpResponse> {
      if (request.path != "/ws") return HttpResponse::Error(404, "no WebSocket here");
      WsHandlers handlers;
      handlers.on_message = [](const std::shared_ptr<WsConnection>& c, std::string_view m) {
        if (m == "close") {
          c->Close("asked to");
        } else {
          c->Send(std::string(m));
        }
      };
      return handlers;
    });
  }

  boost::asio::io_context io;
  // Without a listener the io_context can run out of work between inputs, which would stop it.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(io);
  std::unique_ptr<Server> server;
};

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "http_fuzz: %s\n", what);
  std::abort();
}

}  // namespace
}  // namespace volo::net

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace volo::net;
  static Harness* harness = new Harness;  // lives for the whole run, like a real server
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) Fail("socketpair failed");
  internal::ServeConnectedSocket(*harness->server, fds[0], "192.0.2.1:1234");
  const int client = fds[1];
  ::fcntl(client, F_SETFL, ::fcntl(client, F_GETFL) | O_NONBLOCK);

  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string received;
  bool half_closed = false;
  bool closed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!closed) {
    if (std::chrono::steady_clock::now() > deadline) Fail("the server never closed");
    bool progress = false;
    while (!input.empty()) {
      ssize_t n = ::send(client, input.data(), input.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        // EPIPE/ECONNRESET: the server closed early (an error response); that is fine.
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) input = {};
        break;
      }
      input.remove_prefix(static_cast<size_t>(n));
      progress = true;
    }
    if (input.empty() && !half_closed) {
      ::shutdown(client, SHUT_WR);
      half_closed = true;
    }
    for (;;) {
      char buf[16384];
      ssize_t n = ::recv(client, buf, sizeof(buf), 0);
      if (n > 0) {
        received.append(buf, static_cast<size_t>(n));
        progress = true;
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) closed = true;
      break;
    }
    if (!closed && !progress) harness->io.run_one_for(std::chrono::milliseconds(5));
    harness->io.poll();
  }
  ::close(client);
  // Let the server's side finish (timers, bookkeeping) before the next input.
  harness->io.poll();
  if (!received.empty() && received.rfind("HTTP/1.", 0) != 0) Fail("the server sent non-HTTP");
  return 0;
}
