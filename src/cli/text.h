// Small text helpers for the CLI's messages and tables: plurals, "a"/"an", natural ordering,
// the closest known word for a typo, durations and a progress bar. Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace volo::cli {

// "1 worker", "4 workers", "0 tasks". `plural` defaults to `singular` + "s".
std::string Count(int64_t n, std::string_view singular, std::string_view plural = "");
// "a" or "an" for `word` by its first letter ("an Integer", "a Double").
std::string_view Article(std::string_view word);
// Orders strings with their digit runs compared as numbers: add-1 < add-2 < add-10.
bool NaturalLess(std::string_view a, std::string_view b);
// The candidate closest to `word` by edit distance (ties: the first), or "" when none is close
// enough to be a plausible typo (a shared prefix of 3+ letters always counts).
std::string Closest(std::string_view word, const std::vector<std::string>& candidates);
// 75 s -> "1m15s", 3725 s -> "1h02m", 4.2 s -> "4s"; negative or NaN -> "?".
std::string ShortDuration(double seconds);
// A plain decimal for JSON and tables, never with an exponent ("0.25", "12",
// "1764633600.125", "0.000000001"): with `digits` < 0 the shortest text that reads back as the
// same double, else at most `digits` decimals with trailing zeros dropped. NaN/inf: "null".
std::string PlainDecimal(double v, int digits = -1);
// `[#####.....]` of `width` characters for done/total (full when total is 0).
std::string Bar(uint64_t done, uint64_t total, int width);
// Fits a frame redrawn in place to a terminal of `rows` by `cols` (0: unknown, no limit), so
// that moving the cursor up one row per line erases it: each line is cut to `cols - 1`
// characters (at a UTF-8 boundary), and when there are more than `rows - 1` lines the first
// line stays, then as many of the others as fit, those `keep` marks first, in their order, and
// a last line "... N more NOUN". `keep` has one flag per line (the first line's is ignored).
std::vector<std::string> FitToTerminal(std::vector<std::string> lines,
                                       const std::vector<bool>& keep, int rows, int cols,
                                       std::string_view noun);

}  // namespace volo::cli
