// ONNX Runtime's offline-optimised model: the graph after ORT's own rewrites (constant folding,
// Conv+BatchNorm/Add/Mul fusion, redundant-node elimination, ...) saved as an ONNX file, so the
// rewrites are paid once at optimisation time instead of at every load, and so the FP16/INT8
// transforms start from the already-fused graph.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/engine.h"

namespace orbit::optimize {

// Which rewrites to bake in and for which provider.
struct OrtOfflineOptions {
  // kBasic (the default) uses standard ONNX ops only: the result is portable across providers
  // and passes ONNX's checker. kExtended adds ORT-specific fused ops (com.microsoft domain) that
  // only ONNX Runtime runs. kAll adds layout rewrites tied to this machine's CPU (NCHWc); ORT
  // advises against saving them, so it is refused.
  runtime::GraphOptimization level = runtime::GraphOptimization::kBasic;
  // The provider the model will run on: "cpu" or "cuda" (ORT assigns nodes per provider, and
  // some rewrites depend on that assignment).
  std::string provider = "cpu";
  int device_id = 0;
};

// Loads `model` in an ONNX Runtime session with the options above and writes the optimised graph
// to `out` (parent directories must exist). InvalidArgument for an unusable level or provider,
// or a model ORT refuses (ORT's message, cleaned up, naming the model).
Status WriteOrtOptimizedModel(const std::filesystem::path& model, const std::filesystem::path& out,
                              const OrtOfflineOptions& options = {});

// "basic" | "extended" → level; anything else is InvalidArgument naming the choices.
Result<runtime::GraphOptimization> ParseOrtOfflineLevel(const std::string& name);

}  // namespace orbit::optimize
