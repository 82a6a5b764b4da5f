// Helpers shared by the net/*.cc files. Not part of the public API; no Beast here.
#pragma once

#include <exception>
#include <map>
#include <string>
#include <string_view>

namespace volo::net {
class Server;
struct HttpResponse;
}  // namespace volo::net

namespace volo::net::internal {

// Splits an origin-form request target ("/a%20b?x=1&y=2") into its percent-decoded path and
// query parameters ('+' means space; the last duplicate wins). False when the target is malformed.
bool ParseTarget(std::string_view target, std::string* path,
                 std::map<std::string, std::string>* query);

// The head of `response` as the server writes it (status line, fields, the blank line), into
// `out`, replacing what it held (the server reuses one buffer per connection). Fields: Server,
// Content-Type, the handler's own, Connection when the version's default does not apply
// (HTTP/1.0 keep-alive, HTTP/1.1 close), and Content-Length (not for 1xx, 204 and 304, whose
// body is never sent). The server owns the framing: a handler's Content-Length,
// Transfer-Encoding and Connection fields are dropped, and so is any field whose name or value
// holds a line break (it could inject header lines). A status outside 100-999 is sent as 500.
void FormatResponseHead(const HttpResponse& response, std::string_view server_name, bool keep_alive,
                        unsigned version, std::string* out);

// Completion handler for co_spawn: connection coroutines catch expected errors as values, so an
// exception reaching here is a bug (or a throwing handler); log it instead of losing it.
void LogUnexpectedException(std::exception_ptr error);

// Serves the connected stream socket `fd` (the server takes ownership) exactly as it serves an
// accepted TCP connection from `remote` ("ip:port"), limits and all. This is how the HTTP
// fuzzer feeds bytes through the real request path over a socketpair. Call on the io thread.
void ServeConnectedSocket(Server& server, int fd, std::string remote);

}  // namespace volo::net::internal
