// HTTPS and WSS: a server with a self-signed certificate made by the openssl CLI at test time,
// and clients that trust it through ca_file, distrust it by default, or skip verification.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "net/client.h"
#include "net/server.h"
#include "net/test_util.h"

namespace volo::net {
namespace {

using namespace std::chrono_literals;
using testing::Awaited;
using testing::IoThread;
using testing::RawSocket;
using WsPtr = std::shared_ptr<WsConnection>;

// A temporary directory with cert.pem/key.pem for `subject_alt_names` (openssl syntax).
class TempCert {
 public:
  explicit TempCert(const std::string& subject_alt_names) {
    char pattern[] = "/tmp/volo_tls_XXXXXX";
    dir_ = ::mkdtemp(pattern);
    const std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
        " -subj /CN=volo-test -addext 'subjectAltName=" +
        subject_alt_names + "' -keyout " + key() + " -out " + cert() + " >/dev/null 2>&1";
    ok_ = std::system(command.c_str()) == 0;
  }
  ~TempCert() { std::filesystem::remove_all(dir_); }
  bool ok() const { return ok_; }
  std::string cert() const { return dir_ + "/cert.pem"; }
  std::string key() const { return dir_ + "/key.pem"; }
  std::string dir() const { return dir_; }

 private:
  std::string dir_;
  bool ok_ = false;
};

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = std::make_unique<TempCert>("DNS:localhost,IP:127.0.0.1");
    ASSERT_TRUE(cert_->ok()) << "openssl req failed";
  }
  void Start(bool tls = true) {
    ServerOptions options;
    if (tls) {
      options.tls_cert_file = cert_->cert();
      options.tls_key_file = cert_->key();
    }
    server_ = std::make_unique<Server>(io_.io(), std::move(options));
    server_->SetHttpHandler([this](HttpRequest request, Respond respond) {
      if (request.path == "/later") {
        later_.push_back(std::move(respond));
        return;
      }
      respond(HttpResponse::Json(
          200, "{\"method\":\"" + request.method + "\",\"body\":\"" + request.body + "\"}"));
    });
    server_->SetWsAcceptor([this](const HttpRequest&) -> std::variant<WsHandlers, HttpResponse> {
      WsHandlers handlers;
      handlers.on_message = [](const WsPtr& c, std::string_view m) {
        c->Send("echo:" + std::string(m));
      };
      handlers.on_close = [this](const WsPtr&, const Status&) { ++server_ws_closes_; };
      return handlers;
    });
    auto port = server_->Listen();
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = *port;
  }
  void TearDown() override {
    // Back to the built-in defaults for the next test in this process.
    ASSERT_TRUE(SetDefaultTlsClientOptions({}).ok());
    io_.Run([&] {
      later_.clear();
      http_.reset();
      client_.reset();
      server_.reset();
    });
    io_.Join();
  }
  std::string Url(const std::string& scheme, const std::string& target,
                  const std::string& host = "127.0.0.1") {
    return scheme + "://" + host + ":" + std::to_string(port_) + target;
  }
  TlsClientOptions Trusting() {
    TlsClientOptions options;
    options.ca_file = cert_->cert();
    return options;
  }

  // The test's HttpClient; it is destroyed on the io thread in TearDown.
  HttpClient& Client(TlsClientOptions tls) {
    io_.Run([&] { http_ = std::make_unique<HttpClient>(io_.io(), std::move(tls)); });
    return *http_;
  }

  // Requests through one HttpClient that lives on the io thread.
  Result<ClientResponse> Fetch(HttpClient& client, const std::string& method,
                               const std::string& url, const std::string& body = "") {
    Awaited<Result<ClientResponse>> result;
    io_.Run([&] {
      client.Request(method, url, body, {}, 5s,
                     [&](Result<ClientResponse> r) { result.Set(std::move(r)); });
    });
    auto r = result.Wait();
    if (!r) return Internal("no callback");
    return *r;
  }

  Result<WsPtr> WsOpen(const std::string& url, const TlsClientOptions& tls,
                       std::vector<std::string>* received, std::mutex* mu) {
    Awaited<Result<WsPtr>> result;
    WsHandlers handlers;
    handlers.on_message = [received, mu](const WsPtr&, std::string_view m) {
      std::lock_guard lock(*mu);
      received->emplace_back(m);
    };
    io_.Run([&] {
      WsConnect(
          io_.io(), url, {}, std::move(handlers), 5s,
          [&](Result<WsPtr> r) { result.Set(std::move(r)); }, tls);
    });
    auto r = result.Wait();
    if (!r) return Internal("WsConnect never called back");
    if (r->ok()) client_ = r->value();
    return *r;
  }

  std::unique_ptr<TempCert> cert_;
  IoThread io_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::vector<Respond> later_;  // io thread only
  std::atomic<int> server_ws_closes_ = 0;
  WsPtr client_;
  std::unique_ptr<HttpClient> http_;
};

TEST_F(TlsTest, HttpsGetAndPostRoundTrip) {
  Start();
  HttpClient& client = Client(Trusting());
  auto get = Fetch(client, "GET", Url("https", "/a"));
  ASSERT_TRUE(get.ok()) << get.status().ToString();
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, R"({"method":"GET","body":""})");
  auto post = Fetch(client, "POST", Url("https", "/a"), "hello");
  ASSERT_TRUE(post.ok()) << post.status().ToString();
  EXPECT_EQ(post->body, R"({"method":"POST","body":"hello"})");
  // By name too: SNI and the DNS entry of the certificate.
  auto by_name = Fetch(client, "GET", Url("https", "/a", "localhost"));
  ASSERT_TRUE(by_name.ok()) << by_name.status().ToString();
}

TEST_F(TlsTest, HttpFetchUsesTheProcessDefaults) {
  Start();
  auto untrusted = HttpFetch("GET", Url("https", "/a"));
  ASSERT_FALSE(untrusted.ok());
  EXPECT_EQ(untrusted.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(untrusted.status().message().find("certificate"), std::string::npos)
      << untrusted.status().ToString();
  EXPECT_NE(untrusted.status().message().find("TLS"), std::string::npos);

  ASSERT_TRUE(SetDefaultTlsClientOptions(Trusting()).ok());
  auto trusted = HttpFetch("POST", Url("https", "/a"), "x");
  ASSERT_TRUE(trusted.ok()) << trusted.status().ToString();
  EXPECT_EQ(trusted->body, R"({"method":"POST","body":"x"})");
}

TEST_F(TlsTest, LongPollAndKeepAliveOverTls) {
  Start();
  HttpClient* client = &Client(Trusting());
  Awaited<Result<ClientResponse>> first;
  io_.Run([&] {
    client->Request("GET", Url("https", "/later"), "", {}, 5s,
                    [&](Result<ClientResponse> r) { first.Set(std::move(r)); });
  });
  ASSERT_TRUE(testing::WaitUntil([&] { return io_.Run([&] { return !later_.empty(); }); }));
  io_.Run([&] {
    EXPECT_TRUE(later_[0].alive());
    later_[0](HttpResponse::Json(200, "{\"late\":true}"));
  });
  auto r = first.Wait();
  ASSERT_TRUE(r && r->ok()) << (r ? r->status().ToString() : "no callback");
  EXPECT_EQ((*r)->body, "{\"late\":true}");
  // The same (reused) connection still speaks TLS after the watch read was cancelled.
  auto again = Fetch(*client, "GET", Url("https", "/now"));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->status, 200);
}

TEST_F(TlsTest, WssEcho) {
  Start();
  std::mutex mu;
  std::vector<std::string> received;
  auto ws = WsOpen(Url("wss", "/ws"), Trusting(), &received, &mu);
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  io_.Run([&] { client_->Send("hi"); });
  ASSERT_TRUE(testing::WaitUntil([&] {
    std::lock_guard lock(mu);
    return received.size() == 1;
  }));
  EXPECT_EQ(received[0], "echo:hi");
  io_.Run([&] { client_->Close("bye"); });
  EXPECT_TRUE(testing::WaitUntil([&] { return server_ws_closes_ == 1; }));
}

TEST_F(TlsTest, WssWithoutTheCaIsACertificateError) {
  Start();
  std::mutex mu;
  std::vector<std::string> received;
  auto ws = WsOpen(Url("wss", "/ws"), {}, &received, &mu);
  ASSERT_FALSE(ws.ok());
  EXPECT_EQ(ws.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(ws.status().message().find("certificate verify failed"), std::string::npos)
      << ws.status().ToString();
}

TEST_F(TlsTest, CertificateForAnotherHostIsRefused) {
  cert_ = std::make_unique<TempCert>("DNS:elsewhere.example");
  ASSERT_TRUE(cert_->ok());
  Start();
  HttpClient& client = Client(Trusting());
  auto r = Fetch(client, "GET", Url("https", "/a"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("mismatch"), std::string::npos) << r.status().ToString();
}

TEST_F(TlsTest, InsecureSkipVerifyAcceptsAnyCertificate) {
  Start();
  TlsClientOptions insecure;
  insecure.insecure_skip_verify = true;
  HttpClient& client = Client(insecure);
  auto r = Fetch(client, "GET", Url("https", "/a", "localhost"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  std::mutex mu;
  std::vector<std::string> received;
  auto ws = WsOpen(Url("wss", "/ws"), insecure, &received, &mu);
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
}

TEST_F(TlsTest, PlainHttpAgainstTlsServerGetsAPlainAnswer) {
  Start();
  auto r = HttpFetch("GET", Url("http", "/a"), "", {}, 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("https://"), std::string::npos) << r->body;

  // A plain WebSocket upgrade is refused the same way.
  std::mutex mu;
  std::vector<std::string> received;
  auto ws = WsOpen(Url("ws", "/ws"), {}, &received, &mu);
  ASSERT_FALSE(ws.ok());
  EXPECT_NE(ws.status().message().find("400"), std::string::npos) << ws.status().ToString();

  // A client that connects and says nothing is dropped after the handshake timeout, and one
  // that sends garbage is closed; neither takes the server down.
  RawSocket garbage = RawSocket::Connect(port_);
  ASSERT_TRUE(garbage.valid());
  garbage.Send(std::string("\x16\x03\x01\x00\x05hello", 10));
  bool closed = false;
  garbage.ReadToClose(&closed);
  EXPECT_TRUE(closed);
  HttpClient& client = Client(Trusting());
  auto still = Fetch(client, "GET", Url("https", "/a"));
  EXPECT_TRUE(still.ok()) << still.status().ToString();
}

TEST_F(TlsTest, HttpsClientAgainstPlainServerFailsAsTls) {
  Start(/*tls=*/false);
  HttpClient& client = Client(Trusting());
  auto r = Fetch(client, "GET", Url("https", "/a"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("TLS handshake failed"), std::string::npos)
      << r.status().ToString();
}

TEST_F(TlsTest, ListenNamesBadFiles) {
  boost::asio::io_context io;
  auto listen = [&](const std::string& cert, const std::string& key) {
    ServerOptions options;
    options.tls_cert_file = cert;
    options.tls_key_file = key;
    Server server(io, options);
    return server.Listen().status();
  };
  Status missing = listen(cert_->dir() + "/nope.pem", cert_->key());
  EXPECT_EQ(missing.code(), StatusCode::kIo);
  EXPECT_NE(missing.message().find("nope.pem"), std::string::npos) << missing.ToString();

  const std::string junk = cert_->dir() + "/junk.pem";
  std::ofstream(junk) << "not a certificate\n";
  Status bad_cert = listen(junk, cert_->key());
  EXPECT_EQ(bad_cert.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_cert.message().find("junk.pem"), std::string::npos) << bad_cert.ToString();
  Status bad_key = listen(cert_->cert(), junk);
  EXPECT_EQ(bad_key.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_key.message().find("junk.pem"), std::string::npos) << bad_key.ToString();

  TempCert other("DNS:localhost");
  ASSERT_TRUE(other.ok());
  Status mismatch = listen(cert_->cert(), other.key());
  EXPECT_EQ(mismatch.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(mismatch.message().find("does not match"), std::string::npos) << mismatch.ToString();

  Status half = listen(cert_->cert(), "");
  EXPECT_EQ(half.code(), StatusCode::kInvalidArgument) << half.ToString();

  // A client CA file is checked where it is set.
  TlsClientOptions bad_ca;
  bad_ca.ca_file = junk;
  Status ca = SetDefaultTlsClientOptions(bad_ca);
  EXPECT_EQ(ca.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ca.message().find("junk.pem"), std::string::npos) << ca.ToString();
  bad_ca.ca_file = cert_->dir() + "/missing-ca.pem";
  EXPECT_EQ(SetDefaultTlsClientOptions(bad_ca).code(), StatusCode::kIo);
  EXPECT_TRUE(DefaultTlsClientOptions().ca_file.empty());
}

}  // namespace
}  // namespace volo::net
