// When a periodic workflow runs: every N seconds, or on a 5-field cron expression in UTC.
//
// Cron fields are minute (0-59), hour (0-23), day of month (1-31), month (1-12 or jan-dec) and
// day of week (0-7 or sun-sat; 0 and 7 are both Sunday). Each field is `*`, a value, a range
// `a-b`, a list `a,b,c`, or any of those with a step `/n`. As in Vixie cron, when both day of
// month and day of week are restricted, a day matching either runs. `@hourly`, `@daily`
// (`@midnight`), `@weekly`, `@monthly` and `@yearly` (`@annually`) are shorthands.
//
// Pure values: no clock is read here; the planner asks for the next time after one it gives.
#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace volo::workflow {

using SysSeconds = std::chrono::sys_seconds;

class CronExpr {
 public:
  // InvalidArgument names the field and what is wrong (`hour: 24 is out of range 0-23`).
  static Result<CronExpr> Parse(std::string_view text);

  // Whether it is valid field by field but names no date at all (`0 0 30 2 *`, February
  // 30th), and so never runs.
  bool NamesNoDate() const;

  // The first matching minute strictly after `t`; nullopt when none exists within 5 years
  // (`0 0 30 2 *`).
  std::optional<SysSeconds> Next(SysSeconds t) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool any_day_ = true, any_weekday_ = true;
};

struct Schedule {
  enum class Kind : uint8_t { kNone, kInterval, kCron };
  Kind kind = Kind::kNone;
  std::chrono::seconds interval{0};
  std::optional<CronExpr> cron;

  // The next start strictly after `t`. An interval counts from `t` (the previous start).
  std::optional<SysSeconds> Next(SysSeconds t) const;
  // "every 60 s", "cron 0 */3 * * *".
  std::string Describe() const;
};

}  // namespace volo::workflow
