#include "fly/regex.h"

#include <re2/re2.h>

#include <cctype>
#include <unordered_map>

namespace volo::fly {

namespace {

constexpr size_t kCacheEntries = 64;

// Why a Java pattern cannot run on RE2, or "" when it can. Also rewrites Java's named groups
// (?<name>x) into RE2's spelling (?P<name>x).
std::string Translate(std::string_view p, std::string* out) {
  bool in_class = false;
  for (size_t k = 0; k < p.size(); ++k) {
    char c = p[k];
    if (c == '\\' && k + 1 < p.size()) {
      char n = p[k + 1];
      if (!in_class && n >= '1' && n <= '9') {
        return std::string("backreferences (\\") + n + ") are not supported";
      }
      if (!in_class && n == 'k' && k + 2 < p.size() && p[k + 2] == '<') {
        return "backreferences (\\k<name>) are not supported";
      }
      if (n == 'Q') {  // \Q...\E quotes everything up to \E
        size_t e = p.find("\\E", k + 2);
        size_t end = e == std::string_view::npos ? p.size() : e + 2;
        out->append(p.substr(k, end - k));
        k = end - 1;
        continue;
      }
      *out += c;
      *out += n;
      ++k;
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      *out += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
      *out += c;
      // A ']' right after '[' or '[^' is a literal.
      if (k + 1 < p.size() && p[k + 1] == '^') *out += p[++k];
      if (k + 1 < p.size() && p[k + 1] == ']') *out += p[++k];
      continue;
    }
    if (c == '(' && k + 2 < p.size() && p[k + 1] == '?') {
      std::string_view rest = p.substr(k + 2);
      if (rest.starts_with("=") || rest.starts_with("!") || rest.starts_with("<=") ||
          rest.starts_with("<!")) {
        return "lookaround (" + std::string(p.substr(k, rest.starts_with("<") ? 4 : 3)) +
               "...) is not supported";
      }
      if (rest.starts_with("<") && rest.size() > 1 &&
          std::isalpha(static_cast<unsigned char>(rest[1]))) {
        *out += "(?P";
        k += 1;  // the '<' is copied by the next turn
        continue;
      }
    }
    *out += c;
  }
  return "";
}

// The length of the UTF-8 sequence that starts with byte `b` (1 for anything malformed), so an
// empty match moves on by a whole character, as Java's does.
size_t CharLength(unsigned char b) {
  if (b >= 0xf0 && b < 0xf8) return 4;
  if (b >= 0xe0) return b < 0xf0 ? 3 : 1;
  if (b >= 0xc0) return 2;
  return 1;
}

size_t Step(std::string_view s, size_t at) {
  return at < s.size() ? std::min(s.size() - at, CharLength(static_cast<unsigned char>(s[at]))) : 1;
}

}  // namespace

Regex::Regex(std::unique_ptr<re2::RE2> re) : re_(std::move(re)) {}
Regex::~Regex() = default;

std::shared_ptr<const Regex> Regex::Compile(std::string_view pattern, std::string* error) {
  thread_local std::unordered_map<std::string, std::shared_ptr<const Regex>> cache;
  auto it = cache.find(std::string(pattern));
  if (it != cache.end()) return it->second;
  std::string translated;
  std::string why = Translate(pattern, &translated);
  if (!why.empty()) {
    *error = "regular expression '" + std::string(pattern) + "': " + why +
             " (FLY regular expressions are RE2: no backreferences or lookaround)";
    return nullptr;
  }
  re2::RE2::Options options;
  options.set_log_errors(false);  // errors are reported to the program, never printed by RE2
  auto re = std::make_unique<re2::RE2>(translated, options);
  if (!re->ok()) {
    *error = "bad regular expression '" + std::string(pattern) + "': " + re->error();
    return nullptr;
  }
  if (cache.size() >= kCacheEntries) cache.clear();
  auto compiled = std::make_shared<const Regex>(std::move(re));
  cache.emplace(std::string(pattern), compiled);
  return compiled;
}

std::vector<std::string> Regex::Split(std::string_view s) const {
  std::vector<std::string> parts;
  re2::StringPiece text(s.data(), s.size()), m;
  size_t search = 0, last = 0;
  while (search <= s.size() && re_->Match(text, search, s.size(), re2::RE2::UNANCHORED, &m, 1)) {
    size_t ms = static_cast<size_t>(m.data() - s.data()), me = ms + m.size();
    if (me == ms) {
      if (ms >= s.size()) break;
      // A zero-width match at the very start makes no leading empty piece.
      if (ms > 0) {
        parts.emplace_back(s.substr(last, ms - last));
        last = ms;
      }
      search = ms + Step(s, ms);
      continue;
    }
    parts.emplace_back(s.substr(last, ms - last));
    last = me;
    search = me;
  }
  if (parts.empty()) return {std::string(s)};  // no match cut the string ("" gives [""])
  parts.emplace_back(s.substr(last));
  while (!parts.empty() && parts.back().empty()) parts.pop_back();
  return parts;
}

bool Regex::ReplaceAll(std::string_view s, std::string_view replacement, std::string* out,
                       std::string* error) const {
  const int groups = re_->NumberOfCapturingGroups();
  std::vector<re2::StringPiece> g(groups + 1);
  const auto& names = re_->NamedCapturingGroups();
  re2::StringPiece text(s.data(), s.size());
  size_t search = 0, last = 0;
  out->clear();
  while (search <= s.size() &&
         re_->Match(text, search, s.size(), re2::RE2::UNANCHORED, g.data(), groups + 1)) {
    size_t ms = static_cast<size_t>(g[0].data() - s.data()), me = ms + g[0].size();
    out->append(s.substr(last, ms - last));
    for (size_t k = 0; k < replacement.size(); ++k) {
      char c = replacement[k];
      if (c == '\\') {
        if (k + 1 == replacement.size()) {
          *error = "replaceAll: the replacement ends with a lone '\\' (write \\\\ for a backslash)";
          return false;
        }
        *out += replacement[++k];
        continue;
      }
      if (c != '$') {
        *out += c;
        continue;
      }
      int group = -1;
      if (k + 1 < replacement.size() && replacement[k + 1] == '{') {
        size_t close = replacement.find('}', k + 2);
        std::string name(replacement.substr(
            k + 2, close == std::string_view::npos ? std::string_view::npos : close - k - 2));
        auto n = names.find(name);
        if (close == std::string_view::npos || n == names.end()) {
          *error = "replaceAll: the pattern has no group named '" + name + "'";
          return false;
        }
        group = n->second;
        k = close;
      } else if (k + 1 < replacement.size() &&
                 std::isdigit(static_cast<unsigned char>(replacement[k + 1]))) {
        // As Java: the first digit always, more while the number stays a group of the pattern.
        group = replacement[++k] - '0';
        while (k + 1 < replacement.size() &&
               std::isdigit(static_cast<unsigned char>(replacement[k + 1])) &&
               group * 10 + (replacement[k + 1] - '0') <= groups) {
          group = group * 10 + (replacement[++k] - '0');
        }
        if (group > groups) {
          *error = "replaceAll: no group $" + std::to_string(group) + " in the pattern (it has " +
                   std::to_string(groups) + ")";
          return false;
        }
      } else {
        *error =
            "replaceAll: '$' must be followed by a group number or {name} (write \\$ for a "
            "dollar sign)";
        return false;
      }
      if (g[group].data() != nullptr) out->append(g[group].data(), g[group].size());
    }
    last = me;
    search = me == ms ? me + Step(s, me) : me;
    if (me == ms && me < s.size()) {
      // The character an empty match stepped over is kept.
      out->append(s.substr(me, search - me));
      last = search;
    }
  }
  if (last < s.size()) out->append(s.substr(last));
  return true;
}

bool Regex::FullMatch(std::string_view s) const {
  return re2::RE2::FullMatch(re2::StringPiece(s.data(), s.size()), *re_);
}

}  // namespace volo::fly
