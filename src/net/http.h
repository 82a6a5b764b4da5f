// Plain HTTP request/response values shared by the server and the client. No Beast here:
// only net/*.cc include Beast, so the rest of volo compiles fast.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace volo::net {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;                        // "GET", "POST", ...
  std::string target;                        // as sent: path and query
  std::string path;                          // percent-decoded path without the query
  std::map<std::string, std::string> query;  // decoded query parameters (last one wins)
  Headers headers;
  std::string body;
  std::string remote;  // peer "ip:port"

  // Case-insensitive header lookup; empty when absent.
  std::string_view Header(std::string_view name) const;
  // Query parameter or `fallback`.
  std::string Query(const std::string& name, std::string fallback = "") const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Headers headers;  // extra headers

  // {"error": message} with the given status.
  static HttpResponse Error(int status, std::string_view message);
  static HttpResponse Json(int status, std::string body);
};

// Splits "http://host:port/path?q" (or ws://, https://, wss://). Port defaults from the scheme.
struct Url {
  std::string scheme;
  std::string host;
  uint16_t port = 0;
  std::string target = "/";  // path and query, never empty
};
bool ParseUrl(std::string_view text, Url* out);

}  // namespace volo::net
