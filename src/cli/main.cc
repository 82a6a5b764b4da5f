// volo: one binary, many subcommands. Each group registers itself (commands.h).
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "net/client.h"
#include "worker/fly_runner.h"

int main(int argc, char** argv) {
  // A worker's fly runner (src/worker/fly_runner.h): not a user command, so not in --help.
  if (argc >= 2 && argv[1] == volo::worker::kFlyRunnerCommand) {
    return volo::worker::FlyRunnerMain(argc, argv);
  }
  CLI::App app{
      "volo runs work on a fleet of workers: a planner holds tasks, workers run them.\n"
      "Docs: README.md, docs/rest-api.md, docs/protocol.md, docs/fly.md, docs/security.md"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "volo 0.1.0");
  int exit_code = 0;

  // TLS trust for every client in this process (workers, CLI commands, cluster runs).
  volo::net::TlsClientOptions tls;
  if (const char* ca = std::getenv("VOLO_CA_FILE"); ca && *ca) tls.ca_file = ca;
  app.add_option("--ca-file", tls.ca_file,
                 "PEM certificate(s) to trust for https:// and wss:// planners, besides the "
                 "system's (env VOLO_CA_FILE); goes before the subcommand");
  app.add_flag("--insecure-skip-verify", tls.insecure_skip_verify,
               "Do not verify planners' TLS certificates (testing only)");
  app.parse_complete_callback([&] {
    if (tls.ca_file.empty() && !tls.insecure_skip_verify) return;
    volo::Status s = volo::net::SetDefaultTlsClientOptions(tls);
    if (!s.ok()) throw CLI::ValidationError("--ca-file", s.message());
  });

  volo::cli::AddFleetCommands(app, &exit_code);
  volo::cli::AddFlyCommands(app, &exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
