#include "planner/auth.h"

#include <openssl/evp.h>

namespace volo::planner {
namespace {

std::array<unsigned char, 32> Digest(std::string_view s) {
  std::array<unsigned char, 32> out{};
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// The host of a Host header or of an origin's authority, without the port, lower case.
std::string HostName(std::string_view authority) {
  if (authority.starts_with("[")) {
    size_t close = authority.find(']');
    authority = authority.substr(0, close == std::string_view::npos ? authority.size() : close + 1);
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    authority = authority.substr(0, colon);
  }
  std::string out;
  for (char c : authority) out += Lower(c);
  return out;
}

bool LoopbackName(std::string_view host) {
  if (host == "localhost" || host.ends_with(".localhost") || host == "[::1]") return true;
  if (!host.starts_with("127.")) return false;
  // 127.x.y.z as digits and dots only (not "127.evil.example").
  return host.find_first_not_of("0123456789.") == std::string_view::npos;
}

}  // namespace

Token::Token(std::string_view secret) : empty_(secret.empty()) {
  if (!empty_) digest_ = Digest(secret);
}

bool Token::Matches(std::string_view presented) const {
  if (empty_) return true;
  std::array<unsigned char, 32> d = Digest(presented);
  unsigned char diff = 0;
  for (size_t i = 0; i < d.size(); ++i) diff |= static_cast<unsigned char>(d[i] ^ digest_[i]);
  return diff == 0;
}

std::string_view BearerToken(const net::HttpRequest& req) {
  std::string_view h = req.Header("Authorization");
  constexpr std::string_view kScheme = "bearer";
  if (h.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (Lower(h[i]) != kScheme[i]) return {};
  }
  h.remove_prefix(kScheme.size());
  if (h.front() != ' ' && h.front() != '\t') return {};
  while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) h.remove_suffix(1);
  return h;
}

bool BearerMatches(const net::HttpRequest& req, const Token& token) {
  if (token.empty()) return true;
  std::string_view presented = BearerToken(req);
  return !presented.empty() && token.Matches(presented);
}

net::HttpResponse Unauthorized(std::string_view what) {
  net::HttpResponse r =
      net::HttpResponse::Error(401, "missing or wrong bearer token for " + std::string(what));
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

bool UnsafeMethod(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

std::optional<net::HttpResponse> RefuseForeignBrowser(const net::HttpRequest& req,
                                                      const Token& api_token, bool any_method) {
  std::string_view host = req.Header("Host");
  std::string_view origin = req.Header("Origin");
  if (!origin.empty() && (any_method || UnsafeMethod(req.method))) {
    size_t scheme = origin.find("://");
    std::string_view from = scheme == std::string_view::npos ? "" : origin.substr(scheme + 3);
    if (from.empty() || from != host) {
      return net::HttpResponse::Error(
          403, "refused a request from the page at " + std::string(origin) +
                   ": only the planner's own pages (at " + std::string(host) +
                   ") may change something through a browser; programs send no Origin header");
    }
  }
  const bool browser = !origin.empty() || !req.Header("Sec-Fetch-Site").empty();
  if (api_token.empty() && browser && !host.empty() && !LoopbackName(HostName(host))) {
    return net::HttpResponse::Error(
        403,
        "this planner has no API token, so browsers reach it only at a loopback address "
        "(http://127.0.0.1:PORT/ or http://localhost:PORT/), not as '" +
            std::string(host) +
            "' (a page under another name could be a DNS-rebinding attack); give the "
            "planner --token-file to open it under other names");
  }
  return std::nullopt;
}

}  // namespace volo::planner
