// FLY's regular expressions in the WebAssembly playground: src/fly/regex.h over the browser's
// RegExp (V8's irregexp), since Debian ships no WebAssembly build of RE2.
//
// The pattern is translated from FLY's (Java's, as RE2 reads it) syntax into JavaScript's, and
// refused where native volo refuses it (backreferences, lookaround), so a program that runs
// here runs natively and the other way round. What differs is listed in docs/dashboard.md ("The
// playground"): inline flags only at the start, and strings cross as UTF-16 (malformed UTF-8
// becomes U+FFFD).
//
// Results come back from JavaScript as one malloc'ed block: int32 count, count int32 byte
// lengths, then the UTF-8 bytes of each piece; count -1 means an error, its one piece the text.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "fly/regex.h"

extern "C" {
// regex_browser.js
int volo_regex_compile(const char* pattern, char** error);
void volo_regex_free(int id);
// mode 0: split; 1: replaceAll with `replacement`; 2: whole-string match (count 1 or 0).
void* volo_regex_apply(int id, const char* text, int text_len, const char* replacement, int mode);
}

namespace volo::fly {

namespace {

constexpr size_t kCacheEntries = 64;

struct Unpacked {
  int count = 0;
  std::vector<std::string> pieces;
};

// `has_pieces`: false for a whole-string match, which answers with the count alone.
Unpacked Unpack(void* block, bool has_pieces = true) {
  Unpacked u;
  const auto* words = static_cast<const int32_t*>(block);
  u.count = words[0];
  size_t n = !has_pieces ? 0 : u.count < 0 ? 1 : static_cast<size_t>(u.count);
  const char* bytes = reinterpret_cast<const char*>(words + 1 + n);
  for (size_t k = 0; k < n; ++k) {
    u.pieces.emplace_back(bytes, static_cast<size_t>(words[1 + k]));
    bytes += words[1 + k];
  }
  std::free(block);
  return u;
}

}  // namespace

Regex::Regex(int handle) : handle_(handle) {}
Regex::~Regex() { volo_regex_free(handle_); }

std::shared_ptr<const Regex> Regex::Compile(std::string_view pattern, std::string* error) {
#if defined(__EMSCRIPTEN_PTHREADS__)
  // Each thread is a Web Worker with its own JavaScript, so its own table of RegExps: a thread
  // compiles its own (and frees them on its own thread when its cache is cleared or it ends).
  thread_local std::unordered_map<std::string, std::shared_ptr<const Regex>> cache;
#else
  static std::unordered_map<std::string, std::shared_ptr<const Regex>> cache;  // one thread
#endif
  std::string key(pattern);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  char* why = nullptr;
  int id = volo_regex_compile(key.c_str(), &why);
  if (id == 0) {
    *error = why != nullptr ? why : "bad regular expression '" + key + "'";
    std::free(why);
    return nullptr;
  }
  if (cache.size() >= kCacheEntries) cache.clear();
  auto compiled = std::make_shared<const Regex>(id);
  cache.emplace(std::move(key), compiled);
  return compiled;
}

std::vector<std::string> Regex::Split(std::string_view s) const {
  return Unpack(volo_regex_apply(handle_, s.data(), static_cast<int>(s.size()), "", 0)).pieces;
}

bool Regex::ReplaceAll(std::string_view s, std::string_view replacement, std::string* out,
                       std::string* error) const {
  std::string repl(replacement);
  Unpacked u =
      Unpack(volo_regex_apply(handle_, s.data(), static_cast<int>(s.size()), repl.c_str(), 1));
  if (u.count < 0) {
    *error = u.pieces.empty() ? "replaceAll failed" : u.pieces[0];
    return false;
  }
  *out = u.pieces.empty() ? "" : u.pieces[0];
  return true;
}

bool Regex::FullMatch(std::string_view s) const {
  return Unpack(volo_regex_apply(handle_, s.data(), static_cast<int>(s.size()), "", 2), false)
             .count == 1;
}

}  // namespace volo::fly
