// "Run on this fleet" in the playground: every environment the program declares is bound to the
// planner that served the page, as `volo run --env NAME=cluster:URL` binds it. The top-level
// code runs here in the tab; each fly's instances run on the fleet's `fly` workers, in chunks,
// as the cluster environment (src/cluster/cluster_env.h) ships them: the program to the blob
// store, one `fly` task per chunk with the job's RemoteSpec() and the serialized arguments,
// results, messages and output back into the job.
//
// The tab has one thread, so the job runs when the program waits for it (RunPending, as the
// one-thread smp does): fleet.js talks to the planner with synchronous requests, which a Web
// Worker may make, and hands every chunk's output, messages and return values to the exported
// functions below, in instance order.
#include "fleet_env.h"

#include <emscripten.h>

#include <deque>
#include <memory>
#include <string>

#include "common/json_text.h"

extern "C" {
// fleet.js. `job_json`: {"source", "spec", "count", "args": [..] or null}; the job's pointer is
// passed back to the volo_fleet_* callbacks. Returns when every instance has completed.
void volo_fleet_run(void* job, const char* job_json);
// The fleet's fly slots now (live workers that run `fly`); 0 when none or unreachable.
int volo_fleet_slots();
}

namespace volo::playground {

namespace {

class FleetEnvironment : public fly::Environment {
 public:
  std::string Describe() const override { return "cluster:this fleet"; }
  int parallelism() const override {
    int slots = volo_fleet_slots();
    return slots > 0 ? slots : 1;
  }
  void Launch(std::shared_ptr<fly::FlyJob> job) override {
    if (job->instance_count() > 0) queue_.push_back(std::move(job));
  }
  bool RunPending() override {
    if (queue_.empty()) return false;
    std::shared_ptr<fly::FlyJob> job = queue_.front();
    queue_.pop_front();
    Run(*job);
    return true;
  }

 private:
  static void Run(fly::FlyJob& job) {
    std::string spec = job.RemoteSpec();
    size_t n = job.instance_count();
    if (spec.empty()) {
      for (size_t i = 0; i < n; ++i) {
        job.Complete(i, FailedPrecondition("this fly cannot run on a fleet"));
      }
      return;
    }
    std::string text = "{\"source\":";
    AppendJsonString(text, job.program_source());
    text += ",\"spec\":";
    AppendJsonString(text, spec);
    text += ",\"count\":" + std::to_string(n) + ",\"args\":";
    // A range's instances derive their argument from the spec's range_lo; anything else ships
    // each instance's argument with its chunk.
    if (spec.find("\"range_lo\":null") == std::string::npos) {
      text += "null";
    } else {
      text += '[';
      for (size_t i = 0; i < n; ++i) {
        auto arg = job.SerializedArgument(i);
        if (!arg.ok()) {
          for (size_t k = 0; k < n; ++k) job.Complete(k, arg.status());
          return;
        }
        if (i > 0) text += ',';
        AppendJsonString(text, *arg);
      }
      text += ']';
    }
    text += '}';
    volo_fleet_run(&job, text.c_str());
  }

  std::deque<std::shared_ptr<fly::FlyJob>> queue_;
};

}  // namespace

Result<std::unique_ptr<fly::Environment>> MakeFleetEnvironment() {
  return std::unique_ptr<fly::Environment>(new FleetEnvironment());
}

}  // namespace volo::playground

// ---- called by fleet.js, with the job pointer volo_fleet_run was given ----

extern "C" {

EMSCRIPTEN_KEEPALIVE void volo_fleet_print(void* job, const char* text) {
  static_cast<volo::fly::FlyJob*>(job)->Print(text);
}

// Returns 0, or 1 with the error written to stderr by the job's own path (a malformed value).
EMSCRIPTEN_KEEPALIVE int volo_fleet_deliver(void* job, int channel, const char* value) {
  return static_cast<volo::fly::FlyJob*>(job)->Deliver(channel, value).ok() ? 0 : 1;
}

// ok: `text` is the instance's serialized return value; else its error.
EMSCRIPTEN_KEEPALIVE void volo_fleet_complete(void* job, int index, int ok, const char* text) {
  auto* j = static_cast<volo::fly::FlyJob*>(job);
  if (ok) {
    j->Complete(static_cast<size_t>(index), std::string(text));
  } else {
    j->Complete(static_cast<size_t>(index), volo::Unavailable(text));
  }
}

}  // extern "C"
