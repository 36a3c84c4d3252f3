#include "cli/cli.h"

#include <iostream>
#include <map>

#include "cli/commands.h"
#include "core/logging.h"
#include "runtime/engine.h"

namespace orbit::cli {

int RunOrbit(int argc, char** argv) {
  CLI::App app{"Orbit: package, check, run and serve image-segmentation models", "orbit"};
  app.require_subcommand(1);
  app.set_version_flag("--version",
                       "orbit 0.1.0 (ONNX Runtime " + runtime::OnnxRuntimeVersion() + ")");
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->envname("ORBIT_LOG_LEVEL")
      ->capture_default_str();

  std::map<CLI::App*, CommandFn> commands;
  auto add = [&](const char* name, const char* help, CommandFn (*reg)(CLI::App&)) {
    CLI::App* sub = app.add_subcommand(name, help);
    commands[sub] = reg(*sub);
  };
  add("predict", "Segment images: label PNG, overlay PNG and JSON per image", &RegisterPredict);
  add("evaluate", "Score a model against ground-truth instance masks", &RegisterEvaluate);
  add("bench", "Measure latency and throughput of model and full pipeline", &RegisterBench);
  add("serve", "Serve a model repository over KServe v2 HTTP with dynamic batching and metrics",
      &RegisterServe);
  add("batch", "Resumable, exactly-once batch inference over many images (local or Slurm)",
      &RegisterBatch);
  add("optimize", "Write FP32-optimised, FP16 and INT8 variants of a model, measured and gated",
      &RegisterOptimize);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (Status s = ConfigureLogging(log_level); !s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return kExitUsage;
  }
  for (auto& [sub, run] : commands) {
    if (sub->parsed()) return run();
  }
  return kExitUsage;
}

}  // namespace orbit::cli
