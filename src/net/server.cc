#include "net/server.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <charconv>
#include <exception>
#include <limits>
#include <list>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "net/admission.h"
#include "net/internal.h"
#include "net/stream.h"
#include "net/ws_session.h"

namespace volo::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::awaitable;
using tcp = asio::ip::tcp;

namespace internal {

namespace {

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
// A keep-alive connection with no request for this long is closed. HttpClient retries a request
// that lands on a connection the server just closed, so this only bounds idle sockets.
constexpr auto kIdleTimeout = std::chrono::seconds(120);
constexpr auto kWriteTimeout = std::chrono::seconds(30);
// After an error response we half-close and drain what the client is still sending for at most
// this long; closing with unread data would make the kernel send RST, and the client could lose
// the response.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr auto kWsHandshakeTimeout = std::chrono::seconds(10);
// While a long-poll waits, pipelined bytes are buffered up to this much; beyond it the peer is no
// longer watched for disconnects (it is clearly alive).
constexpr size_t kMaxPipelinedBytes = 64 << 10;
// A TLS client must finish its handshake within this.
constexpr auto kTlsHandshakeTimeout = std::chrono::seconds(10);

// Whether a response with this status carries a body (and Content-Length): not 1xx, 204, 304.
bool HasBody(int status) { return !(status / 100 == 1 || status == 204 || status == 304); }

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

bool FramingHeader(std::string_view name) {
  return beast::iequals(name, "Content-Length") || beast::iequals(name, "Transfer-Encoding") ||
         beast::iequals(name, "Connection");
}

void AppendHeader(std::string_view name, std::string_view value, std::string* out) {
  out->append(name);
  out->append(": ");
  out->append(value);
  out->append("\r\n");
}

}  // namespace

void FormatResponseHead(const HttpResponse& response, std::string_view server_name, bool keep_alive,
                        unsigned version, std::string* out) {
  const int status = response.status >= 100 && response.status <= 999 ? response.status : 500;
  char digits[24];
  out->clear();
  out->append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  out->append(digits, std::to_chars(digits, digits + sizeof digits, status).ptr);
  out->push_back(' ');
  out->append(http::obsolete_reason(static_cast<http::status>(status)));
  out->append("\r\n");
  AppendHeader("Server", server_name, out);
  if (!response.content_type.empty() && !HasLineBreak(response.content_type)) {
    AppendHeader("Content-Type", response.content_type, out);
  }
  for (const auto& [name, value] : response.headers) {
    if (name.empty() || FramingHeader(name) || HasLineBreak(name) || HasLineBreak(value)) continue;
    AppendHeader(name, value, out);
  }
  if (version == 10 && keep_alive) AppendHeader("Connection", "keep-alive", out);
  if (version != 10 && !keep_alive) AppendHeader("Connection", "close", out);
  if (HasBody(status)) {
    out->append("Content-Length: ");
    out->append(digits, std::to_chars(digits, digits + sizeof digits, response.body.size()).ptr);
    out->append("\r\n");
  }
  out->append("\r\n");
}

namespace {

bool IsHttpParseError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category();
}

}  // namespace

class HttpConnection;

struct ServerImpl : std::enable_shared_from_this<ServerImpl> {
  ServerImpl(asio::io_context& io_context, ServerOptions opts)
      : io(io_context), options(std::move(opts)), acceptor(io_context) {}

  static awaitable<void> AcceptLoop(std::shared_ptr<ServerImpl> self);
  // Starts serving a connected socket (from the acceptor or the fuzzer).
  void StartConnection(tcp::socket socket, std::string remote, std::string ip);

  asio::io_context& io;
  ServerOptions options;
  AdmissionOptions admission;
  HttpHandler http_handler;
  WsAcceptor ws_acceptor;
  tcp::acceptor acceptor;
  std::shared_ptr<asio::ssl::context> tls_context;  // set when serving HTTPS/WSS
  bool stopped = false;
  // Connection accounting for the limits in ServerOptions. A connection starts in `pending`
  // (oldest first) and moves to the authenticated counts with its first authenticated request;
  // HttpConnection keeps both up to date until it is destroyed.
  std::list<HttpConnection*> pending;
  size_t open_connections = 0;
  std::unordered_map<std::string, size_t> connections_per_ip;
  // Live connections, so that Stop() can reach them. Each removes itself when its coroutine ends;
  // the coroutine keeps the object alive until then, so the raw pointers stay valid.
  std::unordered_set<HttpConnection*> http_connections;
  std::unordered_set<WsSession*> ws_sessions;
};

// One HTTP connection: reads a request, hands it to the handler, waits for its Respond, writes
// the response, and only then reads the next request. Sequential handling is what makes
// pipelining safe without reordering responses.
class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  // A new connection is unauthenticated: it joins the server's pending list.
  HttpConnection(std::shared_ptr<ServerImpl> server, tcp::socket socket, std::string remote,
                 std::string ip)
      : server_(std::move(server)),
        stream_(beast::tcp_stream(std::move(socket))),
        wake_(stream_.get_executor()),
        remote_(std::move(remote)),
        ip_(std::move(ip)) {
    pending_it_ = server_->pending.insert(server_->pending.end(), this);
  }
  ~HttpConnection() {
    if (pending_) {
      server_->pending.erase(pending_it_);
      return;
    }
    if (evicted_) return;
    --server_->open_connections;
    auto it = server_->connections_per_ip.find(ip_);
    if (it != server_->connections_per_ip.end() && --it->second == 0) {
      server_->connections_per_ip.erase(it);
    }
  }

  // Makes room for a newer unauthenticated connection: leaves the pending list and closes.
  void Evict() {
    if (!pending_ || upgraded_) return;
    server_->pending.erase(pending_it_);
    pending_ = false;
    evicted_ = true;
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }

  static awaitable<void> Run(std::shared_ptr<HttpConnection> self);

  // Delivers the response to request `id`; ignored when stale or already answered.
  void Complete(uint64_t id, HttpResponse response) {
    if (id != request_id_ || response_ || finished_) return;
    response_ = std::move(response);
    wake_.cancel();
  }
  bool Alive(uint64_t id) const {
    return id == request_id_ && !peer_gone_ && !stopping_ && !finished_;
  }
  void Stop() {
    stopping_ = true;
    wake_.cancel();
    if (!upgraded_) stream_.next_layer().close();
  }

 private:
  // The helper coroutines take references to named locals of the caller, and co_await
  // expressions here hold no non-trivial temporaries: GCC 12 mis-handles such temporaries across
  // a suspension (a 413 test hung until this was done).
  awaitable<bool> Secure();
  awaitable<void> Serve();
  awaitable<void> OnReadError(beast::error_code ec, size_t body_limit = 0);
  awaitable<void> Dispatch(HttpRequest& request);
  // Reads what the peer sends while a response is pending (into buffer_, for the next request)
  // and sets peer_gone_ when it goes away; wakes Dispatch when it stops.
  void WatchPeer();
  // `head_only`: the request was a HEAD, so the body stays unsent.
  awaitable<bool> Write(HttpResponse& response, bool keep_alive, unsigned version,
                        bool head_only = false);
  awaitable<void> RejectAndClose(int status, const std::string& message);
  awaitable<void> LingeringClose();
  awaitable<void> Upgrade(http::request<http::string_body>& request);
  bool ToHttpRequest(const http::request<http::string_body>& message, std::string body,
                     HttpRequest* out) const;
  // After a request head: promotes a pending connection whose request is authenticated.
  // Returns the 429 message when the authenticated limits are full, else empty.
  std::string Admit(const http::request<http::string_body>& head);
  // Leaves the pending list for the authenticated counts.
  void Promote();

  std::shared_ptr<ServerImpl> server_;
  Stream stream_;              // TLS after Secure() when the server has a certificate
  beast::flat_buffer buffer_;  // holds bytes read past the current request (pipelining)
  asio::steady_timer wake_;    // cancelled when the pending response arrives
  std::string remote_;
  std::string ip_;
  std::list<HttpConnection*>::iterator pending_it_;
  bool pending_ = true;   // not yet authenticated: short deadlines, evictable
  bool evicted_ = false;  // closed to make room; counted nowhere
  uint64_t request_id_ = 0;
  std::optional<HttpResponse> response_;
  std::string head_;  // the response head being written, reused across requests
  bool peer_gone_ = false;
  bool watching_ = false;  // WatchPeer's read is in flight
  bool stopping_ = false;
  bool finished_ = false;
  bool upgraded_ = false;  // stream_ has been moved into a WsSession
};

}  // namespace internal

struct Respond::State {
  std::weak_ptr<internal::HttpConnection> connection;
  uint64_t request_id = 0;
  bool called = false;

  ~State() {
    if (called) return;
    if (auto c = connection.lock()) {
      c->Complete(request_id, HttpResponse::Error(500, "the handler dropped the request"));
    }
  }
};

namespace internal {

awaitable<void> HttpConnection::Run(std::shared_ptr<HttpConnection> self) {
  self->server_->http_connections.insert(self.get());
  bool secure = co_await self->Secure();
  if (secure) co_await self->Serve();
  self->finished_ = true;
  self->server_->http_connections.erase(self.get());
  if (!self->upgraded_) self->stream_.next_layer().close();
}

awaitable<bool> HttpConnection::Secure() {
  if (!server_->tls_context) co_return true;
  beast::tcp_stream& tcp = stream_.next_layer();
  tcp.expires_after(std::min<std::chrono::steady_clock::duration>(
      kTlsHandshakeTimeout, server_->admission.unauthenticated_timeout));
  auto [detect_ec, is_tls] = co_await beast::async_detect_ssl(tcp, buffer_, kAsTuple);
  if (detect_ec || stopping_) co_return false;
  if (!is_tls) {
    // Most likely an http:// URL pointed at this port: say so in plain HTTP, which that client
    // can read, instead of a handshake error it would show as garbage.
    const std::string error = "this server speaks HTTPS only: use https:// (or wss://)";
    co_await RejectAndClose(400, error);
    co_return false;
  }
  stream_.StartTls(*server_->tls_context);
  auto [ec, used] = co_await stream_.tls_stream().async_handshake(asio::ssl::stream_base::server,
                                                                  buffer_.data(), kAsTuple);
  if (ec) {
    // Clients that distrust our certificate end up here too; the client reports the reason.
    spdlog::debug("TLS handshake with {} failed: {}", remote_, ec.message());
    co_return false;
  }
  buffer_.consume(used);
  co_return !stopping_;
}

awaitable<void> HttpConnection::Serve() {
  const ServerOptions& options = server_->options;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(
        std::min<size_t>(options.max_header_bytes, std::numeric_limits<uint32_t>::max())));
    // With a per-request limit the head decides it (below); Beast would otherwise refuse a
    // large Content-Length as soon as the head is parsed.
    parser.body_limit(options.body_limit_for ? std::numeric_limits<std::uint64_t>::max()
                                             : options.max_body_bytes);
    // Until a connection has authenticated, its request head (and body) must arrive within a
    // few seconds: a half-open connection costs the server little and for a short time.
    if (pending_) {
      stream_.next_layer().expires_after(server_->admission.unauthenticated_timeout);
    } else {
      stream_.next_layer().expires_after(kIdleTimeout);
    }
    auto [header_ec, header_n] =
        co_await http::async_read_header(stream_, buffer_, parser, kAsTuple);
    if (header_ec) {
      co_await OnReadError(header_ec);
      co_return;
    }
    if (stopping_ || evicted_) co_return;
    if (pending_) {
      std::string refusal = Admit(parser.get());
      if (!refusal.empty()) {
        HttpResponse response = HttpResponse::Error(429, refusal);
        response.headers.emplace_back("Retry-After", "1");
        bool written = co_await Write(response, /*keep_alive=*/false, parser.get().version());
        if (written) co_await LingeringClose();
        co_return;
      }
      if (!pending_) stream_.next_layer().expires_after(kIdleTimeout);
    }
    size_t body_limit = options.max_body_bytes;
    if (options.body_limit_for) {
      HttpRequest head;
      head.method = std::string(parser.get().method_string());
      head.target = std::string(parser.get().target());
      head.path = head.target.substr(0, head.target.find('?'));
      for (const auto& f : parser.get()) {
        head.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      }
      body_limit = std::max(options.body_limit_for(head), options.max_body_bytes);
      parser.body_limit(body_limit);
    }
    const bool too_large =
        options.body_limit_for && parser.content_length() && *parser.content_length() > body_limit;
    if (too_large) {
      co_await OnReadError(http::error::body_limit, body_limit);
      co_return;
    }
    if (websocket::is_upgrade(parser.get())) {
      http::request<http::string_body> upgrade = parser.release();
      co_await Upgrade(upgrade);
      co_return;
    }
    if (!parser.is_done()) {
      // curl and others hold back large bodies until told to go ahead.
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(kContinue), kAsTuple);
        if (ec) co_return;
      }
      auto [body_ec, body_n] = co_await http::async_read(stream_, buffer_, parser, kAsTuple);
      if (body_ec) {
        co_await OnReadError(body_ec, body_limit);
        co_return;
      }
    }
    if (stopping_) co_return;
    http::request<http::string_body> message = parser.release();
    const bool keep_alive = message.keep_alive();
    const unsigned version = message.version();
    const bool head_only = message.method() == http::verb::head;
    HttpRequest request;
    if (!ToHttpRequest(message, std::move(message.body()), &request)) {
      std::string error = "malformed request target: " + std::string(message.target());
      co_await RejectAndClose(400, error);
      co_return;
    }
    co_await Dispatch(request);
    if (!response_) co_return;  // the client went away or the server is stopping
    bool written = co_await Write(*response_, keep_alive, version, head_only);
    if (!written) co_return;
    if (!keep_alive) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
  }
}

std::string HttpConnection::Admit(const http::request<http::string_body>& head) {
  const ServerOptions& options = server_->options;
  if (server_->admission.authenticated) {
    HttpRequest request;
    if (!ToHttpRequest(head, std::string(), &request) ||
        !server_->admission.authenticated(request)) {
      return "";  // served as it is, and still pending
    }
  }
  if (server_->open_connections >= options.max_connections) {
    return "the server is at its limit of " + std::to_string(options.max_connections) +
           " connections; retry later";
  }
  auto it = server_->connections_per_ip.find(ip_);
  if (it != server_->connections_per_ip.end() && it->second >= options.max_connections_per_client) {
    return "too many connections from " + ip_ + " (limit " +
           std::to_string(options.max_connections_per_client) + "); close idle ones or retry later";
  }
  Promote();
  return "";
}

void HttpConnection::Promote() {
  if (!pending_) return;
  server_->pending.erase(pending_it_);
  pending_ = false;
  ++server_->open_connections;
  ++server_->connections_per_ip[ip_];
}

awaitable<void> HttpConnection::OnReadError(beast::error_code ec, size_t body_limit) {
  const ServerOptions& options = server_->options;
  if (stopping_ || evicted_) co_return;
  int status = 0;
  std::string message;
  if (ec == http::error::body_limit) {
    status = 413;
    message = "request body exceeds " +
              std::to_string(body_limit ? body_limit : options.max_body_bytes) + " bytes";
  } else if (ec == http::error::header_limit) {
    status = 431;
    message = "request headers exceed " + std::to_string(options.max_header_bytes) + " bytes";
  } else if (IsHttpParseError(ec) && ec != http::error::end_of_stream &&
             ec != http::error::partial_message) {
    status = 400;
    message = "malformed HTTP request: " + ec.message();
  }
  // Anything else (EOF, reset, idle timeout) just ends the connection.
  if (status != 0) co_await RejectAndClose(status, message);
}

bool HttpConnection::ToHttpRequest(const http::request<http::string_body>& message,
                                   std::string body, HttpRequest* out) const {
  out->method = message.method_string();
  out->target = message.target();
  if (!ParseTarget(out->target, &out->path, &out->query)) return false;
  out->headers.clear();
  for (const auto& field : message) {
    out->headers.emplace_back(field.name_string(), field.value());
  }
  out->body = std::move(body);
  out->remote = remote_;
  return true;
}

awaitable<void> HttpConnection::Dispatch(HttpRequest& request) {
  response_.reset();
  ++request_id_;
  if (!server_->http_handler) {
    response_ = HttpResponse::Error(404, "no HTTP handler");
    co_return;
  }
  {
    // Our own reference keeps the state alive through a throwing handler, so the 500 below
    // (with the exception's message) wins over the one for a dropped Respond.
    auto state = std::make_shared<Respond::State>();
    state->connection = weak_from_this();
    state->request_id = request_id_;
    try {
      server_->http_handler(std::move(request), Respond(state));
    } catch (const std::exception& e) {
      Complete(request_id_, HttpResponse::Error(500, std::string("handler failed: ") + e.what()));
    }
  }
  if (response_ || stopping_) co_return;
  // Long-poll (a function call is always one): wait for Respond, and meanwhile watch the socket
  // so that alive() turns false when the client disconnects. The watch is a plain read with a
  // callback and the wait is on one timer, which both sides cancel: no coroutines or parallel
  // group to set up per request.
  stream_.next_layer().expires_never();
  WatchPeer();
  bool cancelled_watch = false;
  for (;;) {
    const bool done = response_ || stopping_ || peer_gone_;
    if (done && !watching_) break;
    if (done && !cancelled_watch) {
      // The pending read ends with operation_aborted (or with bytes it already had, which are
      // kept in order). Cancel at the socket: a TLS read ignores per-operation cancellation,
      // since beast::tcp_stream below it does; the TLS stream stays usable for the next request.
      cancelled_watch = true;
      beast::error_code ignored;
      stream_.socket().cancel(ignored);
    }
    wake_.expires_at(asio::steady_timer::time_point::max());
    co_await wake_.async_wait(kAsTuple);
  }
  if (peer_gone_) response_.reset();  // nobody to answer: the connection ends
}

void HttpConnection::WatchPeer() {
  // Beyond this much pipelined data the peer is clearly alive: stop reading until the response.
  if (buffer_.size() >= kMaxPipelinedBytes) return;
  watching_ = true;
  auto on_read = [self = shared_from_this()](beast::error_code ec, size_t n) {
    self->watching_ = false;
    if (ec) {
      if (ec != asio::error::operation_aborted && !self->response_) self->peer_gone_ = true;
      self->wake_.cancel();
      return;
    }
    self->buffer_.commit(n);
    if (self->response_ || self->stopping_) {
      self->wake_.cancel();
      return;
    }
    self->WatchPeer();
  };
  if (stream_.tls()) {
    stream_.async_read_some(buffer_.prepare(4096), std::move(on_read));
  } else {
    stream_.socket().async_read_some(buffer_.prepare(4096), std::move(on_read));
  }
}

awaitable<bool> HttpConnection::Write(HttpResponse& response, bool keep_alive, unsigned version,
                                      bool head_only) {
  FormatResponseHead(response, server_->options.server_name, keep_alive, version, &head_);
  std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(response.body)};
  // A HEAD answer is the GET's head (its Content-Length too) without the body, whatever the
  // handler put there: bytes after it would be read as the start of the next response.
  if (!HasBody(response.status) || head_only) buffers[1] = asio::const_buffer();
  stream_.next_layer().expires_after(kWriteTimeout);
  auto [ec, n] = co_await asio::async_write(stream_, buffers, kAsTuple);
  co_return !ec;
}

awaitable<void> HttpConnection::RejectAndClose(int status, const std::string& message) {
  HttpResponse response = HttpResponse::Error(status, message);
  bool written = co_await Write(response, /*keep_alive=*/false, 11);
  if (written) co_await LingeringClose();
}

awaitable<void> HttpConnection::LingeringClose() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream_.next_layer().expires_after(kLingerTimeout);
  buffer_.clear();
  for (;;) {
    // Discard: prepare without commit reuses the same bytes every time.
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(16 << 10), kAsTuple);
    if (ec || stopping_) break;
  }
}

awaitable<void> HttpConnection::Upgrade(http::request<http::string_body>& request) {
  if (!server_->ws_acceptor) {
    const std::string error = "no WebSocket endpoint here";
    co_await RejectAndClose(404, error);
    co_return;
  }
  HttpRequest http_request;
  if (!ToHttpRequest(request, request.body(), &http_request)) {
    std::string error = "malformed request target: " + std::string(request.target());
    co_await RejectAndClose(400, error);
    co_return;
  }
  auto decision = server_->ws_acceptor(http_request);
  if (auto* refusal = std::get_if<HttpResponse>(&decision)) {
    bool written = co_await Write(*refusal, /*keep_alive=*/false, request.version());
    if (written) co_await LingeringClose();
    co_return;
  }
  if (stopping_) co_return;

  // From here the socket belongs to the WebSocket; Stop() reaches it through ws_sessions. An
  // accepted WebSocket is counted with the authenticated connections and never evicted.
  Promote();
  upgraded_ = true;
  server_->http_connections.erase(this);
  stream_.next_layer().expires_never();  // websocket::stream runs its own timers
  auto session = std::make_shared<WsSession>(WsStream(std::move(stream_)), remote_,
                                             std::get<WsHandlers>(std::move(decision)),
                                             server_->options.max_ws_message_bytes);
  WsStream& ws = session->stream();
  ws.set_option(WsTimeouts(kWsHandshakeTimeout));
  ws.set_option(websocket::stream_base::decorator(
      [name = server_->options.server_name](websocket::response_type& response) {
        response.set(http::field::server, name);
      }));
  server_->ws_sessions.insert(session.get());
  auto [ec] = co_await ws.async_accept(request, kAsTuple);
  if (ec) {
    session->NotifyClosed(
        Unavailable("WebSocket handshake with " + remote_ + " failed: " + ec.message()));
  } else {
    co_await session->Run();
  }
  server_->ws_sessions.erase(session.get());
}

awaitable<void> ServerImpl::AcceptLoop(std::shared_ptr<ServerImpl> self) {
  while (!self->stopped) {
    auto [ec, socket] = co_await self->acceptor.async_accept(kAsTuple);
    if (self->stopped) break;
    if (ec) {
      // Typically EMFILE: back off briefly instead of spinning on a full descriptor table.
      asio::steady_timer backoff(self->io, std::chrono::milliseconds(50));
      co_await backoff.async_wait(kAsTuple);
      continue;
    }
    beast::error_code ignored;
    // Small request/response messages must not wait for Nagle's algorithm.
    socket.set_option(tcp::no_delay(true), ignored);
    const tcp::endpoint peer = socket.remote_endpoint(ignored);
    self->StartConnection(std::move(socket), EndpointString(peer), peer.address().to_string());
  }
}

void ServerImpl::StartConnection(tcp::socket socket, std::string remote, std::string ip) {
  // The unauthenticated budget is full: the oldest unauthenticated connection makes room. An
  // honest client sends its request within a round trip of connecting, so a flood of idle
  // connections only ever evicts its own.
  while (!pending.empty() && pending.size() >= std::max<size_t>(admission.max_unauthenticated, 1)) {
    pending.front()->Evict();
  }
  auto connection = std::make_shared<HttpConnection>(shared_from_this(), std::move(socket),
                                                     std::move(remote), std::move(ip));
  asio::co_spawn(io, HttpConnection::Run(std::move(connection)), LogUnexpectedException);
}

}  // namespace internal

void Respond::operator()(HttpResponse response) const {
  if (!state_ || state_->called) return;
  state_->called = true;
  if (auto c = state_->connection.lock()) c->Complete(state_->request_id, std::move(response));
}

bool Respond::alive() const {
  if (!state_ || state_->called) return false;
  auto c = state_->connection.lock();
  return c && c->Alive(state_->request_id);
}

struct Server::Impl : internal::ServerImpl {
  using ServerImpl::ServerImpl;
};

namespace internal {

struct ServerAccess {
  static void SetAdmission(Server& server, AdmissionOptions options) {
    server.impl_->admission = std::move(options);
  }
  static void Serve(Server& server, int fd, std::string remote) {
    ServerImpl& impl = *server.impl_;
    tcp::socket socket(impl.io);
    beast::error_code ec;
    socket.assign(tcp::v4(), fd, ec);
    if (ec) {
      ::close(fd);
      return;
    }
    std::string ip = remote.substr(0, remote.rfind(':'));
    impl.StartConnection(std::move(socket), std::move(remote), std::move(ip));
  }
};

void ServeConnectedSocket(Server& server, int fd, std::string remote) {
  ServerAccess::Serve(server, fd, std::move(remote));
}

}  // namespace internal

void SetAdmission(Server& server, AdmissionOptions options) {
  internal::ServerAccess::SetAdmission(server, std::move(options));
}

Server::Server(asio::io_context& io, ServerOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(options))) {}

Server::~Server() {
  Stop();
  // Connections may outlive the Server by a few io turns; they must not call into handlers
  // whose owner is going away.
  impl_->http_handler = nullptr;
  impl_->ws_acceptor = nullptr;
}

void Server::SetHttpHandler(HttpHandler handler) { impl_->http_handler = std::move(handler); }

void Server::SetWsAcceptor(WsAcceptor acceptor) { impl_->ws_acceptor = std::move(acceptor); }

Result<uint16_t> Server::Listen() {
  const ServerOptions& options = impl_->options;
  if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
    auto context = internal::MakeServerTlsContext(options.tls_cert_file, options.tls_key_file);
    if (!context.ok()) return context.status();
    impl_->tls_context = std::move(*context);
  }
  beast::error_code ec;
  auto address = asio::ip::make_address(impl_->options.bind, ec);
  if (ec) return InvalidArgument("bad bind address '" + impl_->options.bind + "'");
  tcp::endpoint endpoint(address, impl_->options.port);
  const std::string where = internal::EndpointString(endpoint);
  tcp::acceptor& acceptor = impl_->acceptor;
  if (acceptor.open(endpoint.protocol(), ec); ec) {
    return Unavailable("open socket for " + where + ": " + ec.message());
  }
  // Lets a restarted planner bind its port while old connections sit in TIME_WAIT.
  acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (acceptor.bind(endpoint, ec); ec) {
    acceptor.close(ec);
    return Unavailable("bind " + where + ": " + ec.message());
  }
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    acceptor.close(ec);
    return Unavailable("listen on " + where + ": " + ec.message());
  }
  uint16_t port = acceptor.local_endpoint(ec).port();
  if (ec) return Unavailable("listen on " + where + ": " + ec.message());
  asio::co_spawn(impl_->io, internal::ServerImpl::AcceptLoop(impl_),
                 internal::LogUnexpectedException);
  return port;
}

void Server::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
  // Copies: stopping a connection may end it (and unregister it) before we move on.
  auto http_connections = impl_->http_connections;
  for (auto* connection : http_connections) connection->Stop();
  auto ws_sessions = impl_->ws_sessions;
  for (auto* session : ws_sessions) {
    Status why = Cancelled("server stopping");
    session->CloseWith(websocket::close_code::going_away, "server stopping", why);
    // Report the close now rather than after the peer answers: once Stop() returns, the owner
    // of the handlers may go away.
    session->NotifyClosed(why);
  }
}

}  // namespace volo::net
