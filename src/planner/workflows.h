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
#include <vector>

#include "api/views.h"
#include "net/http.h"
#include "planner/core.h"
#include "workflow/engine.h"

namespace volo::planner {

class WorkflowService final : public ClientSink {
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

  workflow::Engine& engine() { return engine_; }
  // Starts scheduled runs that are due; the server calls it every second or so.
  void Tick() { engine_.Tick(); }

  void OnFinished(const Task& task, std::string_view worker) override;

  // The API's views.
  api::WorkflowView WorkflowViewOf(const workflow::Workflow& w) const;
  // With `elements`, a map's elements are listed too (a 100,000-element map is long).
  api::RunView RunViewOf(const workflow::Run& run, bool steps, bool elements) const;

 private:
  class Sink;
  Core& core_;
  Post post_;
  std::unique_ptr<Sink> sink_;
  workflow::Engine engine_;
};

// Routes /api/v1/workflows..., /api/v1/runs..., /api/v1/schedules and Director's
// POST /api/workflows; answers 404 when the planner has no workflow service.
net::HttpResponse HandleWorkflowRequest(WorkflowService* service, const net::HttpRequest& req);

}  // namespace volo::planner
