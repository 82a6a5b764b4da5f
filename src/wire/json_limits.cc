#include "wire/json_limits.h"

#include <boost/json/basic_parser_impl.hpp>
#include <deque>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/json_text.h"

namespace volo::wire {
namespace json = boost::json;

namespace {

std::string Quoted(std::string_view s) {
  std::string out;
  AppendJsonString(out, s.substr(0, 64));
  return out;
}

class LimitHandler {
 public:
  static constexpr size_t max_object_size = static_cast<size_t>(-1);
  static constexpr size_t max_array_size = static_cast<size_t>(-1);
  static constexpr size_t max_key_size = static_cast<size_t>(-1);
  static constexpr size_t max_string_size = static_cast<size_t>(-1);

  explicit LimitHandler(const JsonLimits& limits) : limits_(limits) {}

  const std::string& problem() const { return problem_; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code& ec) {
    if (!OnValue(ec, true)) return false;
    levels_.push_back({false, 0, keys_.size(), {}, {}});
    return true;
  }
  bool on_object_end(size_t, json::error_code&) {
    keys_.resize(levels_.back().first_key);
    levels_.pop_back();
    return true;
  }
  bool on_array_begin(json::error_code& ec) {
    if (!OnValue(ec, true)) return false;
    levels_.push_back({true, 0, keys_.size(), {}, {}});
    return true;
  }
  bool on_array_end(size_t, json::error_code&) {
    levels_.pop_back();
    return true;
  }
  bool on_key_part(json::string_view s, size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, size_t, json::error_code& ec) {
    key_.append(s.data(), s.size());
    Level& level = levels_.back();
    level.last_key = key_;
    bool duplicate = false;
    // Small objects compare linearly; past a few keys, a set keeps a hostile object with a
    // million keys linear in time.
    if (level.seen) {
      duplicate = !level.seen->insert(key_).second;
    } else {
      for (size_t i = level.first_key; i < keys_.size() && !duplicate; ++i) {
        duplicate = keys_[i] == key_;
      }
      if (!duplicate) {
        keys_.push_back(key_);
        if (keys_.size() - level.first_key > 16) {
          level.seen = std::make_unique<std::unordered_set<std::string>>(
              keys_.begin() + static_cast<std::ptrdiff_t>(level.first_key), keys_.end());
        }
      }
    }
    if (duplicate) {
      problem_ = "duplicate key " + Quoted(key_) + ": each key may appear once in an object";
      return Fail(ec);
    }
    key_.clear();
    return true;
  }
  bool on_string_part(json::string_view, size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, size_t, json::error_code& ec) { return OnValue(ec); }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t, json::string_view, json::error_code& ec) { return OnValue(ec); }
  bool on_uint64(uint64_t, json::string_view, json::error_code& ec) { return OnValue(ec); }
  bool on_double(double, json::string_view, json::error_code& ec) { return OnValue(ec); }
  bool on_bool(bool, json::error_code& ec) { return OnValue(ec); }
  bool on_null(json::error_code& ec) { return OnValue(ec); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  struct Level {
    bool array;
    size_t count;
    size_t first_key;  // this object's keys are keys_[first_key..]
    std::string last_key;
    std::unique_ptr<std::unordered_set<std::string>> seen;
  };

  bool Fail(json::error_code& ec) {
    ec = json::make_error_code(json::error::exception);
    return false;
  }

  // A value starts (at any depth); only containers count toward the depth.
  bool OnValue(json::error_code& ec, bool container = false) {
    if (++values_ > limits_.max_values) {
      problem_ = "more than " + std::to_string(limits_.max_values) + " JSON values";
      return Fail(ec);
    }
    if (container && levels_.size() + 1 > limits_.max_depth) {
      problem_ = "nested deeper than " + std::to_string(limits_.max_depth) + " levels";
      return Fail(ec);
    }
    if (levels_.empty()) return true;
    Level& level = levels_.back();
    ++level.count;
    // The top-level array, or an array member of the top-level object.
    bool batch = level.array && (levels_.size() == 1 || (levels_.size() == 2 && !levels_[0].array));
    if (batch && level.count > limits_.max_batch) {
      std::string name = levels_.size() == 2 ? levels_[0].last_key : std::string("array");
      problem_ = name + ": at most " + std::to_string(limits_.max_batch) + " elements";
      return Fail(ec);
    }
    return true;
  }

  const JsonLimits& limits_;
  std::vector<Level> levels_;
  std::vector<std::string> keys_;  // keys of the open objects, innermost last
  std::string key_;
  size_t values_ = 0;
  std::string problem_;
};

}  // namespace

Status CheckJson(std::string_view text, const JsonLimits& limits) {
  json::parse_options options;
  options.max_depth = limits.max_depth + 1;
  json::basic_parser<LimitHandler> parser(options, limits);
  json::error_code ec;
  size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (!parser.handler().problem().empty()) return InvalidArgument(parser.handler().problem());
  if (ec) return InvalidArgument("malformed JSON: " + ec.message());
  if (used != text.size()) return InvalidArgument("malformed JSON: extra data after the value");
  return Status::Ok();
}

}  // namespace volo::wire
