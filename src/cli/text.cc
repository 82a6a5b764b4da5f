#include "cli/text.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace volo::cli {

std::string Count(int64_t n, std::string_view singular, std::string_view plural) {
  std::string out = std::to_string(n) + " ";
  if (n == 1 || n == -1) return out.append(singular);
  if (plural.empty()) return out.append(singular).append("s");
  return out.append(plural);
}

std::string_view Article(std::string_view word) {
  if (word.empty()) return "a";
  switch (std::tolower(static_cast<unsigned char>(word[0]))) {
    case 'a':
    case 'e':
    case 'i':
    case 'o':
    case 'u':
      return "an";
    default:
      return "a";
  }
}

bool NaturalLess(std::string_view a, std::string_view b) {
  size_t i = 0, j = 0;
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      // Compare the digit runs as numbers: skip leading zeros, then the longer run is larger.
      size_t si = i, sj = j;
      while (si < a.size() && a[si] == '0') ++si;
      while (sj < b.size() && b[sj] == '0') ++sj;
      size_t ei = si, ej = sj;
      while (ei < a.size() && digit(a[ei])) ++ei;
      while (ej < b.size() && digit(b[ej])) ++ej;
      if (ei - si != ej - sj) return ei - si < ej - sj;
      int c = a.substr(si, ei - si).compare(b.substr(sj, ej - sj));
      if (c != 0) return c < 0;
      i = ei;
      j = ej;
      continue;
    }
    if (a[i] != b[j]) return a[i] < b[j];
    ++i;
    ++j;
  }
  return a.size() - i < b.size() - j;
}

namespace {

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                                          std::tolower(static_cast<unsigned char>(b[j - 1]))
                                      ? 0
                                      : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string Closest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    size_t d = EditDistance(word, c);
    if (word.size() >= 3 && c.compare(0, word.size(), word) == 0) d = 0;  // a prefix
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  // A typo changes a few letters; beyond that the suggestion would be noise.
  size_t limit = std::max<size_t>(2, std::min(word.size(), best.size()) / 2);
  return best_d <= limit ? best : "";
}

std::string ShortDuration(double seconds) {
  if (!(seconds >= 0) || std::isinf(seconds)) return "?";
  auto s = static_cast<int64_t>(std::llround(seconds));
  char buf[48];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600) / 60));
  }
  return buf;
}

std::string PlainDecimal(double v, int digits) {
  if (!std::isfinite(v)) return "null";
  char buf[400];
  std::string s;
  if (digits < 0) {
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
    s.assign(buf, r.ptr);
  } else {
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    s = buf;
  }
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

std::string Bar(uint64_t done, uint64_t total, int width) {
  int filled = total == 0 ? width : static_cast<int>(width * std::min(done, total) / total);
  return "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
}

std::vector<std::string> FitToTerminal(std::vector<std::string> lines,
                                       const std::vector<bool>& keep, int rows, int cols,
                                       std::string_view noun) {
  if (rows > 1 && lines.size() > static_cast<size_t>(rows - 1)) {
    // The first line, then `room` others (one row goes to the "more" line).
    size_t room = static_cast<size_t>(rows - 3 < 0 ? 0 : rows - 3);
    std::vector<bool> shown(lines.size(), false);
    size_t n = 0;
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t i = 1; i < lines.size() && n < room; ++i) {
        if (!shown[i] && (pass == 1 || (i < keep.size() && keep[i]))) {
          shown[i] = true;
          ++n;
        }
      }
    }
    std::vector<std::string> out{std::move(lines[0])};
    for (size_t i = 1; i < lines.size(); ++i) {
      if (shown[i]) out.push_back(std::move(lines[i]));
    }
    out.push_back("... " + std::to_string(lines.size() - 1 - n) + " more " + std::string(noun));
    lines = std::move(out);
  }
  if (cols > 1) {
    size_t width = static_cast<size_t>(cols - 1);
    for (std::string& l : lines) {
      if (l.size() <= width) continue;
      size_t cut = width;
      while (cut > 0 && (static_cast<unsigned char>(l[cut]) & 0xC0) == 0x80) --cut;
      l.resize(cut);
    }
  }
  return lines;
}

}  // namespace volo::cli
