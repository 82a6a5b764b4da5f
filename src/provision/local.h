// The local backend: provisioned workers are child processes of the planner, this binary run
// as `volo worker --planner URL --id ID --ops ... --slots N --port=-1 --sandbox S
// [--functions N]`, their output on the planner's own stderr. The join token goes in the
// child's environment (VOLO_JOIN_TOKEN), never on its command line; the variables a worker
// reads that are the planner's own (PORT, VOLO_WORKER_ID, VOLO_WORK_DIR, ...) are removed.
//
// Each child leads its own process group and gets SIGTERM if the planner dies without
// stopping it (PR_SET_PDEATHSIG), so a killed planner leaves no worker behind. Stop sends
// SIGTERM (the worker drains: it finishes what it holds and leaves) and SIGKILL to the group
// once the grace has passed; Poll reaps, so no child stays a zombie.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "provision/provisioner.h"

namespace volo::provision {

struct LocalOptions {
  std::string binary;       // the volo binary (the planner's own: /proc/self/exe)
  std::string planner_url;  // where the workers connect: http://127.0.0.1:PORT
  std::string join_token;   // empty: none
  std::string sandbox = "bwrap";
  // Arguments before the worker's own (tests run a script in place of volo); default "worker".
  std::vector<std::string> command = {"worker"};
};

// The path of the running program (/proc/self/exe), or "volo" when it cannot be read.
std::string SelfBinary();

class LocalProvisioner final : public Provisioner {
 public:
  LocalProvisioner(const Clock& clock, LocalOptions options);
  // Kills (SIGKILL) and reaps every child still running.
  ~LocalProvisioner() override;

  Status Start(const WorkerRequest& request) override;
  void Stop(const std::string& id, Nanos grace) override;
  std::vector<Ended> Poll() override;
  void StopAll(Nanos grace) override;
  std::string_view name() const override { return "local"; }

  // The command line a request starts (for tests and the log).
  std::vector<std::string> Argv(const WorkerRequest& request) const;
  std::optional<pid_t> pid(const std::string& id) const;
  size_t running() const { return children_.size(); }

 private:
  struct Child {
    pid_t pid = -1;
    std::optional<TimePoint> kill_at;  // SIGKILL then, if still running
  };
  std::vector<std::string> Environment() const;

  const Clock& clock_;
  LocalOptions options_;
  std::map<std::string, Child> children_;
};

}  // namespace volo::provision
