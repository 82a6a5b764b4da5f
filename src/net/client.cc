#include "net/client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <map>
#include <optional>
#include <unordered_set>
#include <utility>
#include <vector>

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
using internal::Stream;

namespace {

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kMaxIdlePerHost = 16;
constexpr uint64_t kMaxResponseBody = uint64_t{1} << 30;
constexpr size_t kMaxWsMessageBytes = 64 << 20;

std::string HostPort(const Url& url) {
  if (url.host.find(':') != std::string::npos) {
    return "[" + url.host + "]:" + std::to_string(url.port);
  }
  return url.host + ":" + std::to_string(url.port);
}

bool IsHttpParseError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category();
}

std::string TimeoutMessage(const std::string& what, std::chrono::milliseconds timeout) {
  return what + " timed out after " + std::to_string(timeout.count()) + " ms";
}

// Connects `stream` to host:port before `deadline`. Literal addresses skip the resolver, which
// would otherwise cost a thread hop per connection.
awaitable<beast::error_code> Connect(beast::tcp_stream& stream, const Url& url,
                                     std::chrono::steady_clock::time_point deadline) {
  beast::error_code ec;
  auto address = asio::ip::make_address(url.host, ec);
  if (!ec) {
    stream.expires_at(deadline);
    const tcp::endpoint endpoint(address, url.port);
    auto [connect_ec] = co_await stream.async_connect(endpoint, kAsTuple);
    ec = connect_ec;
  } else {
    tcp::resolver resolver(stream.get_executor());
    const std::string service = std::to_string(url.port);
    auto [resolve_ec, endpoints] = co_await resolver.async_resolve(url.host, service, kAsTuple);
    if (resolve_ec) co_return resolve_ec;
    stream.expires_at(deadline);
    auto [connect_ec, endpoint] = co_await stream.async_connect(endpoints, kAsTuple);
    ec = connect_ec;
  }
  if (!ec) {
    beast::error_code ignored;
    stream.socket().set_option(tcp::no_delay(true), ignored);
  }
  co_return ec;
}

Status ConnectError(const beast::error_code& ec, const std::string& where,
                    std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout)
    return DeadlineExceeded(TimeoutMessage("connect to " + where, timeout));
  return Unavailable("connect to " + where + ": " + ec.message());
}

// Connects `stream` and, when `tls_context` is set, wraps it in TLS and shakes hands.
awaitable<Status> Open(Stream& stream, const Url& url, asio::ssl::context* tls_context,
                       const TlsClientOptions& tls, std::chrono::steady_clock::time_point deadline,
                       std::chrono::milliseconds timeout) {
  const std::string where = HostPort(url);
  beast::error_code ec = co_await Connect(stream.next_layer(), url, deadline);
  if (ec) co_return ConnectError(ec, where, timeout);
  if (!tls_context) co_return Status::Ok();
  stream.StartTls(*tls_context);
  Status prepared = internal::PrepareClientTls(stream.tls_stream(), url.host, tls);
  if (!prepared.ok()) co_return prepared;
  stream.next_layer().expires_at(deadline);
  auto [handshake_ec] =
      co_await stream.tls_stream().async_handshake(asio::ssl::stream_base::client, kAsTuple);
  if (!handshake_ec) co_return Status::Ok();
  if (handshake_ec == beast::error::timeout) {
    co_return DeadlineExceeded(TimeoutMessage("TLS handshake with " + where, timeout));
  }
  co_return Unavailable(where + ": " +
                        internal::TlsHandshakeError(stream.tls_stream(), handshake_ec));
}

// True when the peer closed the connection (plainly, or TLS without close_notify).
bool PeerClosed(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::ssl::error::stream_truncated;
}

}  // namespace

struct HttpClient::Impl : std::enable_shared_from_this<HttpClient::Impl> {
  Impl(asio::io_context& io_context, TlsClientOptions tls_options)
      : io(io_context), tls(std::move(tls_options)) {}

  static awaitable<void> Run(std::shared_ptr<Impl> self, std::string method, std::string url,
                             std::string body, Headers headers, std::chrono::milliseconds timeout,
                             Done done);

  std::unique_ptr<Stream> TakeIdle(const std::string& key) {
    auto it = idle.find(key);
    if (it == idle.end() || it->second.empty()) return nullptr;
    auto stream = std::move(it->second.back());
    it->second.pop_back();
    return stream;
  }

  void PutIdle(const std::string& key, std::unique_ptr<Stream> stream) {
    auto& streams = idle[key];
    if (streams.size() < kMaxIdlePerHost) streams.push_back(std::move(stream));
  }

  void Shutdown() {
    shut_down = true;
    idle.clear();
    for (auto* stream : std::vector<Stream*>(active.begin(), active.end())) {
      stream->next_layer().close();
    }
  }

  asio::io_context& io;
  const TlsClientOptions tls;
  bool shut_down = false;
  // Keep-alive connections not in use, by "host:port" ("https://host:port" for TLS). The most
  // recently used one goes out first: it is the least likely to have been closed by the
  // server's idle timeout.
  std::map<std::string, std::vector<std::unique_ptr<Stream>>> idle;
  // Streams with a request in flight, so that Shutdown() can abort them.
  std::unordered_set<Stream*> active;
};

namespace {

struct Exchange {
  beast::error_code ec;
  bool got_response_bytes = false;
  bool write_failed = false;
  http::response<http::string_body> response;
  bool reusable = false;
};

// Writes `request` and reads the response on an open connection.
awaitable<Exchange> DoExchange(Stream& stream, http::request<http::string_body>& request, bool head,
                               std::chrono::steady_clock::time_point deadline) {
  Exchange out;
  stream.next_layer().expires_at(deadline);
  auto [write_ec, write_n] = co_await http::async_write(stream, request, kAsTuple);
  if (write_ec) {
    out.ec = write_ec;
    out.write_failed = true;
    co_return out;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBody);
  if (head) parser.skip(true);
  stream.next_layer().expires_at(deadline);
  auto [ec, n] = co_await http::async_read(stream, buffer, parser, kAsTuple);
  out.got_response_bytes = parser.got_some();
  if (ec) {
    out.ec = ec;
    co_return out;
  }
  out.response = parser.release();
  // Bytes past the response mean the server is out of step with us; don't reuse that.
  out.reusable = out.response.keep_alive() && buffer.size() == 0;
  co_return out;
}

// True when the failure looks like the server having closed an idle keep-alive connection
// before it saw our request, which makes sending it again safe.
bool StaleConnection(const Exchange& exchange) {
  if (exchange.got_response_bytes) return false;
  if (exchange.write_failed) return exchange.ec != beast::error::timeout;
  const auto& ec = exchange.ec;
  return PeerClosed(ec) || ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

}  // namespace

awaitable<void> HttpClient::Impl::Run(std::shared_ptr<Impl> self, std::string method,
                                      std::string url, std::string body, Headers headers,
                                      std::chrono::milliseconds timeout, Done done) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Url parsed;
  if (!ParseUrl(url, &parsed) || (parsed.scheme != "http" && parsed.scheme != "https")) {
    if (!self->shut_down)
      done(InvalidArgument("bad URL '" + url + "': want http(s)://host:port/path"));
    co_return;
  }
  const std::string host_port = HostPort(parsed);
  std::shared_ptr<asio::ssl::context> tls_context;
  if (parsed.scheme == "https") {
    auto context = internal::ClientTlsContext(self->tls);
    if (!context.ok()) {
      if (!self->shut_down) done(context.status());
      co_return;
    }
    tls_context = std::move(*context);
  }
  const std::string key = tls_context ? "https://" + host_port : host_port;

  http::request<http::string_body> request;
  request.version(11);
  if (auto verb = http::string_to_verb(method); verb != http::verb::unknown) {
    request.method(verb);
  } else {
    request.method_string(method);
  }
  request.target(parsed.target);
  request.set(http::field::host, host_port);
  for (const auto& [name, value] : headers) request.insert(name, value);
  request.body() = std::move(body);
  request.prepare_payload();
  request.keep_alive(true);
  const bool head = request.method() == http::verb::head;

  for (int attempt = 0;; ++attempt) {
    // The retry always opens a fresh connection: if one idle connection was stale, the others
    // (same server, same idle time) likely are too.
    std::unique_ptr<Stream> stream = attempt == 0 ? self->TakeIdle(key) : nullptr;
    const bool reused = stream != nullptr;
    if (!stream) stream = std::make_unique<Stream>(beast::tcp_stream(self->io));
    self->active.insert(stream.get());
    Status opened;
    if (!reused) {
      opened = co_await Open(*stream, parsed, tls_context.get(), self->tls, deadline, timeout);
    }
    Exchange exchange;
    if (opened.ok() && !self->shut_down) {
      exchange = co_await DoExchange(*stream, request, head, deadline);
    }
    self->active.erase(stream.get());
    if (self->shut_down) co_return;  // documented: Done is not called after ~HttpClient
    if (!opened.ok()) {
      done(std::move(opened));
      co_return;
    }
    const beast::error_code& ec = exchange.ec;
    if (!ec) {
      ClientResponse response;
      response.status = static_cast<int>(exchange.response.result_int());
      response.content_type = exchange.response[http::field::content_type];
      response.body = std::move(exchange.response.body());
      // Back in the pool before `done`, so a follow-up request made from `done` can reuse it.
      if (exchange.reusable) self->PutIdle(key, std::move(stream));
      done(std::move(response));
      co_return;
    }
    if (reused && attempt == 0 && StaleConnection(exchange) &&
        std::chrono::steady_clock::now() < deadline) {
      continue;
    }
    if (ec == beast::error::timeout) {
      done(DeadlineExceeded(TimeoutMessage(method + " " + url, timeout)));
    } else if (IsHttpParseError(ec) && ec != http::error::end_of_stream &&
               ec != http::error::partial_message) {
      done(Corruption(host_port + " sent something that is not an HTTP response: " + ec.message()));
    } else if (PeerClosed(ec) && !exchange.got_response_bytes) {
      done(Unavailable(host_port + " closed the connection without responding"));
    } else {
      done(Unavailable("request to " + host_port + " failed: " + ec.message()));
    }
    co_return;
  }
}

HttpClient::HttpClient(asio::io_context& io) : HttpClient(io, DefaultTlsClientOptions()) {}

HttpClient::HttpClient(asio::io_context& io, TlsClientOptions tls)
    : impl_(std::make_shared<Impl>(io, std::move(tls))) {}

HttpClient::~HttpClient() { impl_->Shutdown(); }

void HttpClient::Request(std::string method, std::string url, std::string body, Headers headers,
                         std::chrono::milliseconds timeout, Done done) {
  asio::co_spawn(impl_->io,
                 Impl::Run(impl_, std::move(method), std::move(url), std::move(body),
                           std::move(headers), timeout, std::move(done)),
                 internal::LogUnexpectedException);
}

Result<ClientResponse> HttpFetch(const std::string& method, const std::string& url,
                                 const std::string& body, const Headers& headers,
                                 std::chrono::milliseconds timeout) {
  asio::io_context io;
  std::optional<Result<ClientResponse>> result;
  {
    HttpClient client(io);
    client.Request(method, url, body, headers, timeout,
                   [&result](Result<ClientResponse> r) { result.emplace(std::move(r)); });
    io.run();
  }
  if (!result) return Internal("HttpFetch finished without a result");
  return std::move(*result);
}

namespace {

awaitable<void> RunWsConnect(asio::io_context& io, std::string url, Headers headers,
                             WsHandlers handlers, std::chrono::milliseconds timeout,
                             std::function<void(Result<std::shared_ptr<WsConnection>>)> done,
                             TlsClientOptions tls) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Url parsed;
  if (!ParseUrl(url, &parsed) || (parsed.scheme != "ws" && parsed.scheme != "wss")) {
    done(InvalidArgument("bad WebSocket URL '" + url + "': want ws(s)://host:port/path"));
    co_return;
  }
  const std::string key = HostPort(parsed);
  std::shared_ptr<asio::ssl::context> tls_context;
  if (parsed.scheme == "wss") {
    auto context = internal::ClientTlsContext(tls);
    if (!context.ok()) {
      done(context.status());
      co_return;
    }
    tls_context = std::move(*context);
  }
  Stream stream{beast::tcp_stream(io)};
  Status opened = co_await Open(stream, parsed, tls_context.get(), tls, deadline, timeout);
  if (!opened.ok()) {
    done(std::move(opened));
    co_return;
  }
  stream.next_layer().expires_never();  // from here websocket::stream owns the timeouts
  auto session = std::make_shared<internal::WsSession>(internal::WsStream(std::move(stream)), key,
                                                       std::move(handlers), kMaxWsMessageBytes);
  internal::WsStream& ws = session->stream();
  auto remaining = deadline - std::chrono::steady_clock::now();
  ws.set_option(internal::WsTimeouts(
      std::max<std::chrono::steady_clock::duration>(remaining, std::chrono::milliseconds(1))));
  ws.set_option(websocket::stream_base::decorator(
      [headers = std::move(headers)](websocket::request_type& request) {
        request.set(http::field::user_agent, "volo");
        for (const auto& [name, value] : headers) request.set(name, value);
      }));
  websocket::response_type response;
  auto [ec] = co_await ws.async_handshake(response, key, parsed.target, kAsTuple);
  if (ec) {
    if (ec == websocket::error::upgrade_declined) {
      done(FailedPrecondition("WebSocket upgrade to " + url + " refused: HTTP " +
                              std::to_string(response.result_int()) + ": " + response.body()));
    } else if (ec == beast::error::timeout) {
      done(DeadlineExceeded(TimeoutMessage("WebSocket handshake with " + key, timeout)));
    } else if (IsHttpParseError(ec)) {
      done(Corruption(key + " answered the WebSocket upgrade with something that is not HTTP: " +
                      ec.message()));
    } else {
      done(Unavailable("WebSocket handshake with " + key + " failed: " + ec.message()));
    }
    co_return;
  }
  // The opening handshake is done; closing handshakes get their own bound.
  ws.set_option(internal::WsTimeouts(std::chrono::seconds(10)));
  done(std::shared_ptr<WsConnection>(session));
  co_await session->Run();
}

}  // namespace

void WsConnect(asio::io_context& io, const std::string& url, Headers headers, WsHandlers handlers,
               std::chrono::milliseconds timeout,
               std::function<void(Result<std::shared_ptr<WsConnection>>)> done) {
  WsConnect(io, url, std::move(headers), std::move(handlers), timeout, std::move(done),
            DefaultTlsClientOptions());
}

void WsConnect(asio::io_context& io, const std::string& url, Headers headers, WsHandlers handlers,
               std::chrono::milliseconds timeout,
               std::function<void(Result<std::shared_ptr<WsConnection>>)> done,
               const TlsClientOptions& tls) {
  asio::co_spawn(
      io,
      RunWsConnect(io, url, std::move(headers), std::move(handlers), timeout, std::move(done), tls),
      internal::LogUnexpectedException);
}

}  // namespace volo::net
