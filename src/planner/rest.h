// The REST API's request handlers (docs/rest-api.md): plain functions over Core and a request.
//
// A handler reads the request, changes or reads Core, and answers through `Reply` exactly once,
// now or later (the long-polls). What it needs beyond Core comes through RestEnv, which the
// server implements on its event loop and tests implement with a fake clock and fake timers
// (rest_test.cc). Every handler runs on the planner's io thread. A handler that waits holds
// task ids, never Task pointers: pruning may drop a finished task while it waits.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/views.h"
#include "net/http.h"
#include "planner/auth.h"
#include "planner/blob_store.h"
#include "planner/bundle_store.h"
#include "planner/core.h"
#include "planner/logs.h"

namespace volo::planner {

using Reply = std::function<void(net::HttpResponse)>;

class RestEnv {
 public:
  virtual ~RestEnv() = default;
  // Runs `fn` after `delay` on the io thread. The returned function cancels it (a no-op once
  // it has run).
  virtual std::function<void()> After(Nanos delay, std::function<void()> fn) = 0;
  // Runs `ack` once everything recorded so far is durable (CommitGate::Durable).
  virtual void Durable(std::function<void(const Status&)> ack) = 0;
  // Enrols a seed-style HTTP worker and journals it. AlreadyExists when a native worker has
  // the id; InvalidArgument for a bad id.
  virtual Status EnrolHttpWorker(const std::string& id, const std::string& url,
                                 std::vector<std::string> ops) = 0;
  // True once the planner is stopping: /readyz answers 503.
  virtual bool stopping() const = 0;
};

class WorkflowService;
class Dashboard;
class FunctionService;

struct RestContext {
  Core& core;
  BlobStore& blobs;
  RestEnv& env;
  Token api_token;
  Token join_token;
  WorkflowService* workflows = nullptr;  // workflows.h; null: the routes answer 404
  LogStore* logs = nullptr;              // command output (GET /api/v1/tasks/{id}/logs)
  BundleStore* bundles = nullptr;        // set by the server; without one /api/v1/bundles is 503
  Dashboard* dashboard = nullptr;        // dashboard.h: the page, its sessions, drain; null: none
  // PlannerOptions::pages: public pages outside /api/ (the playground); null: none.
  const std::function<std::optional<net::HttpResponse>(const net::HttpRequest&)>* pages = nullptr;
  FunctionService* functions = nullptr;  // functions.h; null: the routes answer 503
};

// Authenticates and routes one request, and answers it through `reply`.
void HandleRequest(RestContext& ctx, const net::HttpRequest& req, const Reply& reply);

// Core's state as the API shows it.
api::TaskView TaskViewOf(const Core& core, const Task& t);
api::WorkerView WorkerViewOf(const Core& core, const WorkerInfo& w);
api::StatusView StatusViewOf(const Core& core);

// The handlers HandleRequest routes to, after authentication and method checks.
void SubmitTasks(RestContext& ctx, const net::HttpRequest& req, const Reply& reply);
void ListTasks(RestContext& ctx, const net::HttpRequest& req, const Reply& reply);
void GetTask(RestContext& ctx, TaskId id, const Reply& reply);
void CancelTask(RestContext& ctx, TaskId id, const Reply& reply);
// GET /api/v1/tasks/{id}/logs[?stream=stderr][&offset=N][&follow=1]: the raw bytes.
void GetLogs(RestContext& ctx, TaskId id, const net::HttpRequest& req, const Reply& reply);
void WaitOne(RestContext& ctx, TaskId id, const net::HttpRequest& req, const Reply& reply);
void WaitMany(RestContext& ctx, const net::HttpRequest& req, const Reply& reply);
// GET /api/v1/runs/{id}/wait?timeout=T: the run once it has ended and its hook too, or as it is
// after T seconds.
void WaitRun(RestContext& ctx, std::string_view id, const net::HttpRequest& req,
             const Reply& reply);
void ListWorkers(RestContext& ctx, const Reply& reply);
void GetWorker(RestContext& ctx, const std::string& id, const Reply& reply);
void GetStatus(RestContext& ctx, const Reply& reply);
void RegisterHttpWorker(RestContext& ctx, const net::HttpRequest& req, const Reply& reply);
void Blob(RestContext& ctx, const net::HttpRequest& req, const Reply& reply);
void Bundles(RestContext& ctx, const net::HttpRequest& req, const Reply& reply);

// The bundle an `exec` task's args name ({"bundle": "<sha256>", ...}), or empty.
std::string BundleOf(std::string_view op, std::string_view args);
// How many tasks Core still holds (any state) name each bundle.
std::map<std::string, uint64_t> BundleReferences(const Core& core);

}  // namespace volo::planner
