// HTTP and WebSocket clients on Boost.Beast.
//
// Threading: the async clients run on the io_context passed in and call back on its thread.
// HttpFetch is a blocking convenience for the CLI and tests; it runs a private io_context.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "net/http.h"
#include "net/server.h"

namespace boost::asio {
class io_context;
}

namespace volo::net {

// How https:// and wss:// clients check the server. By default the server's certificate must
// chain to the system CA store (plus `ca_file` when set) and name the URL's host.
struct TlsClientOptions {
  // A PEM file of extra CA certificates to trust, e.g. a self-signed planner certificate.
  std::string ca_file;
  // Accept any certificate. Encrypts but does not authenticate: for tests and trusted networks.
  bool insecure_skip_verify = false;
};

// Process-wide TLS options for clients that are not given their own: HttpFetch, WsConnect
// without options, and HttpClient constructed without options (it copies them then). Set them
// once at startup, before any client runs; safe to call from any thread. Errors (and then the
// defaults are unchanged): IoError when ca_file cannot be read, InvalidArgument when it holds no
// PEM certificate; both name the file.
Status SetDefaultTlsClientOptions(TlsClientOptions options);
TlsClientOptions DefaultTlsClientOptions();

struct ClientResponse {
  int status = 0;
  std::string body;
  std::string content_type;
};

// Async HTTP/1.1 client with keep-alive connections reused per host:port (up to 16 idle ones
// per host). A request that fails on a reused idle connection before any response byte arrived
// (the server had closed it) is retried once on a fresh connection.
// URLs are http:// or https:// (TLS, with SNI, verified as `TlsClientOptions` say).
// Errors: Unavailable (connection refused, reset, unreachable, or a failed TLS handshake, e.g. an
// untrusted certificate; the message names host:port and says it is a TLS/certificate problem),
// DeadlineExceeded (timeout), InvalidArgument (bad URL) or IoError/InvalidArgument (unusable
// ca_file, see SetDefaultTlsClientOptions), Corruption
// (not HTTP).
//
// Call Request and the destructor on the io thread (or while the io_context is not running).
// Destroying the client aborts outstanding requests: their Done is never called, so it may
// capture things that die with the client. The io_context must outlive the client.
class HttpClient {
 public:
  // Uses DefaultTlsClientOptions() as they are now.
  explicit HttpClient(boost::asio::io_context& io);
  HttpClient(boost::asio::io_context& io, TlsClientOptions tls);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  using Done = std::function<void(Result<ClientResponse>)>;
  // `timeout` covers connecting, sending and receiving. `done` runs on the io thread, never
  // inside Request(). Host names other than IP literals are resolved without that bound.
  void Request(std::string method, std::string url, std::string body, Headers headers,
               std::chrono::milliseconds timeout, Done done);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Blocking request; `url` like http://127.0.0.1:3000/api/v1/tasks (or https://). TLS as
// DefaultTlsClientOptions() say.
Result<ClientResponse> HttpFetch(const std::string& method, const std::string& url,
                                 const std::string& body = "", const Headers& headers = {},
                                 std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Opens a WebSocket to `url` (ws://host:port/path, or wss:// for TLS as `tls` says; the
// overload without `tls` uses DefaultTlsClientOptions()). A failed TLS handshake is Unavailable.
// `done` gets the open connection or an error (Unavailable, DeadlineExceeded, InvalidArgument for a
// bad URL, or FailedPrecondition carrying the HTTP status and body when the server refused the
// upgrade). After that, `handlers` receive its messages and its close (see WsHandlers); on an error
// they never run. `timeout` bounds connecting plus the opening handshake. Incoming messages are
// limited to 64 MiB.
void WsConnect(boost::asio::io_context& io, const std::string& url, Headers headers,
               WsHandlers handlers, std::chrono::milliseconds timeout,
               std::function<void(Result<std::shared_ptr<WsConnection>>)> done);
void WsConnect(boost::asio::io_context& io, const std::string& url, Headers headers,
               WsHandlers handlers, std::chrono::milliseconds timeout,
               std::function<void(Result<std::shared_ptr<WsConnection>>)> done,
               const TlsClientOptions& tls);

}  // namespace volo::net
