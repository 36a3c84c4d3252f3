// ModelPackage: a model ready to run — its orbit.yaml recipe, a loaded Engine, and the check that
// the two agree. Every front end (CLI, serve, batch, agent) loads models through this one path so
// a model whose ONNX inputs contradict its orbit.yaml is refused the same way everywhere.
#pragma once

#include <filesystem>
#include <memory>

#include "core/status.h"
#include "runtime/engine.h"
#include "vision/pipeline.h"
#include "vision/recipe.h"

namespace orbit::repository {

struct ModelPackage {
  std::filesystem::path model_path;   // the .onnx file
  std::filesystem::path recipe_path;  // orbit.yaml (empty when defaults were derived)
  std::unique_ptr<runtime::Engine> engine;
  std::unique_ptr<vision::SegmentationPipeline> pipeline;

  const vision::ModelRecipe& recipe() const { return pipeline->recipe(); }
  // Binds the pipeline's model callback to this package's engine (first input, first output).
  vision::InferFn MakeInferFn() const;
};

// `path` is a directory holding orbit.yaml and model.onnx (or <version>/model.onnx, highest
// numeric version wins), or an .onnx file with an optional orbit.yaml beside it. Without an
// orbit.yaml the recipe's defaults are used with the model's own tensor names.
Result<ModelPackage> LoadModelPackage(const std::filesystem::path& path,
                                      const runtime::EngineOptions& options = {});

// The same from explicit files: a model repository keeps one orbit.yaml per model beside its
// numbered version directories. An empty `recipe_path` means defaults.
Result<ModelPackage> LoadModelPackageFiles(const std::filesystem::path& model_path,
                                           const std::filesystem::path& recipe_path,
                                           const runtime::EngineOptions& options = {});

// InvalidArgument naming the first disagreement between the recipe's declared tensors and the
// engine's (names, datatypes, ranks, static dimensions), or Ok.
Status CheckRecipeMatchesEngine(const vision::ModelRecipe& recipe, const runtime::Engine& engine,
                                std::string_view source);

}  // namespace orbit::repository
