// Whole-file reads with a size cap and atomic, durable writes (temp file + fsync + rename +
// directory fsync), so neither a process killed mid-write nor a power loss right after the write
// returns leaves a half-written or missing file where a complete one is expected.
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
// Order: write a temporary file, fsync it, rename it over `path`, fsync the directory; when it
// returns Ok the new content survives a power loss (the rename is on disk, not only in the
// page cache). The temporary file is `.<name><temp_suffix>` beside `path`; an empty suffix picks
// a random one. A fixed suffix lets a caller find and delete what a killed writer left behind.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view bytes,
                       std::string_view temp_suffix = {});

// fsyncs a directory, making the renames, creations and deletions of entries in it durable. An
// empty path means the current directory.
Status SyncDirectory(const std::filesystem::path& dir);

}  // namespace orbit
