// Strong ids: a TaskId is not a WorkerId is not a JobId, even where both are integers.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>

namespace volo {

template <typename Tag, typename Rep>
class StrongId {
 public:
  StrongId() = default;
  constexpr explicit StrongId(Rep v) : v_(std::move(v)) {}
  constexpr const Rep& value() const { return v_; }
  auto operator<=>(const StrongId&) const = default;

 private:
  Rep v_{};
};

using TaskId = StrongId<struct TaskIdTag, uint64_t>;
using JobId = StrongId<struct JobIdTag, uint64_t>;
// Workers name themselves (the seed's `id`), so their ids are strings.
using WorkerId = StrongId<struct WorkerIdTag, std::string>;
// The planner's slot for a worker: an index into Core::workers(), not the worker's name. A
// worker that leaves and registers again under its name gets its old slot back.
using WorkerIndex = StrongId<struct WorkerIndexTag, uint32_t>;
// A streaming client's session number in the planner; ClientId() (0) means none.
using ClientId = StrongId<struct ClientIdTag, uint64_t>;

}  // namespace volo

template <typename Tag, typename Rep>
struct std::hash<volo::StrongId<Tag, Rep>> {
  size_t operator()(const volo::StrongId<Tag, Rep>& id) const noexcept {
    return std::hash<Rep>()(id.value());
  }
};
