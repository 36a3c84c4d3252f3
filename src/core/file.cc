#include "core/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>

namespace orbit {
namespace fs = std::filesystem;

Result<std::string> ReadFileBytes(const fs::path& path, std::uint64_t max_bytes) {
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::exists(status))
    return NotFoundError("file '" + path.string() + "' does not exist");
  if (fs::is_directory(status)) {
    return InvalidArgumentError("'" + path.string() + "' is a directory, expected a file");
  }
  const auto size = fs::file_size(path, ec);
  if (ec) return InternalError("file '" + path.string() + "': cannot stat: " + ec.message());
  if (size > max_bytes) {
    return ResourceExhaustedError("file '" + path.string() + "' is " + std::to_string(size) +
                                  " bytes, over the limit of " + std::to_string(max_bytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(StatusCode::kPermissionDenied,
                  "file '" + path.string() + "': cannot open: " + std::strerror(errno));
  }
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::uint64_t>(in.gcount()) != size) {
    return DataLossError("file '" + path.string() + "': short read");
  }
  return bytes;
}

Status WriteFileAtomic(const fs::path& path, std::string_view bytes, std::string_view temp_suffix) {
  std::string suffix(temp_suffix);
  if (suffix.empty()) suffix = ".tmp" + std::to_string(std::random_device{}());
  const fs::path tmp = path.parent_path() / ("." + path.filename().string() + suffix);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return UnavailableError("cannot write '" + path.string() + "': " + std::strerror(errno));
  }
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string reason = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return UnavailableError("cannot write '" + path.string() + "': " + reason);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(tmp.c_str());
    return UnavailableError("cannot flush '" + path.string() + "': " + reason);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(tmp.c_str());
    return UnavailableError("cannot publish '" + path.string() + "': " + reason);
  }
  return SyncDirectory(path.parent_path());
}

Status SyncDirectory(const fs::path& dir) {
  const fs::path target = dir.empty() ? fs::path(".") : dir;
  const int fd = ::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return UnavailableError("cannot open directory '" + target.string() +
                            "' to sync it: " + std::strerror(errno));
  }
  int rc = 0;
  do {
    rc = ::fsync(fd);
  } while (rc != 0 && errno == EINTR);
  const std::string reason = rc != 0 ? std::strerror(errno) : "";
  ::close(fd);
  if (rc != 0) {
    return UnavailableError("cannot sync directory '" + target.string() + "': " + reason);
  }
  return Status::Ok();
}

}  // namespace orbit
