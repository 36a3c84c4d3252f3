// Content-addressed, immutable, verified storage of artifacts (model files, run outputs) on a
// local filesystem: a blob's name is the SHA-256 of its bytes, so a name can never point at other
// content and identical uploads are stored once. docs/design/store.md describes the publish
// protocol (temp file → fsync → rename → fsync directory) and why gc cannot remove a blob that is
// being uploaded.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <istream>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/sha256.h"
#include "core/status.h"

namespace orbit::store {

// The time source of the artifact store (blob ages for gc), injected so tests need not sleep.
using Clock = std::function<std::chrono::system_clock::time_point()>;

// A stored blob.
struct BlobInfo {
  std::string sha256;  // 64 lower-case hex digits
  std::uint64_t size_bytes = 0;
  bool operator==(const BlobInfo&) const = default;
};

// What GarbageCollect removed and kept.
struct GcReport {
  std::vector<std::string> removed_blobs;
  std::vector<std::filesystem::path> removed_temp_files;
  std::uint64_t bytes_freed = 0;
  std::size_t kept_referenced = 0;
  std::size_t kept_young = 0;  // unreferenced but younger than min_age: maybe being registered
};

// Streams one blob's bytes while hashing them. The last bytes of the blob are handed out only
// after the whole content matched its name, so a corrupted blob never reaches a reader complete:
// the read that would finish it returns DataLoss instead. Not thread-safe (one reader, one
// thread); several readers of the same blob are fine.
class BlobReader {
 public:
  ~BlobReader();
  BlobReader(const BlobReader&) = delete;
  BlobReader& operator=(const BlobReader&) = delete;

  // Fills the front of `buffer`; returns the count, 0 at the (verified) end, or DataLoss.
  Result<std::size_t> Read(std::span<char> buffer);
  std::uint64_t size_bytes() const { return size_; }
  const std::string& sha256() const { return sha256_; }

 private:
  friend class ArtifactStore;
  BlobReader(int fd, std::string sha256, std::uint64_t size, std::filesystem::path path);

  int fd_;
  std::string sha256_;
  std::uint64_t size_;
  std::uint64_t offset_ = 0;
  Sha256 hash_;
  std::filesystem::path path_;
};

// Blobs under <root>/sha256/ab/cdef... (first two hex digits as a fan-out directory), uploads in
// progress under <root>/tmp. Blobs are never modified in place; they are removed only by
// GarbageCollect. Thread-safe, and safe to share the root between processes (a server and
// `orbit gc`): publishing and gc exclude each other with a file lock (<root>/gc.lock).
class ArtifactStore {
 public:
  // Creates <root>/sha256 and <root>/tmp when missing. `clock` defaults to the system clock.
  static Result<std::unique_ptr<ArtifactStore>> Open(const std::filesystem::path& root,
                                                     Clock clock = {});

  // Streams `in` to a temporary file while hashing, then publishes it atomically under its
  // digest; a blob already present is kept (deduplicated) and its age reset. With
  // `expected_sha256`, content that hashes otherwise is discarded with DataLoss.
  Result<BlobInfo> Put(std::istream& in, std::string_view expected_sha256 = {});
  Result<BlobInfo> PutFile(const std::filesystem::path& file,
                           std::string_view expected_sha256 = {});
  Result<BlobInfo> PutBytes(std::string_view bytes);

  // A verifying reader. NotFound when absent, InvalidArgument for a malformed digest.
  Result<std::unique_ptr<BlobReader>> Read(std::string_view sha256) const;
  // The whole blob, verified before it is returned; ResourceExhausted above `max_bytes`.
  Result<std::string> ReadAll(std::string_view sha256,
                              std::uint64_t max_bytes = std::uint64_t{1} << 30) const;
  // Re-hashes the blob: Ok, NotFound or DataLoss (corrupt: its bytes no longer match its name).
  Status Verify(std::string_view sha256) const;
  Result<BlobInfo> Stat(std::string_view sha256) const;
  // Every blob, sorted by digest.
  Result<std::vector<BlobInfo>> List() const;

  // Removes blobs not in `referenced` and temporary files, in both cases only those last
  // modified at least `min_age` ago, so an upload in progress or a blob uploaded but not yet
  // registered survives. Returns what it removed.
  Result<GcReport> GarbageCollect(const std::set<std::string>& referenced,
                                  std::chrono::seconds min_age);

  // Where a blob lives (whether or not it exists); for tests and zero-copy serving.
  std::filesystem::path BlobPath(std::string_view sha256) const;
  const std::filesystem::path& root() const { return root_; }

 private:
  ArtifactStore(std::filesystem::path root, Clock clock);

  std::filesystem::path root_;
  Clock clock_;
};

}  // namespace orbit::store
