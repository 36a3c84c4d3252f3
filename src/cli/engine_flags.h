// Flags every model-running subcommand shares (threads, execution providers, optimisation level),
// turned into runtime::EngineOptions in one place.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "core/status.h"
#include "runtime/engine.h"

namespace orbit::cli {

struct EngineFlags {
  int intra_op_threads = 0;
  int inter_op_threads = 0;
  std::string providers = "cpu";
  std::string optimization = "all";
  bool require_provider = false;
  std::string thread_spinning = "on";
};

void AddEngineFlags(CLI::App& command, EngineFlags& flags);
Result<runtime::EngineOptions> ToEngineOptions(const EngineFlags& flags);

}  // namespace orbit::cli
