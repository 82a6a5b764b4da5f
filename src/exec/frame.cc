#include "exec/frame.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

namespace volo::exec {

namespace {

void PutU32(std::string& out, uint32_t v) {
  char b[4] = {static_cast<char>(v & 0xff), static_cast<char>((v >> 8) & 0xff),
               static_cast<char>((v >> 16) & 0xff), static_cast<char>((v >> 24) & 0xff)};
  out.append(b, 4);
}

uint32_t GetU32(const char* p) {
  auto u = [&](int i) { return static_cast<uint32_t>(static_cast<unsigned char>(p[i])); };
  return u(0) | (u(1) << 8) | (u(2) << 16) | (u(3) << 24);
}

Status SendAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, -1);
        continue;
      }
      if (errno == EPIPE || errno == ECONNRESET) return Unavailable("the other process has gone");
      return IoError(std::string("send: ") + strerror(errno));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

Status ReadAll(int fd, char* data, size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, data, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) return Unavailable("the other process has gone");
      return IoError(std::string("read: ") + strerror(errno));
    }
    if (r == 0) return Unavailable("the other process has gone");
    data += r;
    n -= static_cast<size_t>(r);
  }
  return Status::Ok();
}

}  // namespace

FrameWriter& FrameWriter::Add(std::string_view field) {
  PutU32(payload_, static_cast<uint32_t>(field.size()));
  payload_.append(field);
  return *this;
}

FrameWriter& FrameWriter::Add(int64_t number) { return Add(std::to_string(number)); }

bool FrameReader::Next(std::string_view* field) {
  if (rest_.size() < 4) return false;
  uint32_t n = GetU32(rest_.data());
  if (rest_.size() - 4 < n) return false;
  *field = rest_.substr(4, n);
  rest_.remove_prefix(4 + static_cast<size_t>(n));
  return true;
}

bool FrameReader::NextInt(int64_t* number) {
  std::string_view f;
  if (!Next(&f) || f.empty()) return false;
  auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), *number);
  return ec == std::errc() && end == f.data() + f.size();
}

Status SendFrame(int fd, std::string_view payload) {
  if (payload.size() > kMaxFrameBytes) return InvalidArgument("frame too large");
  std::string head;
  PutU32(head, static_cast<uint32_t>(payload.size()));
  VOLO_RETURN_IF_ERROR(SendAll(fd, head.data(), head.size()));
  return SendAll(fd, payload.data(), payload.size());
}

Status ReceiveFrame(int fd, std::string* payload, size_t max_bytes) {
  char head[4];
  VOLO_RETURN_IF_ERROR(ReadAll(fd, head, 4));
  uint32_t n = GetU32(head);
  if (n > max_bytes) return Corruption("a frame of " + std::to_string(n) + " bytes");
  payload->resize(n);
  return ReadAll(fd, payload->data(), n);
}

void AppendFrame(std::string& out, std::string_view payload) {
  PutU32(out, static_cast<uint32_t>(payload.size()));
  out.append(payload);
}

Status SendBytes(int fd, std::string_view bytes) { return SendAll(fd, bytes.data(), bytes.size()); }

Result<size_t> FrameBuffer::Fill(int fd, size_t max_bytes) {
  if (start_ > 0) {
    // Keeps the unread bytes at the front, so the buffer never grows past a frame and a read.
    std::memmove(buf_.data(), buf_.data() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  if (buf_.size() < end_ + max_bytes) buf_.resize(end_ + max_bytes);
  for (;;) {
    ssize_t r = ::read(fd, buf_.data() + end_, max_bytes);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return size_t{0};
    if (r == 0 || (r < 0 && errno == ECONNRESET)) return Unavailable("the other process has gone");
    if (r < 0) return IoError(std::string("read: ") + strerror(errno));
    end_ += static_cast<size_t>(r);
    return static_cast<size_t>(r);
  }
}

bool FrameBuffer::Next(std::string_view* payload) {
  if (corrupt_ || end_ - start_ < 4) return false;
  uint32_t n = GetU32(buf_.data() + start_);
  if (n > kMaxFrameBytes) {
    corrupt_ = true;
    return false;
  }
  if (end_ - start_ - 4 < n) return false;
  *payload = std::string_view(buf_.data() + start_ + 4, n);
  start_ += 4 + static_cast<size_t>(n);
  return true;
}

}  // namespace volo::exec
