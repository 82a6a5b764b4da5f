#include "fleet.h"

#include <emscripten.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_text.h"
#include "common/status.h"
#include "fly/remote.h"

extern "C" {
// playground.js, each over the Web Worker's Fleet (worker.ts). Each returns a string from
// malloc that the caller frees: "ok\n" and the answer, or "error\n" and what went wrong.
char* volo_fleet_slots();                                              // "ok\n<fly slots>"
char* volo_fleet_put_blob(const char* hash, const char* data, int n);  // "ok\n"
char* volo_fleet_submit(const char* body, int n);                      // "ok\n<first id>"
// Long-polls the tasks (ids: decimal, comma-separated) for up to `timeout` seconds; "ok\n" and
// one record per task that has finished (format: Poll below).
char* volo_fleet_wait(const char* ids, double timeout);
void volo_fleet_cancel(const char* ids);  // best effort
}

namespace volo::playground {
namespace {

// ---- SHA-256 (FIPS 180-4) ----

constexpr std::array<uint32_t, 64> kRound = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

void Compress(std::array<uint32_t, 8>& h, const unsigned char* block) {
  uint32_t w[64];
  for (int i = 0; i < 16; ++i) {
    w[i] = uint32_t{block[4 * i]} << 24 | uint32_t{block[4 * i + 1]} << 16 |
           uint32_t{block[4 * i + 2]} << 8 | uint32_t{block[4 * i + 3]};
  }
  for (int i = 16; i < 64; ++i) {
    uint32_t s0 = Rotr(w[i - 15], 7) ^ Rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = Rotr(w[i - 2], 17) ^ Rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (int i = 0; i < 64; ++i) {
    uint32_t t1 =
        k + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + ((e & f) ^ (~e & g)) + kRound[i] + w[i];
    uint32_t t2 = (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    k = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += k;
}

// ---- the calls into JavaScript ----

// A playground.js answer: ok and the text after "ok\n", or the error.
Result<std::string> Answer(char* raw) {
  if (raw == nullptr) return Internal("the page's fleet client is missing");
  std::string text(raw);
  std::free(raw);
  if (text.rfind("ok\n", 0) == 0) return text.substr(3);
  if (text.rfind("error\n", 0) == 0) return Unavailable(text.substr(6));
  return Internal("the page's fleet client answered '" + text + "'");
}

std::string JoinIds(const std::vector<uint64_t>& ids) {
  std::string s;
  for (uint64_t id : ids) {
    if (!s.empty()) s += ',';
    s += std::to_string(id);
  }
  return s;
}

// Reads the records of a volo_fleet_wait answer: lines "TAG A B LEN\n" each followed by LEN
// bytes and "\n".
class Records {
 public:
  explicit Records(std::string_view text) : text_(text) {}
  struct Record {
    char tag = 0;
    uint64_t a = 0, b = 0;
    std::string_view body;
  };
  // False at the end, or (with *error set) when the text is malformed.
  bool Next(Record* r, std::string* error) {
    if (at_ >= text_.size()) return false;
    size_t nl = text_.find('\n', at_);
    if (nl == std::string_view::npos) return Bad(error);
    std::string head(text_.substr(at_, nl - at_));
    char tag = 0;
    unsigned long long a = 0, b = 0, len = 0;
    if (std::sscanf(head.c_str(), "%c %llu %llu %llu", &tag, &a, &b, &len) != 4) return Bad(error);
    if (nl + 1 + len + 1 > text_.size()) return Bad(error);
    r->tag = tag;
    r->a = a;
    r->b = b;
    r->body = text_.substr(nl + 1, len);
    at_ = nl + 1 + len + 1;
    return true;
  }

 private:
  bool Bad(std::string* error) {
    *error = "the page's fleet client sent a malformed answer";
    at_ = text_.size();
    return false;
  }
  std::string_view text_;
  size_t at_ = 0;
};

constexpr size_t kSubmitBytes = 8 << 20;  // one submit request stays under this
constexpr size_t kMaxWaitIds = 10000;     // POST /api/v1/wait's limit
constexpr double kPollSeconds = 1.0;      // how long one wait may block

struct Chunk {
  std::shared_ptr<fly::FlyJob> job;
  size_t first = 0, count = 0;
};

class FleetEnvironment : public fly::Environment {
 public:
  explicit FleetEnvironment(std::string url) : url_(std::move(url)) {}

  // A program that failed leaves chunks behind: take them off the fleet.
  ~FleetEnvironment() override {
    std::vector<uint64_t> open;
    for (const auto& [id, chunk] : open_) open.push_back(id);
    if (!open.empty()) volo_fleet_cancel(JoinIds(open).c_str());
  }

  Status Start() {
    VOLO_ASSIGN_OR_RETURN(int slots, Slots());
    slots_ = std::max(slots, 1);
    return Status::Ok();
  }

  std::string Describe() const override { return "cluster:" + url_; }
  int parallelism() const override { return slots_; }

  void Launch(std::shared_ptr<fly::FlyJob> job) override {
    size_t n = job->instance_count();
    if (n == 0) return;
    Status st = Submit(job);
    if (!st.ok()) {
      for (size_t i = 0; i < n; ++i) job->Complete(i, st);
    }
  }

  // The program's thread waits for a fly or a message: wait (at most kPollSeconds) for chunks
  // to end and hand over what they brought. True while chunks are out (even when none ended
  // in this poll: the caller asks again).
  bool RunPending() override {
    if (open_.empty()) return false;
    Poll();
    return true;
  }

 private:
  Result<int> Slots() {
    VOLO_ASSIGN_OR_RETURN(std::string text, Answer(volo_fleet_slots()));
    return std::atoi(text.c_str());
  }

  Status PutBlob(const std::string& hash, const std::string& bytes) {
    if (uploaded_.count(hash)) return Status::Ok();
    VOLO_RETURN_IF_ERROR(
        Answer(volo_fleet_put_blob(hash.c_str(), bytes.data(), static_cast<int>(bytes.size())))
            .status());
    uploaded_.insert(hash);
    return Status::Ok();
  }

  Status Submit(const std::shared_ptr<fly::FlyJob>& job) {
    VOLO_ASSIGN_OR_RETURN(
        fly::ChunkCommon common,
        fly::StoreChunkBlobs(*job, Sha256Hex,
                             [this](const std::string& hash, const std::string& bytes) {
                               return PutBlob(hash, bytes);
                             }));
    const std::string& spec = common.spec;
    // The fleet's fly slots now (the chunk size follows them, the answer does not).
    VOLO_ASSIGN_OR_RETURN(int slots, Slots());
    if (slots <= 0) {
      return Unavailable("no worker with the fly operation is connected to the planner at " + url_ +
                         " (start one with `volo worker --planner " + url_ +
                         " --ops fly`), so the fly cannot run on the fleet");
    }
    slots_ = slots;
    size_t n = job->instance_count();
    size_t chunk = fly::ChunkSize(n, slots);
    // The spec (JSON written by fly.cc) names the program's file first and says whether the
    // fly is over a range; without a range, every instance's argument travels with its chunk.
    std::string file;
    AppendJsonString(file, "main.fly");
    if (spec.rfind("{\"file\":\"", 0) == 0) {
      size_t end = spec.find("\",", 9);
      if (end != std::string::npos) file = spec.substr(8, end + 1 - 8);
    }
    bool ship_args = true;
    if (size_t at = spec.find("\"range_lo\":"); at != std::string::npos) {
      ship_args = spec.compare(at + 11, 4, "null") == 0;
    }

    std::vector<std::pair<std::string, std::vector<Chunk>>> batches(1);
    for (size_t first = 0; first < n; first += chunk) {
      size_t count = std::min(chunk, n - first);
      VOLO_ASSIGN_OR_RETURN(std::string args,
                            fly::ChunkArgs(common, file, ship_args, *job, first, count));
      std::string task = "{\"op\":\"fly\",\"retries\":1,\"args\":" + args + "}";
      auto& batch = batches.back();
      if (!batch.first.empty() && batch.first.size() + task.size() > kSubmitBytes) {
        batches.emplace_back();
      }
      auto& into = batches.back();
      into.first += into.first.empty() ? "{\"tasks\":[" : ",";
      into.first += task;
      into.second.push_back({job, first, count});
    }
    // Every argument could be serialized: the chunks go out.
    for (size_t k = 0; k < batches.size(); ++k) {
      auto& [body, chunks] = batches[k];
      body += "]}";
      auto first_id = Answer(volo_fleet_submit(body.data(), static_cast<int>(body.size())));
      if (!first_id.ok()) {
        // The batches already out run on; the instances of this one and the later ones fail.
        for (size_t j = k; j < batches.size(); ++j) {
          for (const Chunk& c : batches[j].second) {
            for (size_t i = 0; i < c.count; ++i) c.job->Complete(c.first + i, first_id.status());
          }
        }
        return Status::Ok();
      }
      uint64_t id = std::strtoull(first_id->c_str(), nullptr, 10);
      for (Chunk& c : chunks) open_[id++] = std::move(c);
    }
    return Status::Ok();
  }

  // One long-poll over the open chunks (the oldest kMaxWaitIds), and what ended in it.
  void Poll() {
    std::vector<uint64_t> ids;
    for (const auto& [id, chunk] : open_) {
      if (ids.size() == kMaxWaitIds) break;
      ids.push_back(id);
    }
    auto answer = Answer(volo_fleet_wait(JoinIds(ids).c_str(), kPollSeconds));
    if (!answer.ok()) {
      FailAll(answer.status());
      return;
    }
    Records records(*answer);
    Records::Record r;
    std::string error;
    // A task's record, then its fields: O its output, E its error, R a return value
    // (a = the instance within the chunk), M a message (a = instance, b = channel).
    struct Ended {
      uint64_t id = 0;
      std::string state, output, error;
      std::map<size_t, std::string> returns;
      std::vector<std::pair<int, std::string>> messages;
    };
    std::vector<Ended> ended;
    while (records.Next(&r, &error)) {
      if (r.tag == 'T') {
        ended.push_back({r.a, std::string(r.body)});
        continue;
      }
      if (ended.empty()) continue;
      Ended& e = ended.back();
      switch (r.tag) {
        case 'O':
          e.output = r.body;
          break;
        case 'E':
          e.error = r.body;
          break;
        case 'R':
          e.returns[r.a] = r.body;
          break;
        case 'M':
          e.messages.emplace_back(static_cast<int>(r.b), std::string(r.body));
          break;
        default:
          break;
      }
    }
    if (!error.empty()) {
      FailAll(Internal(error));
      return;
    }
    for (Ended& e : ended) {
      auto it = open_.find(e.id);
      if (it == open_.end()) continue;
      Chunk chunk = std::move(it->second);
      open_.erase(it);
      if (!e.output.empty()) chunk.job->Print(e.output);
      if (e.state != "done") {
        FailChunk(chunk, e.state == "cancelled" ? "the chunk was cancelled" : e.error);
        continue;
      }
      // Messages before the instances' ends, so a receiver never sees the fly end first.
      for (auto& [channel, value] : e.messages) {
        Status st = chunk.job->Deliver(channel, value);
        if (!st.ok()) chunk.job->Print("volo: " + st.message() + "\n");
      }
      for (size_t k = 0; k < chunk.count; ++k) {
        auto rv = e.returns.find(k);
        chunk.job->Complete(chunk.first + k,
                            rv == e.returns.end() ? std::string("null") : std::move(rv->second));
      }
    }
  }

  // The chunk's instances get the results fly::FailedChunkResults reads from the error (as
  // src/cluster does).
  static void FailChunk(const Chunk& chunk, const std::string& error) {
    auto results = fly::FailedChunkResults(error, chunk.first, chunk.count);
    for (size_t k = 0; k < chunk.count; ++k) {
      chunk.job->Complete(chunk.first + k, std::move(results[k]));
    }
  }

  // Fails every open chunk (the planner cannot be asked any more); cancels them on the fleet.
  void FailAll(const Status& why) {
    std::map<uint64_t, Chunk> open;
    open.swap(open_);
    std::vector<uint64_t> ids;
    for (const auto& [id, chunk] : open) ids.push_back(id);
    if (!ids.empty()) volo_fleet_cancel(JoinIds(ids).c_str());
    for (auto& [id, chunk] : open) {
      for (size_t k = 0; k < chunk.count; ++k) chunk.job->Complete(chunk.first + k, why);
    }
  }

  const std::string url_;
  int slots_ = 1;
  std::set<std::string> uploaded_;
  std::map<uint64_t, Chunk> open_;  // submitted chunks not ended, by task id
};

}  // namespace

std::string Sha256Hex(const std::string& data) {
  std::array<uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size(), at = 0;
  for (; at + 64 <= n; at += 64) Compress(h, p + at);
  unsigned char tail[128] = {};
  size_t rest = n - at;
  std::copy(p + at, p + n, tail);
  tail[rest] = 0x80;
  size_t blocks = rest + 1 + 8 <= 64 ? 1 : 2;
  uint64_t bits = static_cast<uint64_t>(n) * 8;
  for (int i = 0; i < 8; ++i) {
    tail[blocks * 64 - 1 - i] = static_cast<unsigned char>(bits >> (8 * i));
  }
  for (size_t b = 0; b < blocks; ++b) Compress(h, tail + 64 * b);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint32_t v : h) {
    for (int s = 28; s >= 0; s -= 4) out += kHex[(v >> s) & 0xf];
  }
  return out;
}

fly::EnvironmentFactory MakeFleetFactory() {
  return [](const std::string& name, const std::string& kind,
            const std::string& address) -> Result<std::unique_ptr<fly::Environment>> {
    if (kind != "cluster") {
      return FailedPrecondition("environment '" + name + "': the " + kind +
                                " environment is not available in the playground");
    }
    auto env = std::make_unique<FleetEnvironment>(address);
    VOLO_RETURN_IF_ERROR(env->Start());
    return std::unique_ptr<fly::Environment>(std::move(env));
  };
}

}  // namespace volo::playground
