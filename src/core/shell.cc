#include "core/shell.h"

namespace orbit {

std::string ShellQuote(std::string_view s) {
  std::string quoted = "'";
  for (const char c : s) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

}  // namespace orbit
