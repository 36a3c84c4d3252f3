#include "registry/names.h"

#include <cctype>
#include <string>

namespace orbit::registry {
namespace {

bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

}  // namespace

Status ValidateModelName(std::string_view name) {
  if (name.empty() || name.size() > 128) {
    return InvalidArgumentError("model name '" + std::string(name) +
                                "' must be 1 to 128 characters");
  }
  for (const char c : name) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != '-') {
      return InvalidArgumentError("model name '" + std::string(name) +
                                  "' may only contain letters, digits, '.', '_' and '-'");
    }
  }
  if (name[0] == '.' || name[0] == '-') {
    return InvalidArgumentError("model name '" + std::string(name) +
                                "' must not start with '.' or '-'");
  }
  return Status::Ok();
}

Status ValidateAliasName(std::string_view alias) {
  if (alias.empty() || alias.size() > 64) {
    return InvalidArgumentError("alias '" + std::string(alias) + "' must be 1 to 64 characters");
  }
  if (std::isalpha(static_cast<unsigned char>(alias[0])) == 0) {
    return InvalidArgumentError("alias '" + std::string(alias) + "' must start with a letter");
  }
  for (const char c : alias) {
    if (!IsAlnum(c) && c != '_' && c != '-') {
      return InvalidArgumentError("alias '" + std::string(alias) +
                                  "' may only contain letters, digits, '_' and '-'");
    }
  }
  if (alias == "latest") {
    return InvalidArgumentError(
        "alias 'latest' is reserved (models:/NAME/latest is the newest "
        "version)");
  }
  return Status::Ok();
}

Status ValidateExperimentName(std::string_view name) {
  if (name.empty() || name.size() > 256) {
    return InvalidArgumentError("experiment name '" + std::string(name) +
                                "' must be 1 to 256 characters");
  }
  for (const char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return InvalidArgumentError("experiment name '" + std::string(name) +
                                  "' contains a control character");
    }
  }
  return Status::Ok();
}

Status ValidateKey(std::string_view what, std::string_view key) {
  if (key.empty() || key.size() > 250) {
    return InvalidArgumentError(std::string(what) + " key '" + std::string(key) +
                                "' must be 1 to 250 characters");
  }
  for (const char c : key) {
    if (!IsAlnum(c) && c != '_' && c != '.' && c != '-' && c != '/' && c != ':' && c != ' ') {
      return InvalidArgumentError(std::string(what) + " key '" + std::string(key) +
                                  "' may only contain letters, digits and _ . - / : and space");
    }
  }
  return Status::Ok();
}

}  // namespace orbit::registry
