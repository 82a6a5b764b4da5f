// A streambuf for what FLY code prints that hands it on in whole lines, for output that goes
// somewhere as it is printed (a chunk's live output, a fly function's log).
//
// At each flush (the Runtime flushes at every newline) the complete lines written so far go to
// `forward`, and a line that grows past `piece` bytes goes in pieces, so no more than about that
// is held. What has not gone (an unterminated last line) stays for TakeRest or ForwardRest.
// Without `forward` everything stays.
//
// Threading: one writer, as for any streambuf; `forward` runs on the writer's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <streambuf>
#include <string>
#include <string_view>
#include <utility>

namespace volo::fly {

class LineOutput : public std::streambuf {
 public:
  // `text` starts at byte `offset` of all that was written.
  using Forward = std::function<void(uint64_t offset, std::string_view text)>;

  LineOutput(size_t piece, Forward forward) : piece_(piece), forward_(std::move(forward)) {}

  // What was not forwarded, taken out.
  std::string TakeRest() { return std::exchange(pending_, {}); }
  // Forwards what is held, an unterminated line included.
  void ForwardRest() {
    if (forward_ && !pending_.empty()) HandOn(pending_.size());
  }
  // Bytes forwarded so far (where TakeRest's text starts).
  uint64_t forwarded() const { return forwarded_; }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    pending_.append(s, static_cast<size_t>(n));
    if (forward_ && pending_.size() >= piece_) HandOn(pending_.size());
    return n;
  }
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    char ch = traits_type::to_char_type(c);
    xsputn(&ch, 1);
    return c;
  }
  int sync() override {
    if (forward_) {
      size_t nl = pending_.rfind('\n');
      if (nl != std::string::npos) HandOn(nl + 1);
    }
    return 0;
  }

 private:
  void HandOn(size_t n) {
    forward_(forwarded_, std::string_view(pending_).substr(0, n));
    forwarded_ += n;
    pending_.erase(0, n);
  }

  size_t piece_;
  Forward forward_;
  std::string pending_;
  uint64_t forwarded_ = 0;
};

}  // namespace volo::fly
