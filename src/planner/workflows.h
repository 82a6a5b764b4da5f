// Workflows in the planner: the engine (src/workflow) over Core, and its REST API
// (docs/rest-api.md, "Workflows").
//
// The service is a Core client like a streaming connection: each step's task is submitted under
// kClientId, and Core tells the service when it finishes. The engine's reaction (the next steps)
// is posted to the io thread rather than run inside Core's finish path, so Core never re-enters
// itself. Definitions come from `volo planner --workflows FILE` and from
// `POST /api/v1/workflows` (`volo workflow apply`), which carries the file's text and the
// files it refers to (schemas, FLY programs).
//
// Threading: the planner's io thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/views.h"
#include "journal/journal.h"
#include "net/http.h"
#include "planner/core.h"
#include "workflow/engine.h"

namespace volo::planner {

class WorkflowService final : public ClientSink, public workflow::EngineObserver {
 public:
  static inline const ClientId kClientId{UINT64_MAX - 1};
  using Post = std::function<void(std::function<void()>)>;

  WorkflowService(Core& core, const Clock& clock, Post post);
  ~WorkflowService() override;
  WorkflowService(const WorkflowService&) = delete;
  WorkflowService& operator=(const WorkflowService&) = delete;

  // Parses and checks a workflow file and defines its workflows. `files` holds what it refers
  // to, by the path as written. On problems, InvalidArgument with one `file:line:col: message`
  // per line, and nothing changes. Returns the names defined.
  Result<std::vector<std::string>> Apply(const std::string& filename, std::string_view text,
                                         const workflow::FileReader& read);
  // The same for a file on disk; what it refers to is read relative to its folder.
  Result<std::vector<std::string>> ApplyFile(const std::string& path);

  // Durability (with --data): every fact the journal must keep goes to `record` (the server
  // appends it and schedules a commit). Replay rebuilds definitions and runs from the log, in
  // order, before `record` is set: each run is created again and re-driven by the same facts,
  // its steps mapped to the tasks they had started; steps whose tasks finished while the
  // planner was down are finished from Core's restored tasks.
  void SetRecorder(std::function<void(journal::WorkflowRecord)> record) {
    record_ = std::move(record);
  }
  Status Replay(std::vector<journal::WorkflowRecord> log);

  // Where FLY steps' programs go for workers to fetch (GET /api/v1/blobs/{sha256}), as
  // `volo run --planner` puts them; without it a FLY step fails with a clear error.
  using PutBlob = std::function<Status(const std::string& sha256, std::string bytes)>;
  void SetBlobSink(PutBlob put) { put_blob_ = std::move(put); }

  workflow::Engine& engine() { return engine_; }
  // Starts scheduled runs that are due; the server calls it every second or so.
  void Tick() { engine_.Tick(); }

  void OnFinished(const Task& task, std::string_view worker) override;
  void OnRunCreated(const workflow::Run& run) override;
  void OnRunEnded(const workflow::Run& run) override;
  void OnFired(const std::string& workflow, double at) override;
  void OnRunSettled(const workflow::Run& run) override;

  // Calls `fn` once the run has ended and its hook too (at once if it has). Returns a handle
  // for Unwatch (0 when `fn` ran at once or the run is unknown: then `known` tells which).
  uint64_t WhenSettled(workflow::RunId id, std::function<void(const workflow::Run&)> fn,
                       bool* known);
  void Unwatch(workflow::RunId id, uint64_t handle);

  // The API's views.
  api::WorkflowView WorkflowViewOf(const workflow::Workflow& w) const;
  // With `elements`, a map's elements are listed too (a 100,000-element map is long).
  api::RunView RunViewOf(const workflow::Run& run, bool steps, bool elements) const;

 private:
  class Sink;
  friend class Sink;
  void Record(std::string kind, uint64_t run, std::string body);
  // Whether Record keeps anything (with --data, once replay is over): callers skip building
  // records nobody keeps.
  bool recording() const { return record_ && !replaying_; }
  // The step's task finished: journal it, then tell the engine.
  void Finished(TaskId id, bool ok, std::string text);
  // What a finished step task hands on: a command's stdout (as JSON when it is JSON).
  std::string ResultText(const Task& task) const;
  Core& core_;
  const Clock& clock_;
  std::function<void(journal::WorkflowRecord)> record_;
  // While replaying: (run, step key) -> the task it had started.
  std::map<std::pair<uint64_t, std::string>, uint64_t> replay_steps_;
  bool replaying_ = false;
  std::map<std::string, std::string> read_files_;  // by the last Apply
  Post post_;
  PutBlob put_blob_;
  // Long-polls on runs (GET /api/v1/runs/{id}/wait): run -> handle -> what to call.
  std::unordered_map<uint64_t, std::map<uint64_t, std::function<void(const workflow::Run&)>>>
      settle_waiters_;
  uint64_t next_waiter_ = 1;
  std::unique_ptr<Sink> sink_;
  workflow::Engine engine_;
};

// Routes /api/v1/workflows..., /api/v1/runs..., /api/v1/schedules and Director's
// POST /api/workflows; answers 404 when the planner has no workflow service.
net::HttpResponse HandleWorkflowRequest(WorkflowService* service, const net::HttpRequest& req);

}  // namespace volo::planner
