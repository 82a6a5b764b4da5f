// Bearer-token checks for the planner's HTTP and WebSocket endpoints.
//
// A Token keeps only the SHA-256 of its secret, and a presented token is hashed before the
// comparison, so the comparison always walks 32 bytes: neither the position of the first wrong
// byte nor the secret's length shows in the time it takes.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "net/http.h"

namespace volo::planner {

class Token {
 public:
  // An empty secret means "no check": every request matches.
  explicit Token(std::string_view secret = "");
  bool empty() const { return empty_; }
  // Constant-time match of `presented` against the secret.
  bool Matches(std::string_view presented) const;

 private:
  bool empty_ = true;
  std::array<unsigned char, 32> digest_{};
};

// The token of an `Authorization: Bearer <token>` header (the scheme in any case, RFC 7235),
// or empty when the header is absent or uses another scheme.
std::string_view BearerToken(const net::HttpRequest& req);
// True when `token` is empty or the request carries it.
bool BearerMatches(const net::HttpRequest& req, const Token& token);
// 401 with `WWW-Authenticate: Bearer`, naming what the token is for.
net::HttpResponse Unauthorized(std::string_view what);

// POST, PUT, PATCH, DELETE and the rest: any method but GET, HEAD and OPTIONS.
bool UnsafeMethod(std::string_view method);

// What keeps other web sites from using a browser to reach the planner (docs/security.md,
// "Browsers"): the 403 to answer, or nullopt.
//  - A request with an `Origin` from elsewhere (a page on another site, or "null") is refused
//    when it changes something (POST, PUT, PATCH, DELETE) or, with `any_method`, at all (a
//    WebSocket upgrade). Programs send no Origin; the planner's own pages send their own.
//  - Without an API token, a browser's request (one with `Origin` or `Sec-Fetch-Site`) is
//    answered only at a loopback name (localhost, 127.x.x.x, [::1]): a page under another
//    name that resolves to this machine (DNS rebinding) would otherwise be same-origin.
std::optional<net::HttpResponse> RefuseForeignBrowser(const net::HttpRequest& req,
                                                      const Token& api_token, bool any_method);

}  // namespace volo::planner
