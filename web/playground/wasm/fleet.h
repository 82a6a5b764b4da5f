// "Run on this fleet": the playground's cluster environment, for the page a planner serves at
// /playground/. A fly whose environment is bound to the fleet is cut into chunks exactly as
// `volo run --env NAME=cluster:URL` cuts it (src/cluster/cluster_env.cc), and each chunk is a
// `fly` task submitted over the planner's REST API; the interpreter's one thread then waits for
// the chunks with the REST long-poll (POST /api/v1/wait), hands their messages to the program's
// channels and their output to the page, and completes the instances.
//
// Waiting is a plain blocking call into JavaScript (playground.js -> the Web Worker's Fleet in
// worker.ts): the interpreter runs in a Web Worker, where a synchronous XMLHttpRequest blocks
// that worker only. No Asyncify, no threads: the wait happens where the one-thread runtime
// waits for a fly anyway (Environment::RunPending).
#pragma once

#include <string>

#include "fly/environment.h"

namespace volo::playground {

// SHA-256 of `data` as 64 lowercase hex digits (the blob store's names).
std::string Sha256Hex(const std::string& data);

// Makes the fleet environment for every binding of kind "cluster" (the page binds every declared
// environment to "cluster:<the planner's URL>"); `url` is what messages name.
fly::EnvironmentFactory MakeFleetFactory();

}  // namespace volo::playground
