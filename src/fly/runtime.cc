#include "fly/runtime.h"

#include <random>
#include <thread>

namespace volo::fly {

namespace {
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string ChannelName(const Channel& ch) {
  return ch.name.empty() ? "a channel" : "channel '" + ch.name + "'";
}

bool IsCloud(const std::string& type) {
  return type == "aws" || type == "azure" || type == "aws-debug";
}

// An environment as the program declared it: a fly's portions follow the declared thread count
// (the program's decomposition), while `bound` (what --env, `volo up` or the declaration made)
// decides how many of them run at once.
class DeclaredEnvironment : public Environment {
 public:
  DeclaredEnvironment(std::unique_ptr<Environment> bound, int nthread)
      : bound_(std::move(bound)), nthread_(nthread) {}
  std::string Describe() const override { return bound_->Describe(); }
  int parallelism() const override { return bound_->parallelism(); }
  int nthread() const override { return nthread_; }
  void Launch(std::shared_ptr<FlyJob> job) override { bound_->Launch(std::move(job)); }
  bool RunPending() override { return bound_->RunPending(); }

 private:
  std::unique_ptr<Environment> bound_;
  const int nthread_;
};
}  // namespace

Runtime::Runtime(const Program& program, const RunOptions& options, std::ostream& out,
                 std::ostream& err)
    : program_(program), options_(options), out_(out), err_(err) {
  for (const auto& b : options.env_bindings) {
    size_t eq = b.find('=');
    if (eq == std::string::npos) {
      bindings_[b] = "";
    } else {
      bindings_[b.substr(0, eq)] = b.substr(eq + 1);
    }
  }
  if (!options.bind_all.empty()) {
    for (const auto& e : program.envs) bindings_.emplace(e.name, options.bind_all);
  }
  if (options.has_seed) {
    seed_ = options.seed;
  } else {
    std::random_device rd;
    seed_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
}

Runtime::~Runtime() {
  // Environments first: their threads may still hold runners that use this Runtime.
  std::map<std::string, std::unique_ptr<Environment>> envs;
  std::vector<std::unique_ptr<Environment>> forgotten;
  {
    std::lock_guard<std::mutex> lock(env_mu_);
    envs.swap(envs_);
    forgotten.swap(forgotten_envs_);
  }
  envs.clear();
  forgotten.clear();
  // Then what still holds values: channels' messages and async jobs' arguments and results.
  std::vector<std::unique_ptr<Channel>> channels;
  std::vector<std::shared_ptr<FlyJob>> jobs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    channels.swap(channels_);
    jobs.swap(async_jobs_);
  }
  channels.clear();
  jobs.clear();
  // No code of this run executes any more: free the reference cycles it left (heap.h).
  heap_.Collect();
}

void Runtime::ForgetEnvironment(const std::string& name) {
  std::lock_guard<std::mutex> lock(env_mu_);
  auto it = envs_.find(name);
  if (it == envs_.end()) return;
  forgotten_envs_.push_back(std::move(it->second));
  envs_.erase(it);
}

std::vector<std::pair<std::string, std::string>> Runtime::Environments() {
  std::lock_guard<std::mutex> lock(env_mu_);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, env] : envs_) out.emplace_back(name, env->Describe());
  return out;
}

std::string Runtime::BindingOf(const std::string& name) const {
  auto it = bindings_.find(name);
  return it == bindings_.end() ? "" : it->second;
}

void Runtime::Write(std::string_view text) {
  std::lock_guard<std::mutex> lock(out_mu_);
  out_ << text;
  // Each whole line reaches a pipe or a file as it is printed, not when a buffer fills or the
  // program ends (a terminal is line-buffered anyway): logs and `| tee` show progress live.
  if (text.find('\n') != std::string_view::npos) out_.flush();
}

void Runtime::Warn(std::string_view text) {
  std::lock_guard<std::mutex> lock(out_mu_);
  out_.flush();
  err_ << text;
}

Channel* Runtime::FindChannel(int id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (id < 0 || static_cast<size_t>(id) >= channels_.size()) return nullptr;
  return channels_[id].get();
}

Channel* Runtime::NewChannel(std::string name) {
  std::lock_guard<std::mutex> lock(mu_);
  channels_.push_back(
      std::make_unique<Channel>(static_cast<int>(channels_.size()), std::move(name)));
  return channels_.back().get();
}

void Runtime::Send(Channel* ch, Value message) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ch->queue.push_back(message);
    // A blocked receiver now has a message: count it active at once, so nobody mistakes the
    // moment before it wakes for a deadlock.
    if (ch->waiters > ch->granted) {
      ++ch->granted;
      ++active_;
      wake = true;
    }
  }
  if (wake) cv_.notify_all();
}

bool Runtime::Receive(Channel* ch, Value* out, std::string* error) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (stopped_.load(std::memory_order_relaxed)) {
      *error = stop_reason_;
      return false;
    }
    if (!ch->queue.empty()) {
      *out = ch->queue.front();
      ch->queue.pop_front();
      return true;
    }
    if constexpr (kOneThread) {
      if (ReceiveOnOneThread(ch, lock)) continue;
      *error = "receive on " + ChannelName(*ch) +
               ", which is empty and can never get a message: no instance that could send is "
               "running";
      if (active_ > 1) {
        // Someone further down this thread's stack could go on (a message reached it), but
        // cannot while this receive sits on top of it.
        *error +=
            " (the playground runs fly instances one at a time on one thread: this receive "
            "waits for an executor it has to finish first)";
      }
      return false;
    }
    if (active_ <= 1) {
      *error = "receive on " + ChannelName(*ch) +
               ", which is empty and can never get a message: no instance that could send is "
               "running";
      return false;
    }
    ++ch->waiters;
    ++waiting_;
    DecActiveLocked();
    bool granted = false;
    for (;;) {
      cv_.wait(lock);
      if (ch->granted > 0) {
        --ch->granted;
        granted = true;
        break;
      }
      if (active_ == 0 || stopped_.load(std::memory_order_relaxed)) break;
    }
    --ch->waiters;
    --waiting_;
    if (!granted) ++active_;
  }
}

void Runtime::Stop(std::string reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_.load(std::memory_order_relaxed)) return;
    stop_reason_ = std::move(reason);
    stopped_.store(true, std::memory_order_relaxed);
    cancelled_ = true;
  }
  cv_.notify_all();
}

std::string Runtime::stop_reason() {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_reason_;
}

void Runtime::DecActiveLocked() {
  if (--active_ == 0) cv_.notify_all();
}

void Runtime::AddActive(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  active_ += n;
}

void Runtime::RemoveActive() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --active_;
  }
  // Fly waiters and (when nobody is left) blocked receivers re-check their condition.
  cv_.notify_all();
}

bool Runtime::ReceiveOnOneThread(Channel* ch, std::unique_lock<std::mutex>& lock) {
  // Blocked as a receiver is (inactive, a send grants it back), while a pending instance runs.
  ++ch->waiters;
  ++waiting_;
  DecActiveLocked();
  lock.unlock();
  bool ran = RunPendingInstance();
  lock.lock();
  --ch->waiters;
  --waiting_;
  if (ch->granted > 0) {
    --ch->granted;  // a send already counted this receiver active again
  } else {
    ++active_;
  }
  return ran;
}

bool Runtime::RunPendingInstance() {
  if constexpr (!kOneThread) return false;  // the smp pool's threads run every instance
  std::vector<Environment*> envs;
  {
    std::lock_guard<std::mutex> lock(env_mu_);
    for (const auto& [name, env] : envs_) envs.push_back(env.get());
    for (const auto& env : forgotten_envs_) envs.push_back(env.get());
  }
  // Environments live as long as the Runtime, so the pointers stay valid without the lock.
  for (Environment* env : envs) {
    if (env->RunPending()) return true;
  }
  return false;
}

void Runtime::AddAsyncJob(std::shared_ptr<FlyJob> job) {
  std::lock_guard<std::mutex> lock(mu_);
  async_jobs_.push_back(std::move(job));
}

std::vector<std::shared_ptr<FlyJob>> Runtime::TakeAsyncJobs() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::move(async_jobs_);
}

uint64_t Runtime::SeedFor(bool has_decl_seed, uint64_t decl_seed) const {
  if (options_.has_seed || !has_decl_seed) return seed_;
  return Mix(decl_seed);
}

Status Runtime::CheckEnvironments() {
  for (const auto& [name, spec] : bindings_) {
    bool declared = false;
    for (const auto& e : program_.envs) declared = declared || e.name == name;
    if (!declared) {
      return InvalidArgument("--env " + name + ": " + program_.file +
                             " declares no environment named '" + name + "'");
    }
    if (spec.rfind("smp", 0) != 0) {
      std::string kind = spec.substr(0, spec.find(':'));
      if (kind == "cluster" && options_.make_environment) {
        if (spec.size() <= kind.size() + 1) {
          return InvalidArgument("--env " + name + "=" + spec +
                                 ": expected cluster:URL (like cluster:http://host:3000)");
        }
        continue;
      }
      if (kind == "cluster" || kind == "k8s") {
        return InvalidArgument("--env " + name + "=" + spec + ": the " + kind +
                               " environment is not available in this build yet; use smp:N");
      }
      return InvalidArgument("--env " + name + "=" + spec +
                             ": expected smp:N (N threads), cluster:URL or k8s:...");
    }
    if (spec.size() > 3) {
      if (spec[3] != ':' || spec.size() == 4 ||
          spec.find_first_not_of("0123456789", 4) != std::string::npos ||
          std::stoll(spec.substr(4, 9)) < 1 || spec.size() > 4 + 9 ||
          std::stoll(spec.substr(4, 9)) > kMaxSmpThreads) {
        return InvalidArgument("--env " + name + "=" + spec +
                               ": expected smp:N with N a thread count from 1 to " +
                               std::to_string(kMaxSmpThreads));
      }
    }
  }
  for (const auto& e : program_.envs) {
    if (bindings_.count(e.name)) continue;
    // A k8s environment declared `on` a rebound environment runs where that one runs.
    if (e.type == "k8s" && !e.on.empty() && bindings_.count(e.on)) continue;
    if (e.type == "cluster" && options_.make_environment) continue;
    std::string where =
        program_.file + ":" + std::to_string(e.pos.line) + ":" + std::to_string(e.pos.col) + ": ";
    if (IsCloud(e.type)) {
      return FailedPrecondition(
          where + "environment '" + e.name + "' has type \"" + e.type +
          "\", which volo cannot run directly; bind it at launch with --env " + e.name +
          "=smp:N (or cluster:URL)");
    }
    if (e.type == "k8s" || e.type == "cluster") {
      return FailedPrecondition(
          where + "environment '" + e.name + "' has type \"" + e.type +
          "\", which is not available in this build yet; bind it with --env " + e.name + "=smp:N");
    }
  }
  return Status::Ok();
}

Result<Environment*> Runtime::GetEnvironment(const std::string& name, const std::string& type,
                                             int threads, const std::string& address) {
  std::lock_guard<std::mutex> lock(env_mu_);
  auto it = envs_.find(name);
  if (it != envs_.end() && !name.empty()) return it->second.get();
  auto b = bindings_.find(name);
  if (b == bindings_.end() && type == "k8s") {
    for (const auto& e : program_.envs) {
      if (e.name == name && !e.on.empty()) b = bindings_.find(e.on);
    }
  }
  std::unique_ptr<Environment> env;
  std::string kind = b == bindings_.end() ? type : b->second.substr(0, b->second.find(':'));
  if (options_.make_environment && (kind == "cluster" || kind == "k8s") &&
      (b != bindings_.end() || type == "cluster")) {
    std::string where = b == bindings_.end()             ? address
                        : b->second.size() > kind.size() ? b->second.substr(kind.size() + 1)
                                                         : "";
    auto made = options_.make_environment(name, kind, where);
    if (!made.ok()) return made.status();
    env = std::move(*made);
  } else if (b != bindings_.end()) {
    int n = b->second.size() > 4 ? std::stoi(b->second.substr(4, 9))
                                 : static_cast<int>(std::thread::hardware_concurrency());
    VOLO_ASSIGN_OR_RETURN(env, MakeSmpEnvironment(std::max(n, 1)));
  } else if (type == "smp" || type == "local") {
    if (threads < 1 || threads > kMaxSmpThreads) {
      return InvalidArgument("an smp environment needs a thread count from 1 to " +
                             std::to_string(kMaxSmpThreads) + " (nthread=N)");
    }
    VOLO_ASSIGN_OR_RETURN(env, MakeSmpEnvironment(threads));
  } else if (IsCloud(type) || type == "k8s" || type == "cluster") {
    return FailedPrecondition("environment '" + name + "' has type \"" + type +
                              "\"; bind it at launch with --env " + name + "=smp:N");
  } else {
    return InvalidArgument("unknown environment type \"" + type + "\"");
  }
  if (threads > 0) env = std::make_unique<DeclaredEnvironment>(std::move(env), threads);
  Environment* raw = env.get();
  std::string key = name.empty() ? "#" + std::to_string(envs_.size()) : name;
  envs_[key] = std::move(env);
  return raw;
}

}  // namespace volo::fly
