#include "repository/model_repository.h"

#include <algorithm>
#include <charconv>
#include <sstream>

namespace orbit::repository {
namespace fs = std::filesystem;

namespace {

bool ParseInt64(std::string_view text, std::int64_t* out) {
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return err == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string VersionPolicy::ToString() const {
  switch (kind) {
    case Kind::kLatest:
      return "latest " + std::to_string(latest_count);
    case Kind::kAll:
      return "all";
    case Kind::kSpecific: {
      std::string out = "specific [";
      for (std::size_t i = 0; i < versions.size(); ++i) {
        if (i > 0) out += ", ";
        out += std::to_string(versions[i]);
      }
      return out + "]";
    }
  }
  return "?";
}

Result<VersionPolicy> ParseVersionPolicy(std::string_view text) {
  VersionPolicy policy;
  const auto bad = [&](const std::string& why) {
    return InvalidArgumentError("version policy '" + std::string(text) + "': " + why +
                                " (expected latest:N, all or specific:V1,V2,...)");
  };
  if (text == "all") {
    policy.kind = VersionPolicy::Kind::kAll;
    return policy;
  }
  const auto colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  const std::string_view rest = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  if (kind == "latest") {
    std::int64_t n = 1;
    if (!rest.empty() && (!ParseInt64(rest, &n) || n < 1 || n > 1000)) {
      return bad("N must be a whole number from 1 to 1000");
    }
    policy.latest_count = static_cast<int>(n);
    return policy;
  }
  if (kind == "specific") {
    policy.kind = VersionPolicy::Kind::kSpecific;
    std::size_t start = 0;
    while (start <= rest.size()) {
      const auto comma = rest.find(',', start);
      const std::string_view item = rest.substr(
          start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
      std::int64_t v = 0;
      if (!ParseInt64(item, &v) || v < 1)
        return bad("'" + std::string(item) + "' is not a version");
      policy.versions.push_back(v);
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    std::sort(policy.versions.begin(), policy.versions.end());
    policy.versions.erase(std::unique(policy.versions.begin(), policy.versions.end()),
                          policy.versions.end());
    return policy;
  }
  return bad("unknown kind '" + std::string(kind) + "'");
}

std::vector<std::int64_t> SelectVersions(const std::vector<std::int64_t>& available,
                                         const VersionPolicy& policy) {
  switch (policy.kind) {
    case VersionPolicy::Kind::kAll:
      return available;
    case VersionPolicy::Kind::kLatest: {
      const auto keep =
          std::min<std::size_t>(available.size(), static_cast<std::size_t>(policy.latest_count));
      return {available.end() - static_cast<std::ptrdiff_t>(keep), available.end()};
    }
    case VersionPolicy::Kind::kSpecific: {
      std::vector<std::int64_t> out;
      for (const auto v : policy.versions) {
        if (std::binary_search(available.begin(), available.end(), v)) out.push_back(v);
      }
      return out;
    }
  }
  return {};
}

Result<std::map<std::string, ModelOnDisk>> ScanRepository(const fs::path& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return NotFoundError("model repository '" + root.string() + "' is not a directory");
  }
  std::map<std::string, ModelOnDisk> models;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    if (!entry.is_directory()) continue;
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.') continue;  // hidden: editors, partial copies
    ModelOnDisk model{name, entry.path(), {}, fs::exists(entry.path() / "orbit.yaml")};
    for (const auto& version_dir : fs::directory_iterator(entry.path(), ec)) {
      std::int64_t v = 0;
      if (version_dir.is_directory() && ParseInt64(version_dir.path().filename().string(), &v) &&
          v >= 1 && fs::exists(version_dir.path() / "model.onnx")) {
        model.versions.push_back(v);
      }
    }
    std::sort(model.versions.begin(), model.versions.end());
    models.emplace(name, std::move(model));
  }
  if (ec)
    return UnavailableError("cannot read model repository '" + root.string() +
                            "': " + ec.message());
  return models;
}

std::string_view ModelStateName(ModelState state) {
  switch (state) {
    case ModelState::kUnavailable:
      return "UNAVAILABLE";
    case ModelState::kLoading:
      return "LOADING";
    case ModelState::kReady:
      return "READY";
    case ModelState::kUnloading:
      return "UNLOADING";
  }
  return "?";
}

Status ValidateTransition(ModelState from, ModelState to) {
  using S = ModelState;
  const bool legal = (from == S::kUnavailable && to == S::kLoading) ||
                     (from == S::kLoading && (to == S::kReady || to == S::kUnavailable)) ||
                     (from == S::kReady && to == S::kUnloading) ||
                     (from == S::kUnloading && to == S::kUnavailable);
  if (legal) return Status::Ok();
  return FailedPreconditionError("illegal model state transition " +
                                 std::string(ModelStateName(from)) + " -> " +
                                 std::string(ModelStateName(to)));
}

}  // namespace orbit::repository
