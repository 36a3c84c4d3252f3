// Validation of the names users choose (models, aliases, experiments, param/metric/tag keys), in
// one place so the REST API, the CLI and the registry agree on what is legal.
#pragma once

#include <string_view>

#include "core/status.h"

namespace orbit::registry {

// Model names: 1..128 of [A-Za-z0-9._-], not starting with '.' or '-' (they appear in URIs and
// file paths: `models:/cellseg/3`).
Status ValidateModelName(std::string_view name);
// Aliases: 1..64 of [A-Za-z0-9_-], starting with a letter; "latest" is reserved (models:/m/latest).
Status ValidateAliasName(std::string_view alias);
// Experiment names: 1..256 printable characters.
Status ValidateExperimentName(std::string_view name);
// Param, metric and tag keys: 1..250 of [A-Za-z0-9_.-/: ] (as MLflow); `what` is "param" etc.
Status ValidateKey(std::string_view what, std::string_view key);

}  // namespace orbit::registry
