#include "cli/image_files.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace orbit::cli {
namespace fs = std::filesystem;

bool HasImageExtension(const fs::path& path) {
  static constexpr std::array<std::string_view, 6> kExtensions = {".png", ".tif",  ".tiff",
                                                                  ".jpg", ".jpeg", ".npy"};
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::find(kExtensions.begin(), kExtensions.end(), ext) != kExtensions.end();
}

Result<std::vector<fs::path>> ListImageFiles(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return NotFoundError("directory '" + dir.string() + "' does not exist");
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && HasImageExtension(entry.path())) files.push_back(entry.path());
  }
  if (ec) return UnavailableError("cannot list '" + dir.string() + "': " + ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

Result<fs::path> FindByStem(const fs::path& dir, const fs::path& image) {
  ORBIT_ASSIGN_OR_RETURN(const std::vector<fs::path> files, ListImageFiles(dir));
  std::vector<fs::path> matches;
  for (const auto& file : files) {
    if (file.stem() == image.stem()) matches.push_back(file);
  }
  if (matches.empty()) {
    return NotFoundError("no mask named '" + image.stem().string() + ".*' in '" + dir.string() +
                         "'");
  }
  if (matches.size() > 1) {
    return InvalidArgumentError("several masks named '" + image.stem().string() + ".*' in '" +
                                dir.string() + "'");
  }
  return matches.front();
}

}  // namespace orbit::cli
