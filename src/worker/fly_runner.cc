#include "worker/fly_runner.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "exec/frame.h"
#include "fly/memory.h"
#include "fly/remote.h"
#include "wire/messages.h"

namespace volo::worker {

namespace {

// The task's result JSON (fly_executor.h), or its error text when the chunk failed.
std::string ResultValue(const fly::ChunkResult& r) {
  if (!r.ok) return "instance " + std::to_string(r.failed_instance) + ": " + r.error;
  std::string out = "{\"returns\":";
  bool all_null = true;
  for (const auto& s : r.returns) all_null = all_null && s == "null";
  if (all_null) {
    out += "null";
  } else {
    out += '[';
    for (size_t k = 0; k < r.returns.size(); ++k) {
      if (k) out += ',';
      wire::AppendJsonString(out, r.returns[k]);
    }
    out += ']';
  }
  out += ",\"messages\":[";
  for (size_t k = 0; k < r.messages.size(); ++k) {
    const auto& m = r.messages[k];
    if (k) out += ',';
    out += '[' + std::to_string(m.instance) + ',' + std::to_string(m.seq) + ',' +
           std::to_string(m.channel) + ',';
    wire::AppendJsonString(out, m.value);
    out += ']';
  }
  out += "],\"output\":";
  wire::AppendJsonString(out, r.output);
  if (r.output_offset > 0) out += ",\"output_offset\":" + std::to_string(r.output_offset);
  out += '}';
  return out;
}

}  // namespace

int FlyRunnerMain(int argc, char** argv) {
  pid_t parent = argc >= 3 ? static_cast<pid_t>(std::atoll(argv[2])) : 0;
  // Dies with the worker; if the worker is already gone, the runner has no one to serve.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (parent <= 0 || ::getppid() != parent) return 2;
  ::signal(SIGPIPE, SIG_IGN);
  // FLY code past its share of memory fails its instance with "out of memory" rather than
  // taking the machine (or, through the kernel's OOM killer, some other process).
  if (argc >= 4) fly::SetMemoryLimit(std::strtoull(argv[3], nullptr, 10));
  void* page = ::mmap(nullptr, sizeof(RunnerProgress), PROT_READ | PROT_WRITE, MAP_SHARED,
                      kRunnerProgressFd, 0);
  if (page == MAP_FAILED) return 2;
  auto* progress = static_cast<RunnerProgress*>(page);

  // Compiled programs by (hash, file); the worker sends the source with every chunk, so a
  // program dropped here is simply compiled again.
  std::map<std::string, std::shared_ptr<const fly::RemoteProgram>> programs;
  std::string payload;
  for (;;) {
    if (!exec::ReceiveFrame(kRunnerSocketFd, &payload).ok()) return 0;
    exec::FrameReader in(payload);
    std::string_view kind, hash, file, source, spec;
    int64_t id = 0, first = 0, count = 0;
    if (!in.Next(&kind) || kind != "run" || !in.NextInt(&id) || !in.Next(&hash) ||
        !in.Next(&file) || !in.Next(&source) || !in.Next(&spec) || !in.NextInt(&first) ||
        !in.NextInt(&count) || first < 0 || count < 0) {
      return 2;
    }
    std::vector<std::string> args;
    for (std::string_view a; in.Next(&a);) args.emplace_back(a);
    progress->instance.store(-1, std::memory_order_relaxed);
    progress->chunk.store(static_cast<uint64_t>(id), std::memory_order_release);

    bool ok = false, compiled = false;
    std::string value;
    int64_t instances = 0;
    std::string key = std::string(hash) + "\n" + std::string(file);
    auto it = programs.find(key);
    if (it == programs.end()) {
      auto program = fly::RemoteProgram::Compile(std::string(file), std::string(source));
      if (program.ok()) {
        if (programs.size() >= 64) programs.clear();
        it = programs.emplace(key, *program).first;
        compiled = true;
      } else {
        value = "fly: " + program.status().message();
      }
    }
    // Output goes to the worker as it is printed (whole lines), ahead of the result. A worker
    // that has gone ends the runner at the result's send, as before.
    bool worker_gone = false;
    const fly::LiveOutputFn live = [&](uint64_t offset, std::string_view text) {
      if (worker_gone) return;
      exec::FrameWriter piece;
      piece.Add("output").Add(id).Add(static_cast<int64_t>(offset)).Add(text);
      worker_gone = !exec::SendFrame(kRunnerSocketFd, piece.payload()).ok();
    };
    if (it != programs.end()) {
      fly::ChunkResult r =
          it->second->RunChunk(spec, static_cast<size_t>(first), static_cast<size_t>(count), args,
                               nullptr, &progress->instance, &live);
      ok = r.ok;
      instances = static_cast<int64_t>(r.returns.size());
      value = ResultValue(r);
    }
    progress->chunk.store(0, std::memory_order_release);
    exec::FrameWriter out;
    out.Add("result").Add(id).Add(int64_t{ok}).Add(value).Add(int64_t{compiled}).Add(instances);
    if (!exec::SendFrame(kRunnerSocketFd, out.payload()).ok()) return 0;
  }
}

}  // namespace volo::worker
