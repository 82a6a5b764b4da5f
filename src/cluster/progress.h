// What a cluster fly shows on stderr while it runs (docs/placement.md, "Progress").
//
// On a terminal, a bar redrawn in place: done/total instances, how many are running and have
// failed, the time elapsed and an estimate of the time left. Piped (CI logs, `| tee`), a plain
// line every `interval` instead, since carriage returns only garble a log. Nothing is shown for a
// fly that ends within its first second, so short flies stay silent.
//
// A FlyProgress is driven by one thread (the cluster environment's watchdog); Clear may be
// called from another thread, so every method takes the object's lock.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <ostream>
#include <string>

namespace volo::cluster {

struct ProgressCounts {
  size_t total = 0;    // instances launched and not yet forgotten
  size_t done = 0;     // ended successfully
  size_t failed = 0;   // ended with an error (cancelled ones included)
  size_t running = 0;  // in chunks a worker is running now
  std::chrono::milliseconds elapsed{0};
};

// "12/64 done, 8 running, 0 failed, 6.0 s elapsed, about 24 s left" (the estimate only once
// something is done).
std::string ProgressText(const ProgressCounts& c);
// The terminal form: "[#######-------------] " followed by ProgressText, `width` bar cells.
std::string ProgressBar(const ProgressCounts& c, int width = 20);

class FlyProgress {
 public:
  // `what` names the work ("fly 'count'"). `interval`: how often the piped form prints (zero
  // turns progress off).
  FlyProgress(std::ostream& err, bool terminal, std::chrono::milliseconds interval);

  // Shows `c` if it is time to: a redraw on a terminal, a line every interval when piped.
  void Update(const std::string& what, const ProgressCounts& c);
  // Erases the bar (terminal) so other output starts on a clean line; it reappears at the next
  // Update.
  void Clear();
  // The work ended: erases the bar; when piped and a line was printed, prints the last counts.
  void Finish(const std::string& what, const ProgressCounts& c);

 private:
  void ClearLocked();

  std::mutex mu_;
  std::ostream& err_;
  const bool terminal_;
  const std::chrono::milliseconds interval_;
  bool shown_ = false;    // GUARDED_BY(mu_): a bar is on the terminal now
  bool printed_ = false;  // GUARDED_BY(mu_): a piped line was printed for this work
  std::chrono::milliseconds last_line_{0};  // GUARDED_BY(mu_): elapsed at the last piped line
};

}  // namespace volo::cluster
