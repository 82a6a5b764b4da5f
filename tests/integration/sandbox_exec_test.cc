// Bundles and the sandbox on real workers: a bundle crosses to a worker once, a sandboxed command
// sees its bundle and nothing of the worker (files, token, environment, network), bad bundles
// get clear errors, and a warm sandbox (zygote) killed under a task fails it cleanly.

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "common/sha256.h"
#include "harness.h"
#include "net/client.h"

namespace volo::itest {
namespace {

namespace fs = std::filesystem;

class SandboxExecTest : public VoloTest {
 protected:
  void SetUp() override {
    api_file_ = TempPath("api-token");
    join_file_ = TempPath("join-token");
    std::ofstream(api_file_) << "api-secret-5151\n";
    std::ofstream(join_file_) << "join-secret-5252\n";
    // Only the join token: the harness watches the fleet through the API without one.
    planner_ = StartPlanner({"--join-token-file", join_file_});
  }
  // A sandboxed exec worker (the default sandbox), its /status port returned.
  uint16_t StartSandboxedWorker(const std::string& id) {
    const std::string port_file = TempPath("port-" + id);
    worker_ = StartWorker(
        planner_,
        {.id = id,
         .args = {"--ops", "exec", "--work-dir", TempPath("work-" + id), "--join-token-file",
                  join_file_, "--port", "0", "--port-file", port_file},
         .env = {{"VOLO_TOKEN", "api-secret-5151"}, {"WORKER_ONLY_SECRET", "do-not-leak"}}});
    if (!worker_) return 0;
    return h_.ReadPortFile(port_file, *worker_).value_or(0);
  }
  std::string PushProject() {
    const std::string dir = TempPath("project");
    fs::create_directories(dir + "/bin");
    std::ofstream(dir + "/bin/hello.sh") << "echo \"hello from $(basename $(dirname $0))\"\n";
    std::ofstream(dir + "/data.txt") << "bundle data\n";
    CommandResult r =
        h_.RunVolo({"bundle", "push", dir, "--planner", planner_.url, "--token-file", api_file_});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string id = r.out.substr(0, 64);
    return id;
  }
  Reply Api(const std::string& method, const std::string& path, const std::string& body = "") {
    net::Headers h{{"Authorization", "Bearer api-secret-5151"}};
    if (!body.empty()) h.emplace_back("Content-Type", "application/json");
    auto r = net::HttpFetch(method, planner_.Api(path), body, h);
    Reply reply;
    if (!r.ok()) return reply;
    reply.status = r->status;
    reply.body = r->body;
    reply.json = ParseJson(reply.body);
    return reply;
  }
  uint64_t SubmitShell(const std::string& line, const json::object& extra = {}) {
    json::object args{{"shell", line}};
    for (const auto& [k, v] : extra) args[k] = v;
    Reply r = Api("POST", "/tasks", json::serialize(json::object{{"op", "exec"}, {"args", args}}));
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? static_cast<uint64_t>(NumAt(r.obj(), "id")) : 0;
  }
  json::object WaitTask(uint64_t id) {
    json::object t;
    EXPECT_TRUE(PollUntil(
        [&] {
          Reply r = Api("GET", "/tasks/" + std::to_string(id) + "/wait?timeout=5");
          if (r.status != 200) return false;
          t = r.obj();
          std::string s = Str(t, "state");
          return s == "done" || s == "failed" || s == "cancelled";
        },
        seconds(60)))
        << "task " << id << " did not finish: " << json::serialize(t);
    return t;
  }

  std::string api_file_, join_file_;
  PlannerProc planner_;
  Child* worker_ = nullptr;
};

TEST_F(SandboxExecTest, ABundleCrossesOnce) {
  ASSERT_NE(planner_.port, 0);
  const uint16_t port = StartSandboxedWorker("b1");
  ASSERT_NE(port, 0);
  const std::string id = PushProject();
  ASSERT_EQ(id.size(), 64u);
  for (int i = 0; i < 2; ++i) {
    json::object t = WaitTask(
        SubmitShell("sh \"$VOLO_BUNDLE_DIR/bin/hello.sh\"; cat \"$VOLO_BUNDLE_DIR/data.txt\"; "
                    "touch \"$VOLO_BUNDLE_DIR/new\" 2>/dev/null || echo read-only",
                    {{"bundle", id}}));
    ASSERT_EQ(Str(t, "state"), "done") << json::serialize(t);
    EXPECT_EQ(Str(t.at("result").as_object(), "stdout"),
              "hello from bin\nbundle data\nread-only\n");
  }
  Reply status = Get("http://127.0.0.1:" + std::to_string(port) + "/status");
  ASSERT_EQ(status.status, 200) << status.Describe();
  const json::object& b = status.obj().at("bundles").as_object();
  EXPECT_EQ(NumAt(b, "fetches"), 1) << status.body;  // the second task transferred nothing
  EXPECT_EQ(NumAt(b, "hits"), 1) << status.body;
  EXPECT_EQ(Str(status.obj().at("exec").as_object(), "sandbox"), "bwrap") << status.body;
}

TEST_F(SandboxExecTest, ASandboxedCommandSeesNothingOfTheWorker) {
  ASSERT_NE(planner_.port, 0);
  ASSERT_NE(StartSandboxedWorker("s1"), 0);
  const std::string outside = TempPath("outside-file");
  std::ofstream(outside) << "outside\n";
  const std::string script = "cat " + join_file_ +
                             " 2>/dev/null && echo token-read || echo token-hidden; "
                             "cat " +
                             outside +
                             " 2>/dev/null && echo file-read || echo file-hidden; "
                             "echo x > " +
                             TempPath("written") +
                             " 2>/dev/null; "
                             "env | grep -c -e WORKER_ONLY_SECRET -e VOLO_TOKEN -e join-secret; "
                             "/usr/bin/bash -c 'echo > /dev/tcp/127.0.0.1/" +
                             std::to_string(planner_.port) +
                             "' 2>/dev/null && echo planner-reached || echo no-network; "
                             "echo mine > \"$VOLO_TASK_DIR/out\" && echo own-dir-ok";
  json::object t = WaitTask(SubmitShell(script));
  ASSERT_EQ(Str(t, "state"), "done") << json::serialize(t);
  EXPECT_EQ(Str(t.at("result").as_object(), "stdout"),
            "token-hidden\nfile-hidden\n0\nno-network\nown-dir-ok\n");
  EXPECT_FALSE(fs::exists(TempPath("written")));
  // A task may ask for the network.
  json::object net =
      WaitTask(SubmitShell("/usr/bin/bash -c 'echo > /dev/tcp/127.0.0.1/" +
                               std::to_string(planner_.port) + "' && echo planner-reached",
                           {{"network", true}}));
  EXPECT_EQ(Str(net.at("result").as_object(), "stdout"), "planner-reached\n")
      << json::serialize(net);
}

pid_t ParentOf(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("PPid:", 0) == 0) return static_cast<pid_t>(std::atol(line.c_str() + 5));
  }
  return 0;
}

// The pids of processes descended from `root` whose command line starts with `prefix`.
std::vector<pid_t> DescendantsNamed(pid_t root, const std::string& prefix) {
  auto parent = ParentOf;
  std::vector<pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream f("/proc/" + name + "/cmdline");
    std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (cmd.rfind(prefix, 0) != 0) continue;
    pid_t pid = static_cast<pid_t>(std::atol(name.c_str()));
    for (pid_t p = parent(pid); p > 1; p = parent(p)) {
      if (p == root) {
        out.push_back(pid);
        break;
      }
    }
  }
  return out;
}

TEST_F(SandboxExecTest, AZygoteKilledMidTaskFailsItCleanlyAndTheNextTaskGetsANewOne) {
  ASSERT_NE(planner_.port, 0);
  const uint16_t port = StartSandboxedWorker("z1");
  ASSERT_NE(port, 0);
  json::object warm = WaitTask(SubmitShell("echo warm"));
  ASSERT_EQ(Str(warm, "state"), "done") << json::serialize(warm);
  const uint64_t id = SubmitShell("sleep 1000 & echo started; wait", {{"timeout", 600}});
  ASSERT_TRUE(PollUntil(
      [&] {
        return Api("GET", "/tasks/" + std::to_string(id) + "/logs").body.find("started") !=
               std::string::npos;
      },
      seconds(60)));
  // The zygote and the task's init (forked from it) run the same program: the zygote is the
  // one whose parent is not.
  std::vector<pid_t> inits = DescendantsNamed(worker_->pid, "/run/volo/zygote");
  std::erase_if(inits, [&](pid_t p) {
    return std::find(inits.begin(), inits.end(), ParentOf(p)) != inits.end();
  });
  ASSERT_EQ(inits.size(), 1u);
  ASSERT_EQ(::kill(inits[0], SIGKILL), 0);
  json::object t = WaitTask(id);
  EXPECT_EQ(Str(t, "state"), "failed") << json::serialize(t);
  EXPECT_NE(Str(t, "error").find("zygote"), std::string::npos) << json::serialize(t);
  EXPECT_TRUE(DescendantsNamed(worker_->pid, "sleep").empty());
  EXPECT_TRUE(DescendantsNamed(worker_->pid, "/run/volo/zygote").empty());
  json::object again = WaitTask(SubmitShell("echo again"));
  ASSERT_EQ(Str(again, "state"), "done") << json::serialize(again);
  EXPECT_EQ(Str(again.at("result").as_object(), "stdout"), "again\n");
  Reply status = Get("http://127.0.0.1:" + std::to_string(port) + "/status");
  ASSERT_EQ(status.status, 200) << status.Describe();
  const json::object& z = status.obj().at("exec").as_object().at("zygotes").as_object();
  EXPECT_EQ(NumAt(z, "started"), 2) << status.body;
  EXPECT_EQ(NumAt(z, "cold_starts"), 0) << status.body;
  EXPECT_EQ(NumAt(z, "warm_starts"), 3) << status.body;
}

// Processes anywhere on the machine whose command line contains `needle`.
int CountProcessesWith(const std::string& needle) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream f("/proc/" + name + "/cmdline");
    std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (cmd.find(needle) != std::string::npos) ++n;
  }
  return n;
}

TEST_F(SandboxExecTest, AKilledWorkerLeavesNoSandboxOrCommandBehind) {
  ASSERT_NE(planner_.port, 0);
  ASSERT_NE(StartSandboxedWorker("k1"), 0);
  // A duration no other process on the machine has.
  const std::string marker = std::string("4242.") + std::to_string(::getpid() % 1000);
  const uint64_t id = SubmitShell("sleep " + marker + " & echo started; wait", {{"timeout", 600}});
  ASSERT_TRUE(PollUntil(
      [&] {
        return Api("GET", "/tasks/" + std::to_string(id) + "/logs").body.find("started") !=
               std::string::npos;
      },
      seconds(60)));
  const std::string work_dir = TempPath("work-k1");
  ASSERT_GE(CountProcessesWith(marker), 1);
  ASSERT_GE(CountProcessesWith(work_dir), 1);  // the zygote's bwrap names the work directory
  h_.Kill(*worker_);
  // The zygote sees its control socket close and ends, and its sandbox with everything in it.
  EXPECT_TRUE(PollUntil([&] { return CountProcessesWith(marker) == 0; }, seconds(30)));
  EXPECT_TRUE(PollUntil([&] { return CountProcessesWith(work_dir) == 0; }, seconds(30)));
}

TEST_F(SandboxExecTest, ABadArchiveIsRefusedWithAClearError) {
  ASSERT_NE(planner_.port, 0);
  ASSERT_NE(StartSandboxedWorker("x1"), 0);
  const std::string junk(5000, 'j');
  const std::string id = Sha256Hex(junk);
  ASSERT_EQ(Api("PUT", "/bundles/" + id, junk).status, 200);
  json::object t = WaitTask(SubmitShell("true", {{"bundle", id}}));
  EXPECT_EQ(Str(t, "state"), "failed");
  EXPECT_NE(Str(t, "error").find("not a bundle archive"), std::string::npos) << json::serialize(t);
}

TEST_F(SandboxExecTest, WithoutASandboxExecNeedsSandboxNone) {
  ASSERT_NE(planner_.port, 0);
  Child* w =
      StartWorker(planner_, {.id = "plain",
                             .args = {"--ops", "exec", "--sandbox", "none", "--work-dir",
                                      TempPath("work-plain"), "--join-token-file", join_file_}});
  ASSERT_NE(w, nullptr);
  json::object t = WaitTask(SubmitShell("cat " + join_file_));
  EXPECT_EQ(Str(t, "state"), "done") << json::serialize(t);  // unsandboxed: the user's choice
  std::ifstream log(w->log_path);
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("without a sandbox"), std::string::npos) << text;
}

}  // namespace
}  // namespace volo::itest
