#include "repository/model_package.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <string>

namespace orbit::repository {
namespace fs = std::filesystem;

namespace {

// Highest numeric sub-directory of `dir` that contains model.onnx, if any.
std::optional<fs::path> LatestVersionModel(const fs::path& dir) {
  std::optional<fs::path> best;
  long best_version = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_directory()) continue;
    const std::string name = entry.path().filename().string();
    long version = 0;
    const auto [end, err] = std::from_chars(name.data(), name.data() + name.size(), version);
    if (err != std::errc() || end != name.data() + name.size()) continue;
    if (version > best_version && fs::exists(entry.path() / "model.onnx")) {
      best_version = version;
      best = entry.path() / "model.onnx";
    }
  }
  return best;
}

Status CheckTensorList(const std::vector<vision::TensorSpec>& declared,
                       const std::vector<runtime::TensorInfo>& actual, std::string_view kind,
                       std::string_view source, const std::string& model) {
  if (declared.size() != actual.size()) {
    return InvalidArgumentError(std::string(source) + " declares " +
                                std::to_string(declared.size()) + " " + std::string(kind) +
                                "s but model '" + model + "' has " + std::to_string(actual.size()));
  }
  for (std::size_t i = 0; i < declared.size(); ++i) {
    const auto& want = declared[i];
    const auto& have = actual[i];
    const std::string prefix =
        std::string(source) + ": " + std::string(kind) + " " + std::to_string(i) + " ";
    if (want.name != have.name) {
      return InvalidArgumentError(prefix + "is named '" + want.name + "' but model '" + model +
                                  "' calls it '" + have.name + "'");
    }
    if (want.dtype != have.dtype) {
      return InvalidArgumentError(prefix + "'" + want.name + "' is declared " +
                                  std::string(DTypeName(want.dtype)) + " but the model has " +
                                  std::string(DTypeName(have.dtype)));
    }
    bool shapes_agree = want.shape.size() == have.shape.size();
    for (std::size_t d = 0; shapes_agree && d < want.shape.size(); ++d) {
      // A dynamic dimension on either side is compatible with anything.
      if (want.shape[d] >= 0 && have.shape[d] >= 0 && want.shape[d] != have.shape[d]) {
        shapes_agree = false;
      }
    }
    if (!shapes_agree) {
      return InvalidArgumentError(prefix + "'" + want.name + "' is declared with shape " +
                                  ShapeToString(want.shape) + " but the model has " +
                                  ShapeToString(have.shape));
    }
  }
  return Status::Ok();
}

vision::ModelRecipe DefaultRecipeFor(const runtime::Engine& engine) {
  vision::ModelRecipe recipe;
  recipe.name = engine.name();
  for (const auto& in : engine.inputs()) recipe.inputs.push_back({in.name, in.dtype, in.shape});
  for (const auto& out : engine.outputs()) {
    recipe.outputs.push_back({out.name, out.dtype, out.shape});
  }
  if (!engine.inputs().empty() && engine.inputs()[0].shape.size() == 4 &&
      engine.inputs()[0].shape[1] == 3) {
    recipe.preprocess.color = vision::ColorMode::kRgb;
  }
  return recipe;
}

}  // namespace

vision::InferFn ModelPackage::MakeInferFn() const {
  const runtime::Engine* e = engine.get();
  return [e](Tensor input) -> Result<Tensor> {
    std::vector<Tensor> inputs;
    inputs.push_back(std::move(input));
    ORBIT_ASSIGN_OR_RETURN(std::vector<Tensor> outputs, e->Run(inputs));
    if (outputs.empty()) return InternalError("model '" + e->name() + "' returned no outputs");
    return std::move(outputs.front());
  };
}

Status CheckRecipeMatchesEngine(const vision::ModelRecipe& recipe, const runtime::Engine& engine,
                                std::string_view source) {
  ORBIT_RETURN_IF_ERROR(
      CheckTensorList(recipe.inputs, engine.inputs(), "input", source, engine.name()));
  ORBIT_RETURN_IF_ERROR(
      CheckTensorList(recipe.outputs, engine.outputs(), "output", source, engine.name()));
  // The engine's shape is the truth; the recipe may leave dimensions dynamic.
  const runtime::TensorInfo& input = engine.inputs().front();
  const std::int64_t channels_dim = recipe.preprocess.channels_first ? 1 : 3;
  const std::int64_t expected_channels =
      recipe.preprocess.color == vision::ColorMode::kGray ? 1 : 3;
  if (input.shape.size() != 4) {
    return InvalidArgumentError(std::string(source) + ": input '" + input.name +
                                "' must be a 4-D image batch, model has shape " +
                                ShapeToString(input.shape));
  }
  const std::int64_t channels = input.shape[static_cast<std::size_t>(channels_dim)];
  if (channels >= 0 && channels != expected_channels) {
    return InvalidArgumentError(std::string(source) + ": preprocess.color gives " +
                                std::to_string(expected_channels) + " channel(s) but input '" +
                                input.name + "' takes " + std::to_string(channels));
  }
  return Status::Ok();
}

Result<ModelPackage> LoadModelPackage(const fs::path& path, const runtime::EngineOptions& options) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return NotFoundError("model '" + path.string() + "' does not exist");
  }
  fs::path model_path, recipe_path;
  if (fs::is_directory(path, ec)) {
    recipe_path = path / "orbit.yaml";
    if (fs::exists(path / "model.onnx")) {
      model_path = path / "model.onnx";
    } else if (auto versioned = LatestVersionModel(path)) {
      model_path = *versioned;
    } else {
      return NotFoundError("model directory '" + path.string() +
                           "' has no model.onnx (nor <version>/model.onnx)");
    }
  } else {
    model_path = path;
    recipe_path = path.parent_path() / "orbit.yaml";
  }
  if (!fs::exists(recipe_path, ec)) recipe_path.clear();
  return LoadModelPackageFiles(model_path, recipe_path, options);
}

Result<ModelPackage> LoadModelPackageFiles(const fs::path& model_path, const fs::path& recipe_path,
                                           const runtime::EngineOptions& options) {
  ModelPackage package;
  package.model_path = model_path;
  package.recipe_path = recipe_path;
  std::optional<vision::ModelRecipe> recipe;
  if (!package.recipe_path.empty()) {
    ORBIT_ASSIGN_OR_RETURN(recipe, vision::LoadModelRecipe(package.recipe_path));
  }
  std::string name = recipe ? recipe->name : package.model_path.stem().string();
  auto engine = runtime::LoadOnnxEngine(package.model_path, options, name);
  if (!engine.ok()) {
    const Status& s = engine.status();
    const std::string file = package.model_path.string();
    if (s.message().find(file) != std::string::npos) return s;
    return Status(s.code(), s.message() + " (file '" + file + "')");
  }
  package.engine = std::move(engine).value();
  if (recipe) {
    ORBIT_RETURN_IF_ERROR(
        CheckRecipeMatchesEngine(*recipe, *package.engine, package.recipe_path.string()));
  } else {
    spdlog::info("model '{}': no orbit.yaml beside it, using default pre/post-processing",
                 package.model_path.string());
    recipe = DefaultRecipeFor(*package.engine);
    ORBIT_RETURN_IF_ERROR(CheckRecipeMatchesEngine(*recipe, *package.engine, "default recipe"));
  }
  package.pipeline = std::make_unique<vision::SegmentationPipeline>(std::move(*recipe));
  return package;
}

}  // namespace orbit::repository
