// The seed exercise's worker protocol (shared/seeds/workers-exercise.txt), as every volo worker
// serves it on its --port, so a planner written to the exercise drives a volo worker like its own:
//
//   POST /add, POST /mult {"a","b"}  200 {"res", "duration" (whole ms), "id"} when done;
//                                    403 "Already working" (plain text) while that operation runs;
//                                    404 plain text when the worker does not run the operation.
//   GET /                            "ready to work" (plain text), or {"type","task"} while busy.
//   GET /status                      volo's own JSON status (not in the seed).
//
// Every answer that is not a result is plain text: the seed's planner parses any JSON answer as
// a result, so a busy or refused task must never parse as one. The seed runs one task per
// operation at a time (an add and a mult may run together); so does this.
//
// Also here: reading the seed's ADD / MULT variables, the seed planner's registration body, and
// telling a seed planner from a volo one by its answer to the native WebSocket upgrade.
//
// Threading: SeedEndpoints lives on the worker's io thread; every call happens there.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "net/http.h"
#include "net/server.h"

namespace boost::asio {
class io_context;
}

namespace volo::worker {

// The operations a worker runs by the seed's variables. `add` and `mult` are the raw values of
// ADD and MULT (nullopt when unset). Both are JSON booleans that default to true, as in the
// seed: MULT=false alone is an add-only worker, ADD=false alone a mult-only one. 1/0, yes/no and
// on/off are read too (volo's earlier spelling, ADD=1). Returns nullopt when neither variable is
// set (the worker keeps its default operations); InvalidArgument for another value or when both
// are false.
Result<std::optional<std::vector<std::string>>> SeedOps(const std::optional<std::string>& add,
                                                        const std::optional<std::string>& mult);

// The URL a seed planner is told to send tasks to (POST /register {"url","id"}): `advertise`
// (the seed's ADDRESS or --advertise-url) when given, with "http://" added when it has no scheme
// and ":port" when it is a bare host; else http://BIND:PORT, with this host's name in place of a
// wildcard bind (0.0.0.0, ::).
std::string AdvertiseUrl(const std::string& advertise, const std::string& bind, uint16_t port);

// {"url": url, "id": id}, the body of the seed's POST /register.
std::string SeedRegisterBody(const std::string& url, const std::string& id);

// When `s` is net::WsConnect's refusal of the upgrade (FailedPrecondition "... refused: HTTP
// NNN: ..."), the HTTP status; else nullopt.
std::optional<int> RefusedUpgradeStatus(const Status& s);

// Whether a refused upgrade with this status means the planner does not speak volo's protocol
// (a seed planner answers 404 "Cannot GET"; others 400, 405, 426...), as opposed to a volo
// planner that refuses this worker (401/403: the join token; 429; 5xx: stopping, overloaded).
bool MeansNoNativeProtocol(int http_status);

class SeedEndpoints {
 public:
  // `ops`: what this worker runs; `status_json`: the body of GET /status; `on_idle`: called
  // (on the io thread) each time a task finishes, so a draining worker can tell when it is idle.
  SeedEndpoints(boost::asio::io_context& io, std::string id, std::set<std::string> ops,
                double duration_scale, std::function<std::string()> status_json,
                std::function<void()> on_idle);
  ~SeedEndpoints();
  SeedEndpoints(const SeedEndpoints&) = delete;
  SeedEndpoints& operator=(const SeedEndpoints&) = delete;

  void Handle(net::HttpRequest req, net::Respond respond);
  // From now on, operation requests get 403 "Already working" (the planner hands them to
  // another worker); running ones finish.
  void StopTaking() { taking_ = false; }
  // Operations running now, with the arguments each was given.
  bool busy() const { return !working_.empty(); }
  std::vector<std::string> working() const;

 private:
  struct Running;

  boost::asio::io_context& io_;
  std::string id_;
  std::set<std::string> ops_;
  double duration_scale_;
  std::function<std::string()> status_json_;
  std::function<void()> on_idle_;
  std::mt19937_64 rng_;
  bool taking_ = true;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once destroyed
  std::map<std::string, std::shared_ptr<Running>> working_;     // by operation
};

}  // namespace volo::worker
