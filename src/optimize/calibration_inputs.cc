#include "optimize/calibration_inputs.h"

#include <algorithm>
#include <string>

#include "vision/image_io.h"
#include "vision/preprocess.h"

namespace orbit::optimize {
namespace {

// Tile origins along one axis: as few tiles of at most `side` as cover `length`.
std::vector<int> TileStarts(int length, int side) {
  std::vector<int> starts;
  for (int start = 0; start < length; start += side) starts.push_back(start);
  return starts;
}

Result<std::vector<Tensor>> PrepareOne(const std::filesystem::path& path,
                                       const vision::PreprocessRecipe& recipe,
                                       const CalibrationInputOptions& options) {
  ORBIT_ASSIGN_OR_RETURN(const cv::Mat image, vision::ReadImageFile(path));
  ORBIT_ASSIGN_OR_RETURN(const cv::Mat normalized, vision::NormalizeImage(image, recipe));
  std::vector<cv::Rect> tiles;
  for (const int y : TileStarts(normalized.rows, options.max_side)) {
    for (const int x : TileStarts(normalized.cols, options.max_side)) {
      tiles.emplace_back(x, y, std::min(options.max_side, normalized.cols - x),
                         std::min(options.max_side, normalized.rows - y));
    }
  }
  const auto limit = static_cast<std::size_t>(options.max_tiles_per_image);
  std::vector<cv::Rect> chosen;
  if (tiles.size() <= limit) {
    chosen = tiles;
  } else {  // evenly spaced over the grid, first and last included
    for (std::size_t i = 0; i < limit; ++i) {
      chosen.push_back(tiles[limit == 1 ? 0 : i * (tiles.size() - 1) / (limit - 1)]);
    }
  }
  std::vector<Tensor> out;
  for (const cv::Rect& tile : chosen) {
    ORBIT_ASSIGN_OR_RETURN(vision::PreparedInput prepared,
                           vision::PrepareNormalized(normalized(tile).clone(), recipe));
    out.push_back(std::move(prepared.tensor));
  }
  return out;
}

}  // namespace

Result<std::vector<Tensor>> PrepareCalibrationInputs(
    const std::vector<std::filesystem::path>& images, const vision::PreprocessRecipe& recipe,
    const CalibrationInputOptions& options) {
  if (images.empty()) {
    return InvalidArgumentError(
        "the calibration set is empty: INT8 calibration needs at least one image");
  }
  if (options.max_side < 1 || options.max_side % recipe.pad_to_multiple != 0) {
    return InvalidArgumentError("calibration tile size " + std::to_string(options.max_side) +
                                " must be a positive multiple of the model's pad_to_multiple (" +
                                std::to_string(recipe.pad_to_multiple) + ")");
  }
  if (options.max_tiles_per_image < 1) {
    return InvalidArgumentError("calibration needs at least one tile per image");
  }
  std::vector<Tensor> inputs;
  std::vector<std::string> failures;
  for (const auto& path : images) {
    auto tiles = PrepareOne(path, recipe, options);
    if (!tiles.ok()) {
      failures.push_back(tiles.status().message());
      continue;
    }
    for (Tensor& t : *tiles) inputs.push_back(std::move(t));
  }
  if (!failures.empty()) {
    std::string message = std::to_string(failures.size()) + " of " + std::to_string(images.size()) +
                          " calibration image(s) failed: ";
    for (std::size_t i = 0; i < failures.size(); ++i) {
      message += (i == 0 ? "" : "; ") + failures[i];
    }
    return InvalidArgumentError(std::move(message));
  }
  return inputs;
}

}  // namespace orbit::optimize
