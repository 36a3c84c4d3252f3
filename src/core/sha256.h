// SHA-256 (OpenSSL), the one content hash of the code base: batch job specs and journals, the
// content-addressed artifact store and migration checksums all use it.
#pragma once

#include <array>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace orbit {

// Incremental SHA-256 for data that arrives in pieces (streamed uploads, verified reads), so a
// large blob is hashed without holding it in memory. Not thread-safe; movable, not copyable.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(std::string_view bytes);
  // Lower-case hex digest of everything passed to Update; the hasher is reset afterwards.
  std::string HexDigest();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

// Lower-case hex SHA-256.
std::string Sha256Hex(std::string_view bytes);
Result<std::string> Sha256File(const std::filesystem::path& path);

// True for 64 lower-case hex digits: what Sha256Hex returns.
bool IsSha256Hex(std::string_view s);

}  // namespace orbit
