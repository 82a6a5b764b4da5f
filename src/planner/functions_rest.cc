#include "planner/functions_rest.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <limits>

#include "common/json_text.h"
#include "planner/auth.h"
#include "planner/functions.h"

namespace volo::planner {
using net::HttpRequest;
using net::HttpResponse;

namespace {

constexpr std::string_view kCall = "/fn/";
constexpr std::string_view kApi = "/api/v1/functions";

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// A time bound of the usage query: Unix seconds, or empty for `fallback`.
bool ParseTime(const std::string& s, double fallback, double* out) {
  if (s.empty()) {
    *out = fallback;
    return true;
  }
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0' || !(d >= 0)) return false;
  *out = d;
  return true;
}

constexpr size_t kMaxLogSlice = 4 << 20;
constexpr auto kFollowPoll = std::chrono::milliseconds(200);
constexpr int kFollowPolls = 125;  // a follow answers after about 25 s without news

// GET /api/v1/functions/NAME/logs: the bytes from `offset`; with follow, waits (polling) until
// there are some, the function goes, or the polls run out (an empty answer).
void ServeFnLogs(RestContext& ctx, const std::string& name, uint64_t offset, bool follow,
                 int polls_left, const Reply& reply) {
  auto slice = ctx.functions->Logs(name, offset, kMaxLogSlice);
  if (!slice.ok()) {
    return reply(HttpResponse::Error(slice.status().code() == StatusCode::kNotFound ? 404 : 400,
                                     slice.status().message()));
  }
  if (follow && slice->text.empty() && polls_left > 0) {
    ctx.env.After(kFollowPoll, [&ctx, name, offset, polls_left, reply] {
      ServeFnLogs(ctx, name, offset, true, polls_left - 1, reply);
    });
    return;
  }
  std::string body = "{\"function\":";
  AppendJsonString(body, name);
  body += ",\"start\":" + std::to_string(slice->start) +
          ",\"next\":" + std::to_string(slice->next) + ",\"size\":" + std::to_string(slice->end) +
          ",\"text\":";
  AppendJsonString(body, slice->text);
  body += '}';
  reply(HttpResponse::Json(200, std::move(body)));
}

void Call(RestContext& ctx, const HttpRequest& req, bool authorized, const Reply& reply) {
  std::string_view rest = std::string_view(req.path).substr(kCall.size());
  std::string name(rest.substr(0, rest.find('/')));
  if (!ValidFunctionName(name)) {
    return reply(HttpResponse::Error(
        400, "function name '" + name + "': 1-64 of a-z, 0-9 and '-', not starting with '-'"));
  }
  if (!authorized && !ctx.functions->IsPublic(name)) return reply(Unauthorized("the API"));
  if (req.method != "POST" && req.method != "GET" && req.method != "PUT") {
    return reply(HttpResponse::Error(405, "call a function with POST (or GET, PUT)"));
  }
  // What the program sees of the request (docs/functions.md, "The request"): never the token.
  wire::FnCall call;
  call.body = req.body;
  call.method = req.method;
  call.path = std::string(rest.substr(name.size()));
  if (auto q = req.target.find('?'); q != std::string::npos) call.query = req.target.substr(q + 1);
  for (const auto& [k, v] : req.headers) {
    if (!EqualsIgnoreCase(k, "Authorization")) call.headers.emplace_back(k, v);
  }
  const std::string async = req.Query("async");
  if (async.empty() || async == "0" || async == "false") {
    return ctx.functions->Invoke(name, std::move(call), authorized ? "api" : "public", reply);
  }
  if (async != "1" && async != "true") {
    return reply(HttpResponse::Error(400, "async: 1 or 0, not '" + async + "'"));
  }
  ctx.functions->InvokeAsync(
      name, std::move(call), authorized ? "api" : "public",
      [&](Result<std::string> id, HttpResponse now) {
        if (!id.ok()) return reply(std::move(now));
        std::string body = "{\"id\":";
        AppendJsonString(body, *id);
        body += ",\"function\":";
        AppendJsonString(body, name);
        body += ",\"result\":";
        AppendJsonString(body, std::string(kApi) + "/" + name + "/calls/" + *id);
        body += '}';
        HttpResponse r = HttpResponse::Json(202, std::move(body));
        r.headers.emplace_back("Location", std::string(kApi) + "/" + name + "/calls/" + *id);
        reply(std::move(r));
      });
}

// GET /api/v1/functions/NAME/calls/ID: an async call's answer once it is done (its status,
// headers and body as the call would have had them), 202 while it runs.
void AsyncResult(RestContext& ctx, const HttpRequest& req, const std::string& name,
                 const std::string& id, const Reply& reply) {
  if (req.method != "GET") return reply(HttpResponse::Error(405, "use GET on " + req.path));
  auto state = ctx.functions->AsyncResult(name, id);
  if (!state) {
    return reply(HttpResponse::Error(404, "no call " + id + " of function " + name +
                                              " (unknown, or its answer was dropped " +
                                              "an hour after it was done)"));
  }
  if (!state->done) {
    std::string body = "{\"id\":";
    AppendJsonString(body, id);
    body += ",\"function\":";
    AppendJsonString(body, name);
    body += ",\"done\":false}";
    HttpResponse r = HttpResponse::Json(202, std::move(body));
    r.headers.emplace_back("Retry-After", "1");
    return reply(std::move(r));
  }
  HttpResponse r = std::move(state->response);
  r.headers.emplace_back("X-Volo-Call", id);
  reply(std::move(r));
}

}  // namespace

bool IsFunctionPath(const std::string& path) {
  return path.starts_with(kCall) || path == kApi || path.starts_with(std::string(kApi) + "/");
}

void HandleFunctionRequest(RestContext& ctx, const HttpRequest& req, bool authorized,
                           const Reply& reply) {
  if (!ctx.functions) return reply(HttpResponse::Error(503, "functions are not available"));
  const std::string& p = req.path;
  const std::string& m = req.method;
  if (p.starts_with(kCall)) return Call(ctx, req, authorized, reply);
  // An async call's answer: with the API token, or without one for a public function (the
  // id, 128 random bits, is then the capability).
  if (p.starts_with(std::string(kApi) + "/")) {
    std::string_view rest = std::string_view(p).substr(kApi.size() + 1);
    auto slash = rest.find('/');
    if (slash != std::string_view::npos && rest.substr(slash + 1).starts_with("calls/")) {
      std::string name(rest.substr(0, slash));
      std::string id(rest.substr(slash + 1 + 6));
      if (ValidFunctionName(name) && !id.empty() && id.find('/') == std::string::npos &&
          (authorized || ctx.functions->IsPublic(name))) {
        return AsyncResult(ctx, req, name, id, reply);
      }
    }
  }
  if (!authorized) return reply(Unauthorized("the API"));
  if (p == kApi) {
    if (m != "GET") return reply(HttpResponse::Error(405, "use GET on " + p));
    return reply(HttpResponse::Json(200, ctx.functions->ListJson()));
  }
  std::string_view rest = std::string_view(p).substr(kApi.size() + 1);
  std::string name(rest.substr(0, rest.find('/')));
  std::string action;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    action = std::string(rest.substr(slash + 1));
  }
  if (!ValidFunctionName(name)) {
    return reply(HttpResponse::Error(
        400, "function name '" + name + "': 1-64 of a-z, 0-9 and '-', not starting with '-'"));
  }
  if (action.empty()) {
    if (m == "GET") {
      auto j = ctx.functions->GetJson(name);
      if (!j) return reply(HttpResponse::Error(404, "no function " + name));
      return reply(HttpResponse::Json(200, *j));
    }
    if (m == "PUT") {
      auto spec = ParseFunctionSpec(name, req.body);
      if (!spec.ok()) return reply(HttpResponse::Error(400, spec.status().message()));
      if (!spec->bundle.empty() && !(ctx.bundles && ctx.bundles->Has(spec->bundle))) {
        return reply(HttpResponse::Error(400, "bundle: the planner has no bundle " + spec->bundle +
                                                  " (upload it with `volo bundle push DIR`)"));
      }
      auto d = ctx.functions->Deploy(std::move(*spec));
      std::string body = "{\"name\":";
      AppendJsonString(body, name);
      body += ",\"revision\":";
      AppendJsonString(body, d.revision);
      body += d.changed ? ",\"changed\":true}" : ",\"changed\":false}";
      return reply(HttpResponse::Json(d.changed ? 201 : 200, std::move(body)));
    }
    if (m == "DELETE") {
      Status s = ctx.functions->Remove(name);
      if (!s.ok()) return reply(HttpResponse::Error(404, s.message()));
      return reply(HttpResponse::Json(200, "{\"removed\":true}"));
    }
    return reply(HttpResponse::Error(405, "use GET, PUT or DELETE on " + p));
  }
  if (action == "rollback") {
    if (m != "POST") return reply(HttpResponse::Error(405, "use POST on " + p));
    auto r = ctx.functions->Rollback(name);
    if (!r.ok()) {
      return reply(HttpResponse::Error(r.status().code() == StatusCode::kNotFound ? 404 : 409,
                                       r.status().message()));
    }
    std::string body = "{\"name\":";
    AppendJsonString(body, name);
    body += ",\"revision\":";
    AppendJsonString(body, *r);
    body += '}';
    return reply(HttpResponse::Json(200, std::move(body)));
  }
  if (action == "usage") {
    if (m != "GET") return reply(HttpResponse::Error(405, "use GET on " + p));
    double from = 0, to = 0;
    if (!ParseTime(req.Query("from"), 0, &from) ||
        !ParseTime(req.Query("to"), std::numeric_limits<double>::max(), &to)) {
      return reply(HttpResponse::Error(400, "from and to are Unix times in seconds"));
    }
    auto j = ctx.functions->UsageJson(name, from, to);
    if (!j) return reply(HttpResponse::Error(404, "no function " + name));
    return reply(HttpResponse::Json(200, *j));
  }
  if (action == "logs") {
    if (m != "GET") return reply(HttpResponse::Error(405, "use GET on " + p));
    uint64_t offset = 0;
    const std::string off = req.Query("offset", "0");
    auto [ptr, ec] = std::from_chars(off.data(), off.data() + off.size(), offset);
    if (ec != std::errc() || ptr != off.data() + off.size()) {
      return reply(
          HttpResponse::Error(400, "offset: a byte offset (0 or more), not '" + off + "'"));
    }
    const std::string follow = req.Query("follow", "0");
    if (follow != "0" && follow != "1" && follow != "true" && follow != "false") {
      return reply(HttpResponse::Error(400, "follow: 1 or 0, not '" + follow + "'"));
    }
    return ServeFnLogs(ctx, name, offset, follow == "1" || follow == "true", kFollowPolls, reply);
  }
  return reply(HttpResponse::Error(
      404, "unknown action '" + action + "' (known: rollback, usage, logs, calls/ID)"));
}

}  // namespace volo::planner
