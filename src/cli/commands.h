// The subcommands of `orbit`. Each Register* adds its flags to the app and returns the function
// that runs it once CLI11 has parsed them; the function returns the process exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace orbit::cli {

// Exit codes shared by all subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitSomeFailed = 1;  // the command ran, but some inputs failed
inline constexpr int kExitUsage = 2;       // bad flags, or the model could not be loaded

using CommandFn = std::function<int()>;

CommandFn RegisterPredict(CLI::App& app);
CommandFn RegisterEvaluate(CLI::App& app);
CommandFn RegisterBench(CLI::App& app);
CommandFn RegisterServe(CLI::App& app);
CommandFn RegisterBatch(CLI::App& app);
CommandFn RegisterOptimize(CLI::App& app);

}  // namespace orbit::cli
