// The WsConnection implementation shared by the server and WsConnect. Internal to net/*.cc:
// it pulls in Beast, which the public headers keep out of the rest of volo.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <string>

#include "net/server.h"
#include "net/stream.h"

namespace volo::net::internal {

// Plain or TLS underneath, decided per connection (see Stream).
using WsStream = boost::beast::websocket::stream<Stream>;

// "ip:port" ("[v6]:port" for IPv6).
std::string EndpointString(const boost::asio::ip::tcp::endpoint& endpoint);

// One WebSocket after (or during) its opening handshake. The owner creates it around a stream,
// performs the handshake on stream(), then co_awaits Run() (or calls NotifyClosed when the
// handshake failed). Everything runs on the stream's io thread.
//
// Writes go through a single writer coroutine that drains queue_, so there is never more than
// one async_write outstanding; reads happen in Run(). Beast allows one read and one write (and
// one close) at a time on a stream, which is exactly this split.
class WsSession final : public WsConnection, public std::enable_shared_from_this<WsSession> {
 public:
  // `remote` is the peer's "ip:port"; messages longer than `max_message_bytes` end the
  // connection with close code 1009.
  WsSession(WsStream stream, std::string remote, WsHandlers handlers, size_t max_message_bytes);

  WsStream& stream() { return ws_; }

  // Reads messages until the connection ends, then calls NotifyClosed. Call once, after the
  // handshake succeeded.
  boost::asio::awaitable<void> Run();

  // Sends a close frame with `code` and `reason` after the queued messages, and makes on_close
  // report `why` (instead of whatever the peer says). Before Run() it aborts the handshake.
  void CloseWith(boost::beast::websocket::close_code code, std::string_view reason, Status why);

  // Runs on_close now if it has not run yet, then drops the handlers (they may hold references
  // back to this connection), so no callback runs after this.
  void NotifyClosed(const Status& why);

  void Send(std::string text) override;
  void Close(std::string_view reason) override;
  bool open() const override { return !ended_ && !closing_; }
  const std::string& remote() const override { return remote_; }
  size_t queued_bytes() const override { return queued_bytes_; }
  boost::asio::awaitable<bool> Read(std::string_view* message) override;

 private:
  static boost::asio::awaitable<void> WriteLoop(std::shared_ptr<WsSession> self);
  void StartWriter();
  void SetCork(bool on);
  Status StatusFromReadError(const boost::beast::error_code& ec) const;

  WsStream ws_;
  std::string remote_;
  WsHandlers handlers_;
  size_t max_message_bytes_;
  // Reused for every message so steady traffic does not allocate per read.
  boost::beast::flat_buffer read_buffer_;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  bool running_ = false;  // Run() has started: the handshake is over
  bool ended_ = false;    // the read loop has finished; nothing more goes out
  bool writing_ = false;  // the writer coroutine is alive
  bool closing_ = false;  // a local close was requested
  bool close_sent_ = false;
  bool notified_ = false;
  bool read_ended_ = false;  // a read failed (or the connection was closed): no more messages
  Status read_status_;       // why, for on_close
  boost::beast::websocket::close_reason close_reason_;
  Status local_close_status_;
};

// Timeouts for an open WebSocket: bounded opening/closing handshakes, and pings when the peer
// is quiet so that a vanished peer is noticed within the idle timeout.
boost::beast::websocket::stream_base::timeout WsTimeouts(
    std::chrono::steady_clock::duration handshake);

}  // namespace volo::net::internal
