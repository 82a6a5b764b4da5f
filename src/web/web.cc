#include "web/web.h"

#include <map>
#include <string>

namespace volo::web {
namespace {

std::map<std::string_view, const Asset*>& Table() {
  static std::map<std::string_view, const Asset*> table;
  return table;
}

// True when the comma-separated header `list` holds `token` (case-insensitive, ignoring
// parameters such as ";q=0.5" except q=0).
bool ListHas(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    std::string_view params;
    if (size_t semi = item.find(';'); semi != std::string_view::npos) {
      params = item.substr(semi + 1);
      item = item.substr(0, semi);
    }
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.size() != token.size()) continue;
    bool same = true;
    for (size_t i = 0; i < item.size() && same; ++i) {
      same = (item[i] | 0x20) == (token[i] | 0x20);
    }
    if (!same) continue;
    std::string p(params);
    std::erase(p, ' ');
    if (p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000") return false;
    return true;
  }
  return false;
}

}  // namespace

bool Register(const Asset* assets, size_t count) {
  for (size_t i = 0; i < count; ++i) Table()[assets[i].path] = &assets[i];
  return true;
}

const Asset* Find(std::string_view path) {
  auto& t = Table();
  if (!path.empty() && path.back() == '/') {
    auto it = t.find(std::string(path) + "index.html");
    return it == t.end() ? nullptr : it->second;
  }
  auto it = t.find(path);
  return it == t.end() ? nullptr : it->second;
}

std::vector<const Asset*> All() {
  std::vector<const Asset*> out;
  for (const auto& [path, a] : Table()) out.push_back(a);
  return out;
}

net::HttpResponse Serve(const Asset& asset, const net::HttpRequest& req) {
  net::HttpResponse r;
  r.headers.emplace_back("ETag", asset.etag);
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("Vary", "Accept-Encoding");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.content_type = asset.content_type;
  std::string_view inm = req.Header("If-None-Match");
  if (!inm.empty() && (inm == "*" || ListHas(inm, asset.etag))) {
    r.status = 304;
    return r;
  }
  if (asset.gzip && ListHas(req.Header("Accept-Encoding"), "gzip")) {
    r.headers.emplace_back("Content-Encoding", "gzip");
    r.body.assign(asset.gzipped());
  } else {
    r.body.assign(asset.body());
  }
  return r;
}

}  // namespace volo::web
