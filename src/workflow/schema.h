// A workflow's payload schema: JSON Schema (draft 7 and earlier keywords) checked with valijson,
// a well-kept header-only validator from Debian. Compiled once when the workflow file is read;
// a run's payload is checked before any step starts.
//
// Threading: a PayloadSchema is immutable after Compile; Check may run on any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace volo::workflow {

class PayloadSchema {
 public:
  // InvalidArgument when `schema_json` is not JSON or not a schema valijson accepts
  // (remote `$ref`s are refused: nothing is fetched).
  static Result<PayloadSchema> Compile(std::string_view schema_json);

  // Ok, or InvalidArgument naming the first failing path and why:
  // `payload.user: value type "string" is not permitted by the schema (integer expected)`.
  Status Check(std::string_view payload_json) const;

  // The type the schema declares at a dotted path below the payload ("" for the payload
  // itself, "a.b" for payload.a.b): "array", "object", "string"...; empty when it does not say.
  std::string TypeAt(std::string_view path) const;

 private:
  struct Compiled;
  std::shared_ptr<const Compiled> compiled_;
};

}  // namespace volo::workflow
