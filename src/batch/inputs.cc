#include "batch/inputs.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iomanip>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "vision/image_io.h"

namespace orbit::batch {
namespace fs = std::filesystem;

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsImageFile(const fs::path& path) {
  static const std::set<std::string> kExtensions = {".png", ".jpg",  ".jpeg",
                                                    ".tif", ".tiff", ".npy"};
  return kExtensions.count(Lower(path.extension().string())) > 0;
}

bool IsNpy(const fs::path& path) { return Lower(path.extension().string()) == ".npy"; }

fs::path Absolute(const fs::path& path) {
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  if (ec) abs = path;
  return abs.lexically_normal();
}

Status AddDirectory(const fs::path& dir, std::vector<fs::path>& out) {
  std::error_code ec;
  const std::size_t before = out.size();
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) return NotFoundError("input directory '" + dir.string() + "': " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return UnavailableError("input directory '" + dir.string() + "': " + ec.message());
    if (it->is_regular_file(ec) && IsImageFile(it->path())) out.push_back(Absolute(it->path()));
  }
  if (out.size() == before) {
    return NotFoundError("input directory '" + dir.string() + "' holds no image files");
  }
  return Status::Ok();
}

// Walks from the pattern's longest wildcard-free directory prefix and matches every file's full
// path. Without `**`, `*` stays inside one path component.
Status AddGlob(const std::string& pattern, std::vector<fs::path>& out) {
  const std::string abs_pattern = Absolute(pattern).string();
  const std::size_t meta = abs_pattern.find_first_of("*?[");
  const std::size_t slash = abs_pattern.rfind('/', meta);
  const fs::path base =
      slash == std::string::npos ? fs::path(".") : fs::path(abs_pattern.substr(0, slash));
  const bool crosses = abs_pattern.find("**") != std::string::npos;
  const int flags = crosses ? 0 : FNM_PATHNAME;
  const std::size_t before = out.size();
  std::error_code ec;
  fs::recursive_directory_iterator it(base, fs::directory_options::skip_permission_denied, ec);
  if (!ec) {
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (!it->is_regular_file(ec)) continue;
      const std::string path = it->path().lexically_normal().string();
      if (::fnmatch(abs_pattern.c_str(), path.c_str(), flags) == 0) out.push_back(path);
    }
  }
  if (out.size() == before) {
    return NotFoundError("input pattern '" + pattern + "' matches no files");
  }
  return Status::Ok();
}

Status AddListFile(const fs::path& list, std::vector<fs::path>& out) {
  std::ifstream in(list);
  if (!in) return NotFoundError("input list '" + list.string() + "' cannot be read");
  const fs::path base = Absolute(list).parent_path();
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() &&
           (line.back() == '\r' || std::isspace(static_cast<unsigned char>(line.back())))) {
      line.pop_back();
    }
    std::size_t start = 0;
    while (start < line.size() && std::isspace(static_cast<unsigned char>(line[start]))) ++start;
    line.erase(0, start);
    if (line.empty() || line[0] == '#') continue;
    const fs::path entry(line);
    out.push_back(Absolute(entry.is_absolute() ? entry : base / entry));
  }
  return Status::Ok();
}

}  // namespace

std::string WorkItem::Id() const { return path.string() + "#" + std::to_string(page); }

bool IsGlobPattern(const std::string& arg) { return arg.find_first_of("*?[") != std::string::npos; }

Result<std::vector<fs::path>> ExpandInputs(const std::vector<std::string>& args) {
  if (args.empty()) return InvalidArgumentError("no --input given");
  std::vector<fs::path> files;
  for (const std::string& arg : args) {
    std::error_code ec;
    if (IsGlobPattern(arg) && !fs::exists(arg, ec)) {
      ORBIT_RETURN_IF_ERROR(AddGlob(arg, files));
    } else if (fs::is_directory(arg, ec)) {
      ORBIT_RETURN_IF_ERROR(AddDirectory(arg, files));
    } else if (!fs::exists(arg, ec)) {
      return NotFoundError("input '" + arg + "' does not exist");
    } else if (IsImageFile(arg)) {
      files.push_back(Absolute(arg));
    } else {
      ORBIT_RETURN_IF_ERROR(AddListFile(arg, files));
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  if (files.empty()) return NotFoundError("the inputs name no files");
  return files;
}

int CountPages(const fs::path& path) {
  auto pages = vision::CountImageFilePages(path);
  return pages.ok() ? *pages : 1;
}

std::vector<WorkItem> ExpandItems(const std::vector<fs::path>& files) {
  std::vector<WorkItem> items;
  std::map<std::string, int> used;
  for (const fs::path& file : files) {
    const int pages = CountPages(file);
    for (int page = 0; page < pages; ++page) {
      WorkItem item;
      item.index = static_cast<std::int64_t>(items.size());
      item.path = file;
      item.page = page;
      item.page_count = pages;
      std::string name = file.stem().string();
      if (pages > 1) {
        // NPY stacks are frames of a time-lapse (or z) series; TIFF stacks are pages.
        std::ostringstream suffix;
        suffix << (IsNpy(file) ? "_t" : "_p") << std::setw(4) << std::setfill('0') << page;
        name += suffix.str();
      }
      const int seen = ++used[name];
      if (seen > 1) {
        std::string candidate;
        for (int k = seen;; ++k) {
          candidate = name + "-" + std::to_string(k);
          if (used.count(candidate) == 0) break;
        }
        used[candidate] = 1;
        name = candidate;
      }
      item.name = name;
      items.push_back(std::move(item));
    }
  }
  return items;
}

}  // namespace orbit::batch
