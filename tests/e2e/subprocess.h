// Runs the real orbit binary for end-to-end tests and captures exit code, stdout and stderr.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/shell.h"

namespace orbit::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

using ::orbit::ShellQuote;

inline std::string OrbitBinary() { return std::string(ORBIT_BINARY_DIR) + "/orbit"; }

// `args` is appended to the orbit binary path verbatim (quote paths with ShellQuote).
inline CommandResult RunOrbit(const std::string& args) {
  const auto err_path = std::filesystem::temp_directory_path() /
                        ("orbit_e2e_stderr_" + std::to_string(::getpid()) + ".txt");
  const std::string command = OrbitBinary() + " " + args + " 2>" + ShellQuote(err_path.string());
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.out.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream err(err_path);
  std::stringstream ss;
  ss << err.rdbuf();
  result.err = ss.str();
  std::filesystem::remove(err_path);
  return result;
}

}  // namespace orbit::testing
