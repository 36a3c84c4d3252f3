// Post-processing: model output → foreground probability → clean mask → instances → measurements.
// Each step is a separate function so tests can prove it on small hand-made arrays.
#pragma once

#include <opencv2/core.hpp>

#include "core/status.h"
#include "tensor/tensor.h"
#include "vision/recipe.h"
#include "vision/segmentation.h"

namespace orbit::vision {

// Foreground probability (CV_32F, H×W of the output) for item `batch_index` of an NCHW FP32
// output: sigmoid of channel `foreground_channel` (kSigmoid), 1 - softmax[background_class]
// (kSoftmax), or the raw channel `foreground_channel` (kNone).
Result<cv::Mat> ForegroundProbability(const Tensor& output, int batch_index,
                                      const PostprocessRecipe& recipe);
// Seed probability (CV_32F) from channel `seed_channel`, with the same activation as the
// foreground (sigmoid or none). InvalidArgument when the recipe has no seed channel, uses
// softmax, or the output lacks the channel.
Result<cv::Mat> SeedProbability(const Tensor& output, int batch_index,
                                const PostprocessRecipe& recipe);

// CV_8U mask, 255 where probability > threshold, else 0.
cv::Mat ThresholdMask(const cv::Mat& probability, double threshold);
// Removes 8-connected components with fewer than `min_area` pixels (in place semantics: returns
// a new mask).
cv::Mat RemoveSmallObjects(const cv::Mat& mask, int min_area);
// Fills background regions not connected to the image border (4-connectivity).
cv::Mat FillHoles(const cv::Mat& mask);
// Instance labels (CV_32S, consecutive 1..N) from a binary mask.
cv::Mat LabelConnectedComponents(const cv::Mat& mask);
// Splits touching objects: seeds at distance-transform maxima at least `min_distance` apart,
// watershed on the negated distance, restricted to the mask. Labels are consecutive 1..N.
// A seed is a plateau of local maxima in a (2 * min_distance + 1)² window; one closer than
// min_distance (Chebyshev) to a stronger seed of the same object is dropped, and an object left
// without a seed gets its deepest pixel. Every mask pixel is labelled (no watershed lines).
cv::Mat LabelWatershed(const cv::Mat& mask, int min_distance);
// Watershed seeds from a seed probability map: 8-connected components of
// (seed_probability > threshold) inside `mask` (non-zero = inside), components with fewer than
// `min_area` pixels dropped. CV_32S, 0 = no seed, 1..K in raster order of first appearance.
cv::Mat SeedMarkers(const cv::Mat& seed_probability, const cv::Mat& mask, double threshold,
                    int min_area);
// Seeded watershed: grows `markers` (integer labels of the mask's size, > 0 = seed; pixels
// sharing a value form one seed; seeds outside the mask are ignored) over the mask with the
// priority flood of LabelWatershed. The flood follows `relief` (CV_32FC1 of the mask's size,
// e.g. the seed probability: highest first, as skimage's watershed on -relief) or, when it is
// empty (or not such a map), the distance transform (deepest first). A mask component without a
// seed gets its deepest pixel. Every mask pixel is labelled; labels are consecutive 1..N.
cv::Mat LabelWatershedFromMarkers(const cv::Mat& mask, const cv::Mat& markers,
                                  const cv::Mat& relief = cv::Mat());
// Drops labels (any integer depth; values <= 0 are background) covering fewer than `min_area`
// pixels and renumbers the rest 1..N in raster order of first appearance (CV_32S).
cv::Mat RemoveSmallLabels(const cv::Mat& labels, int min_area);
// Per-object measurements; `intensity` is the original image (any depth, first channel used;
// mean_intensity is 0 when it is empty or of another size). Labels <= 0 are background; the
// result is sorted by label. The perimeter sums the object's external contours (one for a
// connected object).
std::vector<ObjectMeasurement> MeasureObjects(const cv::Mat& labels, const cv::Mat& intensity);
ImageSummary Summarize(const cv::Mat& labels, const std::vector<ObjectMeasurement>& objects);

// All of the above in recipe order, on a probability map the size of `image`. With a recipe
// `seed_channel` (watershed), `seed_probability` (CV_32FC1, same size) is required: seeds come
// from SeedMarkers and the watershed floods on the seed probability (it scored better than the
// distance transform on cellseg's validation set); otherwise it is ignored.
Result<Segmentation> SegmentFromProbability(cv::Mat probability, const cv::Mat& image,
                                            const PostprocessRecipe& recipe,
                                            const cv::Mat& seed_probability = cv::Mat());

}  // namespace orbit::vision
