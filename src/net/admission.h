// Two-stage admission of connections, so that connections nobody has vouched for can never
// crowd out the ones that matter.
//
// A new connection is *unauthenticated*: it must send each request head (and body) within
// `unauthenticated_timeout`, and at most `max_unauthenticated` such connections (TLS
// handshakes included) are open at once; when one more arrives, the oldest unauthenticated
// connection is closed to make room. A connection becomes *authenticated* with its first
// request that `authenticated` approves (every complete request, when it is unset). Only
// authenticated connections count against ServerOptions::max_connections_per_client and
// ::max_connections (a request that would exceed them gets 429 and the connection closes), and
// only they get the ordinary 120 s idle timeout. An accepted WebSocket is always authenticated.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>

#include "net/http.h"

namespace volo::net {

class Server;

struct AdmissionOptions {
  size_t max_unauthenticated = 1024;
  std::chrono::milliseconds unauthenticated_timeout{5000};
  // Called with the request head (path, query, headers; no body) of an unauthenticated
  // connection: true when it carries valid credentials. Runs on the io thread.
  std::function<bool(const HttpRequest&)> authenticated;
};

// Replaces the server's admission options (the defaults above until called). Call on the io
// thread, before Listen().
void SetAdmission(Server& server, AdmissionOptions options);

}  // namespace volo::net
