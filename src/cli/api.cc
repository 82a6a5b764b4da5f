#include "cli/api.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>

#include "cli/text.h"
#include "net/client.h"
#include "wire/messages.h"

namespace volo::cli {
namespace json = boost::json;

namespace {
std::string g_token_file;  // --token-file of the client commands
}  // namespace

std::string Env(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

std::string DefaultPlanner() {
  return Env("VOLO_PLANNER", Env("PLANNER", "http://127.0.0.1:3000"));
}

CLI::Validator PlannerUrl(bool allow_none) {
  return CLI::Validator(
      [allow_none](std::string& v) -> std::string {
        if (allow_none && v == "none") return "";
        size_t scheme = v.rfind("http://", 0) == 0 ? 7 : v.rfind("https://", 0) == 0 ? 8 : 0;
        if (scheme == 0) {
          return "'" + v + "' is not a planner URL; give one like http://127.0.0.1:3000";
        }
        if (v.size() == scheme || v[scheme] == '/' || v[scheme] == ':') {
          return "'" + v + "' has no host; give one like http://127.0.0.1:3000";
        }
        while (v.size() > scheme && v.back() == '/') v.pop_back();
        return "";
      },
      "URL");
}

std::string Secret(const std::string& file, const char* env) {
  if (file.empty()) return Env(env, "");
  std::ifstream f(file);
  if (!f) throw CLI::ValidationError("cannot read the token file " + file);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  if (s.empty()) throw CLI::ValidationError("the token file " + file + " is empty");
  return s;
}

void AddPlannerFlags(CLI::App& cmd, std::string* planner) {
  cmd.add_option("--planner", *planner, "Planner URL (env VOLO_PLANNER, else PLANNER)")
      ->capture_default_str()
      ->check(PlannerUrl());
  cmd.add_option("--token-file", g_token_file, "Bearer token for the API (env VOLO_TOKEN)");
}

namespace {

// An error body {"error": "..."} as its message, or the body.
std::string ErrorText(const net::ClientResponse& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (!ec && v.is_object() && v.get_object().contains("error") &&
      v.get_object().at("error").is_string()) {
    return std::string(v.get_object().at("error").get_string());
  }
  return "HTTP " + std::to_string(r.status) + ": " + r.body;
}

}  // namespace

std::string ApiToken() { return Secret(g_token_file, "VOLO_TOKEN"); }

std::optional<json::value> Call(const std::string& planner, const std::string& method,
                                const std::string& path, const std::string& body, int* exit_code,
                                double timeout_s, bool* unreachable) {
  if (unreachable) *unreachable = false;
  net::Headers headers{{"Content-Type", "application/json"}};
  std::string token = Secret(g_token_file, "VOLO_TOKEN");
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  auto r = net::HttpFetch(method, planner + path, body, headers,
                          std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  auto failed = [exit_code] {
    if (exit_code) *exit_code = 1;
    return std::nullopt;
  };
  if (!r.ok()) {
    std::cerr << "volo: cannot reach the planner at " << planner << ": " << r.status().message()
              << "\n";
    if (unreachable) *unreachable = true;
    return failed();
  }
  if (r->status == 401) {
    std::cerr << "volo: the planner at " << planner << " refused the token (" << ErrorText(*r)
              << "); give it with --token-file or VOLO_TOKEN\n";
    return failed();
  }
  if (r->status >= 400) {
    std::cerr << "volo: " << ErrorText(*r) << "\n";
    return failed();
  }
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  if (ec) {
    std::cerr << "volo: " << planner << " answered something that is not JSON; is it a volo "
              << "planner?\n";
    return failed();
  }
  return v;
}

std::optional<std::string> CallRaw(const std::string& planner, const std::string& method,
                                   const std::string& path, int* exit_code, double timeout_s) {
  net::Headers headers;
  std::string token = Secret(g_token_file, "VOLO_TOKEN");
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  auto r = net::HttpFetch(method, planner + path, "", headers,
                          std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  if (!r.ok()) {
    std::cerr << "volo: cannot reach the planner at " << planner << ": " << r.status().message()
              << "\n";
  } else if (r->status == 401) {
    std::cerr << "volo: the planner at " << planner << " refused the token (" << ErrorText(*r)
              << "); give it with --token-file or VOLO_TOKEN\n";
  } else if (r->status >= 400) {
    std::cerr << "volo: " << ErrorText(*r) << "\n";
  } else {
    return std::move(r->body);
  }
  if (exit_code) *exit_code = 1;
  return std::nullopt;
}

std::string Str(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_null()) return "-";
  if (v.is_double()) return PlainDecimal(v.get_double(), 3);
  return wire::ToJson(v);
}

std::string Timestamp(const json::value& v, bool utc) {
  if (!v.is_number()) return "-";
  double t = v.to_number<double>();
  if (t <= 0) return "-";
  std::time_t secs = static_cast<std::time_t>(t);
  std::tm tm{};
  if (utc) {
    gmtime_r(&secs, &tm);
  } else {
    localtime_r(&secs, &tm);
  }
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  int ms = static_cast<int>((t - static_cast<double>(secs)) * 1000);
  char out[80];
  std::snprintf(out, sizeof out, "%s.%03d%s", buf, std::clamp(ms, 0, 999), utc ? " UTC" : "");
  return out;
}

std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& r : rows) {
    widths.resize(std::max(widths.size(), r.size()));
    for (size_t i = 0; i < r.size(); ++i) widths[i] = std::max(widths[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      std::string cell = r[i];
      if (i + 1 < r.size()) cell.resize(widths[i] + 2, ' ');
      line += cell;
    }
    out += line + "\n";
  }
  return out;
}

namespace {

void AppendPlain(std::string& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, e] : v.get_object()) {
        if (!first) out += ',';
        first = false;
        out += json::serialize(json::string(k));
        out += ':';
        AppendPlain(out, e);
      }
      out += '}';
      return;
    }
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        AppendPlain(out, e);
      }
      out += ']';
      return;
    }
    case json::kind::double_:
      out += PlainDecimal(v.get_double());
      return;
    default:
      out += json::serialize(v);
  }
}

}  // namespace

std::string PlainJson(const json::value& v) {
  std::string out;
  AppendPlain(out, v);
  return out;
}

}  // namespace volo::cli
