#include "seed_peers.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <future>

#include "io_thread.h"
#include "net/client.h"

namespace volo::itest {

namespace asio = boost::asio;

namespace {

net::HttpResponse Text(int status, std::string body, std::string type = "text/plain") {
  return net::HttpResponse{
      .status = status, .content_type = std::move(type), .body = std::move(body)};
}

}  // namespace

std::vector<SeedTaskSpec> SeedTasks(int n) {
  std::vector<SeedTaskSpec> out;
  for (int i = 0; i < n; ++i) out.push_back({i % 2 ? "mult" : "add", i + 2, 3 * i + 1});
  return out;
}

double SeedExpected(const SeedTaskSpec& t) {
  return t.op == "add" ? t.a + t.b : static_cast<double>(t.a) * t.b;
}

// ---- SeedPlanner ------------------------------------------------------------------------------

SeedPlanner::SeedPlanner(std::vector<SeedTaskSpec> tasks, std::chrono::milliseconds tick)
    : io_(std::make_unique<asio::io_context>()),
      tick_(tick),
      tasks_left_(static_cast<int>(tasks.size())),
      queue_(tasks.begin(), tasks.end()) {
  server_ = std::make_unique<net::Server>(*io_, net::ServerOptions{});
  server_->SetHttpHandler([this](net::HttpRequest request, net::Respond respond) {
    OnRequest(std::move(request), std::move(respond));
  });
  client_ = std::make_unique<net::HttpClient>(*io_);
  auto port = server_->Listen();
  EXPECT_TRUE(port.ok()) << "seed planner cannot listen: " << port.status().ToString();
  if (port.ok()) port_ = *port;
  thread_ = std::thread([this] { RunIo(*io_); });
  asio::post(*io_, [this] { Tick(); });
}

SeedPlanner::~SeedPlanner() {
  RunOn(*io_, [this] {
    stopping_ = true;
    server_->Stop();
  });
  io_->stop();
  thread_.join();
  client_.reset();
  server_.reset();
}

std::vector<SeedAnswer> SeedPlanner::results() const {
  std::lock_guard lock(mu_);
  std::vector<SeedAnswer> out;
  for (const auto& a : answers_)
    if (a.parsed) out.push_back(a);
  return out;
}

std::vector<SeedAnswer> SeedPlanner::answers() const {
  std::lock_guard lock(mu_);
  return answers_;
}

std::vector<SeedRegistration> SeedPlanner::registrations() const {
  std::lock_guard lock(mu_);
  return workers_;
}

void SeedPlanner::OnRequest(net::HttpRequest request, net::Respond respond) {
  if (request.method == "POST" && request.path == "/register") {
    const json::value body = ParseJson(request.body);
    SeedRegistration r;
    if (body.is_object()) {
      r.url = Str(body.as_object(), "url");
      r.id = Str(body.as_object(), "id");
    }
    r.authorization = std::string(request.Header("Authorization"));
    {
      std::lock_guard lock(mu_);
      workers_.push_back(r);
    }
    respond(Text(200, "ok", "text/html; charset=utf-8"));
    return;
  }
  if (request.method == "GET" && request.path == "/") {
    json::array list;
    std::lock_guard lock(mu_);
    for (const auto& w : workers_) list.push_back(json::object{{"url", w.url}, {"id", w.id}});
    respond(Text(200, json::serialize(list), "text/html; charset=utf-8"));
    return;
  }
  // Express's answer to a route it does not have (a volo worker's WebSocket upgrade lands here).
  respond(Text(404, "<pre>Cannot " + request.method + " " + request.path + "</pre>",
               "text/html; charset=utf-8"));
}

void SeedPlanner::Tick() {
  if (stopping_) return;
  std::vector<SeedRegistration> workers = registrations();
  if (!workers.empty() && !queue_.empty()) {
    SeedTaskSpec task = queue_.front();
    queue_.pop_front();
    const SeedRegistration w = workers[pick_() % workers.size()];
    const std::string body = json::serialize(json::object{{"a", task.a}, {"b", task.b}});
    client_->Request("POST", w.url + "/" + task.op, body,
                     {{"Content-Type", "application/json"}, {"Accept", "application/json"}},
                     seconds(30), [this, task, url = w.url](Result<net::ClientResponse> r) {
                       SeedAnswer a{task, url};
                       if (r.ok()) {
                         a.status = r->status;
                         a.content_type = r->content_type;
                         a.body = r->body;
                         boost::system::error_code ec;
                         json::parse(a.body, ec);
                         a.parsed = !ec;  // res.json() succeeds: the seed counts the task as done
                       }
                       if (a.parsed) {
                         --tasks_left_;
                       } else if (!stopping_) {
                         queue_.push_back(task);
                       }
                       std::lock_guard lock(mu_);
                       answers_.push_back(std::move(a));
                     });
  }
  auto timer = std::make_shared<asio::steady_timer>(*io_, tick_);
  timer->async_wait([this, timer](const boost::system::error_code& ec) {
    if (!ec) Tick();
  });
}

// ---- SeedWorker -------------------------------------------------------------------------------

SeedWorker::SeedWorker(SeedWorkerOptions options)
    : options_(std::move(options)), io_(std::make_unique<asio::io_context>()) {
  server_ = std::make_unique<net::Server>(*io_, net::ServerOptions{});
  server_->SetHttpHandler([this](net::HttpRequest request, net::Respond respond) {
    OnRequest(std::move(request), std::move(respond));
  });
  auto port = server_->Listen();
  EXPECT_TRUE(port.ok()) << "seed worker cannot listen: " << port.status().ToString();
  if (port.ok()) port_ = *port;
  thread_ = std::thread([this] { RunIo(*io_); });
  if (!options_.register_with.empty() && port_ != 0) {
    registration_ = Post(options_.register_with + "/register",
                         json::serialize(json::object{{"url", url()}, {"id", options_.id}}));
  }
}

SeedWorker::~SeedWorker() {
  RunOn(*io_, [this] { server_->Stop(); });
  io_->stop();
  thread_.join();
  server_.reset();
}

int SeedWorker::completed(const std::string& op) const {
  return op == "add" ? completed_add_.load() : completed_mult_.load();
}

void SeedWorker::OnRequest(net::HttpRequest request, net::Respond respond) {
  const std::string html = "text/html; charset=utf-8";
  if (request.method == "GET" && request.path == "/") {
    for (const char* op : {"mult", "add"}) {
      if (auto it = working_.find(op); it != working_.end()) {
        respond(Text(200, R"({"type":")" + it->first + R"(","task":)" + it->second + "}", html));
        return;
      }
    }
    respond(Text(200, "ready to work", html));
    return;
  }
  const std::string op = request.path.empty() ? "" : request.path.substr(1);
  const bool served = (op == "add" && options_.add) || (op == "mult" && options_.mult);
  if (request.method != "POST" || !served) {
    ++not_found_;
    respond(Text(404, "<pre>Cannot " + request.method + " " + request.path + "</pre>", html));
    return;
  }
  if (working_.count(op)) {
    ++busy_;
    respond(Text(403, "Already working", html));
    return;
  }
  const json::value body = ParseJson(request.body);
  const json::object args = body.is_object() ? body.as_object() : json::object{};
  working_[op] = json::serialize(args);
  const double res = ExpectedResult(op, args);
  const std::string answer =
      json::serialize(json::object{{"res", res}, {"duration", options_.duration.count()}});
  auto timer = std::make_shared<asio::steady_timer>(*io_, options_.duration);
  timer->async_wait([this, timer, op, respond, answer, html](const boost::system::error_code&) {
    working_.erase(op);
    ++(op == "add" ? completed_add_ : completed_mult_);
    // The seed sends JSON.stringify(...) with res.send: JSON text labelled text/html.
    respond(Text(200, answer, html));
  });
}

}  // namespace volo::itest
