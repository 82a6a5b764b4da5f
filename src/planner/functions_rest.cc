#include "planner/functions_rest.h"

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
  ctx.functions->Invoke(name, req.body, authorized ? "api" : "public", reply);
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
  return reply(
      HttpResponse::Error(404, "unknown action '" + action + "' (known: rollback, usage)"));
}

}  // namespace volo::planner
