// Finding image files on disk for the CLI: the extensions Orbit decodes and the stem-based
// pairing of images with their ground-truth masks.
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

#include "core/status.h"

namespace orbit::cli {

bool HasImageExtension(const std::filesystem::path& path);
// Image files directly inside `dir`, sorted by name.
Result<std::vector<std::filesystem::path>> ListImageFiles(const std::filesystem::path& dir);
// The file in `dir` with the same stem as `image` and an image extension, if exactly one exists.
Result<std::filesystem::path> FindByStem(const std::filesystem::path& dir,
                                         const std::filesystem::path& image);

}  // namespace orbit::cli
