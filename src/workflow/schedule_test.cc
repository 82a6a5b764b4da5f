#include "workflow/schedule.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace volo::workflow {
namespace {

using namespace std::chrono;

SysSeconds At(int y, unsigned mo, unsigned d, int h, int mi) {
  return SysSeconds(sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi));
}

std::string Next(std::string_view expr, SysSeconds t) {
  auto e = CronExpr::Parse(expr);
  EXPECT_TRUE(e.ok()) << e.status().message();
  if (!e.ok()) return "";
  auto n = e->Next(t);
  if (!n) return "never";
  sys_days d = floor<days>(*n);
  year_month_day ymd(d);
  auto m = duration_cast<minutes>(*n - d).count();
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02lld:%02lld %s", int(ymd.year()),
                unsigned(ymd.month()), unsigned(ymd.day()), static_cast<long long>(m / 60),
                static_cast<long long>(m % 60), kDays[weekday(d).c_encoding()]);
  return buf;
}

TEST(CronTest, FieldsStepsRangesListsAndNames) {
  SysSeconds t = At(2026, 12, 2, 10, 7);  // a Wednesday
  EXPECT_EQ(Next("* * * * *", t), "2026-12-02 10:08 Wed");
  EXPECT_EQ(Next("*/15 * * * *", t), "2026-12-02 10:15 Wed");
  EXPECT_EQ(Next("0 */3 * * *", t), "2026-12-02 12:00 Wed");
  EXPECT_EQ(Next("30 9 * * mon-fri", t), "2026-12-03 09:30 Thu");
  EXPECT_EQ(Next("0 0 1 jan *", t), "2027-01-01 00:00 Fri");
  EXPECT_EQ(Next("5,10 10 * * *", t), "2026-12-02 10:10 Wed");
  EXPECT_EQ(Next("0 12 * * 7", t), "2026-12-06 12:00 Sun");  // 7 is Sunday
  EXPECT_EQ(Next("0 12 * * 0", t), "2026-12-06 12:00 Sun");
  EXPECT_EQ(Next("10/20 * * * *", t), "2026-12-02 10:10 Wed");
}

TEST(CronTest, DayOfMonthOrDayOfWeekWhenBothAreRestricted) {
  // Vixie cron: the 15th, or any Friday.
  SysSeconds t = At(2026, 12, 2, 0, 0);
  EXPECT_EQ(Next("0 0 15 * fri", t), "2026-12-04 00:00 Fri");
  // Only one restricted: that one alone.
  EXPECT_EQ(Next("0 0 15 * *", t), "2026-12-15 00:00 Tue");
  EXPECT_EQ(Next("0 0 * * fri", t), "2026-12-04 00:00 Fri");
}

TEST(CronTest, ShorthandsAndStrictlyAfter) {
  SysSeconds t = At(2026, 12, 2, 10, 0);
  EXPECT_EQ(Next("@hourly", t), "2026-12-02 11:00 Wed");
  EXPECT_EQ(Next("@daily", t), "2026-12-03 00:00 Thu");
  EXPECT_EQ(Next("@monthly", t), "2027-01-01 00:00 Fri");
  EXPECT_EQ(Next("@yearly", t), "2027-01-01 00:00 Fri");
  EXPECT_EQ(Next("@weekly", t), "2026-12-06 00:00 Sun");
  EXPECT_EQ(Next("0 2 29 2 *", t), "2028-02-29 02:00 Tue");
  EXPECT_EQ(Next("0 0 30 2 *", t), "never");
}

TEST(CronTest, BadExpressionsNameTheField) {
  auto msg = [](std::string_view e) { return CronExpr::Parse(e).status().message(); };
  EXPECT_EQ(msg("0 24 * * *"), "hour: 24 is out of range 0-23");
  EXPECT_EQ(msg("60 * * * *"), "minute: 60 is out of range 0-59");
  EXPECT_EQ(msg("* * * *"),
            "a cron expression has 5 fields (minute hour day-of-month month day-of-week); "
            "'* * * *' has 4");
  EXPECT_EQ(msg("* * * foo *"), "month: 'foo' is not a number or a name");
  EXPECT_EQ(msg("*/0 * * * *"), "minute: step '0' must be a positive number");
  EXPECT_EQ(msg("5-1 * * * *"), "minute: range 5-1 runs backwards");
  EXPECT_EQ(msg("@often"),
            "unknown shorthand '@often' (use @hourly, @daily, @weekly, @monthly or @yearly)");
  EXPECT_EQ(msg("1,,2 * * * *"), "minute: an empty list item");
}

TEST(CronTest, AnExpressionThatNamesNoDateIsTold) {
  auto none = [](std::string_view e) { return CronExpr::Parse(e).value().NamesNoDate(); };
  EXPECT_TRUE(none("0 0 30 2 *"));
  EXPECT_TRUE(none("0 0 31 apr,jun,sep,nov *"));
  EXPECT_FALSE(none("0 0 29 2 *"));    // leap years
  EXPECT_FALSE(none("0 0 31 2,3 *"));  // March 31st
  EXPECT_FALSE(none("0 0 30 2 mon"));  // any Monday of February
  EXPECT_FALSE(none("@daily"));
}

TEST(ScheduleTest, IntervalCountsFromThePreviousStart) {
  Schedule s;
  s.kind = Schedule::Kind::kInterval;
  s.interval = seconds(90);
  EXPECT_EQ(s.Next(At(2026, 1, 1, 0, 0)), At(2026, 1, 1, 0, 1) + seconds(30));
  EXPECT_EQ(s.Describe(), "every 90 s");
  Schedule none;
  EXPECT_FALSE(none.Next(At(2026, 1, 1, 0, 0)).has_value());
}

}  // namespace
}  // namespace volo::workflow
