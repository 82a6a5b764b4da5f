#include "cluster/cluster_env.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "api/views.h"
#include "cluster/progress.h"
#include "common/sha256.h"
#include "fly/remote.h"
#include "net/client.h"
#include "wire/messages.h"

namespace volo::cluster {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// One submit message stays under this many bytes of task arguments.
constexpr size_t kSubmitBytes = 8 << 20;

// Instances of one launched fly, and which of them have had their messages delivered.
struct LaunchState {
  std::shared_ptr<fly::FlyJob> job;
  std::vector<char> delivered;  // per instance (dedupe of (instance, seq) by instance)
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  // For the progress display: instances ended well, and ended with an error.
  std::atomic<size_t> done{0}, failed{0};
  // Called (on the io thread) when the last instance ends, before the job learns of it.
  std::function<void()> on_end;

  // Reports the end of instance i to the job, counting it.
  void Complete(size_t i, Result<std::string> result) {
    (result.ok() ? done : failed).fetch_add(1);
    if (done.load() + failed.load() == delivered.size() && on_end) on_end();
    job->Complete(i, std::move(result));
  }
};

// "1 instance", "4 instances".
std::string Plural(size_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// The fly workers of the fleet: their slots, and how many of those are running something.
struct FleetSlots {
  int slots = 0;
  int busy = 0;
};

struct ChunkRef {
  std::shared_ptr<LaunchState> launch;
  size_t first = 0, count = 0;
  bool done = false;
  // Bytes of the chunk's output printed so far. Every attempt of the task prints the same
  // output (same program, same seed), so a retried attempt is printed from where an earlier
  // one stopped: each line appears once (docs/placement.md, "Output").
  uint64_t shown = 0;
  std::atomic<int64_t>* outstanding = nullptr;  // the environment's count of chunks not done
  // Marks the chunk done; false when it already was.
  bool Finish() {
    if (done) return false;
    done = true;
    if (outstanding) --*outstanding;
    return true;
  }
};

class ClusterEnvironment;

// The environments alive in this process, for CancelOutstanding.
std::mutex g_live_mu;
std::set<ClusterEnvironment*> g_live;  // GUARDED_BY(g_live_mu)

class ClusterEnvironment : public fly::Environment {
 public:
  explicit ClusterEnvironment(ClusterOptions options)
      : options_(std::move(options)),
        work_(asio::make_work_guard(io_)),
        progress_(std::cerr, ::isatty(STDERR_FILENO) == 1, options_.progress_interval) {
    while (!options_.url.empty() && options_.url.back() == '/') options_.url.pop_back();
    std::lock_guard<std::mutex> lock(g_live_mu);
    g_live.insert(this);
  }

  // Cancels every chunk the planner has acknowledged and that has not ended; returns how many.
  size_t CancelAll() {
    std::vector<uint64_t> open = OnIo([this] { return OpenIds(); });
    CancelTasks(open);
    return open.size();
  }

  ~ClusterEnvironment() override {
    {
      std::lock_guard<std::mutex> lock(g_live_mu);
      g_live.erase(this);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    idle_cv_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
    std::vector<uint64_t> unfinished;
    asio::post(io_, [this, &unfinished] {
      unfinished = OpenIds();
      if (conn_) conn_->Close("fly program ended");
      conn_.reset();
      work_.reset();
    });
    if (thread_.joinable()) thread_.join();
    // A program that failed leaves chunks behind: take them off the fleet.
    CancelTasks(unfinished);
  }

  Status Start() {
    auto health =
        net::HttpFetch("GET", options_.url + "/healthz", "", Auth(), options_.connect_timeout);
    if (!health.ok()) return Unreachable(health.status().message());
    if (health->status != 200) {
      return Unreachable("GET /healthz answered HTTP " + std::to_string(health->status));
    }
    thread_ = std::thread([this] { io_.run(); });
    watchdog_ = std::thread([this] { Watch(); });
    VOLO_RETURN_IF_ERROR(Connect());
    auto slots = FlySlots();
    if (slots.ok()) slots_ = std::max(*slots, 1);
    return Status::Ok();
  }

  std::string Describe() const override { return "cluster:" + options_.url; }
  int parallelism() const override { return slots_; }

  void Launch(std::shared_ptr<fly::FlyJob> job) override {
    size_t n = job->instance_count();
    if (n == 0) return;
    Status st = Submit(job);
    if (!st.ok()) {
      for (size_t i = 0; i < n; ++i) job->Complete(i, st);
    }
  }

 private:
  net::Headers Auth(net::Headers headers = {}) const {
    if (!options_.token.empty()) headers.emplace_back("Authorization", "Bearer " + options_.token);
    return headers;
  }

  void CancelTasks(const std::vector<uint64_t>& ids) {
    for (size_t k = 0; k < ids.size() && k < 1000; ++k) {
      auto r = net::HttpFetch("POST",
                              options_.url + "/api/v1/tasks/" + std::to_string(ids[k]) + "/cancel",
                              "", Auth(), 1s);
      (void)r;
    }
  }

  // While chunks are outstanding, checks every half second that some worker with the fly
  // operation is live. When none has been for options_.worker_wait, the outstanding chunks
  // fail (and are cancelled on the planner) instead of waiting forever.
  void Watch() {
    const auto wait_s =
        std::chrono::duration_cast<std::chrono::seconds>(options_.worker_wait).count();
    // When the fleet was last seen without a fly worker (none_seen: since then, still none).
    bool none_seen = false;
    std::chrono::steady_clock::time_point none_since{};
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      idle_cv_.wait_for(lock, options_.watch_interval);
      if (stopping_) break;
      if (outstanding_.load() == 0) {
        none_seen = false;
        continue;
      }
      lock.unlock();
      auto fleet = Fleet();
      lock.lock();
      if (!fleet.ok()) continue;  // an unreachable planner shows as a closed stream
      if (fleet->slots > 0) {
        if (none_seen) Note("volo: a worker with the fly operation is back");
        none_seen = false;
        lock.unlock();
        ShowProgress(*fleet);
        lock.lock();
        continue;
      }
      auto now = std::chrono::steady_clock::now();
      if (!none_seen) {
        none_seen = true;
        none_since = now;
        Note("volo: no worker with the fly operation is connected to the planner at " +
             options_.url + "; waiting up to " + std::to_string(wait_s) + " s for one");
        continue;
      }
      if (now - none_since < options_.worker_wait) continue;
      none_seen = false;
      Status why = Unavailable("no worker with the fly operation was connected to the planner at " +
                               options_.url + " for " + std::to_string(wait_s) +
                               " s, so the fly could not finish");
      lock.unlock();
      CancelTasks(OnIo([this, &why] {
        std::vector<uint64_t> abandoned = OpenIds();
        FailAll(why);
        return abandoned;
      }));
      lock.lock();
    }
  }

  // A line on stderr that does not run into the progress bar.
  void Note(const std::string& line) {
    progress_.Clear();
    std::cerr << line << "\n";
  }

  // "fly 'count'", or "3 flies" while several run at once.
  static std::string What(const std::vector<std::shared_ptr<LaunchState>>& launches) {
    if (launches.size() == 1) return "fly '" + launches[0]->job->function_name() + "'";
    return std::to_string(launches.size()) + " flies";
  }

  static ProgressCounts Count(const std::vector<std::shared_ptr<LaunchState>>& launches,
                              std::chrono::steady_clock::time_point now) {
    ProgressCounts c;
    auto started = now;
    for (const auto& l : launches) {
      c.total += l->delivered.size();
      c.done += l->done.load();
      c.failed += l->failed.load();
      started = std::min(started, l->started);
    }
    c.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - started);
    return c;
  }

  // How many instances of this environment's chunks a worker is running now (0 when the
  // planner does not say).
  size_t RunningInstances() {
    auto open = OnIo([this] {
      std::map<uint64_t, size_t> counts;
      for (const auto& [id, ref] : by_id_) {
        if (!ref->done) counts[id] = ref->count;
      }
      return counts;
    });
    if (open.empty()) return 0;
    auto r = net::HttpFetch("GET",
                            options_.url + "/api/v1/tasks?state=running&op=fly&limit=10000&after=" +
                                std::to_string(std::max<uint64_t>(open.begin()->first, 1) - 1),
                            "", Auth(), 5s);
    if (!r.ok() || r->status != 200) return 0;
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("tasks") || !v.at("tasks").is_array()) {
      return 0;
    }
    size_t running = 0;
    for (const auto& t : v.at("tasks").as_array()) {
      if (!t.is_object() || !t.as_object().contains("id")) continue;
      auto id = static_cast<uint64_t>(t.at("id").to_number<int64_t>(ec));
      if (ec) continue;
      if (auto it = open.find(id); it != open.end()) running += it->second;
    }
    return running;
  }

  // Watchdog thread, with a fly worker in the fleet: the progress display, and a note when the
  // fly's chunks sit queued for a second because every fly slot is taken.
  void ShowProgress(const FleetSlots& fleet) {
    std::vector<std::shared_ptr<LaunchState>> launches;
    {
      std::lock_guard<std::mutex> lock(launches_mu_);
      launches = launches_;
    }
    auto now = std::chrono::steady_clock::now();
    if (launches.empty()) {
      told_waiting_ = false;
      return;
    }
    ProgressCounts c = Count(launches, now);
    if (c.elapsed < 1s) return;  // short flies cost no queries and show nothing
    c.running = RunningInstances();
    size_t ended = c.done + c.failed;
    auto newest = launches[0]->started;
    for (const auto& l : launches) newest = std::max(newest, l->started);
    bool moved = c.running > 0 || ended != last_ended_;
    if (moved || last_activity_ < newest) {
      if (told_waiting_ && moved) Note("volo: " + What(launches) + " got a fly slot");
      told_waiting_ = false;
      last_activity_ = moved ? now : newest;
      last_ended_ = ended;
    }
    if (c.running == 0 && !told_waiting_ && now - last_activity_ >= 1s) {
      told_waiting_ = true;
      std::string queued = Plural(c.total - ended, "instance");
      if (fleet.busy >= fleet.slots) {
        std::string slots = fleet.slots == 1 ? "the one fly slot at " + options_.url + " is"
                                             : "all " + std::to_string(fleet.slots) +
                                                   " fly slots at " + options_.url + " are";
        Note("volo: " + What(launches) + " is waiting for a free fly slot: " + slots +
             " busy with other work (" + queued + " queued)");
      } else {
        Note("volo: " + What(launches) + " is waiting: none of its " + queued +
             " has started yet (" + std::to_string(fleet.busy) + " of " +
             Plural(static_cast<size_t>(fleet.slots), "fly slot") + " at " + options_.url +
             " busy)");
      }
    }
    progress_.Update(What(launches), c);
  }

  // io thread: the last instance of `launch` ended (its job does not know yet).
  void OnLaunchEnded(const LaunchState* launch) {
    std::vector<std::shared_ptr<LaunchState>> launches;
    {
      std::lock_guard<std::mutex> lock(launches_mu_);
      launches = launches_;
      std::erase_if(launches_, [&](const auto& l) { return l.get() == launch; });
    }
    if (launches.size() == 1) {
      progress_.Finish(What(launches), Count(launches, std::chrono::steady_clock::now()));
    } else {
      progress_.Clear();
    }
  }

  Status Unreachable(const std::string& why) const {
    return Unavailable("cannot reach the planner at " + options_.url + ": " + why);
  }

  // Opens the stream WebSocket (blocking the calling thread, not the io thread).
  Status Connect() {
    std::string url = options_.url;
    if (url.rfind("http://", 0) == 0) url = "ws://" + url.substr(7);
    if (url.rfind("https://", 0) == 0) url = "wss://" + url.substr(8);
    url += "/api/v1/stream";
    auto promise = std::make_shared<std::promise<Status>>();
    auto future = promise->get_future();
    asio::post(io_, [this, url, promise] {
      net::WsHandlers h;
      h.on_message = [this](const std::shared_ptr<net::WsConnection>&, std::string_view text) {
        OnMessage(text);
      };
      h.on_close = [this](const std::shared_ptr<net::WsConnection>& c, const Status& why) {
        if (conn_ == c) OnClosed(why);
      };
      net::WsConnect(io_, url, Auth(), std::move(h), options_.connect_timeout,
                     [this, promise](Result<std::shared_ptr<net::WsConnection>> r) {
                       if (!r.ok()) {
                         promise->set_value(Unreachable(r.status().message()));
                         return;
                       }
                       conn_ = *r;
                       promise->set_value(Status::Ok());
                     });
    });
    if (future.wait_for(options_.connect_timeout + 1s) != std::future_status::ready) {
      return Unreachable("no answer to the WebSocket handshake");
    }
    return future.get();
  }

  // Runs `f` on the io thread and returns what it returns (not from the io thread).
  template <typename F>
  auto OnIo(F f) -> decltype(f()) {
    std::promise<decltype(f())> p;
    auto future = p.get_future();
    asio::post(io_, [&p, &f] { p.set_value(f()); });
    return future.get();
  }

  bool Connected() {
    return OnIo([this] { return conn_ != nullptr && conn_->open(); });
  }

  // Total slots of the live workers that run `fly`.
  Result<int> FlySlots() {
    VOLO_ASSIGN_OR_RETURN(FleetSlots fleet, Fleet());
    return fleet.slots;
  }

  // The slots of the live workers that run `fly`, and how many of them are busy.
  Result<FleetSlots> Fleet() {
    auto r = net::HttpFetch("GET", options_.url + "/api/v1/workers", "", Auth(), 5s);
    if (!r.ok()) return Unreachable(r.status().message());
    if (r->status != 200)
      return Unreachable("GET /api/v1/workers: HTTP " + std::to_string(r->status));
    auto tree = api::ParseText(r->body);
    auto list =
        tree.ok() ? api::ParseWorkerList(*tree) : Result<api::WorkerListView>(tree.status());
    if (!list.ok()) {
      return Unreachable("GET /api/v1/workers: not a worker list (" + list.status().message() +
                         ")");
    }
    FleetSlots fleet;
    for (const api::WorkerView& w : list->workers) {
      if (w.state != api::WorkerState::kLive) continue;  // draining and gone workers take none
      if (std::find(w.ops.begin(), w.ops.end(), "fly") != w.ops.end()) {
        fleet.slots += w.slots;
        fleet.busy += static_cast<int>(w.running);
      }
    }
    return fleet;
  }

  Status PutBlob(const std::string& hash, const std::string& bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (uploaded_.count(hash)) return Status::Ok();
    }
    auto r = net::HttpFetch("PUT", options_.url + "/api/v1/blobs/" + hash, bytes,
                            Auth({{"Content-Type", "application/octet-stream"}}), 30s);
    if (!r.ok()) return Unreachable(r.status().message());
    if (r->status != 200) {
      return Unavailable("the planner at " + options_.url + " refused the program: HTTP " +
                         std::to_string(r->status) + " " + r->body);
    }
    std::lock_guard<std::mutex> lock(mu_);
    uploaded_.insert(hash);
    return Status::Ok();
  }

  Status Submit(const std::shared_ptr<fly::FlyJob>& job) {
    VOLO_ASSIGN_OR_RETURN(fly::ChunkCommon common,
                          fly::StoreChunkBlobs(
                              *job, [](const std::string& bytes) { return Sha256Hex(bytes); },
                              [this](const std::string& hash, const std::string& bytes) {
                                return PutBlob(hash, bytes);
                              }));
    const std::string& spec = common.spec;
    // Slots of the fleet now; wait for a first fly worker if there is none yet.
    int slots = 0;
    auto deadline = std::chrono::steady_clock::now() + options_.worker_wait;
    bool told = false;
    for (;;) {
      VOLO_ASSIGN_OR_RETURN(slots, FlySlots());
      if (slots > 0) break;
      if (std::chrono::steady_clock::now() > deadline) {
        return Unavailable("no worker with the fly operation registered with the planner at " +
                           options_.url + " within " +
                           std::to_string(options_.worker_wait.count() / 1000) + " s");
      }
      if (!told) {
        std::cerr << "volo: waiting for a worker with the fly operation at " << options_.url
                  << "\n";
        told = true;
      }
      std::unique_lock<std::mutex> lock(mu_);
      idle_cv_.wait_for(lock, 100ms);
    }
    slots_ = slots;
    if (!Connected()) VOLO_RETURN_IF_ERROR(Connect());

    size_t n = job->instance_count();
    size_t chunk = fly::ChunkSize(n, slots);
    // The spec is JSON: its file names the program in the workers' messages; without a
    // range, every instance's argument travels with its chunk.
    std::string file_name = "program.fly";
    bool ship_args = true;
    {
      boost::system::error_code ec;
      json::value sv = json::parse(spec, ec);
      if (!ec && sv.is_object()) {
        const json::object& so = sv.as_object();
        if (so.contains("file") && so.at("file").is_string()) {
          file_name = std::string(so.at("file").as_string());
        }
        ship_args = !(so.contains("range_lo") && so.at("range_lo").is_number());
      }
    }
    std::string file;
    wire::AppendJsonString(file, file_name);

    auto launch = std::make_shared<LaunchState>();
    launch->job = job;
    launch->delivered.assign(n, 0);
    launch->on_end = [this, raw = launch.get()] { OnLaunchEnded(raw); };
    std::vector<std::pair<std::vector<wire::TaskSpec>, std::vector<std::shared_ptr<ChunkRef>>>>
        batches(1);
    size_t bytes = 0;
    for (size_t first = 0; first < n; first += chunk) {
      size_t count = std::min(chunk, n - first);
      VOLO_ASSIGN_OR_RETURN(std::string args,
                            fly::ChunkArgs(common, file, ship_args, *job, first, count));
      if (bytes > 0 && bytes + args.size() > kSubmitBytes) {
        batches.emplace_back();
        bytes = 0;
      }
      bytes += args.size();
      wire::TaskSpec t;
      t.op = "fly";
      t.args = std::move(args);
      t.retries = options_.retries;
      batches.back().first.push_back(std::move(t));
      auto ref = std::make_shared<ChunkRef>();
      ref->outstanding = &outstanding_;
      ref->launch = launch;
      ref->first = first;
      ref->count = count;
      batches.back().second.push_back(std::move(ref));
    }
    // Every argument could be serialized: the chunks go out.
    {
      std::lock_guard<std::mutex> lock(launches_mu_);
      launches_.push_back(launch);
    }
    for (auto& batch : batches) outstanding_ += static_cast<int64_t>(batch.second.size());
    for (auto& [tasks, refs] : batches) {
      asio::post(io_, [this, tasks = std::move(tasks), refs = std::move(refs)]() mutable {
        int64_t tag = next_tag_++;
        if (!conn_) {
          FailChunks(refs, Unreachable("the connection closed"));
          return;
        }
        conn_->Send(wire::EncodeSubmit(tag, tasks));
        by_tag_[tag] = std::move(refs);
      });
    }
    return Status::Ok();
  }

  // ---- io thread ----

  void OnMessage(std::string_view text) {
    auto msg = wire::ParseStreamMessage(text);
    if (!msg.ok()) {
      std::cerr << "volo: the planner sent a bad stream message: " << msg.status().message()
                << "\n";
      return;
    }
    if (auto* s = std::get_if<wire::Submitted>(&*msg)) {
      auto it = by_tag_.find(s->tag);
      if (it == by_tag_.end()) return;
      auto refs = std::move(it->second);
      by_tag_.erase(it);
      for (size_t k = 0; k < refs.size() && k < s->count; ++k) by_id_[s->first + k] = refs[k];
      // Results that overtook their acknowledgement.
      std::vector<wire::TaskOutput> early_output;
      early_output.swap(early_output_);
      for (auto& p : early_output) OnOutput(p);
      std::vector<wire::ClientResult> early;
      early.swap(early_);
      for (auto& r : early) OnResult(r);
    } else if (auto* out = std::get_if<wire::Output>(&*msg)) {
      for (auto& p : out->output) OnOutput(p);
    } else if (auto* rs = std::get_if<wire::ClientResults>(&*msg)) {
      for (auto& r : rs->results) OnResult(r);
    } else if (auto* e = std::get_if<wire::Error>(&*msg)) {
      // A refused submit: its chunks cannot run.
      std::cerr << "volo: the planner refused a fly: " << e->message << "\n";
      std::map<int64_t, std::vector<std::shared_ptr<ChunkRef>>> tags;
      tags.swap(by_tag_);
      for (auto& [tag, refs] : tags) {
        FailChunks(refs, Unavailable("the planner at " + options_.url +
                                     " refused the fly: " + e->message));
      }
    }
  }

  // Live output of a running chunk (its result follows).
  void OnOutput(wire::TaskOutput& p) {
    auto it = by_id_.find(p.id);
    if (it == by_id_.end()) {
      early_output_.push_back(std::move(p));  // overtook the acknowledgement
      return;
    }
    PrintOutput(*it->second, p.offset, p.text);
  }

  // Prints what of `text` (at byte `offset` of the chunk's output) was not printed before.
  void PrintOutput(ChunkRef& chunk, uint64_t offset, std::string_view text) {
    if (chunk.done) return;
    uint64_t end = offset + text.size();
    if (end <= chunk.shown) return;
    if (offset < chunk.shown) text.remove_prefix(static_cast<size_t>(chunk.shown - offset));
    chunk.shown = end;
    if (text.empty()) return;
    progress_.Clear();
    chunk.launch->job->Print(text);
  }

  void OnResult(wire::ClientResult& r) {
    auto it = by_id_.find(r.id);
    if (it == by_id_.end()) {
      early_.push_back(std::move(r));
      return;
    }
    std::shared_ptr<ChunkRef> chunk = it->second;
    by_id_.erase(it);
    if (chunk->done) return;
    if (r.state != "done") {
      if (chunk->Finish()) {
        FailChunk(*chunk, r.state == "cancelled" ? "the chunk was cancelled" : r.error);
      }
      return;
    }
    boost::system::error_code ec;
    json::value v = json::parse(r.result, ec);
    if (ec || !v.is_object()) {
      if (chunk->Finish()) FailChunk(*chunk, "a worker sent a malformed fly result");
      return;
    }
    const json::object& o = v.as_object();
    // The unterminated end of the chunk's output (the rest came live).
    if (auto out = o.find("output"); out != o.end() && out->value().is_string()) {
      uint64_t offset = 0;
      if (auto at = o.find("output_offset"); at != o.end() && at->value().is_number()) {
        offset = at->value().to_number<uint64_t>(ec);
        if (ec) offset = 0;
      }
      PrintOutput(*chunk, offset, std::string_view(out->value().as_string()));
    }
    if (!chunk->Finish()) return;
    fly::FlyJob& job = *chunk->launch->job;
    auto& delivered = chunk->launch->delivered;
    if (auto m = o.find("messages"); m != o.end() && m->value().is_array()) {
      for (const auto& e : m->value().as_array()) {
        if (!e.is_array() || e.as_array().size() != 4) continue;
        const auto& a = e.as_array();
        size_t instance = static_cast<size_t>(a[0].to_number<int64_t>(ec));
        if (ec || instance >= delivered.size() || delivered[instance]) continue;
        int channel = static_cast<int>(a[2].to_number<int64_t>(ec));
        if (ec || !a[3].is_string()) continue;
        Status st = job.Deliver(channel, std::string_view(a[3].as_string()));
        if (!st.ok()) std::cerr << "volo: " << st.message() << "\n";
      }
    }
    const json::array* returns = nullptr;
    if (auto rv = o.find("returns"); rv != o.end() && rv->value().is_array()) {
      returns = &rv->value().as_array();
    }
    for (size_t k = 0; k < chunk->count; ++k) {
      size_t i = chunk->first + k;
      if (i < delivered.size()) delivered[i] = 1;
      std::string value = "null";
      if (returns && k < returns->size() && (*returns)[k].is_string()) {
        value = std::string((*returns)[k].as_string());
      }
      chunk->launch->Complete(i, std::move(value));
    }
  }

  // The chunk's instances get the results fly::FailedChunkResults reads from the error.
  void FailChunk(ChunkRef& chunk, const std::string& error) {
    auto results = fly::FailedChunkResults(error, chunk.first, chunk.count);
    for (size_t k = 0; k < chunk.count; ++k) {
      chunk.launch->Complete(chunk.first + k, std::move(results[k]));
    }
  }

  void FailChunks(std::vector<std::shared_ptr<ChunkRef>>& refs, const Status& why) {
    for (auto& ref : refs) {
      if (!ref->Finish()) continue;
      for (size_t k = 0; k < ref->count; ++k) ref->launch->Complete(ref->first + k, why);
    }
  }

  void OnClosed(const Status& why) {
    conn_.reset();
    FailAll(Unavailable("lost the connection to the planner at " + options_.url + ": " +
                        (why.ok() ? "closed" : why.message())));
  }

  // The planner's ids of the chunks it acknowledged that have not ended (io thread).
  std::vector<uint64_t> OpenIds() const {
    std::vector<uint64_t> ids;
    for (const auto& [id, ref] : by_id_) {
      if (!ref->done) ids.push_back(id);
    }
    return ids;
  }

  // Fails every chunk not ended yet, acknowledged or not, and forgets them (io thread).
  void FailAll(const Status& why) {
    std::vector<std::shared_ptr<ChunkRef>> all;
    for (auto& [id, ref] : by_id_) all.push_back(ref);
    for (auto& [tag, refs] : by_tag_) all.insert(all.end(), refs.begin(), refs.end());
    by_id_.clear();
    by_tag_.clear();
    FailChunks(all, why);
  }

  ClusterOptions options_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  std::atomic<int> slots_{1};
  std::mutex mu_;
  std::condition_variable idle_cv_;
  std::set<std::string> uploaded_;  // GUARDED_BY(mu_)
  bool stopping_ = false;           // GUARDED_BY(mu_)
  std::thread watchdog_;
  std::atomic<int64_t> outstanding_{0};  // chunks submitted and not done
  FlyProgress progress_;                 // thread-safe
  std::mutex launches_mu_;
  std::vector<std::shared_ptr<LaunchState>> launches_;  // GUARDED_BY(launches_mu_): not ended
  // Watchdog thread only: the "waiting for a free fly slot" note.
  bool told_waiting_ = false;
  size_t last_ended_ = 0;
  std::chrono::steady_clock::time_point last_activity_{};
  // io thread only:
  std::shared_ptr<net::WsConnection> conn_;
  int64_t next_tag_ = 1;
  std::map<int64_t, std::vector<std::shared_ptr<ChunkRef>>> by_tag_;
  std::unordered_map<uint64_t, std::shared_ptr<ChunkRef>> by_id_;
  std::vector<wire::ClientResult> early_;
  std::vector<wire::TaskOutput> early_output_;
};

}  // namespace

size_t CancelOutstanding() {
  std::lock_guard<std::mutex> lock(g_live_mu);
  size_t n = 0;
  for (ClusterEnvironment* env : g_live) n += env->CancelAll();
  return n;
}

Result<std::unique_ptr<fly::Environment>> MakeClusterEnvironment(const ClusterOptions& options) {
  if (options.url.rfind("http://", 0) != 0 && options.url.rfind("https://", 0) != 0) {
    return InvalidArgument(
        "a cluster environment needs the planner's URL, like "
        "cluster:http://host:3000 (got '" +
        options.url + "')");
  }
  auto env = std::make_unique<ClusterEnvironment>(options);
  VOLO_RETURN_IF_ERROR(env->Start());
  return std::unique_ptr<fly::Environment>(std::move(env));
}

fly::EnvironmentFactory MakeEnvironmentFactory() {
  return [](const std::string& name, const std::string& kind,
            const std::string& address) -> Result<std::unique_ptr<fly::Environment>> {
    if (kind != "cluster") {
      return FailedPrecondition("environment '" + name + "': the " + kind +
                                " environment is not available in this build; bind it with "
                                "--env " +
                                name + "=cluster:URL or smp:N");
    }
    if (address.empty()) {
      return InvalidArgument("environment '" + name +
                             "': a cluster needs the planner's URL: url=\"http://host:3000\" "
                             "or --env " +
                             name + "=cluster:http://host:3000");
    }
    ClusterOptions o;
    o.url = address;
    // cluster:http://host:3000?retries=N&wait=S: how often a failing chunk is tried again, and
    // how many seconds a fly waits for a worker with the fly operation.
    if (size_t q = address.find('?'); q != std::string::npos) {
      o.url = address.substr(0, q);
      std::string query = address.substr(q + 1);
      auto bad = [&](const std::string& part) {
        return InvalidArgument("environment '" + name + "': after '?' the cluster URL takes " +
                               "retries=N (0..100), wait=S (seconds, 1..86400) and progress=P " +
                               "(seconds between progress lines, 0 for none), joined by '&'; " +
                               "got '" + part + "'");
      };
      size_t at = 0;
      while (at <= query.size()) {
        size_t amp = query.find('&', at);
        std::string part = query.substr(at, amp == std::string::npos ? amp : amp - at);
        at = amp == std::string::npos ? query.size() + 1 : amp + 1;
        size_t eq = part.find('=');
        if (eq == std::string::npos) return bad(part);
        std::string key = part.substr(0, eq), value = part.substr(eq + 1);
        if (value.empty() || value.size() > 5 ||
            value.find_first_not_of("0123456789") != std::string::npos) {
          return bad(part);
        }
        int n = std::stoi(value);
        if (key == "retries" && n <= 100) {
          o.retries = n;
        } else if (key == "wait" && n >= 1 && n <= 86400) {
          o.worker_wait = std::chrono::seconds(n);
        } else if (key == "progress" && n <= 86400) {
          o.progress_interval = std::chrono::seconds(n);
        } else {
          return bad(part);
        }
      }
    }
    if (const char* token = std::getenv("VOLO_TOKEN")) o.token = token;
    return MakeClusterEnvironment(o);
  };
}

}  // namespace volo::cluster
