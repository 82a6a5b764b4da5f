#include "net/http.h"

#include <spdlog/spdlog.h>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>
#include <cstdio>

#include "common/json_text.h"
#include "net/internal.h"

namespace volo::net {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return {};
}

std::string HttpRequest::Query(const std::string& name, std::string fallback) const {
  auto it = query.find(name);
  return it == query.end() ? std::move(fallback) : it->second;
}

HttpResponse HttpResponse::Error(int status, std::string_view message) {
  std::string body = "{\"error\":";
  AppendJsonString(body, message);
  body += '}';
  return Json(status, std::move(body));
}

HttpResponse HttpResponse::Json(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

bool ParseUrl(std::string_view text, Url* out) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return false;
  const boost::urls::url_view& u = *parsed;
  Url url;
  url.scheme = u.scheme();
  uint16_t default_port = 0;
  if (url.scheme == "http" || url.scheme == "ws") {
    default_port = 80;
  } else if (url.scheme == "https" || url.scheme == "wss") {
    default_port = 443;
  } else {
    return false;
  }
  url.host = u.host_address();
  if (url.host.empty()) return false;
  if (u.has_port()) {
    // port_number() silently wraps numbers beyond 16 bits, so parse the digits here.
    std::string_view digits = u.port();
    unsigned port = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc() || end != digits.data() + digits.size() || port == 0 || port > 65535) {
      return false;
    }
    url.port = static_cast<uint16_t>(port);
  } else {
    url.port = default_port;
  }
  std::string_view target = u.encoded_target();
  if (target.empty() || target.front() != '/')
    url.target = "/";
  else
    url.target.clear();
  url.target += target;
  *out = std::move(url);
  return true;
}

namespace internal {

bool ParseTarget(std::string_view target, std::string* path,
                 std::map<std::string, std::string>* query) {
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return false;
  *path = parsed->path();
  query->clear();
  // Form-style queries encode spaces as '+'; volo's clients and browsers both send that.
  for (auto param : parsed->params(boost::urls::encoding_opts(true))) {
    (*query)[std::move(param.key)] = std::move(param.value);
  }
  return true;
}

void LogUnexpectedException(std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    spdlog::error("net: coroutine ended with an exception: {}", e.what());
  } catch (...) {
    spdlog::error("net: coroutine ended with an unknown exception");
  }
}

}  // namespace internal
}  // namespace volo::net
