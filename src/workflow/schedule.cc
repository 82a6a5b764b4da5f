#include "workflow/schedule.h"

#include <array>
#include <charconv>
#include <vector>

namespace volo::workflow {
namespace {

struct Field {
  const char* name;
  int lo, hi;
  const char* const* names;  // names for lo.., or nullptr
};

constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

constexpr std::array<Field, 5> kFields = {{
    {"minute", 0, 59, nullptr},
    {"hour", 0, 23, nullptr},
    {"day of month", 1, 31, nullptr},
    {"month", 1, 12, kMonthNames},
    {"day of week", 0, 7, kDayNames},
}};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Result<int> ParseValue(std::string_view s, const Field& f) {
  if (s.empty()) return InvalidArgument(std::string(f.name) + ": a value is missing");
  if (f.names != nullptr) {
    std::string low = Lower(s);
    int count = f.hi - f.lo + 1 - (f.hi == 7 ? 1 : 0);
    for (int i = 0; i < count; ++i) {
      if (low == f.names[i]) return f.lo + i;
    }
  }
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return InvalidArgument(std::string(f.name) + ": '" + std::string(s) + "' is not a number" +
                           (f.names != nullptr ? " or a name" : ""));
  }
  if (v < f.lo || v > f.hi) {
    return InvalidArgument(std::string(f.name) + ": " + std::to_string(v) + " is out of range " +
                           std::to_string(f.lo) + "-" + std::to_string(f.hi));
  }
  return v;
}

// Sets the bits of one field; `bits[v - offset]`. Returns whether the field was `*` (or `*/1`).
Result<bool> ParseField(std::string_view text, const Field& f, std::vector<bool>& bits) {
  bool star = false;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view part = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (part.empty()) return InvalidArgument(std::string(f.name) + ": an empty list item");
    int step = 1;
    if (size_t slash = part.find('/'); slash != std::string_view::npos) {
      std::string_view s = part.substr(slash + 1);
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), step);
      if (ec != std::errc() || p != s.data() + s.size() || step <= 0) {
        return InvalidArgument(std::string(f.name) + ": step '" + std::string(s) +
                               "' must be a positive number");
      }
      part = part.substr(0, slash);
    }
    int lo = f.lo, hi = f.hi;
    if (part == "*") {
      // As in Vixie cron, a field that starts with `*` counts as unrestricted for the
      // day-of-month / day-of-week rule, even with a step.
      if (start == 0) star = true;
      if (f.hi == 7) hi = 6;  // `*` in day of week: Sunday once
    } else if (size_t dash = part.find('-'); dash != std::string_view::npos) {
      VOLO_ASSIGN_OR_RETURN(lo, ParseValue(part.substr(0, dash), f));
      VOLO_ASSIGN_OR_RETURN(hi, ParseValue(part.substr(dash + 1), f));
      if (hi < lo) {
        return InvalidArgument(std::string(f.name) + ": range " + std::string(part) +
                               " runs backwards");
      }
    } else {
      VOLO_ASSIGN_OR_RETURN(lo, ParseValue(part, f));
      // `5/15` means 5, 20, 35, 50 as in Vixie cron.
      hi = step > 1 ? (f.hi == 7 ? 6 : f.hi) : lo;
    }
    for (int v = lo; v <= hi; v += step) bits[static_cast<size_t>(v - f.lo)] = true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return star;
}

std::string_view Shorthand(std::string_view s) {
  if (s == "@hourly") return "0 * * * *";
  if (s == "@daily" || s == "@midnight") return "0 0 * * *";
  if (s == "@weekly") return "0 0 * * 0";
  if (s == "@monthly") return "0 0 1 * *";
  if (s == "@yearly" || s == "@annually") return "0 0 1 1 *";
  return {};
}

}  // namespace

Result<CronExpr> CronExpr::Parse(std::string_view text) {
  CronExpr e;
  e.text_ = std::string(text);
  std::string_view body = text;
  if (!text.empty() && text.front() == '@') {
    body = Shorthand(text);
    if (body.empty()) {
      return InvalidArgument("unknown shorthand '" + std::string(text) +
                             "' (use @hourly, @daily, @weekly, @monthly or @yearly)");
    }
  }
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < body.size()) {
    while (i < body.size() && (body[i] == ' ' || body[i] == '\t')) ++i;
    size_t j = i;
    while (j < body.size() && body[j] != ' ' && body[j] != '\t') ++j;
    if (j > i) parts.push_back(body.substr(i, j - i));
    i = j;
  }
  if (parts.size() != 5) {
    return InvalidArgument(
        "a cron expression has 5 fields (minute hour day-of-month month "
        "day-of-week); '" +
        std::string(text) + "' has " + std::to_string(parts.size()));
  }
  std::array<std::vector<bool>, 5> bits;
  std::array<bool, 5> star{};
  for (size_t f = 0; f < 5; ++f) {
    bits[f].assign(static_cast<size_t>(kFields[f].hi - kFields[f].lo + 1), false);
    VOLO_ASSIGN_OR_RETURN(star[f], ParseField(parts[f], kFields[f], bits[f]));
  }
  for (size_t v = 0; v < 60; ++v) e.minutes_[v] = bits[0][v];
  for (size_t v = 0; v < 24; ++v) e.hours_[v] = bits[1][v];
  for (size_t v = 1; v <= 31; ++v) e.days_[v] = bits[2][v - 1];
  for (size_t v = 1; v <= 12; ++v) e.months_[v] = bits[3][v - 1];
  for (size_t v = 0; v < 7; ++v) e.weekdays_[v] = bits[4][v];
  if (bits[4][7]) e.weekdays_[0] = true;  // 7 is Sunday too
  e.any_day_ = star[2];
  e.any_weekday_ = star[4];
  return e;
}

bool CronExpr::NamesNoDate() const {
  // With the day of week restricted too, a day matching either runs, so some day always does.
  if (any_day_ || !any_weekday_) return false;
  constexpr std::array<unsigned, 13> kLongest = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  for (unsigned m = 1; m <= 12; ++m) {
    for (unsigned d = 1; d <= kLongest[m]; ++d) {
      if (months_[m] && days_[d]) return false;
    }
  }
  return true;
}

std::optional<SysSeconds> CronExpr::Next(SysSeconds t) const {
  using namespace std::chrono;
  auto start = floor<minutes>(t) + minutes(1);
  sys_days day = floor<days>(start);
  auto minute_of_day = duration_cast<minutes>(start - day).count();
  const sys_days last = day + days(366 * 5);
  for (; day <= last; day += days(1), minute_of_day = 0) {
    year_month_day ymd(day);
    if (!months_[static_cast<unsigned>(ymd.month())]) continue;
    bool dom = days_[static_cast<unsigned>(ymd.day())];
    bool dow = weekdays_[weekday(day).c_encoding()];
    bool match = any_day_ && any_weekday_ ? true
                 : any_day_               ? dow
                 : any_weekday_           ? dom
                                          : (dom || dow);
    if (!match) continue;
    for (auto m = minute_of_day; m < 24 * 60; ++m) {
      if (hours_[static_cast<size_t>(m / 60)] && minutes_[static_cast<size_t>(m % 60)]) {
        return SysSeconds(day + minutes(m));
      }
    }
  }
  return std::nullopt;
}

std::optional<SysSeconds> Schedule::Next(SysSeconds t) const {
  switch (kind) {
    case Kind::kNone:
      return std::nullopt;
    case Kind::kInterval:
      return t + interval;
    case Kind::kCron:
      return cron->Next(t);
  }
  return std::nullopt;
}

std::string Schedule::Describe() const {
  switch (kind) {
    case Kind::kNone:
      return "";
    case Kind::kInterval:
      return "every " + std::to_string(interval.count()) + " s";
    case Kind::kCron:
      return "cron " + cron->text();
  }
  return "";
}

}  // namespace volo::workflow
