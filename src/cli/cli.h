// The `orbit` command line: parses flags and dispatches to subcommands (predict, evaluate, bench).
#pragma once

namespace orbit::cli {

// Entry point of the orbit binary; returns the process exit code.
int RunOrbit(int argc, char** argv);

}  // namespace orbit::cli
