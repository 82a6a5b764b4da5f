#include "net/ws_session.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket.hpp>
#include <utility>

#include "net/internal.h"

namespace volo::net::internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
// A peer that sends nothing (not even a pong) for this long is considered gone.
constexpr auto kIdleTimeout = std::chrono::seconds(60);
// A read buffer grown past this by one large message is given back after it.
constexpr size_t kKeptReadBuffer = 1 << 20;
}  // namespace

std::string EndpointString(const asio::ip::tcp::endpoint& endpoint) {
  std::string address = endpoint.address().to_string();
  if (endpoint.address().is_v6()) address = "[" + address + "]";
  return address + ":" + std::to_string(endpoint.port());
}

websocket::stream_base::timeout WsTimeouts(std::chrono::steady_clock::duration handshake) {
  websocket::stream_base::timeout timeout;
  timeout.handshake_timeout = handshake;
  timeout.idle_timeout = kIdleTimeout;
  timeout.keep_alive_pings = true;
  return timeout;
}

WsSession::WsSession(WsStream stream, std::string remote, WsHandlers handlers,
                     size_t max_message_bytes)
    : ws_(std::move(stream)),
      remote_(std::move(remote)),
      handlers_(std::move(handlers)),
      max_message_bytes_(max_message_bytes) {
  // Compression costs more CPU than it saves on loopback and LAN, and volo's messages are small.
  websocket::permessage_deflate deflate;
  deflate.client_enable = false;
  deflate.server_enable = false;
  ws_.set_option(deflate);
  ws_.read_message_max(max_message_bytes_);
  ws_.auto_fragment(false);
  ws_.text(true);
}

asio::awaitable<bool> WsSession::Read(std::string_view* message) {
  // The previous message is done with.
  read_buffer_.consume(read_buffer_.size());
  // One large message must not pin its buffer for the life of the connection.
  if (read_buffer_.capacity() > kKeptReadBuffer) read_buffer_.shrink_to_fit();
  if (read_ended_ || notified_) co_return false;
  auto [ec, n] = co_await ws_.async_read(read_buffer_, kAsTuple);
  if (ec) {
    read_ended_ = true;
    read_status_ = StatusFromReadError(ec);
    co_return false;
  }
  // Once on_close has run (Server::Stop), nothing more reaches the owner.
  if (notified_) co_return false;
  auto data = read_buffer_.cdata();
  *message = std::string_view(static_cast<const char*>(data.data()), data.size());
  co_return true;
}

asio::awaitable<void> WsSession::Run() {
  auto self = shared_from_this();
  running_ = true;
  std::string_view message;
  if (handlers_.session) {
    auto session = std::move(handlers_.session);
    handlers_.on_message = nullptr;
    co_await session(self);
  }
  // Without a session, each message goes to on_message; after a session that returned early,
  // the rest are dropped until the connection ends.
  while (co_await Read(&message)) {
    if (handlers_.on_message) handlers_.on_message(self, message);
  }
  // Read() stopped because the connection ended, or because on_close already ran; in the
  // second case the connection may still be open: wait for it to end.
  while (!read_ended_) {
    auto [ec, n] = co_await ws_.async_read(read_buffer_, kAsTuple);
    read_buffer_.consume(read_buffer_.size());
    if (ec) {
      read_ended_ = true;
      read_status_ = StatusFromReadError(ec);
    }
  }
  Status why = read_status_;
  ended_ = true;
  queued_bytes_ = 0;
  queue_.clear();
  // Beast has already torn the socket down after a close handshake or an error; this only
  // matters for the timer and for errors that left the socket open.
  beast::get_lowest_layer(ws_).close();
  NotifyClosed(why);
}

void WsSession::NotifyClosed(const Status& why) {
  if (notified_) return;
  notified_ = true;
  auto on_close = std::move(handlers_.on_close);
  handlers_ = {};
  if (on_close) on_close(shared_from_this(), why);
}

Status WsSession::StatusFromReadError(const beast::error_code& ec) const {
  if (closing_) return local_close_status_;
  // The peer's close frame explains the end even when echoing it then failed (a peer that
  // closes its socket right after its close frame makes our reply hit a broken pipe).
  const websocket::close_reason& reason = ws_.reason();
  if (ec == websocket::error::closed || reason.code != websocket::close_code::none) {
    if (reason.code == websocket::close_code::normal ||
        reason.code == websocket::close_code::none) {
      return Status::Ok();
    }
    std::string message = "closed by " + remote_ + " with code " + std::to_string(reason.code);
    if (!reason.reason.empty()) {
      message += ": ";
      message.append(reason.reason.data(), reason.reason.size());
    }
    return Unavailable(std::move(message));
  }
  if (ec == websocket::error::message_too_big) {
    return InvalidArgument("message from " + remote_ + " exceeds " +
                           std::to_string(max_message_bytes_) + " bytes");
  }
  if (ec == beast::error::timeout) {
    return DeadlineExceeded("no traffic from " + remote_ + " within the idle timeout");
  }
  return Unavailable("connection to " + remote_ + " lost: " + ec.message());
}

void WsSession::Send(std::string text) {
  if (!open()) return;
  queued_bytes_ += text.size();
  queue_.push_back(std::move(text));
  StartWriter();
}

void WsSession::Close(std::string_view reason) {
  CloseWith(websocket::close_code::normal, reason, Status::Ok());
}

void WsSession::CloseWith(websocket::close_code code, std::string_view reason, Status why) {
  if (ended_ || closing_) return;
  closing_ = true;
  local_close_status_ = std::move(why);
  // A close frame's reason is limited to 123 bytes by RFC 6455.
  close_reason_ = websocket::close_reason(code, reason.substr(0, 123));
  if (!running_) {
    // Mid-handshake there is no protocol to speak yet: drop the socket and let the handshake fail.
    beast::get_lowest_layer(ws_).close();
    return;
  }
  StartWriter();
}

void WsSession::StartWriter() {
  if (writing_) return;
  writing_ = true;
  asio::co_spawn(ws_.get_executor(), WriteLoop(shared_from_this()), LogUnexpectedException);
}

void WsSession::SetCork(bool on) {
#ifdef TCP_CORK
  int value = on ? 1 : 0;
  auto& socket = beast::get_lowest_layer(ws_).socket();
  if (socket.is_open()) {
    ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_CORK, &value, sizeof(value));
  }
#endif
}

asio::awaitable<void> WsSession::WriteLoop(std::shared_ptr<WsSession> self) {
  // Beast writes one message per send(), and with TCP_NODELAY each becomes its own segment; a
  // burst of small messages then costs the kernel (both ends) far more than the copying. While
  // more messages are already queued we cork the socket so they share segments, and uncork as
  // soon as the queue is empty, so a lone message still leaves at once.
  bool corked = false;
  while (!self->queue_.empty() && !self->ended_) {
    std::string message = std::move(self->queue_.front());
    self->queue_.pop_front();
    if (!corked && !self->queue_.empty()) {
      self->SetCork(true);
      corked = true;
    }
    auto [ec, n] = co_await self->ws_.async_write(asio::buffer(message), kAsTuple);
    if (ec || self->ended_) {
      self->queue_.clear();
      self->queued_bytes_ = 0;
      self->writing_ = false;
      if (corked) self->SetCork(false);
      co_return;
    }
    self->queued_bytes_ -= message.size();
  }
  if (corked) self->SetCork(false);
  if (self->closing_ && !self->close_sent_ && !self->ended_) {
    self->close_sent_ = true;
    // Completion (or failure) of the close handshake also ends the read in Run(), which then
    // reports the close.
    co_await self->ws_.async_close(self->close_reason_, kAsTuple);
  }
  self->writing_ = false;
}

}  // namespace volo::net::internal
