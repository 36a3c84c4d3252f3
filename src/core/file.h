// Whole-file reads with a size cap and atomic writes (temp file + fsync + rename), so a process
// killed mid-write never leaves a half-written output where a complete one is expected.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace orbit {

// Reads a whole file. Refuses files larger than `max_bytes` before reading them.
Result<std::string> ReadFileBytes(const std::filesystem::path& path,
                                  std::uint64_t max_bytes = std::uint64_t{1} << 32);

// Writes `bytes` to `path` atomically: readers see either the old file or the complete new one.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view bytes);

}  // namespace orbit
