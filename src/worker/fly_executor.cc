#include "worker/fly_executor.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "common/sha256.h"
#include "fly/remote.h"
#include "net/client.h"
#include "wire/messages.h"

namespace volo::worker {
namespace json = boost::json;

namespace {

std::string Str(const json::object& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
}

int64_t Int(const json::object& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_number()) return -1;
  boost::system::error_code ec;
  int64_t v = it->value().to_number<int64_t>(ec);
  return ec ? -1 : v;
}

}  // namespace

FlyExecutor::FlyExecutor(int threads, std::string planner_url, std::string token)
    : threads_(threads < 1 ? 1 : threads),
      planner_url_(std::move(planner_url)),
      token_(std::move(token)) {
  while (!planner_url_.empty() && planner_url_.back() == '/') planner_url_.pop_back();
}

FlyExecutor::~FlyExecutor() {
  std::vector<std::thread> pool;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    queue_.clear();
    for (auto& [id, flag] : running_) *flag = true;
    pool.swap(pool_);
  }
  cv_.notify_all();
  for (auto& t : pool) t.join();
}

void FlyExecutor::Submit(uint64_t id, std::string args, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    if (pool_.empty()) {
      for (int k = 0; k < threads_; ++k) pool_.emplace_back([this] { Loop(); });
    }
    queue_.push_back(
        {id, std::move(args), std::move(done), std::make_shared<std::atomic<bool>>(false)});
  }
  cv_.notify_one();
}

void FlyExecutor::Cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = running_.find(id); it != running_.end()) *it->second = true;
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (it->id == id) {
      queue_.erase(it);
      break;
    }
  }
}

FlyStats FlyExecutor::stats() const {
  return {fetched_.load(), compiled_.load(), chunks_.load(), instances_.load()};
}

void FlyExecutor::Loop() {
  for (;;) {
    Item item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      item = std::move(queue_.front());
      queue_.pop_front();
      running_[item.id] = item.stop;
    }
    Run(item);
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(item.id);
  }
}

Result<std::string> FlyExecutor::Blob(const std::string& hash) {
  // Called with cache_mu_ held.
  auto it = blobs_.find(hash);
  if (it != blobs_.end()) return it->second;
  net::Headers headers;
  if (!token_.empty()) headers.emplace_back("Authorization", "Bearer " + token_);
  auto r = net::HttpFetch("GET", planner_url_ + "/api/v1/blobs/" + hash, "", headers,
                          std::chrono::seconds(30));
  if (!r.ok()) return Unavailable("fetching blob " + hash + ": " + r.status().message());
  if (r->status != 200) {
    return NotFound("the planner has no blob " + hash + " (HTTP " + std::to_string(r->status) +
                    ")");
  }
  if (Sha256Hex(r->body) != hash) return Corruption("blob " + hash + " does not match its hash");
  ++fetched_;
  spdlog::info("fly: fetched blob {} ({} bytes)", hash.substr(0, 12), r->body.size());
  if (blobs_.size() > 256) blobs_.clear();
  blobs_[hash] = r->body;
  return std::move(r->body);
}

Result<std::shared_ptr<const fly::RemoteProgram>> FlyExecutor::Program(const std::string& hash,
                                                                       const std::string& file) {
  std::lock_guard<std::mutex> lock(cache_mu_);
  std::string key = hash + "\n" + file;
  auto it = programs_.find(key);
  if (it != programs_.end()) return it->second;
  VOLO_ASSIGN_OR_RETURN(std::string source, Blob(hash));
  VOLO_ASSIGN_OR_RETURN(auto program, fly::RemoteProgram::Compile(file, source));
  ++compiled_;
  programs_[key] = program;
  return program;
}

void FlyExecutor::Run(Item& item) {
  boost::system::error_code ec;
  json::value v = json::parse(item.args, ec);
  if (ec || !v.is_object()) {
    item.done(false, "fly: the task's args are not a JSON object");
    return;
  }
  const json::object& o = v.as_object();
  std::string hash = Str(o, "program");
  int64_t first = Int(o, "first"), count = Int(o, "count");
  if (hash.empty() || first < 0 || count < 0) {
    item.done(false, "fly: args need program (a SHA-256), first and count");
    return;
  }
  auto program = Program(hash, Str(o, "file"));
  if (!program.ok()) {
    item.done(false, "fly: " + program.status().message());
    return;
  }
  std::string spec = Str(o, "spec");
  if (spec.empty()) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto blob = Blob(Str(o, "spec_blob"));
    if (!blob.ok()) {
      item.done(false, "fly: " + blob.status().message());
      return;
    }
    spec = std::move(*blob);
  }
  std::vector<std::string> args;
  if (auto it = o.find("args"); it != o.end() && it->value().is_array()) {
    for (const auto& a : it->value().as_array()) {
      args.push_back(a.is_string() ? std::string(a.as_string()) : "");
    }
  }
  fly::ChunkResult r = (*program)->RunChunk(spec, static_cast<size_t>(first),
                                            static_cast<size_t>(count), args, item.stop.get());
  ++chunks_;
  instances_ += static_cast<int64_t>(r.returns.size());
  if (!r.ok) {
    item.done(false, "instance " + std::to_string(r.failed_instance) + ": " + r.error);
    return;
  }
  std::string out = "{\"returns\":";
  bool all_null = true;
  for (const auto& s : r.returns) all_null = all_null && s == "null";
  if (all_null) {
    out += "null";
  } else {
    out += '[';
    for (size_t k = 0; k < r.returns.size(); ++k) {
      if (k) out += ',';
      wire::AppendJsonString(out, r.returns[k]);
    }
    out += ']';
  }
  out += ",\"messages\":[";
  for (size_t k = 0; k < r.messages.size(); ++k) {
    const auto& m = r.messages[k];
    if (k) out += ',';
    out += '[' + std::to_string(m.instance) + ',' + std::to_string(m.seq) + ',' +
           std::to_string(m.channel) + ',';
    wire::AppendJsonString(out, m.value);
    out += ']';
  }
  out += "],\"output\":";
  wire::AppendJsonString(out, r.output);
  out += '}';
  item.done(true, std::move(out));
}

}  // namespace volo::worker
