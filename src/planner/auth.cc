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

}  // namespace volo::planner
