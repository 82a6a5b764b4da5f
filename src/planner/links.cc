#include "planner/links.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

namespace volo::planner {
namespace asio = boost::asio;
namespace json = boost::json;

// ---- WsWorkerLink ----

WsWorkerLink::WsWorkerLink(asio::io_context& io, std::shared_ptr<net::WsConnection> conn)
    : io_(io), conn_(std::move(conn)) {}

void WsWorkerLink::Assign(const Task& t, std::string_view op) {
  tasks_.Add(t.id.value(), op, t.args, t.timeout, t.request ? &t.request->spec : nullptr);
  ScheduleFlush();
}

void WsWorkerLink::Cancel(TaskId id) {
  cancels_.push_back(id.value());
  ScheduleFlush();
}

void WsWorkerLink::Drop(std::string_view reason) {
  Flush();
  if (auto c = conn_.lock()) {
    c->Send(wire::EncodeError(reason));
    c->Close(reason);
  }
}

void WsWorkerLink::SendNow(std::string message) {
  if (auto c = conn_.lock()) c->Send(std::move(message));
}

void WsWorkerLink::SendFn(std::string message) {
  if (!fn_batch) return SendNow(std::move(message));
  fn_.Add(std::move(message));
  ScheduleFlush();
}

void WsWorkerLink::ScheduleFlush() {
  if (flush_pending_) return;
  flush_pending_ = true;
  asio::post(io_, [self = shared_from_this()] { self->Flush(); });
}

void WsWorkerLink::Flush() {
  flush_pending_ = false;
  auto c = conn_.lock();
  if (!c) return;
  if (!fn_.empty()) {
    for (std::string& m : fn_.Finish()) c->Send(std::move(m));
  }
  if (!tasks_.empty()) c->Send(tasks_.Finish());
  if (!cancels_.empty()) {
    c->Send(wire::EncodeCancel(cancels_));
    cancels_.clear();
  }
}

// ---- StreamClient ----

StreamClient::StreamClient(asio::io_context& io, std::shared_ptr<net::WsConnection> conn,
                           DurableFn durable)
    : io_(io), conn_(std::move(conn)), durable_(std::move(durable)) {}

void StreamClient::OnFinished(const Task& t, std::string_view worker) {
  bool done = t.state == TaskState::kDone;
  results_.Add(t.id.value(), TaskStateName(t.state), done ? std::string_view(t.result) : "",
               done ? "" : std::string_view(t.result), worker);
  ScheduleFlush();
}

void StreamClient::OnOutput(const Task& t, uint64_t offset, std::string_view text) {
  output_.Add(t.id.value(), offset, text);
  ScheduleFlush();
}

void StreamClient::ScheduleFlush() {
  if (flush_pending_) return;
  flush_pending_ = true;
  asio::post(io_, [self = shared_from_this()] { self->Flush(); });
}

void StreamClient::Flush() {
  flush_pending_ = false;
  // Output is not journaled: it goes now. A task's output always reached Core before its
  // result, so it also leaves before the result.
  if (!output_.empty()) {
    if (auto c = conn_.lock()) {
      c->Send(output_.Finish());
    } else {
      output_ = wire::OutputEncoder();
    }
  }
  if (results_.empty()) return;
  // Results go out once they are durable, like every other answer.
  durable_([conn = conn_, msg = results_.Finish()](const Status&) mutable {
    if (auto c = conn.lock()) c->Send(std::move(msg));
  });
}

// ---- HttpWorkerLink ----

HttpWorkerLink::HttpWorkerLink(Core& core, net::HttpClient& client, std::string url,
                               std::chrono::milliseconds timeout)
    : core_(core), client_(client), url_(std::move(url)), timeout_(timeout) {
  while (!url_.empty() && url_.back() == '/') url_.pop_back();
}

void HttpWorkerLink::Assign(const Task& t, std::string_view op) {
  uint64_t id = t.id.value();
  auto timeout =
      t.timeout > 0 ? std::chrono::milliseconds(static_cast<int64_t>(t.timeout * 1000)) : timeout_;
  double started = core_.WallNow();
  std::shared_ptr<bool> alive = alive_;
  // The callback holds the task's id, never the Task: by the time the worker answers, the
  // task may have been cancelled, retried elsewhere or pruned.
  client_.Request("POST", url_ + "/" + std::string(op), t.args,
                  {{"Content-Type", "application/json"}}, timeout,
                  [this, alive, id, started](Result<net::ClientResponse> r) {
                    if (!*alive) return;
                    OnResponse(id, started, std::move(r));
                  });
}

void HttpWorkerLink::OnResponse(uint64_t id, double started, Result<net::ClientResponse> r) {
  const std::string wid = core_.worker(index).id.value();
  if (!r.ok()) {
    if (r.status().code() == StatusCode::kUnavailable) {
      spdlog::warn("http worker {} at {} is gone ({}); its task goes back to the queue", wid, url_,
                   r.status().message());
      *alive_ = false;
      core_.RemoveWorker(index, "connection refused");
      return;
    }
    Fail(id, started, "worker " + wid + ": " + r.status().message());
    return;
  }
  if (r->status == 403) {
    std::vector<uint64_t> ids{id};
    core_.OnRefused(index, ids, /*busy_backoff=*/true);
    return;
  }
  if (r->status == 404) {
    std::string op = core_.OnUnsupported(index, TaskId(id));
    if (!op.empty()) {
      spdlog::info(
          "http worker {} answered 404 to {}/{}: it does not run '{}'; no more of those "
          "go to it",
          wid, url_, op, op);
    }
    return;
  }
  if (r->status != 200) {
    Fail(id, started,
         "worker " + wid + " answered HTTP " + std::to_string(r->status) + ": " +
             r->body.substr(0, 200));
    return;
  }
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  if (ec) {
    Fail(id, started, "worker " + wid + " answered invalid JSON: " + r->body.substr(0, 200));
    return;
  }
  std::string result;
  if (const json::object* o = v.if_object(); o && o->contains("res")) {
    result = wire::ToJson(o->at("res"));
  } else {
    result = wire::ToJson(v);
  }
  wire::TaskResult tr{id, true, std::move(result), started, core_.WallNow()};
  core_.OnResults(index, std::span<const wire::TaskResult>(&tr, 1));
}

void HttpWorkerLink::Fail(uint64_t id, double started, std::string error) {
  spdlog::warn("task {}: {}", id, error);
  wire::TaskResult tr{id, false, std::move(error), started, core_.WallNow()};
  core_.OnResults(index, std::span<const wire::TaskResult>(&tr, 1));
}

}  // namespace volo::planner
