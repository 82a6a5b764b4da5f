// The fly runner: a child process of the worker that runs fly chunks one at a time, so a chunk
// that crashes (a signal, an abort, the out-of-memory killer) costs this process only, never
// the worker, its connection or its other chunks. FlyExecutor starts one runner per slot as
// `/proc/self/exe __fly-runner PARENT_PID` and talks to it over a socketpair (descriptor 3)
// in exec/frame.h frames:
//
//   worker -> runner  run:    "run", task id, program hash, file, source, spec, first, count,
//                             then one field per instance argument (none for a range fly)
//   runner -> worker  output: "output", task id, offset, text (zero or more per chunk, as the
//                             instances print: whole lines at byte `offset` of the chunk's output)
//                     result: "result", task id, ok (1/0), value, compiled (1/0), instances
//
// `value` is the fly task's result JSON when ok, else its error ("instance I: ..."), exactly
// as fly_executor.h describes them. Descriptor 4 is a page shared with the worker holding
// RunnerProgress, which the runner updates as it goes; when the runner dies, the worker reads
// there which chunk and which instance it was running.
//
// The runner asks the kernel to kill it when the worker thread that started it ends
// (PR_SET_PDEATHSIG), so runners never outlive their worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

namespace volo::worker {

inline constexpr std::string_view kFlyRunnerCommand = "__fly-runner";
inline constexpr int kRunnerSocketFd = 3;
inline constexpr int kRunnerProgressFd = 4;

struct RunnerProgress {
  std::atomic<uint64_t> chunk{0};     // the task id of the chunk being run, 0 between chunks
  std::atomic<int64_t> instance{-1};  // the instance being run, -1 before the first
};
static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<int64_t>::is_always_lock_free,
              "RunnerProgress lives in memory shared between processes");

// The runner's main, for `volo __fly-runner PARENT_PID MAX_MEMORY` (src/cli/main.cc); the
// memory limit in bytes applies to FLY code (fly/memory.h). Returns the exit status: 0 when
// the worker closed the socket, 2 for a bad start.
int FlyRunnerMain(int argc, char** argv);

}  // namespace volo::worker
