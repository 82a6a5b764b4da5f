#include "planner/sessions.h"

#include <spdlog/spdlog.h>

#include "wire/json_limits.h"

namespace volo::planner {

namespace {

namespace asio = boost::asio;
using ConnPtr = std::shared_ptr<net::WsConnection>;

// One native worker's connection: unregistered until its `register`, then the link. Shared by
// the session coroutine and on_close, which cleans up.
struct WorkerState {
  std::shared_ptr<WsWorkerLink> link;
};

void Refuse(const ConnPtr& conn, std::string_view message, std::string_view close_reason) {
  conn->Send(wire::EncodeError(message));
  conn->Close(close_reason);
}

// The `register` message: the worker becomes a Core worker with a link (true), or is refused.
bool Register(SessionContext& ctx, WorkerState& st, const ConnPtr& conn,
              const wire::Register& reg) {
  if (ctx.core.FindWorker(WorkerId(reg.id))) {
    Refuse(conn, "a live worker is already registered as '" + reg.id + "'", "registration refused");
    return false;
  }
  auto link = std::make_shared<WsWorkerLink>(ctx.io, conn);
  // Welcome goes out before any task the registration lets the scheduler send.
  conn->Send(wire::EncodeWelcome({ctx.heartbeat_ms, /*fn_batch=*/true}));
  auto r = ctx.core.AddWorker(WorkerId(reg.id), WorkerKind::kNative, reg.ops, reg.slots, link.get(),
                              reg.resources);
  if (!r.ok()) {
    Refuse(conn, r.status().message(), "registration refused");
    return false;
  }
  link->index = *r;
  link->fn_batch = reg.fn_batch;
  st.link = link;
  ctx.worker_links[*r] = link;
  if (ctx.functions && reg.functions > 0) {
    ctx.functions->AddWorker(*r, reg.id, reg.functions);
  }
  spdlog::info("worker {} joined from {} (ops {}, slots {}, function instances {})", reg.id,
               conn->remote(), fmt::join(reg.ops, ","), reg.slots, reg.functions);
  return true;
}

// One function message of a registered worker.
void OnFnMessage(SessionContext& ctx, WorkerIndex w, const wire::FnWorkerMessage& msg) {
  if (!ctx.functions) return;
  std::visit(
      [&](auto&& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, wire::FnReady>) {
          ctx.functions->OnReady(w, m);
        } else if constexpr (std::is_same_v<T, wire::FnAnswer>) {
          ctx.functions->OnAnswer(w, m);
        } else if constexpr (std::is_same_v<T, wire::FnExited>) {
          ctx.functions->OnExited(w, m);
        } else if constexpr (std::is_same_v<T, wire::FnLog>) {
          ctx.functions->OnLog(w, m);
        }
      },
      msg);
}

// One message of a registered worker.
void OnWorkerMessage(SessionContext& ctx, WorkerIndex w, const wire::WorkerMessage& msg) {
  std::visit(
      [&](auto&& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, wire::Heartbeat>) {
          ctx.core.OnHeartbeat(w);
        } else if constexpr (std::is_same_v<T, wire::Results>) {
          ctx.core.OnResults(w, m.results);
        } else if constexpr (std::is_same_v<T, wire::Output>) {
          // Live output (a fly chunk's printing) goes to the streaming client that submitted
          // the task, and is kept as the task's stdout log as well, for clients that asked
          // over REST (the playground's "run on this fleet"): GET /api/v1/tasks/{id}/logs.
          if (ctx.logs) {
            for (const auto& piece : m.output) {
              const Task* t = ctx.core.Find(TaskId(piece.id));
              if (!t || t->state != TaskState::kRunning || t->worker != w) continue;
              ctx.logs->Append(piece.id, t->attempts, 1, piece.text);
            }
          }
          ctx.core.OnOutput(w, m.output);
        } else if constexpr (std::is_same_v<T, wire::Refused>) {
          ctx.core.OnRefused(w, m.ids, false);
        } else if constexpr (std::is_same_v<T, wire::Logs>) {
          // Kept only for an attempt this worker is running now: output of an attempt the
          // planner took back (the worker was lost, the task cancelled) is stale.
          if (!ctx.logs) return;
          for (const auto& c : m.chunks) {
            const Task* t = ctx.core.Find(TaskId(c.id));
            if (!t || t->state != TaskState::kRunning || t->worker != w) continue;
            ctx.logs->Append(c.id, t->attempts, c.stream, c.data);
          }
        } else if constexpr (std::is_same_v<T, wire::Leaving>) {
          spdlog::info("worker {} is leaving", ctx.core.worker(w).id.value());
          ctx.core.OnLeaving(w);
          if (ctx.functions) ctx.functions->WorkerLeaving(w);
        } else if constexpr (std::is_same_v<T, wire::FnWorkerBatch>) {
          for (const auto& fm : m.messages) OnFnMessage(ctx, w, fm);
        } else if constexpr (std::is_same_v<T, wire::FnReady> ||
                             std::is_same_v<T, wire::FnAnswer> ||
                             std::is_same_v<T, wire::FnExited> || std::is_same_v<T, wire::FnLog>) {
          OnFnMessage(ctx, w, m);
        }
      },
      msg);
}

// A worker's connection: `register`, then its messages until the connection ends. Returns
// early (and the connection closes) on a protocol error.
asio::awaitable<void> RunWorker(SessionContext& ctx, std::shared_ptr<WorkerState> st,
                                ConnPtr conn) {
  std::string_view text;
  if (!co_await conn->Read(&text)) co_return;
  {
    auto msg = wire::ParseWorkerMessage(text);
    if (!msg.ok()) {
      spdlog::warn("worker at {} sent a bad message: {}", conn->remote(), msg.status().message());
      co_return Refuse(conn, msg.status().message(), "protocol error");
    }
    auto* reg = std::get_if<wire::Register>(&*msg);
    if (!reg) co_return Refuse(conn, "register first", "protocol error");
    if (!Register(ctx, *st, conn, *reg)) co_return;
  }
  const WorkerIndex w = st->link->index;
  while (co_await conn->Read(&text)) {
    auto msg = wire::ParseWorkerMessage(text);
    if (!msg.ok()) {
      spdlog::warn("worker at {} sent a bad message: {}", conn->remote(), msg.status().message());
      co_return Refuse(conn, msg.status().message(), "protocol error");
    }
    if (std::holds_alternative<wire::Register>(*msg)) {
      co_return Refuse(conn, "already registered", "protocol error");
    }
    OnWorkerMessage(ctx, w, *msg);
  }
}

// One `submit`: queued (all or none) and acknowledged once durable, or answered with an error.
void Submit(SessionContext& ctx, StreamClient& client, const ConnPtr& conn, std::string_view text) {
  int64_t tag = 0;
  // Counted while scanning, before any tree is built: a message of millions of tasks is
  // refused for the price of reading it.
  if (Status s = wire::CheckJson(text); !s.ok()) {
    conn->Send(wire::EncodeClientError(tag, s.message()));
    return;
  }
  auto submit = wire::ParseClientMessage(text, &tag);
  if (!submit.ok()) {
    conn->Send(wire::EncodeClientError(tag, submit.status().message()));
    return;
  }
  size_t n = submit->tasks.size();
  auto first = ctx.core.Submit(std::move(submit->tasks), client.id, submit->key);
  if (!first.ok()) {
    conn->Send(wire::EncodeClientError(tag, first.status().message()));
    return;
  }
  // Without a journal the ack goes out now, before any result (results are flushed by a
  // posted handler). With one, results can precede the ack; clients match by id.
  ctx.durable([conn, tag, first = first->value(), n](const Status& s) {
    conn->Send(s.ok() ? wire::EncodeSubmitted(tag, first, n)
                      : wire::EncodeClientError(tag, "journal: " + s.message()));
  });
}

// A streaming client's connection: it becomes a client of Core with its first message, then
// every message is a `submit`.
asio::awaitable<void> RunStream(SessionContext& ctx,
                                std::shared_ptr<std::shared_ptr<StreamClient>> client,
                                ConnPtr conn) {
  std::string_view text;
  if (!co_await conn->Read(&text)) co_return;
  *client = std::make_shared<StreamClient>(ctx.io, conn, ctx.durable);
  (*client)->id = ClientId(ctx.next_client++);
  ctx.core.AddClient((*client)->id, client->get());
  do {
    Submit(ctx, **client, conn, text);
  } while (co_await conn->Read(&text));
}

}  // namespace

net::WsHandlers WorkerSession(SessionContext& ctx) {
  auto st = std::make_shared<WorkerState>();
  net::WsHandlers h;
  h.session = [&ctx, st](ConnPtr conn) { return RunWorker(ctx, st, std::move(conn)); };
  h.on_close = [&ctx, st](const ConnPtr&, const Status& why) {
    if (!st->link) return;
    WorkerIndex w = st->link->index;
    const WorkerInfo& info = ctx.core.worker(w);
    if (info.alive && info.link == st->link.get()) {
      spdlog::info("worker {} disconnected ({})", info.id.value(), why.message());
      ctx.core.RemoveWorker(w, "disconnected");
    }
    auto it = ctx.worker_links.find(w);
    if (it != ctx.worker_links.end() && it->second == st->link) {
      // Its function instances are gone with it (a worker registering again under the same
      // slot has a link of its own by now, and keeps its instances).
      if (ctx.functions) ctx.functions->RemoveWorker(w);
      ctx.worker_links.erase(it);
    }
    st->link.reset();
  };
  return h;
}

net::WsHandlers StreamSession(SessionContext& ctx) {
  auto client = std::make_shared<std::shared_ptr<StreamClient>>();
  net::WsHandlers h;
  h.session = [&ctx, client](ConnPtr conn) { return RunStream(ctx, client, std::move(conn)); };
  h.on_close = [&ctx, client](const ConnPtr&, const Status&) {
    if (*client) ctx.core.RemoveClient((*client)->id);
    client->reset();
  };
  return h;
}

}  // namespace volo::planner
