#include "registry/model_uri.h"

#include <charconv>

#include "registry/names.h"

namespace orbit::registry {
namespace {

constexpr std::string_view kScheme = "models:/";

Status UriError(std::string_view uri, const std::string& problem) {
  return InvalidArgumentError("model URI '" + std::string(uri) + "': " + problem);
}

}  // namespace

std::string ModelUri::ToString() const {
  switch (kind) {
    case Kind::kVersion:
      return std::string(kScheme) + name + "/" + std::to_string(version);
    case Kind::kAlias:
      return std::string(kScheme) + name + "@" + alias;
    case Kind::kLatest:
      return std::string(kScheme) + name + "/latest";
  }
  return {};
}

Result<ModelUri> ParseModelUri(std::string_view uri) {
  constexpr const char* kForms =
      "expected models:/NAME/VERSION, models:/NAME@ALIAS or models:/NAME/latest";
  if (uri.substr(0, kScheme.size()) != kScheme) return UriError(uri, kForms);
  const std::string_view rest = uri.substr(kScheme.size());
  ModelUri parsed;
  const std::size_t at = rest.find('@');
  const std::size_t slash = rest.find('/');
  if (at != std::string_view::npos && (slash == std::string_view::npos || at < slash)) {
    parsed.kind = ModelUri::Kind::kAlias;
    parsed.name = std::string(rest.substr(0, at));
    parsed.alias = std::string(rest.substr(at + 1));
    if (Status s = ValidateModelName(parsed.name); !s.ok()) return UriError(uri, s.message());
    if (Status s = ValidateAliasName(parsed.alias); !s.ok()) return UriError(uri, s.message());
    return parsed;
  }
  if (slash == std::string_view::npos) return UriError(uri, kForms);
  parsed.name = std::string(rest.substr(0, slash));
  if (Status s = ValidateModelName(parsed.name); !s.ok()) return UriError(uri, s.message());
  const std::string_view selector = rest.substr(slash + 1);
  if (selector == "latest") {
    parsed.kind = ModelUri::Kind::kLatest;
    return parsed;
  }
  std::int64_t version = 0;
  const auto [end, ec] =
      std::from_chars(selector.data(), selector.data() + selector.size(), version);
  if (selector.empty() || ec != std::errc() || end != selector.data() + selector.size() ||
      version < 1 || selector[0] == '0' || selector[0] == '+' || selector[0] == '-') {
    return UriError(uri, "version '" + std::string(selector) +
                             "' is not a number >= 1 or 'latest' (" + kForms + ")");
  }
  parsed.kind = ModelUri::Kind::kVersion;
  parsed.version = version;
  return parsed;
}

Result<ResolvedModel> ResolveModelUri(ModelRegistry& registry, std::string_view uri) {
  ORBIT_ASSIGN_OR_RETURN(ModelUri parsed, ParseModelUri(uri));
  Result<ModelVersion> version = InternalError("unreachable");
  switch (parsed.kind) {
    case ModelUri::Kind::kVersion:
      version = registry.GetVersion(parsed.name, parsed.version);
      break;
    case ModelUri::Kind::kLatest:
      version = registry.LatestVersion(parsed.name);
      break;
    case ModelUri::Kind::kAlias: {
      // Versions are never deleted or changed, so reading the alias and then its version in two
      // steps is as good as one snapshot: the version read is the one the alias named.
      ORBIT_ASSIGN_OR_RETURN(ModelAlias alias, registry.GetAlias(parsed.name, parsed.alias));
      version = registry.GetVersion(parsed.name, alias.version);
      break;
    }
  }
  if (!version.ok()) return version.status();
  return ResolvedModel{version->model_name, version->version, version->blob_sha256,
                       version->recipe_yaml, version->signature};
}

}  // namespace orbit::registry
