#include "worker/builtin.h"

#include <boost/json.hpp>
#include <cmath>

#include "wire/messages.h"

namespace volo::worker {
namespace json = boost::json;

bool IsInstant(std::string_view op) { return op == "noop" || op == "echo"; }

Result<BuiltinPlan> PlanBuiltin(std::string_view op, std::string_view args, double duration_scale,
                                std::mt19937_64& rng) {
  if (op == "noop") return BuiltinPlan{"null", 0};
  if (op == "echo") return BuiltinPlan{std::string(args), 0};
  if (!wire::IsBuiltinOp(op))
    return NotFound("operation '" + std::string(op) + "' is not built in");
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(args.data(), args.size()), ec);
  if (ec || !v.is_object()) return InvalidArgument("args: must be a JSON object");
  const json::object& o = v.get_object();
  VOLO_RETURN_IF_ERROR(wire::ValidateBuiltinArgs(op, o, "args"));
  if (op == "sleep") return BuiltinPlan{"null", o.at("seconds").to_number<double>()};
  const json::value& a = o.at("a");
  const json::value& b = o.at("b");
  json::value res;
  bool ints = a.is_int64() && b.is_int64();
  double lo, hi;
  if (op == "add") {
    lo = 3, hi = 7;
    int64_t r;
    if (ints && !__builtin_add_overflow(a.get_int64(), b.get_int64(), &r)) {
      res = r;
    } else {
      res = a.to_number<double>() + b.to_number<double>();
    }
  } else {
    lo = 3, hi = 12;
    int64_t r;
    if (ints && !__builtin_mul_overflow(a.get_int64(), b.get_int64(), &r)) {
      res = r;
    } else {
      res = a.to_number<double>() * b.to_number<double>();
    }
  }
  if (res.is_double() && !std::isfinite(res.get_double())) {
    return InvalidArgument("the result is not a finite number");
  }
  double seconds = 0;
  if (const json::value* d = o.if_contains("duration")) {
    seconds = d->to_number<double>();
  } else if (duration_scale > 0)
    seconds = std::uniform_real_distribution<double>(lo, hi)(rng) * duration_scale;
  return BuiltinPlan{wire::ToJson(res), seconds};
}

}  // namespace volo::worker
