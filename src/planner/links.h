// How the planner reaches its peers: Core's WorkerLink and ClientSink over the network.
//
//   WsWorkerLink   a native worker on a WebSocket (docs/protocol.md)
//   HttpWorkerLink a seed-style HTTP worker, pushed `POST <url>/<op>` per task
//   StreamClient   a streaming client on /api/v1/stream, sent its tasks' results
//
// All of them buffer what one event-loop turn produces and send it as one frame when the turn
// ends (a posted flush). Every method runs on the planner's io thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/client.h"
#include "net/server.h"
#include "planner/core.h"
#include "wire/messages.h"

namespace boost::asio {
class io_context;
}

namespace volo::planner {

class WsWorkerLink final : public WorkerLink, public std::enable_shared_from_this<WsWorkerLink> {
 public:
  WsWorkerLink(boost::asio::io_context& io, std::shared_ptr<net::WsConnection> conn);

  void Assign(const Task& t, std::string_view op) override;
  void Cancel(TaskId id) override;
  void Drop(std::string_view reason) override;
  // Sends a message now, outside the batched task frames.
  void SendNow(std::string message);
  // A function message (wire/function_messages.h): to a worker that reads fn_batch, it leaves
  // with the other function messages of this turn of the event loop, in order, as one fn_batch;
  // to one that does not, now.
  void SendFn(std::string message);

  WorkerIndex index = kNoWorker;  // the worker's slot in Core, once registered
  bool fn_batch = false;          // the worker said it reads fn_batch (register)

 private:
  void ScheduleFlush();
  void Flush();

  boost::asio::io_context& io_;
  std::weak_ptr<net::WsConnection> conn_;
  wire::TasksEncoder tasks_;
  std::vector<uint64_t> cancels_;
  wire::FnBatcher fn_;
  bool flush_pending_ = false;
};

// Runs `ack` once everything recorded so far is durable (CommitGate::Durable).
using DurableFn = std::function<void(std::function<void(const Status&)> ack)>;

class StreamClient final : public ClientSink, public std::enable_shared_from_this<StreamClient> {
 public:
  StreamClient(boost::asio::io_context& io, std::shared_ptr<net::WsConnection> conn,
               DurableFn durable);
  void OnFinished(const Task& t, std::string_view worker) override;
  void OnOutput(const Task& t, uint64_t offset, std::string_view text) override;

  ClientId id;  // the client's number in Core

 private:
  void Flush();

  boost::asio::io_context& io_;
  std::weak_ptr<net::WsConnection> conn_;
  void ScheduleFlush();

  wire::ClientResultsEncoder results_;
  wire::OutputEncoder output_;  // sent at once, ahead of results (which wait to be durable)
  bool flush_pending_ = false;
  DurableFn durable_;
};

// 403 means busy, a refused connection means gone, 404 means the worker does not run that
// operation; anything else that is not a 200 with JSON fails the attempt.
class HttpWorkerLink final : public WorkerLink {
 public:
  HttpWorkerLink(Core& core, net::HttpClient& client, std::string url,
                 std::chrono::milliseconds timeout);

  void Assign(const Task& t, std::string_view op) override;
  void Cancel(TaskId) override {}  // the seed protocol cannot stop a running task
  void Drop(std::string_view) override { *alive_ = false; }

  WorkerIndex index = kNoWorker;
  const std::string& url() const { return url_; }

 private:
  void OnResponse(uint64_t id, double started, Result<net::ClientResponse> r);
  void Fail(uint64_t id, double started, std::string error);

  Core& core_;
  net::HttpClient& client_;
  std::string url_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace volo::planner
