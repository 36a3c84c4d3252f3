// Overlay rendering: a human-checkable picture of a segmentation (contours in distinct colours on
// a contrast-stretched copy of the image).
#pragma once

#include <opencv2/core.hpp>

namespace orbit::vision {

// BGR 8-bit image the size of `image`: the image stretched to 8 bits (1st–99th percentile),
// each object's fill tinted at `alpha` and its contour drawn in its own colour.
cv::Mat RenderOverlay(const cv::Mat& image, const cv::Mat& labels, double alpha = 0.35);

}  // namespace orbit::vision
