// The functions' HTTP routes (docs/rest-api.md, "Functions"):
//
//   ANY    /fn/NAME[/path]                    call the function (the API token unless public)
//   GET    /api/v1/functions                  list
//   GET    /api/v1/functions/NAME             one, with its revisions and counters
//   PUT    /api/v1/functions/NAME             deploy (a FunctionSpec as JSON)
//   DELETE /api/v1/functions/NAME             remove
//   POST   /api/v1/functions/NAME/rollback    the previous revision becomes current
//   GET    /api/v1/functions/NAME/usage?from=&to=   metered totals, per caller
//   GET    /api/v1/functions/NAME/logs?offset=&follow=  its instances' stderr
//
// Threading: the planner's io thread.
#pragma once

#include "planner/rest.h"

namespace volo::planner {

// Whether HandleFunctionRequest serves `path`.
bool IsFunctionPath(const std::string& path);
// `authorized`: the request carries the API token. Routes other than a public function's call
// answer 401 without it.
void HandleFunctionRequest(RestContext& ctx, const net::HttpRequest& req, bool authorized,
                           const Reply& reply);

}  // namespace volo::planner
