#include "cluster/progress.h"

#include <gtest/gtest.h>

#include <sstream>

namespace volo::cluster {
namespace {

using std::chrono::milliseconds;

ProgressCounts Counts(size_t total, size_t done, size_t running, size_t failed, int64_t ms) {
  ProgressCounts c;
  c.total = total;
  c.done = done;
  c.running = running;
  c.failed = failed;
  c.elapsed = milliseconds(ms);
  return c;
}

TEST(ProgressText, ShowsCountsElapsedAndAnEstimateOnceSomethingEnded) {
  EXPECT_EQ(ProgressText(Counts(64, 0, 8, 0, 1500)),
            "0/64 done, 8 running, 0 failed, 1.5 s elapsed");
  // 16 of 64 ended in 6 s: 48 more take about 18 s.
  EXPECT_EQ(ProgressText(Counts(64, 14, 8, 2, 6000)),
            "14/64 done, 8 running, 2 failed, 6.0 s elapsed, about 18 s left");
  EXPECT_EQ(ProgressText(Counts(10, 1, 1, 0, 30000)),
            "1/10 done, 1 running, 0 failed, 30 s elapsed, about 4 min 30 s left");
  EXPECT_EQ(ProgressText(Counts(10, 10, 0, 0, 125000)),
            "10/10 done, 0 running, 0 failed, 2 min 05 s elapsed");
}

TEST(ProgressBar, FillsWithTheEndedShare) {
  EXPECT_EQ(ProgressBar(Counts(4, 1, 1, 1, 2000), 10),
            "[#####-----] 1/4 done, 1 running, 1 failed, 2.0 s elapsed, about 2.0 s left");
  EXPECT_EQ(ProgressBar(Counts(0, 0, 0, 0, 0), 4),
            "[----] 0/0 done, 0 running, 0 failed, 0.0 s elapsed");
}

TEST(FlyProgress, PipedPrintsAPlainLineEveryIntervalAndAFinalOne) {
  std::ostringstream err;
  FlyProgress p(err, false, milliseconds(5000));
  p.Update("fly 'f'", Counts(8, 0, 2, 0, 1000));
  EXPECT_EQ(err.str(), "") << "nothing before the first interval";
  p.Update("fly 'f'", Counts(8, 2, 2, 0, 5200));
  p.Update("fly 'f'", Counts(8, 3, 2, 0, 7000));
  p.Update("fly 'f'", Counts(8, 5, 2, 0, 10300));
  p.Finish("fly 'f'", Counts(8, 8, 0, 0, 12000));
  EXPECT_EQ(err.str(),
            "volo: fly 'f': 2/8 done, 2 running, 0 failed, 5.2 s elapsed, about 16 s left\n"
            "volo: fly 'f': 5/8 done, 2 running, 0 failed, 10 s elapsed, about 6.2 s left\n"
            "volo: fly 'f': 8/8 done, 0 running, 0 failed, 12 s elapsed\n");
}

TEST(FlyProgress, AShortPipedFlyPrintsNothing) {
  std::ostringstream err;
  FlyProgress p(err, false, milliseconds(5000));
  p.Update("fly 'f'", Counts(8, 4, 2, 0, 1000));
  p.Finish("fly 'f'", Counts(8, 8, 0, 0, 1800));
  EXPECT_EQ(err.str(), "");
}

TEST(FlyProgress, OnATerminalTheBarRedrawsInPlaceAndIsErasedAtTheEnd) {
  std::ostringstream err;
  FlyProgress p(err, true, milliseconds(5000));
  p.Update("fly 'f'", Counts(4, 0, 1, 0, 500));
  EXPECT_EQ(err.str(), "") << "nothing in the first second";
  p.Update("fly 'f'", Counts(4, 2, 1, 0, 1000));
  p.Clear();
  p.Update("fly 'f'", Counts(4, 3, 1, 0, 1500));
  p.Finish("fly 'f'", Counts(4, 4, 0, 0, 2000));
  EXPECT_EQ(err.str(),
            "\r\033[Kfly 'f' [##########----------] 2/4 done, 1 running, 0 failed, 1.0 s elapsed, "
            "about 1.0 s left"
            "\r\033[K"
            "\r\033[Kfly 'f' [###############-----] 3/4 done, 1 running, 0 failed, 1.5 s elapsed, "
            "about 0.5 s left"
            "\r\033[K");
}

TEST(FlyProgress, AZeroIntervalShowsNothing) {
  for (bool terminal : {false, true}) {
    std::ostringstream err;
    FlyProgress p(err, terminal, milliseconds(0));
    p.Update("fly 'f'", Counts(4, 1, 1, 0, 60000));
    p.Clear();
    p.Finish("fly 'f'", Counts(4, 4, 0, 0, 90000));
    EXPECT_EQ(err.str(), "");
  }
}

}  // namespace
}  // namespace volo::cluster
