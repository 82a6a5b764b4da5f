// An HTTP/1.1 + WebSocket server on Boost.Beast, one coroutine per connection.
//
// Threading: every callback runs on the io_context thread that runs the server; a Respond or a
// WsConnection may be used only from that thread. The planner runs its core on the same thread,
// so handlers may touch core state directly, without locks.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "common/status.h"
#include "net/http.h"

namespace boost::asio {
class io_context;
}

namespace volo::net {

namespace internal {
struct ServerAccess;
}

// Completes one HTTP request. Call it exactly once, now or later (long-poll), on the io
// thread. If the last copy is destroyed without being called, the client gets a 500.
class Respond {
 public:
  struct State;
  explicit Respond(std::shared_ptr<State> state) : state_(std::move(state)) {}
  void operator()(HttpResponse response) const;
  // False once the client has gone away (a long-poll may then drop its waiter).
  bool alive() const;

 private:
  std::shared_ptr<State> state_;
};

using HttpHandler = std::function<void(HttpRequest, Respond)>;

// One WebSocket connection (server side or client side). Text messages only.
class WsConnection {
 public:
  virtual ~WsConnection() = default;
  // Queues a message; messages go out in order. Safe after close (then a no-op).
  virtual void Send(std::string text) = 0;
  // Sends a close frame with `reason` and ends the connection; on_close still runs.
  virtual void Close(std::string_view reason) = 0;
  virtual bool open() const = 0;
  virtual const std::string& remote() const = 0;
  // Bytes queued but not yet written (for back-pressure).
  virtual size_t queued_bytes() const = 0;
  // For WsHandlers::session: the next message, valid until the next Read. False once the
  // connection has ended (on_close has run or is about to run, with the reason); after that
  // the session must return without touching what on_close cleans up.
  virtual boost::asio::awaitable<bool> Read(std::string_view* message) = 0;
};

struct WsHandlers {
  // A session written as one coroutine, as Beast's examples are: it co_awaits conn->Read() for
  // each message (typically: a first message that opens the session, then a loop) and returns
  // when Read() says the connection ended, or earlier after closing it (the remaining messages
  // are then read and dropped until the close completes). Its parameters must be taken by value
  // (a lambda's captures do not live in the coroutine's frame). on_message then gets nothing.
  std::function<boost::asio::awaitable<void>(std::shared_ptr<WsConnection>)> session;
  // Each message, for a connection without `session`.
  std::function<void(const std::shared_ptr<WsConnection>&, std::string_view message)> on_message;
  // Runs once when the connection ends, for any reason (peer closed, error, Close()). `why`:
  // ok after Close() or a normal close by the peer; Unavailable when the peer closed with another
  // code (the message names it, e.g. 1001 going away) or the connection broke; InvalidArgument
  // when the peer sent a message over the limit (it gets close code 1009); DeadlineExceeded when
  // the peer went silent (no data or pong for 60 s; pings go out after 30 s of quiet);
  // Cancelled("server stopping") on the server side after Server::Stop(). Server side, it also
  // runs if the handshake fails right after the acceptor said yes. No callback runs after it.
  std::function<void(const std::shared_ptr<WsConnection>&, const Status& why)> on_close;
};

// Called for each WebSocket upgrade request: return handlers to accept, or a response to refuse
// (for example 401 or 404).
using WsAcceptor = std::function<std::variant<WsHandlers, HttpResponse>(const HttpRequest&)>;

// Every limit applies per server, to HTTP and WebSocket alike (a WebSocket is the HTTP
// connection it was upgraded from).
struct ServerOptions {
  std::string bind = "127.0.0.1";
  uint16_t port = 0;                // 0 picks a free port
  size_t max_body_bytes = 8 << 20;  // larger bodies get 413
  // When set, the body limit for one request, decided from its head (method, path, headers;
  // no body yet): large uploads on some paths without raising the limit for every request.
  std::function<size_t(const HttpRequest& head)> body_limit_for;
  size_t max_ws_message_bytes = 64 << 20;  // larger messages close the connection (1009)
  size_t max_header_bytes = 16 << 10;      // larger headers get 431
  // Open connections (HTTP keep-alive and WebSocket) from one remote IP address. The next one
  // gets 429 {"error": ...} with Retry-After to its first request and is closed; a connection
  // that sends no parsable request head within 5 s is just closed.
  size_t max_connections_per_client = 256;
  // Open connections in total; beyond it, the same 429 as above. Connections being refused are
  // not counted, but at most 64 are served a 429 at once: beyond that they are closed at once.
  size_t max_connections = 10000;
  std::string server_name = "volo";
  // PEM files: the certificate chain (leaf first) and its private key. When both are set the
  // server speaks only HTTPS and WSS (TLS 1.2+), with the same handlers and limits; a plain
  // HTTP request gets a plain-text 400 telling the client to use https://. TLS handshakes must
  // finish within 10 s. Setting only one of them is an error.
  std::string tls_cert_file;
  std::string tls_key_file;
};

// Call every method (and the destructor) on the io thread, or while the io_context is not
// running. The io_context must outlive the Server.
class Server {
 public:
  Server(boost::asio::io_context& io, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void SetHttpHandler(HttpHandler handler);
  void SetWsAcceptor(WsAcceptor acceptor);
  // Binds (with SO_REUSEADDR) and starts accepting. Returns the bound port (useful with port 0).
  // Errors: InvalidArgument for a bad bind address, Unavailable when the port cannot be bound;
  // with TLS, IoError when a certificate or key file cannot be read and InvalidArgument when it
  // holds no usable certificate / matching key (both name the file).
  Result<uint16_t> Listen();
  // Stops accepting and closes every connection (WebSockets get a going-away close). The
  // on_close of every open WebSocket runs inside Stop(), and no handler runs after it returns;
  // pending Respond objects become no-ops. Close handshakes finish in the background (bounded by
  // a 10 s timeout), after which io_context::run() can return if nothing else is pending.
  // Idempotent; the destructor calls it.
  void Stop();

 private:
  friend struct internal::ServerAccess;  // the fuzzer's entry point (internal.h)
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace volo::net
