// SHA-256 of bytes and files (OpenSSL), for the job spec's model hash, per-input hashes and
// per-output hashes in the journal: what lets a resume prove it is continuing the same job.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/status.h"

namespace orbit::batch {

// Lower-case hex SHA-256.
std::string Sha256Hex(std::string_view bytes);
Result<std::string> Sha256File(const std::filesystem::path& path);

}  // namespace orbit::batch
