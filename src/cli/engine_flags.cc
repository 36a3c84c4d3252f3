#include "cli/engine_flags.h"

#include <sstream>

namespace orbit::cli {

void AddEngineFlags(CLI::App& command, EngineFlags& flags) {
  command
      .add_option("--threads", flags.intra_op_threads,
                  "Intra-op threads for ONNX Runtime (0 = one per physical core)")
      ->check(CLI::NonNegativeNumber);
  command
      .add_option("--inter-threads", flags.inter_op_threads,
                  "Inter-op threads (0 = ONNX Runtime default)")
      ->check(CLI::NonNegativeNumber);
  command
      .add_option("--provider", flags.providers,
                  "Execution providers in order of preference, comma-separated: "
                  "tensorrt, cuda, cpu")
      ->capture_default_str();
  command
      .add_option("--optimization", flags.optimization,
                  "Graph optimisation level: disabled, basic, extended, all")
      ->capture_default_str();
  command
      .add_option("--thread-spinning", flags.thread_spinning,
                  "Whether ONNX Runtime's threads busy-wait between parallel sections: on "
                  "(fastest when the model has the cores to itself) or off")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  command.add_flag("--require-provider", flags.require_provider,
                   "Fail instead of falling back when a requested provider is unavailable");
}

Result<runtime::EngineOptions> ToEngineOptions(const EngineFlags& flags) {
  runtime::EngineOptions options;
  options.intra_op_threads = flags.intra_op_threads;
  options.inter_op_threads = flags.inter_op_threads;
  options.allow_provider_fallback = !flags.require_provider;
  options.allow_spinning = flags.thread_spinning == "on";
  options.execution_providers.clear();
  std::stringstream list(flags.providers);
  for (std::string item; std::getline(list, item, ',');) {
    if (!item.empty()) options.execution_providers.push_back(item);
  }
  if (options.execution_providers.empty()) {
    return InvalidArgumentError("--provider needs at least one execution provider");
  }
  if (flags.optimization == "disabled") {
    options.optimization = runtime::GraphOptimization::kDisabled;
  } else if (flags.optimization == "basic") {
    options.optimization = runtime::GraphOptimization::kBasic;
  } else if (flags.optimization == "extended") {
    options.optimization = runtime::GraphOptimization::kExtended;
  } else if (flags.optimization == "all") {
    options.optimization = runtime::GraphOptimization::kAll;
  } else {
    return InvalidArgumentError("--optimization '" + flags.optimization +
                                "' is not one of disabled, basic, extended, all");
  }
  return options;
}

}  // namespace orbit::cli
