// One place that configures spdlog for every Orbit binary (level from flag or ORBIT_LOG_LEVEL).
#pragma once

#include <string_view>

#include "core/status.h"

namespace orbit {

// Sets the global log level ("trace", "debug", "info", "warn", "error", "off"); logs go to stderr.
Status ConfigureLogging(std::string_view level);

}  // namespace orbit
