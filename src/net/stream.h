// A TCP connection that speaks either plain bytes or TLS, chosen at run time, and the TLS
// contexts behind it. Internal to net/*.cc: it pulls in Beast and OpenSSL, which the public
// headers keep out of the rest of volo.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <memory>
#include <string>
#include <utility>

#include "common/status.h"
#include "net/client.h"

namespace volo::net::internal {

// Satisfies Asio's AsyncStream and Beast's websocket NextLayer requirements, so one
// HttpConnection, HttpClient and WsSession serve both http:// and https://. Each operation
// dispatches to the plain or the TLS stream; the completion signature is the same for both, so
// with the completion tokens volo uses (handlers and use_awaitable) the return types agree.
class Stream {
 public:
  using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  using executor_type = boost::beast::tcp_stream::executor_type;

  explicit Stream(boost::beast::tcp_stream tcp)
      : tcp_(std::make_unique<boost::beast::tcp_stream>(std::move(tcp))) {}
  Stream(boost::beast::tcp_stream tcp, boost::asio::ssl::context& context)
      : tls_(std::make_unique<TlsStream>(std::move(tcp), context)) {}
  Stream(Stream&&) = default;
  Stream& operator=(Stream&&) = default;

  // Wraps the (still unencrypted) connection in TLS; the caller then performs the handshake.
  void StartTls(boost::asio::ssl::context& context) {
    if (tls_) return;
    tls_ = std::make_unique<TlsStream>(std::move(*tcp_), context);
    tcp_.reset();
  }

  bool tls() const { return tls_ != nullptr; }
  TlsStream& tls_stream() { return *tls_; }
  // The TCP layer under TLS, if any: timeouts, close, socket options.
  boost::beast::tcp_stream& next_layer() { return tls_ ? tls_->next_layer() : *tcp_; }
  boost::asio::ip::tcp::socket& socket() { return next_layer().socket(); }
  executor_type get_executor() { return next_layer().get_executor(); }

  template <typename MutableBufferSequence, typename Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::beast::error_code, std::size_t)>(
        [this](auto handler, const MutableBufferSequence& b) {
          if (tls_) {
            tls_->async_read_some(b, std::move(handler));
          } else {
            tcp_->async_read_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  template <typename ConstBufferSequence, typename Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::beast::error_code, std::size_t)>(
        [this](auto handler, const ConstBufferSequence& b) {
          if (tls_) {
            tls_->async_write_some(b, std::move(handler));
          } else {
            tcp_->async_write_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  // The WebSocket closing handshake ends with these (found by ADL): TLS sends close_notify
  // first, plain TCP just shuts down.
  friend void teardown(boost::beast::role_type role, Stream& stream, boost::beast::error_code& ec) {
    using boost::beast::websocket::teardown;
    if (stream.tls_) {
      teardown(role, *stream.tls_, ec);
    } else {
      teardown(role, stream.tcp_->socket(), ec);
    }
  }

  template <typename TeardownHandler>
  friend void async_teardown(boost::beast::role_type role, Stream& stream,
                             TeardownHandler&& handler) {
    using boost::beast::websocket::async_teardown;
    if (stream.tls_) {
      async_teardown(role, *stream.tls_, std::forward<TeardownHandler>(handler));
    } else {
      async_teardown(role, stream.tcp_->socket(), std::forward<TeardownHandler>(handler));
    }
  }

 private:
  // Exactly one is set.
  std::unique_ptr<boost::beast::tcp_stream> tcp_;
  std::unique_ptr<TlsStream> tls_;
};

// A server context from PEM files (TLS 1.2 and later). Errors: IoError when a file cannot be
// read, InvalidArgument when it does not hold a certificate chain / a matching private key;
// both name the file.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerTlsContext(
    const std::string& cert_file, const std::string& key_file);

// The client context for `options`, built once per distinct options and then shared (so a CA
// bundle is not re-read per connection). Errors: IoError / InvalidArgument naming ca_file.
Result<std::shared_ptr<boost::asio::ssl::context>> ClientTlsContext(
    const TlsClientOptions& options);

// Prepares a client TLS stream for `host` before its handshake: SNI (for names, not IP
// literals) and, unless verification is off, checking that the certificate names `host`.
Status PrepareClientTls(Stream::TlsStream& stream, const std::string& host,
                        const TlsClientOptions& options);

// Explains a failed client handshake: certificate problems name the verification error.
std::string TlsHandshakeError(Stream::TlsStream& stream, const boost::beast::error_code& ec);

}  // namespace volo::net::internal
