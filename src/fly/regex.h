// FLY's regular expressions (String.split, replaceAll, matches): RE2, an automaton engine whose
// time is linear in the input and whose stack use does not grow with it (std::regex recursed
// per character and overflowed the stack on strings of some 16k characters).
//
// The syntax is Java's where RE2 has it: classes (\d \w \s [a-z] [[:alpha:]] \p{L}), anchors,
// groups, (?i) flags, greedy and lazy quantifiers. What RE2 cannot do in linear time is refused
// with a clear error: backreferences (\1) and lookaround ((?=x), (?!x), (?<=x), (?<!x)).
// Replacement strings follow Java: $1 or ${name} insert a group, \$ and \\ a literal character.
//
// The WebAssembly playground has no RE2: web/playground/wasm/regex_browser.cc implements this
// class over the browser's RegExp, with the same refusals (docs/dashboard.md, "The playground").
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace re2 {
class RE2;
}

namespace volo::fly {

class Regex {
 public:
  // Compiles `pattern`; on failure returns null and sets *error to a message naming the pattern.
  // Compiled patterns are cached per thread (programs call split(",") in loops).
  static std::shared_ptr<const Regex> Compile(std::string_view pattern, std::string* error);

  // Java's String.split(regex): pieces between matches; a zero-width match at the start never
  // makes a leading empty piece; trailing empty pieces are removed; "" splits into [""].
  std::vector<std::string> Split(std::string_view s) const;
  // Java's String.replaceAll(regex, replacement). Fails (false, *error) on a bad replacement
  // (a group the pattern does not have, a trailing backslash).
  bool ReplaceAll(std::string_view s, std::string_view replacement, std::string* out,
                  std::string* error) const;
  // Java's String.matches(regex): the whole string matches.
  bool FullMatch(std::string_view s) const;

#ifdef __EMSCRIPTEN__
  explicit Regex(int handle);  // a compiled RegExp kept on the JavaScript side
#else
  explicit Regex(std::unique_ptr<re2::RE2> re);
#endif
  ~Regex();

 private:
#ifdef __EMSCRIPTEN__
  int handle_;
#else
  std::unique_ptr<re2::RE2> re_;
#endif
};

}  // namespace volo::fly
