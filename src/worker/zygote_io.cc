#include "worker/zygote_io.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker/zygote.h"

namespace volo::worker {

namespace zygote_io {

bool Send(int sock, std::string_view data, const std::vector<int>& fds) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  if (!fds.empty()) {
    if (fds.size() > kMaxFds) {
      errno = EINVAL;
      return false;
    }
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n >= 0) return true;
    if (errno != EINTR) return false;
  }
}

ssize_t Receive(int sock, std::string* data, std::vector<int>* fds) {
  char buf[kMaxMessage];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return n;
  fds->clear();
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds->push_back(fd);
    }
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    for (int fd : *fds) ::close(fd);
    fds->clear();
    errno = EMSGSIZE;
    return -1;
  }
  data->assign(buf, static_cast<size_t>(n));
  return n;
}

}  // namespace zygote_io

namespace {

void PutInt(std::string& out, int64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
void PutString(std::string& out, std::string_view s) {
  PutInt(out, static_cast<int64_t>(s.size()));
  out.append(s);
}
void PutList(std::string& out, const std::vector<std::string>& list) {
  PutInt(out, static_cast<int64_t>(list.size()));
  for (const auto& s : list) PutString(out, s);
}

class Reader {
 public:
  explicit Reader(std::string_view d) : d_(d) {}
  bool Int(int64_t* v) {
    if (d_.size() < 8) return false;
    memcpy(v, d_.data(), 8);
    d_.remove_prefix(8);
    return true;
  }
  bool String(std::string* s) {
    int64_t n;
    if (!Int(&n) || n < 0 || static_cast<uint64_t>(n) > d_.size()) return false;
    s->assign(d_.substr(0, static_cast<size_t>(n)));
    d_.remove_prefix(static_cast<size_t>(n));
    return true;
  }
  bool List(std::vector<std::string>* list) {
    int64_t n;
    if (!Int(&n) || n < 0 || static_cast<uint64_t>(n) > d_.size() / 8) return false;
    list->resize(static_cast<size_t>(n));
    for (auto& s : *list) {
      if (!String(&s)) return false;
    }
    return true;
  }
  bool done() const { return d_.empty(); }

 private:
  std::string_view d_;
};

}  // namespace

std::string EncodeZygoteRequest(const ZygoteRequest& r) {
  std::string out;
  PutList(out, r.argv);
  PutList(out, r.env);
  PutString(out, r.cwd);
  PutString(out, r.task_dir);
  PutString(out, r.bundle_dir);
  PutInt(out, r.rlimit_data);
  PutInt(out, r.rlimit_nproc);
  return out;
}

Result<ZygoteRequest> DecodeZygoteRequest(std::string_view data) {
  ZygoteRequest r;
  Reader in(data);
  if (!in.List(&r.argv) || !in.List(&r.env) || !in.String(&r.cwd) || !in.String(&r.task_dir) ||
      !in.String(&r.bundle_dir) || !in.Int(&r.rlimit_data) || !in.Int(&r.rlimit_nproc) ||
      !in.done()) {
    return InvalidArgument("malformed zygote request");
  }
  if (r.argv.empty() || r.argv[0].empty()) return InvalidArgument("no program to run");
  return r;
}

}  // namespace volo::worker
