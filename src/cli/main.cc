#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{"volo: run work on a fleet of workers"};
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
