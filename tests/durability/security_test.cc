// Tokens, refusing to listen openly without them, readiness and metrics, on real processes.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "harness.h"
#include "net/client.h"

namespace volo::itest {
namespace {

class SecurityTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) h_.PrintLogs(std::cerr);
    h_.KillAll();
  }
  std::string WriteFile(const std::string& name, const std::string& content) {
    std::string path = h_.TempPath(name);
    std::ofstream(path) << content << "\n";
    return path;
  }
  std::string Log(const Child& c) {
    std::ifstream f(c.log_path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  // `volo planner --port 0 --port-file F flags...`; its URL (`scheme`://127.0.0.1:PORT) in
  // *url. nullptr (and a failure) when it did not start.
  Child* StartPlanner(const std::vector<std::string>& flags, std::string* url,
                      const std::string& scheme = "http") {
    std::string port_file = h_.TempPath("p.port");
    std::vector<std::string> args = {"planner", "--port", "0", "--port-file", port_file};
    args.insert(args.end(), flags.begin(), flags.end());
    Child* planner = h_.Spawn("planner", args);
    if (planner == nullptr) return nullptr;
    auto port = h_.ReadPortFile(port_file, *planner);
    if (!port.has_value()) {
      ADD_FAILURE() << "the planner wrote no port";
      return nullptr;
    }
    *url = scheme + "://127.0.0.1:" + std::to_string(*port);
    return planner;
  }
  int Status(const std::string& method, const std::string& url, const std::string& token,
             std::string* body = nullptr) {
    net::Headers headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    auto r = net::HttpFetch(method, url, method == "POST" ? R"({"op":"noop"})" : "", headers,
                            seconds(10));
    if (!r.ok()) return 0;
    if (body) *body = r->body;
    return r->status;
  }
  Harness h_;
};

TEST_F(SecurityTest, RefusesToListenBeyondLoopbackWithoutTokens) {
  CommandResult r =
      h_.RunVolo({"planner", "--bind", "0.0.0.0", "--port", "0"},
                 {{"VOLO_TOKEN", std::nullopt}, {"VOLO_JOIN_TOKEN", std::nullopt}}, seconds(20));
  ASSERT_TRUE(r.finished);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("refusing to listen on 0.0.0.0 without tokens"), std::string::npos) << r.err;
}

TEST_F(SecurityTest, TokensGuardTheApiAndTheFleet) {
  const std::string api = "api-secret-4242", join = "join-secret-7373";
  std::string url;
  ASSERT_NE(StartPlanner({"--token-file", WriteFile("api", api), "--join-token-file",
                          WriteFile("join", join)},
                         &url),
            nullptr);

  std::string body;
  EXPECT_EQ(Status("GET", url + "/api/v1/status", "", &body), 401);
  EXPECT_NE(body.find("bearer token"), std::string::npos);
  EXPECT_EQ(Status("GET", url + "/api/v1/status", "wrong"), 401);
  EXPECT_EQ(Status("GET", url + "/api/v1/status", join), 401);  // a join token is not an API one
  EXPECT_EQ(Status("GET", url + "/api/v1/status", api), 200);
  EXPECT_EQ(Status("POST", url + "/api/v1/tasks", api), 201);
  EXPECT_EQ(Status("GET", url + "/healthz", ""), 200);  // probes need no token
  EXPECT_EQ(Status("GET", url + "/readyz", ""), 200);
  EXPECT_EQ(Status("GET", url + "/metrics", ""), 401);
  // Workers fetch programs with the join token; uploading one takes the API token.
  const std::string blob = url + "/api/v1/blobs/" + std::string(64, 'a');
  EXPECT_EQ(Status("GET", blob, join), 404);
  EXPECT_EQ(Status("GET", blob, ""), 401);
  EXPECT_EQ(Status("PUT", blob, join), 401);

  // A worker with the wrong join token never joins; one with the right token does and runs
  // the queued task.
  h_.Spawn("intruder", {"worker", "--planner", url, "--id", "intruder", "--port", "-1"},
           {{"VOLO_JOIN_TOKEN", "nope"}});
  h_.Spawn("worker", {"worker", "--planner", url, "--id", "good", "--port", "-1"},
           {{"VOLO_JOIN_TOKEN", join}});
  ASSERT_TRUE(PollUntil(
      [&] {
        std::string b;
        return Status("GET", url + "/api/v1/tasks/1", api, &b) == 200 &&
               b.find("\"state\":\"done\"") != std::string::npos;
      },
      seconds(20)));
  std::string workers;
  ASSERT_EQ(Status("GET", url + "/api/v1/workers", api, &workers), 200);
  EXPECT_NE(workers.find("\"good\""), std::string::npos);
  EXPECT_EQ(workers.find("intruder"), std::string::npos);

  // The CLI sends VOLO_TOKEN.
  CommandResult st = h_.RunVolo({"status", "--planner", url}, {{"VOLO_TOKEN", api}});
  EXPECT_EQ(st.exit_code, 0) << st.err;
  CommandResult denied = h_.RunVolo({"status", "--planner", url}, {{"VOLO_TOKEN", std::nullopt}});
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.err.find("bearer token"), std::string::npos) << denied.err;

  // Secrets never reach a log.
  for (const auto& c : h_.children()) {
    std::string log = Log(*c);
    EXPECT_EQ(log.find(api), std::string::npos) << c->name << " logged the API token";
    EXPECT_EQ(log.find(join), std::string::npos) << c->name << " logged the join token";
  }
}

// Enrolling a worker (either route) takes the join token only: a client's API token must not
// let it place a worker that would receive other users' arguments and report their results.
TEST_F(SecurityTest, EnrolmentTakesTheJoinTokenOnly) {
  const std::string api = "api-secret-5151", join = "join-secret-6262";
  std::string url;
  ASSERT_NE(StartPlanner({"--token-file", WriteFile("api", api), "--join-token-file",
                          WriteFile("join", join)},
                         &url),
            nullptr);
  auto enrol = [&](const std::string& path, const std::string& id, const std::string& token) {
    net::Headers headers{{"Authorization", "Bearer " + token}};
    auto r =
        net::HttpFetch("POST", url + path, R"({"url":"http://127.0.0.1:9","id":")" + id + R"("})",
                       headers, seconds(10));
    return r.ok() ? r->status : 0;
  };
  EXPECT_EQ(enrol("/api/v1/workers/http", "by-client", api), 401);
  EXPECT_EQ(enrol("/register", "by-client-2", api), 401);
  EXPECT_EQ(enrol("/api/v1/workers/http", "by-worker", join), 200);
  EXPECT_EQ(enrol("/register", "by-worker-2", join), 200);
  std::string workers;
  ASSERT_EQ(Status("GET", url + "/api/v1/workers", api, &workers), 200);
  EXPECT_EQ(workers.find("by-client"), std::string::npos) << workers;
  EXPECT_NE(workers.find("by-worker"), std::string::npos) << workers;
}

// RFC 7235: the scheme name is case-insensitive.
TEST_F(SecurityTest, BearerSchemeInAnyCase) {
  const std::string api = "api-secret-8080";
  std::string base;
  ASSERT_NE(StartPlanner({"--token-file", WriteFile("api", api)}, &base), nullptr);
  const std::string url = base + "/api/v1/status";
  for (std::string scheme : {"Bearer", "bearer", "BEARER", "bEaReR"}) {
    auto r = net::HttpFetch("GET", url, "", {{"Authorization", scheme + " " + api}}, seconds(10));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200) << scheme;
  }
  for (std::string bad :
       {"Basic " + api, "Bearer" + api, "Bearer " + api + "x", std::string("Bearer ")}) {
    auto r = net::HttpFetch("GET", url, "", {{"Authorization", bad}}, seconds(10));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 401) << bad;
  }
}

TEST_F(SecurityTest, OneSecretForBothTokensIsRefused) {
  std::string both = WriteFile("both", "the-same-secret-1234");
  CommandResult r = h_.RunVolo(
      {"planner", "--port", "0", "--token-file", both, "--join-token-file", both}, {}, seconds(20));
  ASSERT_TRUE(r.finished);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("the API token and the join token are the same"), std::string::npos)
      << r.err;
  // Different files with the same secret are the same mistake.
  CommandResult r2 = h_.RunVolo({"planner", "--port", "0", "--token-file", both,
                                 "--join-token-file", WriteFile("copy", "the-same-secret-1234")},
                                {}, seconds(20));
  ASSERT_TRUE(r2.finished);
  EXPECT_NE(r2.exit_code, 0);
  EXPECT_EQ(r.err.find("the-same-secret-1234"), std::string::npos) << "the secret was printed";
}

TEST_F(SecurityTest, TlsEndToEnd) {
  std::string cert = h_.TempPath("cert.pem"), key = h_.TempPath("key.pem");
  std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
      "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::string url;
  Child* planner = StartPlanner({"--tls-cert", cert, "--tls-key", key}, &url, "https");
  ASSERT_NE(planner, nullptr);
  EXPECT_TRUE(PollUntil(
      [&] { return Log(*planner).find("listening on https://127.0.0.1:") != std::string::npos; },
      seconds(10)))
      << Log(*planner);
  h_.Spawn("worker",
           {"--ca-file", cert, "worker", "--planner", url, "--id", "tls-w", "--port", "-1"});
  CommandResult r = h_.RunVolo({"--ca-file", cert, "submit", "add", "--args", R"({"a":20,"b":22})",
                                "--planner", url, "--wait"},
                               {}, seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "42\n");
  // Without the CA the client refuses the planner's self-signed certificate.
  CommandResult untrusted =
      h_.RunVolo({"status", "--planner", url}, {{"VOLO_CA_FILE", std::nullopt}});
  EXPECT_NE(untrusted.exit_code, 0);
  EXPECT_NE(untrusted.err.find("certificate"), std::string::npos) << untrusted.err;
}

TEST_F(SecurityTest, MetricsDescribeTheQueue) {
  std::string url;
  ASSERT_NE(StartPlanner({}, &url), nullptr);
  ASSERT_EQ(Status("POST", url + "/api/v1/tasks", ""), 201);
  std::string metrics;
  ASSERT_EQ(Status("GET", url + "/metrics", "", &metrics), 200);
  EXPECT_NE(metrics.find("volo_queue_depth{op=\"noop\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("volo_workers 0"), std::string::npos);
  EXPECT_NE(metrics.find("volo_dispatch_latency_seconds_bucket{le=\"+Inf\"} 0"), std::string::npos);
}

TEST_F(SecurityTest, PagesOfOtherSitesCannotUseABrowserAgainstATokenlessPlanner) {
  // A planner without tokens on loopback takes any program's request, but not what a page on
  // another site (or under another name that resolves here) makes a browser send.
  std::string url;
  ASSERT_NE(StartPlanner({}, &url), nullptr);
  const std::string submit = R"({"op":"noop"})";
  auto foreign = net::HttpFetch("POST", url + "/api/v1/tasks", submit,
                                {{"Origin", "http://evil.example"}}, seconds(10));
  ASSERT_TRUE(foreign.ok()) << foreign.status().message();
  EXPECT_EQ(foreign->status, 403) << foreign->body;
  EXPECT_NE(foreign->body.find("http://evil.example"), std::string::npos) << foreign->body;
  std::string status;
  ASSERT_EQ(Status("GET", url + "/api/v1/status", "", &status), 200);
  EXPECT_NE(status.find("\"queued\":0"), std::string::npos) << status;  // nothing submitted
  // The planner's own page, and a program.
  std::string own = "http://" + url.substr(url.find("://") + 3);
  auto same = net::HttpFetch("POST", url + "/api/v1/tasks", submit, {{"Origin", own}}, seconds(10));
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->status, 201) << same->body;
  EXPECT_EQ(Status("POST", url + "/api/v1/tasks", ""), 201);
  // The dashboard's paths: no view there is a 404, a misspelt parameter a 400.
  EXPECT_EQ(Status("GET", url + "/nonexistent", ""), 404);
  std::string typo;
  EXPECT_EQ(Status("GET", url + "/api/v1/dashboard/tasks?stat=done", "", &typo), 400);
  EXPECT_NE(typo.find("unknown parameter 'stat'"), std::string::npos) << typo;
}

TEST_F(SecurityTest, UnusableDataDirectoryIsAClearError) {
  std::string file = WriteFile("not-a-dir", "x");
  CommandResult r = h_.RunVolo({"planner", "--port", "0", "--data", file}, {}, seconds(20));
  ASSERT_TRUE(r.finished);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
}

}  // namespace
}  // namespace volo::itest
