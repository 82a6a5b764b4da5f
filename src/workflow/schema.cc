#include "workflow/schema.h"

#define VALIJSON_USE_EXCEPTIONS 1
#include <boost/json.hpp>
#include <charconv>
#include <exception>
#include <valijson/adapters/boost_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace volo::workflow {
namespace json = boost::json;

struct PayloadSchema::Compiled {
  json::value document;  // kept for TypeAt
  valijson::Schema schema;
};

Result<PayloadSchema> PayloadSchema::Compile(std::string_view schema_json) {
  auto c = std::make_shared<Compiled>();
  boost::system::error_code ec;
  c->document = json::parse(schema_json, ec);
  if (ec) return InvalidArgument("the schema is not valid JSON: " + ec.message());
  if (!c->document.is_object() && !c->document.is_bool()) {
    return InvalidArgument("a schema must be an object");
  }
  try {
    valijson::SchemaParser parser;
    valijson::adapters::BoostJsonAdapter adapter(c->document);
    parser.populateSchema(adapter, c->schema);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("the schema is not one volo can use: ") + e.what());
  }
  PayloadSchema s;
  s.compiled_ = std::move(c);
  return s;
}

Status PayloadSchema::Check(std::string_view payload_json) const {
  boost::system::error_code ec;
  json::value payload = json::parse(payload_json, ec);
  if (ec) return InvalidArgument("payload: not valid JSON: " + ec.message());
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::BoostJsonAdapter adapter(payload);
  bool ok = false;
  try {
    ok = validator.validate(compiled_->schema, adapter, &results);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("payload: ") + e.what());
  }
  if (ok) return Status::Ok();
  // The deepest error says the most; valijson lists the enclosing ones first.
  valijson::ValidationResults::Error error, best;
  size_t depth = 0;
  bool any = false;
  while (results.popError(error)) {
    if (!any || error.context.size() > depth) {
      best = error;
      depth = error.context.size();
      any = true;
    }
  }
  std::string path = "payload";
  std::string fields;  // "a.b" when the path has no index, for TypeAt
  bool indexed = false;
  const json::value* at = &payload;  // the value at fault
  for (const std::string& part : best.context) {
    if (part == "<root>") continue;
    // valijson writes "[name]" for properties and "[3]" for items.
    std::string p = part;
    if (p.size() >= 2 && p.front() == '[' && p.back() == ']') p = p.substr(1, p.size() - 2);
    bool index = !p.empty() && p.find_first_not_of("0123456789") == std::string::npos;
    path += index ? "[" + p + "]" : "." + p;
    indexed |= index;
    fields += (fields.empty() ? "" : ".") + p;
    size_t i = 0;
    if (at && index && at->is_array() &&
        std::from_chars(p.data(), p.data() + p.size(), i).ec == std::errc() &&
        i < at->as_array().size()) {
      at = &at->as_array()[i];
    } else if (at && !index && at->is_object()) {
      at = at->as_object().if_contains(p);
    } else {
      at = nullptr;
    }
  }
  std::string what = any ? best.description : "does not match the schema";
  if (any && at && what.find("'type' constraint") != std::string::npos) {
    // valijson's "Value type not permitted by 'type' constraint." names neither type.
    std::string want = indexed ? "" : TypeAt(fields);
    std::string have = at->is_null()     ? "null"
                       : at->is_bool()   ? "a boolean"
                       : at->is_number() ? "a number"
                       : at->is_string() ? "a string"
                       : at->is_array()  ? "an array"
                                         : "an object";
    if (at->is_string() || at->is_number() || at->is_bool()) {
      std::string v = json::serialize(*at);
      have += " (" + (v.size() > 40 ? v.substr(0, 37) + "..." : v) + ")";
    }
    what = want.empty() ? have + " is not of a type the schema allows"
                        : "must be " + want + ", not " + have;
  }
  return InvalidArgument(path + ": " + what);
}

std::string PayloadSchema::TypeAt(std::string_view path) const {
  const json::value* node = &compiled_->document;
  while (!path.empty()) {
    size_t dot = path.find('.');
    std::string_view key = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    const json::object* o = node->if_object();
    if (!o) return "";
    const json::value* props = o->if_contains("properties");
    if (!props || !props->is_object()) return "";
    node = props->as_object().if_contains(key);
    if (!node) return "";
  }
  const json::object* o = node->if_object();
  if (!o) return "";
  const json::value* type = o->if_contains("type");
  if (type && type->is_string()) return std::string(type->as_string());
  return "";
}

}  // namespace volo::workflow
