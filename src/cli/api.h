// What the client commands (submit, status, wait, cancel, tasks, task) share: the planner's
// address and token, one REST call with clear failures, and plain-text tables.
// Used from the main thread only.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
class Validator;
}  // namespace CLI

namespace volo::cli {

// The value of an environment variable, or `fallback` when unset or empty.
std::string Env(const char* name, std::string fallback);
// The planner every command uses unless told otherwise: $VOLO_PLANNER, else $PLANNER (the
// seed's variable), else http://127.0.0.1:3000.
std::string DefaultPlanner();
// A CLI11 check that a flag's value is an http:// or https:// URL with a host (or, with
// `allow_none`, the word "none").
CLI::Validator PlannerUrl(bool allow_none = false);
// A secret from a file (trailing whitespace trimmed) or, without a file, from the environment
// variable `env`. An unreadable or empty file is a usage error (CLI::ValidationError).
std::string Secret(const std::string& file, const char* env);

// --planner and --token-file on a client command; the values land in `planner` and in the
// process-wide token file.
void AddPlannerFlags(CLI::App& cmd, std::string* planner);

// The API token client commands send (--token-file, else VOLO_TOKEN); empty without one.
std::string ApiToken();

// Calls the planner's REST API and parses the JSON answer. On failure prints one line to
// stderr (the planner's own error message when it gave one), sets *exit_code (when given) to 1
// and returns nullopt; success leaves *exit_code alone. `unreachable`, when given, tells whether
// the failure was that no answer came (the planner down or restarting).
std::optional<boost::json::value> Call(const std::string& planner, const std::string& method,
                                       const std::string& path, const std::string& body,
                                       int* exit_code, double timeout_s = 10,
                                       bool* unreachable = nullptr);

// Like Call, for an answer that is not JSON (command logs): its body as it came.
std::optional<std::string> CallRaw(const std::string& planner, const std::string& method,
                                   const std::string& path, int* exit_code, double timeout_s = 10);

// A JSON scalar as table text: strings bare, null as "-", numbers as written.
std::string Str(const boost::json::value& v);
// A Unix time as local "YYYY-MM-DD HH:MM:SS.mmm", or "-" for null/0; with `utc`, in UTC and
// saying so ("... UTC"), as when it answers a schedule written in UTC.
std::string Timestamp(const boost::json::value& v, bool utc = false);
// Rows of cells, columns padded to their widest cell, to a string (each row ends in '\n').
std::string Table(const std::vector<std::vector<std::string>>& rows);
// Serializes `v` like boost::json::serialize but writes every double as a plain decimal
// (no exponent), so 1764633600.25 stays readable and parseable by any tool.
std::string PlainJson(const boost::json::value& v);

}  // namespace volo::cli
