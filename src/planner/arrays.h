// Task arrays (docs/rest-api.md, "Arrays"): one request that the planner expands into many
// tasks of one template, as `volo submit --each` sends it:
//
//   POST /api/v1/tasks {"array": {task template}, "each": E}
//     E: {"var": "i", "from": 1, "to": 1000, "step": 1}   integers
//        {"var": "line", "values": ["a", "b", ...]}       strings (volo submit --each-line)
//        {"objects": [{"seed": 1, "name": "x"}, ...]}     one object per task (--each-json)
//   Every `{name}` in a string of the template's args becomes the element's value (a string
//   as is, anything else as JSON text); other braces stay. Each task is validated as if
//   submitted alone; all or none are queued.
//   201 {"array": A, "first": A, "last": L, "size": N}: the array's id is its first task's id;
//   its tasks carry the labels array=A and array_index=K (0-based).
//   GET /api/v1/arrays/A: counts by state, exit codes counted, failed ids (first 1000).
//   POST /api/v1/arrays/A/resubmit {"state": "failed"}: the tasks in that state (failed or
//   cancelled) queued again as a new array; answers like the submit.
//
// Threading: the planner's io thread (handlers over Core, like rest.h).
#pragma once

#include <string>

#include "planner/rest.h"

namespace volo::planner {

// Whether a POST /api/v1/tasks body is an array request (has a top-level "array" key).
bool IsArrayBody(std::string_view body);
void SubmitArray(RestContext& ctx, const net::HttpRequest& req, const Reply& reply);
// /api/v1/arrays/...
void HandleArrays(RestContext& ctx, const net::HttpRequest& req, const Reply& reply);
// "0", "3", "SIGSEGV", "timeout", "error": how a finished task's command ended ("" when it
// did not finish or is no command).
std::string ExitCodeOf(const Task& t);

}  // namespace volo::planner
