// Framed messages between a parent and a child process over a stream socket (a socketpair):
// each frame is a 4-byte little-endian length and that many bytes, and a frame's payload is a
// list of fields, each a 4-byte length and its bytes. Nothing is parsed as text, so sources,
// JSON and binary data travel as they are.
//
// Sends use MSG_NOSIGNAL: a peer that died is an error value, never a SIGPIPE.
// Threading: one reader and one writer per socket at a time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace volo::exec {

// Frames above this are refused as corrupt.
inline constexpr size_t kMaxFrameBytes = size_t{1} << 30;

// Builds one frame's payload field by field.
class FrameWriter {
 public:
  FrameWriter& Add(std::string_view field);
  FrameWriter& Add(int64_t number);  // as decimal text
  const std::string& payload() const { return payload_; }

 private:
  std::string payload_;
};

// Reads a payload's fields in order.
class FrameReader {
 public:
  explicit FrameReader(std::string_view payload) : rest_(payload) {}
  // The next field; false when there is none (or the payload is malformed).
  bool Next(std::string_view* field);
  // The next field as a decimal integer; false when absent or not a number.
  bool NextInt(int64_t* number);

 private:
  std::string_view rest_;
};

// Writes one frame (blocking until all of it is written). Unavailable when the peer has gone.
Status SendFrame(int fd, std::string_view payload);
// Reads one frame into *payload (blocking). Unavailable at end of file (the peer closed or
// died), Corruption for a frame above max_bytes, IoError otherwise.
Status ReceiveFrame(int fd, std::string* payload, size_t max_bytes = kMaxFrameBytes);

// Appends one frame (its length and `payload`) to `out`, so that several frames can leave in
// one write.
void AppendFrame(std::string& out, std::string_view payload);
// Writes all of `bytes` (frames AppendFrame made). On a non-blocking descriptor it waits for
// room as needed. Unavailable when the peer has gone.
Status SendBytes(int fd, std::string_view bytes);

// Frames read in bulk: Fill reads what is there (up to max_bytes at once), Next hands out the
// complete frames it holds, in order. For a reader that takes every frame one read brought
// rather than a read per frame.
class FrameBuffer {
 public:
  // One read: the bytes read, 0 when a non-blocking descriptor has nothing now; Unavailable
  // at end of file (the peer closed or died), IoError otherwise. Invalidates the payloads Next
  // handed out.
  Result<size_t> Fill(int fd, size_t max_bytes);
  // The next complete frame's payload (valid until the next Fill); false when none is complete
  // (or the stream is corrupt: a frame above kMaxFrameBytes).
  bool Next(std::string_view* payload);
  bool corrupt() const { return corrupt_; }

 private:
  std::vector<char> buf_;
  size_t start_ = 0;  // the first byte not handed out yet
  size_t end_ = 0;    // the end of the bytes read
  bool corrupt_ = false;
};

}  // namespace volo::exec
