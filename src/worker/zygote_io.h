// Messages between the worker and its zygotes (zygote.h), on SOCK_SEQPACKET sockets: one byte
// saying what the message is, a small payload, and descriptors passed with SCM_RIGHTS.
//
// Control socket (one per zygote):
//   zygote -> worker  'Z'                       the zygote is up
//   worker -> zygote  'S' + has_stdin (1 byte)  fds: task socket, request memfd, stdout,
//                                               stderr[, stdin]: start one command
//   worker -> zygote  'W'                       fd: task socket: start a spare task init, which
//                                               waits for its command ('C')
// Task socket (one per command):
//   zygote -> worker     'P' + fd: the task init's pidfd   or 'E' + message: cannot start
//   worker -> spare      'C' + has_stdin: fds: request memfd, stdout, stderr[, stdin]
//   task init -> worker  'R': namespaces and mounts ready  or 'E' + message
//   worker -> task init  'G': go (it is in its cgroup); 'K' + int32: signal the whole tree
//   task init -> worker  'X' + TaskExit: the command ended; nothing of its tree is left
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace volo::worker::zygote_io {

inline constexpr int kControlFd = 3;  // in the sandbox
inline constexpr size_t kMaxFds = 8;
inline constexpr size_t kMaxMessage = 4096;

struct TaskExit {
  int32_t wait_status = 0;
  int64_t cpu_micros = 0;
  int64_t max_rss_kib = 0;
};

// Sends one message with `fds` (none: an ordinary message). False with errno on failure.
bool Send(int sock, std::string_view data, const std::vector<int>& fds = {});
// Receives one message; descriptors that came with it go to *fds (close-on-exec). Returns the
// message's length, 0 when the peer closed, -1 with errno (EAGAIN on a non-blocking socket).
ssize_t Receive(int sock, std::string* data, std::vector<int>* fds);

}  // namespace volo::worker::zygote_io
