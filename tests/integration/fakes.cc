#include "fakes.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <future>

#include "io_thread.h"
#include "net/client.h"

namespace volo::itest {

namespace asio = boost::asio;

FakeHttpWorker::FakeHttpWorker(FakeHttpWorkerOptions options)
    : options_(std::move(options)), io_(std::make_unique<asio::io_context>()) {
  busy_left_ = options_.busy_first;
  server_ = std::make_unique<net::Server>(*io_, net::ServerOptions{});
  server_->SetHttpHandler([this](net::HttpRequest request, net::Respond respond) {
    OnRequest(std::move(request), std::move(respond));
  });
  auto port = server_->Listen();
  EXPECT_TRUE(port.ok()) << "fake worker cannot listen: " << port.status().ToString();
  if (port.ok()) port_ = *port;
  thread_ = std::thread([this] { RunIo(*io_); });
}

FakeHttpWorker::~FakeHttpWorker() {
  Stop();
  io_->stop();
  thread_.join();
  server_.reset();
}

void FakeHttpWorker::Stop() {
  RunOn(*io_, [this] {
    hung_.clear();
    server_->Stop();
  });
}

void FakeHttpWorker::OnRequest(net::HttpRequest request, net::Respond respond) {
  if (request.method == "GET" && request.path == "/") {
    respond(net::HttpResponse::Json(200, R"({"ok":true})"));
    return;
  }
  const std::string op = request.path.empty() ? "" : request.path.substr(1);
  if (request.method != "POST" || !options_.ops.contains(op)) {
    respond(net::HttpResponse::Error(404, "no such operation"));
    return;
  }
  ++requests_;
  const bool busy = options_.busy_per_op ? working_.contains(op) : !working_.empty();
  if (busy_left_ > 0 || busy) {
    if (busy_left_ > 0) --busy_left_;
    ++busy_;
    respond(
        net::HttpResponse{.status = 403, .content_type = "text/plain", .body = "Already working"});
    return;
  }
  switch (options_.mode) {
    case FakeMode::kStatus500:
      respond(net::HttpResponse::Error(500, "fake worker exploded"));
      return;
    case FakeMode::kGarbage:
      respond(net::HttpResponse::Json(200, "<<this is not json>>"));
      return;
    case FakeMode::kHang:
      hung_.push_back(std::move(respond));
      return;
    case FakeMode::kOk:
      break;
  }
  const json::value body = ParseJson(request.body);
  if (!body.is_object()) {
    respond(net::HttpResponse::Error(400, "body is not a JSON object"));
    return;
  }
  const double result = ExpectedResult(op, body.as_object());
  const std::string answer =
      json::serialize(json::object{{"res", result}, {"duration", options_.delay.count()}});
  working_.insert(op);
  max_running_ = std::max<int>(max_running_, static_cast<int>(working_.size()));
  auto timer = std::make_shared<asio::steady_timer>(*io_, options_.delay);
  timer->async_wait([this, timer, respond, answer, op](const boost::system::error_code&) {
    working_.erase(op);
    ++completed_;
    respond(net::HttpResponse::Json(200, answer));
  });
}

Reply RegisterFake(const PlannerProc& planner, const FakeHttpWorker& worker, const std::string& id,
                   const std::string& ops_json) {
  json::object body{{"url", worker.url()}, {"id", id}};
  if (!ops_json.empty()) body["ops"] = ParseJson(ops_json);
  return Post(planner.url + "/register", json::serialize(body));
}

FakeWsClient::FakeWsClient() : io_(std::make_unique<asio::io_context>()) {
  thread_ = std::thread([this] { RunIo(*io_); });
}

FakeWsClient::~FakeWsClient() {
  RunOn(*io_, [this] {
    if (conn_) conn_->Close("test over");
    conn_.reset();
  });
  io_->stop();
  thread_.join();
}

std::string FakeWsClient::Connect(const std::string& url, std::chrono::milliseconds timeout) {
  auto result = std::make_shared<std::promise<std::string>>();
  asio::post(*io_, [this, url, timeout, result] {
    net::WsHandlers handlers;
    handlers.on_message = [this](const std::shared_ptr<net::WsConnection>&,
                                 std::string_view message) {
      std::lock_guard lock(mu_);
      messages_.emplace_back(message);
    };
    handlers.on_close = [this](const std::shared_ptr<net::WsConnection>&, const volo::Status&) {
      closed_ = true;
    };
    net::WsConnect(*io_, url, {}, std::move(handlers), timeout,
                   [this, result](Result<std::shared_ptr<net::WsConnection>> conn) {
                     if (!conn.ok()) {
                       closed_ = true;
                       result->set_value(conn.status().ToString());
                       return;
                     }
                     conn_ = *conn;
                     result->set_value("");
                   });
  });
  auto future = result->get_future();
  if (future.wait_for(timeout + seconds(5)) != std::future_status::ready) {
    return "WsConnect did not call back";
  }
  return future.get();
}

void FakeWsClient::Send(std::string text) {
  asio::post(*io_, [this, text = std::move(text)]() mutable {
    if (conn_) conn_->Send(std::move(text));
  });
}

void FakeWsClient::Close() {
  RunOn(*io_, [this] {
    if (conn_) conn_->Close("bye");
  });
}

std::vector<std::string> FakeWsClient::messages() const {
  std::lock_guard lock(mu_);
  return messages_;
}

std::vector<json::object> FakeWsClient::MessagesOfType(const std::string& type) const {
  std::vector<json::object> out;
  for (const auto& m : messages()) {
    const json::value v = ParseJson(m);
    if (v.is_object() && Str(v.as_object(), "t") == type) out.push_back(v.as_object());
  }
  return out;
}

}  // namespace volo::itest
