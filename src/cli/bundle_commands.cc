// `volo bundle push DIR`, `volo bundle ls`, `volo bundle rm ID`: a user's code and data, packed
// deterministically and stored on the planner by content (planner/bundle_store.h); workers
// fetch and cache them (worker/bundle_cache.h).
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "api/views.h"
#include "cli/api.h"
#include "cli/commands.h"
#include "common/sha256.h"
#include "net/client.h"
#include "worker/bundle_archive.h"

namespace volo::cli {
namespace json = boost::json;

namespace {

// "512 B", "3.4 KiB", "100.0 MiB".
std::string Size(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  }
  return buf;
}

std::optional<api::BundleListView> ListBundles(const std::string& planner, int* exit_code) {
  auto r = Call(planner, "GET", "/api/v1/bundles", "", exit_code);
  if (!r) return std::nullopt;
  auto list = api::ParseBundleList(*r);
  if (!list.ok()) {
    std::cerr << "volo: unexpected answer from the planner: " << list.status().message() << "\n";
    *exit_code = 1;
    return std::nullopt;
  }
  return std::move(list).value();
}

}  // namespace

std::string PushBundle(const std::string& planner, const std::string& dir, int* exit_code) {
  auto archive = worker::PackBundle(dir);
  if (!archive.ok()) {
    std::cerr << "volo: cannot pack " << dir << ": " << archive.status().message() << "\n";
    *exit_code = 1;
    return "";
  }
  std::string id = Sha256Hex(*archive);
  net::Headers headers;
  if (std::string token = ApiToken(); !token.empty()) {
    headers.emplace_back("Authorization", "Bearer " + token);
  }
  auto head = net::HttpFetch("HEAD", planner + "/api/v1/bundles/" + id, "", headers);
  if (head.ok() && head->status == 200) {
    std::cerr << "volo: bundle " << id.substr(0, 12) << " (" << Size(archive->size())
              << ") is already on the planner\n";
    return id;
  }
  if (head.ok() && head->status != 404 && head->status != 401) {
    std::cerr << "volo: the planner answered HTTP " << head->status << " to HEAD "
              << "/api/v1/bundles/" << id << "\n";
    *exit_code = 1;
    return "";
  }
  // A failure to reach the planner or a refused token is reported by Call, in the usual words.
  size_t bytes = archive->size();
  auto put =
      Call(planner, "PUT", "/api/v1/bundles/" + id, std::move(archive).value(), exit_code, 600);
  if (!put) return "";
  std::cerr << "volo: bundle " << id.substr(0, 12) << " uploaded (" << Size(bytes) << ")\n";
  return id;
}

void AddBundleCommands(CLI::App& app, int* exit_code) {
  auto* b = app.add_subcommand(
      "bundle", "Code and data shipped to workers once and cached by content (volo bundle --help)");
  b->require_subcommand(1);
  auto planner = std::make_shared<std::string>(DefaultPlanner());

  auto* push = b->add_subcommand(
      "push",
      "Pack DIR (sorted entries, fixed times, owners and modes), name it by its SHA-256 and "
      "upload it unless the planner has it; prints the id. Tasks name it with args.bundle "
      "(or volo submit --bundle DIR).");
  auto dir = std::make_shared<std::string>();
  push->add_option("dir", *dir, "The directory to pack")->required()->check(CLI::ExistingDirectory);
  AddPlannerFlags(*push, planner.get());
  push->callback([=] {
    std::string id = PushBundle(*planner, *dir, exit_code);
    if (!id.empty()) std::cout << id << "\n";
  });

  auto* ls = b->add_subcommand("ls", "List the bundles the planner holds");
  auto as_json = std::make_shared<bool>(false);
  ls->add_flag("--json", *as_json, "Print the planner's JSON answer");
  AddPlannerFlags(*ls, planner.get());
  ls->callback([=] {
    auto list = ListBundles(*planner, exit_code);
    if (!list) return;
    if (*as_json) {
      std::cout << PlainJson(api::ToValue(*list)) << "\n";
      return;
    }
    std::vector<std::vector<std::string>> rows{{"ID", "SIZE", "CREATED", "TASKS"}};
    for (const auto& v : list->bundles) {
      rows.push_back(
          {v.id, Size(v.bytes), Timestamp(json::value(v.created)), std::to_string(v.tasks)});
    }
    std::cout << Table(rows);
    std::cout << list->bundles.size() << " bundle(s), " << Size(list->bytes) << " of "
              << Size(list->max_bytes) << "\n";
  });

  auto* rm = b->add_subcommand("rm", "Remove bundles from the planner (by id or unique prefix)");
  auto ids = std::make_shared<std::vector<std::string>>();
  rm->add_option("ids", *ids, "Bundle ids, or prefixes of them")->required();
  AddPlannerFlags(*rm, planner.get());
  rm->callback([=] {
    std::optional<api::BundleListView> list;
    for (const std::string& given : *ids) {
      std::string id = given;
      if (id.size() != 64) {
        if (!list) list = ListBundles(*planner, exit_code);
        if (!list) return;
        std::vector<std::string> matches;
        for (const auto& v : list->bundles) {
          if (!given.empty() && v.id.rfind(given, 0) == 0) matches.push_back(v.id);
        }
        if (matches.size() != 1) {
          std::cerr << "volo: " << (matches.empty() ? "no bundle" : "more than one bundle")
                    << " starts with '" << given << "'\n";
          *exit_code = 1;
          continue;
        }
        id = matches[0];
      }
      if (Call(*planner, "DELETE", "/api/v1/bundles/" + id, "", exit_code)) {
        std::cout << id << " removed\n";
      }
    }
  });
}

}  // namespace volo::cli
