#include "worker/seed.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <cmath>

#include "wire/messages.h"
#include "worker/builtin.h"

namespace volo::worker {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// One seed variable: nullopt when unset (or empty: the seed's `VAR=` is unset too).
Result<std::optional<bool>> SeedBool(const char* name, const std::optional<std::string>& raw) {
  if (!raw || raw->empty()) return std::optional<bool>();
  std::string v = Lower(*raw);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
  if (v == "true" || v == "1" || v == "yes" || v == "on") return std::optional<bool>(true);
  if (v == "false" || v == "0" || v == "no" || v == "off") return std::optional<bool>(false);
  return InvalidArgument(std::string(name) + " must be true or false (or 1/0), not '" + *raw + "'");
}

net::HttpResponse Text(int status, std::string body) {
  net::HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

bool IsWildcard(const std::string& bind) {
  return bind.empty() || bind == "0.0.0.0" || bind == "::" || bind == "[::]";
}

}  // namespace

Result<std::optional<std::vector<std::string>>> SeedOps(const std::optional<std::string>& add,
                                                        const std::optional<std::string>& mult) {
  VOLO_ASSIGN_OR_RETURN(std::optional<bool> a, SeedBool("ADD", add));
  VOLO_ASSIGN_OR_RETURN(std::optional<bool> m, SeedBool("MULT", mult));
  if (!a && !m) return std::optional<std::vector<std::string>>();
  std::vector<std::string> ops;
  if (a.value_or(true)) ops.push_back("add");
  if (m.value_or(true)) ops.push_back("mult");
  if (ops.empty()) {
    return InvalidArgument("ADD=false and MULT=false leave this worker nothing to run");
  }
  return std::optional<std::vector<std::string>>(std::move(ops));
}

std::string AdvertiseUrl(const std::string& advertise, const std::string& bind, uint16_t port) {
  std::string url = advertise;
  if (url.empty()) {
    std::string host = bind;
    if (IsWildcard(bind)) {
      char name[256] = "localhost";
      gethostname(name, sizeof name - 1);
      host = name;
    } else if (host.find(':') != std::string::npos && host.front() != '[') {
      host = "[" + host + "]";  // an IPv6 literal
    }
    return "http://" + host + ":" + std::to_string(port);
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.find("://") == std::string::npos) {
    url = "http://" + url;
    // A bare host (no port after it) gets the port the endpoints listen on.
    std::string_view rest = std::string_view(url).substr(7);
    size_t colon = rest.rfind(':');
    size_t bracket = rest.rfind(']');
    if (colon == std::string_view::npos || (bracket != std::string_view::npos && colon < bracket)) {
      url += ":" + std::to_string(port);
    }
  }
  return url;
}

std::string SeedRegisterBody(const std::string& url, const std::string& id) {
  std::string out = "{\"url\":";
  AppendJsonString(out, url);
  out += ",\"id\":";
  AppendJsonString(out, id);
  out += '}';
  return out;
}

std::optional<int> RefusedUpgradeStatus(const Status& s) {
  if (s.code() != StatusCode::kFailedPrecondition) return std::nullopt;
  static constexpr std::string_view kMark = "refused: HTTP ";
  const std::string& m = s.message();
  size_t at = m.find(kMark);
  if (at == std::string::npos) return std::nullopt;
  at += kMark.size();
  int code = 0;
  size_t digits = 0;
  while (at + digits < m.size() && digits < 3 &&
         std::isdigit(static_cast<unsigned char>(m[at + digits]))) {
    code = code * 10 + (m[at + digits] - '0');
    ++digits;
  }
  if (digits != 3) return std::nullopt;
  return code;
}

bool MeansNoNativeProtocol(int http_status) {
  if (http_status == 401 || http_status == 403 || http_status == 429) return false;
  return http_status >= 400 && http_status < 500;
}

struct SeedEndpoints::Running {
  explicit Running(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  std::string task;  // {"a": .., "b": ..} as the seed's GET / shows it
};

SeedEndpoints::SeedEndpoints(asio::io_context& io, std::string id, std::set<std::string> ops,
                             double duration_scale, std::function<std::string()> status_json,
                             std::function<void()> on_idle)
    : io_(io),
      id_(std::move(id)),
      ops_(std::move(ops)),
      duration_scale_(duration_scale),
      status_json_(std::move(status_json)),
      on_idle_(std::move(on_idle)),
      rng_(std::random_device{}()) {}

SeedEndpoints::~SeedEndpoints() {
  // A handler already queued still runs: it sees `alive_` false and touches nothing.
  *alive_ = false;
  for (auto& [op, r] : working_) r->timer.cancel();
}

std::vector<std::string> SeedEndpoints::working() const {
  std::vector<std::string> out;
  for (const auto& [op, r] : working_) out.push_back(op);
  return out;
}

void SeedEndpoints::Handle(net::HttpRequest req, net::Respond respond) {
  if (req.method == "GET" && req.path == "/status") {
    respond(net::HttpResponse::Json(200, status_json_()));
    return;
  }
  if (req.method == "GET" && req.path == "/") {
    // As the seed's worker: what it works on (mult first, as the seed checks it first), else
    // that it is ready.
    std::shared_ptr<Running> r;
    std::string type;
    for (const char* op : {"mult", "add"}) {
      if (auto it = working_.find(op); it != working_.end()) {
        r = it->second;
        type = op;
        break;
      }
    }
    if (!r && !working_.empty()) {
      type = working_.begin()->first;
      r = working_.begin()->second;
    }
    if (!r) {
      respond(Text(200, "ready to work"));
      return;
    }
    std::string out = "{\"type\":";
    AppendJsonString(out, type);
    out += ",\"task\":" + r->task + "}";
    respond(net::HttpResponse::Json(200, std::move(out)));
    return;
  }
  // Express's answer to a route it does not have; never JSON, so a seed planner cannot take it
  // for a result and puts the task back.
  std::string op = req.path.size() > 1 ? req.path.substr(1) : "";
  if (req.method != "POST" || !wire::IsBuiltinOp(op) || !ops_.count(op)) {
    std::string why = req.method == "POST" && wire::IsBuiltinOp(op)
                          ? " (this worker does not run " + op + ")"
                          : " (this worker serves GET /, GET /status and POST /<op>)";
    respond(Text(404, "Cannot " + req.method + " " + req.path + why));
    return;
  }
  if (!taking_ || working_.count(op)) {
    respond(Text(403, "Already working"));
    return;
  }
  auto plan = PlanBuiltin(op, req.body.empty() ? "{}" : req.body, duration_scale_, rng_);
  if (!plan.ok()) {
    respond(Text(400, plan.status().message()));
    return;
  }
  // Whole milliseconds, as the seed reports the duration it waited.
  const int64_t ms = std::llround(std::max(0.0, plan->seconds) * 1000);
  std::string answer =
      "{\"res\":" + plan->result + ",\"duration\":" + std::to_string(ms) + ",\"id\":";
  AppendJsonString(answer, id_);
  answer += '}';
  if (ms <= 0) {
    respond(net::HttpResponse::Json(200, std::move(answer)));
    return;
  }
  auto running = std::make_shared<Running>(io_);
  {
    boost::system::error_code ec;
    json::value v = json::parse(req.body, ec);
    json::object task;
    if (!ec && v.is_object()) {
      for (const char* k : {"a", "b"}) {
        if (const json::value* x = v.get_object().if_contains(k)) task[k] = *x;
      }
    }
    running->task = json::serialize(task);
  }
  working_[op] = running;
  running->timer.expires_after(std::chrono::milliseconds(ms));
  running->timer.async_wait([this, alive = alive_, running, op, respond,
                             answer = std::move(answer)](const boost::system::error_code&) mutable {
    if (!*alive) return;
    auto it = working_.find(op);
    if (it == working_.end() || it->second != running) return;
    working_.erase(it);
    respond(net::HttpResponse::Json(200, std::move(answer)));
    if (on_idle_) on_idle_();
  });
}

}  // namespace volo::worker
