// Helpers shared by the net/*.cc files. Not part of the public API; no Beast here.
#pragma once

#include <exception>
#include <map>
#include <string>
#include <string_view>

namespace volo::net {
class Server;
}

namespace volo::net::internal {

// Splits an origin-form request target ("/a%20b?x=1&y=2") into its percent-decoded path and
// query parameters ('+' means space; the last duplicate wins). False when the target is malformed.
bool ParseTarget(std::string_view target, std::string* path,
                 std::map<std::string, std::string>* query);

// Completion handler for co_spawn: connection coroutines catch expected errors as values, so an
// exception reaching here is a bug (or a throwing handler); log it instead of losing it.
void LogUnexpectedException(std::exception_ptr error);

// Serves the connected stream socket `fd` (the server takes ownership) exactly as it serves an
// accepted TCP connection from `remote` ("ip:port"), limits and all. This is how the HTTP
// fuzzer feeds bytes through the real request path over a socketpair. Call on the io thread.
void ServeConnectedSocket(Server& server, int fd, std::string remote);

}  // namespace volo::net::internal
