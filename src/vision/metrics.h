// Segmentation metrics against ground-truth instance masks: semantic IoU/Dice, object
// precision/recall/F1 at IoU > 0.5 and the cell-segmentation benchmark's average precision
// over IoU thresholds 0.5:0.05:0.95 (AP = TP / (TP + FP + FN), averaged over thresholds).
//
// A predicted and a true object match at threshold t when their IoU is strictly greater than t.
// For t >= 0.5 a match is then unique: IoU > 0.5 means the overlap covers more than half of each
// object (overlap > 0.5 * union >= 0.5 * area), and two disjoint objects cannot both cover more
// than half of a third, so TP(t) is just the number of overlapping pairs with IoU > t. (With
// IoU >= 0.5 an object split exactly in half would match twice.)
//
// Empty denominators: a ratio whose numerator and denominator are both 0 is 1 when the image has
// neither predicted nor true foreground (or objects, for object scores), else 0. So an empty
// prediction against an empty truth scores 1 everywhere, and an empty prediction against a
// non-empty truth scores 0 everywhere.
#pragma once

#include <opencv2/core.hpp>
#include <vector>

#include "core/status.h"

namespace orbit::vision {

// Raw counts for one image, summable across images.
struct PixelCounts {
  long long intersection = 0;  // predicted ∩ true foreground pixels
  long long predicted = 0;     // predicted foreground pixels
  long long truth = 0;         // true foreground pixels
};

struct ObjectCounts {
  int true_positives = 0;  // at IoU > 0.5
  int false_positives = 0;
  int false_negatives = 0;
};

struct ImageMetrics {
  PixelCounts pixels;
  double iou = 0;  // 1.0 when both masks are empty
  double dice = 0;
  ObjectCounts objects;  // at IoU > 0.5
  double precision = 0, recall = 0, f1 = 0;
  std::vector<double> ap_per_threshold;  // thresholds 0.50, 0.55, ..., 0.95
  double average_precision = 0;          // mean of ap_per_threshold
};

// `predicted` and `truth` are instance label maps (any integer depth, 0 = background), same size.
// Labels <= 0 are background; each distinct positive value is one object (numbering need not be
// consecutive). The inputs are assumed valid (see ComputeImageMetricsChecked); a mismatched size
// or a non-integer depth is a programming error (sizes are asserted; release builds score 0).
ImageMetrics ComputeImageMetrics(const cv::Mat& predicted, const cv::Mat& truth);
// The same, after checking that both maps are single-channel, integer-typed and the same size
// (InvalidArgument otherwise). Use this on data from outside the process.
Result<ImageMetrics> ComputeImageMetricsChecked(const cv::Mat& predicted, const cv::Mat& truth);

struct AggregateMetrics {
  int image_count = 0;
  double iou = 0;  // from summed pixel counts over all images
  double dice = 0;
  double mean_image_iou = 0;                 // mean of per-image IoU
  ObjectCounts objects;                      // summed
  double precision = 0, recall = 0, f1 = 0;  // from summed object counts
  double average_precision = 0;              // mean over images of per-image AP
  std::vector<double> ap_per_threshold;      // mean over images, per threshold
};

// An empty list gives image_count 0, every score 0 and an empty ap_per_threshold.
AggregateMetrics AggregateImageMetrics(const std::vector<ImageMetrics>& images);

}  // namespace orbit::vision
