// The playground's entry point: the FLY interpreter (src/fly, unchanged but for the one-thread
// smp and the RegExp-backed regex.h) as one exported C function that the page's Web Worker
// calls. Output reaches JavaScript as it is printed (volo_playground_emit, playground.js), so a
// long program shows its lines while it runs; errors are the same `file:line:col: message`
// text `volo run` prints, which the page turns into marks in the editor.
#include <emscripten.h>

#include <atomic>
#include <cstdlib>
#include <ostream>
#include <streambuf>
#include <string>

#include "fleet.h"
#include "fly/interpreter.h"

extern "C" {
// playground.js: hands `n` bytes of UTF-8 to Module.onOutput(stream, text) (1 stdout, 2 stderr),
// or, with a `channel` name (the threaded build), posts {seq, stream, text} on that
// BroadcastChannel: a thread other than the program's cannot reach the page through the program's
// Web Worker while that one waits for it, so every piece goes straight to the page, numbered in
// the order printed.
void volo_playground_emit(int stream, const char* data, int n, int seq, const char* channel);
}

namespace {

// The run's output pieces so far (numbered from 0), and the BroadcastChannel they go to ("":
// Module.onOutput). Pieces are emitted under the Runtime's output lock, so in print order.
std::atomic<int> g_emitted{0};
std::string g_channel;

// The heap a program may use before it fails with "out of memory" instead of aborting the
// module (the module's memory may grow to 2 GiB).
constexpr uint64_t kMaxMemory = uint64_t{1} << 30;

// A streambuf that passes whole flushes to JavaScript. The Runtime flushes at every line; a
// large unflushed run is passed on at a UTF-8 character boundary, never inside a character.
class EmitBuf : public std::streambuf {
 public:
  explicit EmitBuf(int stream) : stream_(stream) {}
  ~EmitBuf() override { Emit(pending_.size()); }

 protected:
  int_type overflow(int_type c) override {
    if (c != traits_type::eof()) pending_ += static_cast<char>(c);
    if (pending_.size() >= kChunk) EmitWholeCharacters();
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    pending_.append(s, static_cast<size_t>(n));
    if (pending_.size() >= kChunk) EmitWholeCharacters();
    return n;
  }
  int sync() override {
    Emit(pending_.size());
    return 0;
  }

 private:
  static constexpr size_t kChunk = 16 * 1024;

  void EmitWholeCharacters() {
    size_t end = pending_.size();
    // Back up over continuation bytes to the start of the last character, then keep it if its
    // sequence is not complete yet.
    size_t start = end;
    while (start > 0 && (static_cast<unsigned char>(pending_[start - 1]) & 0xc0) == 0x80) --start;
    if (start > 0) {
      unsigned char lead = static_cast<unsigned char>(pending_[start - 1]);
      size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
      if (end - (start - 1) < need) end = start - 1;
    }
    Emit(end);
  }
  void Emit(size_t n) {
    if (n == 0) return;
    volo_playground_emit(stream_, pending_.data(), static_cast<int>(n), g_emitted.fetch_add(1),
                         g_channel.c_str());
    pending_.erase(0, n);
  }

  const int stream_;
  std::string pending_;
};

}  // namespace

// Runs `source` as the program `file` (the name its messages carry). `bindings`: --env
// bindings, one per line ("pool=smp:4"); `seed`: --seed as decimal text, "" for a random one.
// `fleet`: the planner's URL to run every environment the program declares on its fly workers
// ("run on this fleet", fleet.h), "" to run them in the tab. `channel`: the BroadcastChannel for
// the output (volo_playground_emit), "" for Module.onOutput.
// Returns volo run's exit code (0, 1 for a compile or runtime error, 2 for a usage error).
extern "C" EMSCRIPTEN_KEEPALIVE int volo_playground_run(const char* file, const char* source,
                                                        const char* bindings, const char* seed,
                                                        const char* fleet, const char* channel) {
  g_emitted = 0;
  g_channel = channel;
  EmitBuf out_buf(1), err_buf(2);
  std::ostream out(&out_buf), err(&err_buf);
  volo::fly::RunOptions options;
  options.file = file;
  options.max_memory = kMaxMemory;
  std::string b = bindings;
  for (size_t at = 0; at < b.size();) {
    size_t nl = b.find('\n', at);
    if (nl == std::string::npos) nl = b.size();
    if (nl > at) options.env_bindings.push_back(b.substr(at, nl - at));
    at = nl + 1;
  }
  if (fleet[0] != '\0') {
    options.bind_all = std::string("cluster:") + fleet;
    options.make_environment = volo::playground::MakeFleetFactory();
  }
  if (seed[0] != '\0') {
    char* end = nullptr;
    options.seed = std::strtoull(seed, &end, 10);
    if (*end != '\0') {
      err << "volo: --seed expects a non-negative integer, got '" << seed << "'\n";
      return 2;
    }
    options.has_seed = true;
  }
  int code = volo::fly::RunSource(options, source, out, err);
  out.flush();
  err.flush();
  return code;
}

// How many output pieces the last run emitted (the page waits for all of them).
extern "C" EMSCRIPTEN_KEEPALIVE int volo_playground_emitted() { return g_emitted.load(); }
