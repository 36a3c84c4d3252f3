// Quoting for the few places that build a shell command line (sbatch scripts, test harnesses), so
// that paths with spaces or quotes reach the program as one argument.
#pragma once

#include <string>
#include <string_view>

namespace orbit {

// `s` in single quotes, with each ' written as '\'' : safe for sh, bash and sbatch scripts.
std::string ShellQuote(std::string_view s);

}  // namespace orbit
