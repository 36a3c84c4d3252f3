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
// output: sigmoid of channel 0 (kSigmoid), 1 - softmax[background_class] (kSoftmax), or the raw
// channel 0 (kNone).
Result<cv::Mat> ForegroundProbability(const Tensor& output, int batch_index,
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
cv::Mat LabelWatershed(const cv::Mat& mask, int min_distance);
// Per-object measurements; `intensity` is the original image (any depth, first channel used).
std::vector<ObjectMeasurement> MeasureObjects(const cv::Mat& labels, const cv::Mat& intensity);
ImageSummary Summarize(const cv::Mat& labels, const std::vector<ObjectMeasurement>& objects);

// All of the above in recipe order, on a probability map the size of `image`.
Result<Segmentation> SegmentFromProbability(cv::Mat probability, const cv::Mat& image,
                                            const PostprocessRecipe& recipe);

}  // namespace orbit::vision
