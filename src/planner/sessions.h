// The planner's two WebSocket sessions, each read as its protocol goes:
//
//   worker  (/api/v1/workers/connect): `register` first, then heartbeats, results, refusals
//           and `leaving` until the connection ends; the worker's tasks go back to the queue
//           if it ends while the worker is still live.
//   stream  (/api/v1/stream): `submit` messages, each acknowledged once durable; the client's
//           tasks' results flow back through its StreamClient.
//
// Each function returns the net::WsHandlers for one new connection: a session coroutine that
// reads the connection from its first message to its last (register, then loop, as Beast's
// examples do) and an on_close that cleans up, once, however the connection ends (it also runs
// inside Server::Stop, after which the coroutine touches nothing). Both run on the planner's
// io thread.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "net/server.h"
#include "planner/core.h"
#include "planner/functions.h"
#include "planner/links.h"
#include "planner/logs.h"

namespace boost::asio {
class io_context;
}

namespace volo::planner {

struct SessionContext {
  boost::asio::io_context& io;
  Core& core;
  DurableFn durable;
  int heartbeat_ms = 1000;
  // Native worker links by worker index, so that Stop() can reach them.
  std::unordered_map<WorkerIndex, std::shared_ptr<WsWorkerLink>>& worker_links;
  uint64_t& next_client;
  LogStore* logs = nullptr;              // command output the workers stream
  FunctionService* functions = nullptr;  // function instances on workers (functions.h)
};

net::WsHandlers WorkerSession(SessionContext& ctx);
net::WsHandlers StreamSession(SessionContext& ctx);

}  // namespace volo::planner
