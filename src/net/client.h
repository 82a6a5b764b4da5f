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

struct ClientResponse {
  int status = 0;
  std::string body;
  std::string content_type;
};

// Async HTTP/1.1 client with keep-alive connections reused per host:port.
// Errors: Unavailable (connection refused, reset, unreachable), DeadlineExceeded (timeout),
// InvalidArgument (bad URL), Corruption (not HTTP).
class HttpClient {
 public:
  explicit HttpClient(boost::asio::io_context& io);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  using Done = std::function<void(Result<ClientResponse>)>;
  void Request(std::string method, std::string url, std::string body, Headers headers,
               std::chrono::milliseconds timeout, Done done);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Blocking request; `url` like http://127.0.0.1:3000/api/v1/tasks.
Result<ClientResponse> HttpFetch(const std::string& method, const std::string& url,
                                 const std::string& body = "", const Headers& headers = {},
                                 std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Opens a WebSocket to `url` (ws://host:port/path). `done` gets the open connection or an
// error (Unavailable, DeadlineExceeded, or FailedPrecondition carrying the HTTP status when the
// server refused the upgrade). After that, `handlers` receive its messages and its close.
void WsConnect(boost::asio::io_context& io, const std::string& url, Headers headers,
               WsHandlers handlers, std::chrono::milliseconds timeout,
               std::function<void(Result<std::shared_ptr<WsConnection>>)> done);

}  // namespace volo::net
