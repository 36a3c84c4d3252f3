#include "store/artifact_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace orbit::store {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kChunk = 1 << 20;

std::string Errno() { return std::strerror(errno); }

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

Status FsyncDirectory(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) {
    return UnavailableError("cannot fsync directory '" + dir.string() + "': " + Errno());
  }
  return Status::Ok();
}

Status WriteAll(int fd, const char* data, std::size_t size, const fs::path& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return UnavailableError("cannot write '" + path.string() + "': " + Errno());
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return Status::Ok();
}

// Reads exactly `size` bytes unless the file ends first; returns how many were read.
Result<std::size_t> ReadUpTo(int fd, char* data, std::size_t size, const fs::path& path) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return UnavailableError("cannot read '" + path.string() + "': " + Errno());
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

timespec ToTimespec(std::chrono::system_clock::time_point t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch());
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns.count() / 1000000000);
  ts.tv_nsec = static_cast<long>(ns.count() % 1000000000);
  return ts;
}

std::chrono::system_clock::time_point ModifiedAt(const struct stat& st) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

Status CheckDigest(std::string_view sha256) {
  if (IsSha256Hex(sha256)) return Status::Ok();
  return InvalidArgumentError("blob name '" + std::string(sha256) +
                              "' is not a sha256 digest (64 lower-case hex digits)");
}

// An flock on <root>/gc.lock: shared while publishing, exclusive while collecting garbage.
class GcLock {
 public:
  static Result<GcLock> Take(const fs::path& root, bool exclusive) {
    const fs::path path = root / "gc.lock";
    Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (fd.get() < 0) return UnavailableError("cannot open '" + path.string() + "': " + Errno());
    while (::flock(fd.get(), exclusive ? LOCK_EX : LOCK_SH) != 0) {
      if (errno != EINTR)
        return UnavailableError("cannot lock '" + path.string() + "': " + Errno());
    }
    return GcLock(fd.Release());
  }
  GcLock(GcLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  ~GcLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
  }

 private:
  explicit GcLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace

// ---- BlobReader ----

BlobReader::BlobReader(int fd, std::string sha256, std::uint64_t size, fs::path path)
    : fd_(fd), sha256_(std::move(sha256)), size_(size), path_(std::move(path)) {}

BlobReader::~BlobReader() { ::close(fd_); }

Result<std::size_t> BlobReader::Read(std::span<char> buffer) {
  if (offset_ == size_) return std::size_t{0};
  const std::size_t want =
      static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), size_ - offset_));
  if (want == 0) return std::size_t{0};
  ORBIT_ASSIGN_OR_RETURN(std::size_t got, ReadUpTo(fd_, buffer.data(), want, path_));
  hash_.Update(std::string_view(buffer.data(), got));
  offset_ += got;
  if (got < want) {
    return DataLossError("blob " + sha256_ + " is corrupt: '" + path_.string() +
                         "' ended early; not served");
  }
  if (offset_ == size_) {
    char extra;  // content appended after open would also be corruption
    ORBIT_ASSIGN_OR_RETURN(std::size_t more, ReadUpTo(fd_, &extra, 1, path_));
    const std::string actual = hash_.HexDigest();
    if (more != 0 || actual != sha256_) {
      return DataLossError("blob " + sha256_ + " is corrupt: '" + path_.string() + "' hashes to " +
                           actual + "; not served");
    }
  }
  return got;
}

// ---- ArtifactStore ----

ArtifactStore::ArtifactStore(fs::path root, Clock clock)
    : root_(std::move(root)), clock_(std::move(clock)) {}

Result<std::unique_ptr<ArtifactStore>> ArtifactStore::Open(const fs::path& root, Clock clock) {
  std::error_code ec;
  for (const fs::path& dir : {root / "sha256", root / "tmp"}) {
    fs::create_directories(dir, ec);
    if (ec) {
      return UnavailableError("artifact store '" + root.string() + "': cannot create '" +
                              dir.string() + "': " + ec.message());
    }
  }
  if (!clock) clock = [] { return std::chrono::system_clock::now(); };
  return std::unique_ptr<ArtifactStore>(new ArtifactStore(root, std::move(clock)));
}

fs::path ArtifactStore::BlobPath(std::string_view sha256) const {
  const std::string s(sha256);
  if (s.size() < 3) return root_ / "sha256" / s;
  return root_ / "sha256" / s.substr(0, 2) / s.substr(2);
}

Result<BlobInfo> ArtifactStore::Put(std::istream& in, std::string_view expected_sha256) {
  if (!expected_sha256.empty()) ORBIT_RETURN_IF_ERROR(CheckDigest(expected_sha256));
  std::random_device rd;
  char name[48];
  std::snprintf(name, sizeof name, "upload-%d-%08x%08x.part", static_cast<int>(::getpid()), rd(),
                rd());
  const fs::path temp = root_ / "tmp" / name;
  Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return UnavailableError("cannot create '" + temp.string() + "': " + Errno());
  // Until published, any failure removes the temp file (a crash leaves it for gc).
  struct RemoveUnlessPublished {
    const fs::path& path;
    bool published = false;
    ~RemoveUnlessPublished() {
      if (!published) ::unlink(path.c_str());
    }
  } cleanup{temp};

  Sha256 hash;
  std::uint64_t size = 0;
  std::vector<char> buffer(kChunk);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    if (n == 0) break;
    hash.Update(std::string_view(buffer.data(), n));
    ORBIT_RETURN_IF_ERROR(WriteAll(fd.get(), buffer.data(), n, temp));
    size += n;
  }
  if (in.bad()) return UnavailableError("upload to '" + temp.string() + "': input stream failed");
  const std::string digest = hash.HexDigest();
  if (!expected_sha256.empty() && digest != expected_sha256) {
    return DataLossError("upload of " + std::to_string(size) + " bytes hashes to " + digest +
                         ", expected " + std::string(expected_sha256) + "; discarded");
  }
  // Read-only and dated by our clock before it becomes visible; durable before the rename.
  const timespec now = ToTimespec(clock_());
  const timespec times[2] = {now, now};
  if (::fchmod(fd.get(), 0444) != 0 || ::futimens(fd.get(), times) != 0 || ::fsync(fd.get()) != 0) {
    return UnavailableError("cannot flush '" + temp.string() + "': " + Errno());
  }
  fd.Reset();

  ORBIT_ASSIGN_OR_RETURN(GcLock lock, GcLock::Take(root_, /*exclusive=*/false));
  const fs::path target = BlobPath(digest);
  const fs::path dir = target.parent_path();
  if (::mkdir(dir.c_str(), 0755) == 0) {
    ORBIT_RETURN_IF_ERROR(FsyncDirectory(dir.parent_path()));
  } else if (errno != EEXIST) {
    return UnavailableError("cannot create '" + dir.string() + "': " + Errno());
  }
  if (::access(target.c_str(), F_OK) == 0) {
    // Already stored. Keep it when intact, now younger than any gc min_age; a corrupted copy is
    // replaced by this upload below.
    if (Verify(digest).ok() && ::utimensat(AT_FDCWD, target.c_str(), times, 0) == 0) {
      return BlobInfo{digest, size};
    }
  }
  if (::rename(temp.c_str(), target.c_str()) != 0) {
    return UnavailableError("cannot publish '" + target.string() + "': " + Errno());
  }
  cleanup.published = true;
  ORBIT_RETURN_IF_ERROR(FsyncDirectory(dir));
  return BlobInfo{digest, size};
}

Result<BlobInfo> ArtifactStore::PutFile(const fs::path& file, std::string_view expected_sha256) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return NotFoundError("file '" + file.string() + "' cannot be read: " + Errno());
  return Put(in, expected_sha256);
}

Result<BlobInfo> ArtifactStore::PutBytes(std::string_view bytes) {
  std::istringstream in{std::string(bytes)};
  return Put(in);
}

Result<std::unique_ptr<BlobReader>> ArtifactStore::Read(std::string_view sha256) const {
  ORBIT_RETURN_IF_ERROR(CheckDigest(sha256));
  const fs::path path = BlobPath(sha256);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return NotFoundError("blob " + std::string(sha256) + " does not exist");
    return UnavailableError("cannot open '" + path.string() + "': " + Errno());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return UnavailableError("cannot stat '" + path.string() + "': " + Errno());
  }
  return std::unique_ptr<BlobReader>(new BlobReader(fd.Release(), std::string(sha256),
                                                    static_cast<std::uint64_t>(st.st_size), path));
}

Result<std::string> ArtifactStore::ReadAll(std::string_view sha256, std::uint64_t max_bytes) const {
  ORBIT_ASSIGN_OR_RETURN(std::unique_ptr<BlobReader> reader, Read(sha256));
  if (reader->size_bytes() > max_bytes) {
    return ResourceExhaustedError("blob " + std::string(sha256) + " is " +
                                  std::to_string(reader->size_bytes()) +
                                  " bytes, over the limit of " + std::to_string(max_bytes));
  }
  std::string bytes(reader->size_bytes(), '\0');
  std::size_t at = 0;
  while (true) {
    ORBIT_ASSIGN_OR_RETURN(std::size_t n,
                           reader->Read(std::span<char>(bytes.data() + at, bytes.size() - at)));
    if (n == 0) break;
    at += n;
  }
  return bytes;
}

Status ArtifactStore::Verify(std::string_view sha256) const {
  ORBIT_ASSIGN_OR_RETURN(std::unique_ptr<BlobReader> reader, Read(sha256));
  std::vector<char> buffer(kChunk);
  while (true) {
    ORBIT_ASSIGN_OR_RETURN(std::size_t n, reader->Read(buffer));
    if (n == 0) return Status::Ok();
  }
}

Result<BlobInfo> ArtifactStore::Stat(std::string_view sha256) const {
  ORBIT_RETURN_IF_ERROR(CheckDigest(sha256));
  struct stat st {};
  if (::stat(BlobPath(sha256).c_str(), &st) != 0) {
    if (errno == ENOENT) return NotFoundError("blob " + std::string(sha256) + " does not exist");
    return UnavailableError("cannot stat blob " + std::string(sha256) + ": " + Errno());
  }
  return BlobInfo{std::string(sha256), static_cast<std::uint64_t>(st.st_size)};
}

Result<std::vector<BlobInfo>> ArtifactStore::List() const {
  std::vector<BlobInfo> blobs;
  std::error_code ec;
  for (const fs::directory_entry& fan : fs::directory_iterator(root_ / "sha256", ec)) {
    if (!fan.is_directory()) continue;
    for (const fs::directory_entry& file : fs::directory_iterator(fan.path(), ec)) {
      const std::string digest = fan.path().filename().string() + file.path().filename().string();
      if (!IsSha256Hex(digest) || !file.is_regular_file()) continue;
      std::error_code size_ec;
      const auto size = file.file_size(size_ec);
      if (size_ec) continue;  // removed meanwhile
      blobs.push_back({digest, size});
    }
    if (ec) break;
  }
  if (ec) {
    return UnavailableError("artifact store '" + root_.string() +
                            "': cannot list: " + ec.message());
  }
  std::sort(blobs.begin(), blobs.end(),
            [](const BlobInfo& a, const BlobInfo& b) { return a.sha256 < b.sha256; });
  return blobs;
}

Result<GcReport> ArtifactStore::GarbageCollect(const std::set<std::string>& referenced,
                                               std::chrono::seconds min_age) {
  ORBIT_ASSIGN_OR_RETURN(GcLock lock, GcLock::Take(root_, /*exclusive=*/true));
  const auto now = clock_();
  auto is_old = [&](const fs::path& path, std::uint64_t* size) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return false;
    *size = static_cast<std::uint64_t>(st.st_size);
    return now - ModifiedAt(st) >= min_age;
  };
  GcReport report;
  ORBIT_ASSIGN_OR_RETURN(std::vector<BlobInfo> blobs, List());
  for (const BlobInfo& blob : blobs) {
    if (referenced.count(blob.sha256) != 0) {
      ++report.kept_referenced;
      continue;
    }
    const fs::path path = BlobPath(blob.sha256);
    std::uint64_t size = 0;
    if (!is_old(path, &size)) {
      ++report.kept_young;
      continue;
    }
    if (::unlink(path.c_str()) != 0) {
      if (errno == ENOENT) continue;
      return UnavailableError("gc: cannot remove '" + path.string() + "': " + Errno());
    }
    report.removed_blobs.push_back(blob.sha256);
    report.bytes_freed += size;
  }
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(root_ / "tmp", ec)) {
    std::uint64_t size = 0;
    if (!entry.is_regular_file() || !is_old(entry.path(), &size)) continue;
    if (::unlink(entry.path().c_str()) == 0) {
      report.removed_temp_files.push_back(entry.path());
      report.bytes_freed += size;
    }
  }
  if (ec)
    return UnavailableError("gc: cannot list '" + (root_ / "tmp").string() + "': " + ec.message());
  return report;
}

}  // namespace orbit::store
