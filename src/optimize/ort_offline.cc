#include "optimize/ort_offline.h"

#include <onnxruntime_cxx_api.h>

#include <algorithm>

#include "runtime/onnx_engine.h"

namespace orbit::optimize {
namespace {

GraphOptimizationLevel ToOrtLevel(runtime::GraphOptimization level) {
  switch (level) {
    case runtime::GraphOptimization::kDisabled:
      return ORT_DISABLE_ALL;
    case runtime::GraphOptimization::kBasic:
      return ORT_ENABLE_BASIC;
    case runtime::GraphOptimization::kExtended:
      return ORT_ENABLE_EXTENDED;
    case runtime::GraphOptimization::kAll:
      return ORT_ENABLE_ALL;
  }
  return ORT_ENABLE_BASIC;
}

// ORT keeps one environment per process; constructing another Ort::Env hands back that one
// (reference counted), so this coexists with the runtime library's.
Ort::Env& OfflineEnv() {
  static Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "orbit-optimize");
  return env;
}

}  // namespace

Result<runtime::GraphOptimization> ParseOrtOfflineLevel(const std::string& name) {
  if (name == "basic") return runtime::GraphOptimization::kBasic;
  if (name == "extended") return runtime::GraphOptimization::kExtended;
  return InvalidArgumentError("--ort-level '" + name +
                              "' is not one of basic, extended ('all' bakes in CPU-specific "
                              "layouts and is not saved)");
}

Status WriteOrtOptimizedModel(const std::filesystem::path& model, const std::filesystem::path& out,
                              const OrtOfflineOptions& options) {
  const std::string label = "model '" + model.string() + "'";
  if (options.level == runtime::GraphOptimization::kAll ||
      options.level == runtime::GraphOptimization::kDisabled) {
    return InvalidArgumentError(label + ": offline optimisation level must be basic or extended");
  }
  if (options.provider != "cpu" && options.provider != "cuda") {
    return InvalidArgumentError(label + ": offline optimisation for provider '" + options.provider +
                                "' is not supported (cpu, cuda)");
  }
  try {
    Ort::SessionOptions session_options;
    session_options.SetIntraOpNumThreads(1);
    session_options.SetGraphOptimizationLevel(ToOrtLevel(options.level));
    session_options.SetOptimizedModelFilePath(out.c_str());
    if (options.provider == "cuda") {
      const auto available = Ort::GetAvailableProviders();
      if (std::find(available.begin(), available.end(), "CUDAExecutionProvider") ==
          available.end()) {
        return FailedPreconditionError(
            label + ": execution provider 'cuda' is not available in this ONNX Runtime build");
      }
      Ort::CUDAProviderOptions cuda;
      cuda.Update({{"device_id", std::to_string(options.device_id)}});
      session_options.AppendExecutionProvider_CUDA_V2(*cuda);
    }
    // Creating the session runs the optimisers and writes `out`; the session is not used.
    Ort::Session session(OfflineEnv(), model.c_str(), session_options);
  } catch (const Ort::Exception& e) {
    std::error_code ignored;
    std::filesystem::remove(out, ignored);
    return InvalidArgumentError(label + ": ONNX Runtime could not optimise it: " +
                                runtime::internal::CleanOrtMessage(e.what()));
  }
  if (!std::filesystem::exists(out)) {
    return InternalError(label + ": ONNX Runtime wrote no optimised model to '" + out.string() +
                         "'");
  }
  return Status::Ok();
}

}  // namespace orbit::optimize
