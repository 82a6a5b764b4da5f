#include "cluster/progress.h"

#include <algorithm>
#include <cstdio>

namespace volo::cluster {

namespace {

// "0.4 s", "24 s", "3 min 05 s": precise where it is short, coarse where it is long.
std::string Duration(std::chrono::milliseconds d) {
  double s = static_cast<double>(d.count()) / 1000.0;
  char buf[48];
  if (s < 10) {
    std::snprintf(buf, sizeof buf, "%.1f s", s);
  } else if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.0f s", s);
  } else {
    long long whole = static_cast<long long>(s);
    std::snprintf(buf, sizeof buf, "%lld min %02lld s", whole / 60, whole % 60);
  }
  return buf;
}

}  // namespace

std::string ProgressText(const ProgressCounts& c) {
  std::string out = std::to_string(c.done) + "/" + std::to_string(c.total) + " done, " +
                    std::to_string(c.running) + " running, " + std::to_string(c.failed) +
                    " failed, " + Duration(c.elapsed) + " elapsed";
  size_t ended = c.done + c.failed;
  if (ended > 0 && ended < c.total) {
    // The rate so far, applied to what is left.
    auto left = std::chrono::milliseconds(
        static_cast<int64_t>(static_cast<double>(c.elapsed.count()) *
                             static_cast<double>(c.total - ended) / static_cast<double>(ended)));
    out += ", about " + Duration(left) + " left";
  }
  return out;
}

std::string ProgressBar(const ProgressCounts& c, int width) {
  size_t ended = c.done + c.failed;
  int filled = c.total == 0 ? 0
                            : static_cast<int>(static_cast<double>(width) *
                                               static_cast<double>(std::min(ended, c.total)) /
                                               static_cast<double>(c.total));
  std::string bar = "[";
  bar.append(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(width - filled), '-');
  return bar + "] " + ProgressText(c);
}

FlyProgress::FlyProgress(std::ostream& err, bool terminal, std::chrono::milliseconds interval)
    : err_(err), terminal_(terminal), interval_(interval) {}

void FlyProgress::Update(const std::string& what, const ProgressCounts& c) {
  std::lock_guard<std::mutex> lock(mu_);
  if (interval_.count() <= 0 || c.total == 0) return;
  if (terminal_) {
    if (c.elapsed < std::chrono::seconds(1)) return;
    // \r and "erase to the end of the line": the bar replaces itself.
    err_ << "\r\033[K" << what << " " << ProgressBar(c) << std::flush;
    shown_ = true;
    return;
  }
  if (c.elapsed < interval_ || c.elapsed - last_line_ < interval_) return;
  err_ << "volo: " << what << ": " << ProgressText(c) << "\n" << std::flush;
  last_line_ = c.elapsed;
  printed_ = true;
}

void FlyProgress::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  ClearLocked();
}

void FlyProgress::ClearLocked() {
  if (!shown_) return;
  err_ << "\r\033[K" << std::flush;
  shown_ = false;
}

void FlyProgress::Finish(const std::string& what, const ProgressCounts& c) {
  std::lock_guard<std::mutex> lock(mu_);
  ClearLocked();
  if (printed_) err_ << "volo: " << what << ": " << ProgressText(c) << "\n" << std::flush;
  printed_ = false;
  last_line_ = std::chrono::milliseconds(0);
}

}  // namespace volo::cluster
