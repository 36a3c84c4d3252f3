// The result of segmenting one image: instance labels plus per-object and whole-image numbers.
// Produced by post-processing, consumed by the CLI, the server's /segment and evaluation.
#pragma once

#include <opencv2/core.hpp>
#include <vector>

namespace orbit::vision {

// Measurements of one labelled object, in pixels of the original image.
struct ObjectMeasurement {
  int label = 0;
  double area = 0;        // pixel count
  double perimeter = 0;   // length of the outer contour (cv::arcLength, closed)
  double centroid_x = 0;  // mean x of the object's pixels
  double centroid_y = 0;
  int bbox_x = 0, bbox_y = 0, bbox_width = 0, bbox_height = 0;
  double eccentricity = 0;    // of the ellipse with the same second moments, 0 = circle
  double mean_intensity = 0;  // mean of the original image's pixels (first channel)
};

struct ImageSummary {
  int width = 0, height = 0;
  int object_count = 0;
  double confluence_percent = 0;  // foreground pixels / all pixels * 100
  double mean_object_area = 0;
};

struct Segmentation {
  cv::Mat labels;       // CV_32S, 0 = background, 1..N = objects (consecutive)
  cv::Mat probability;  // CV_32F foreground probability in [0, 1], original size
  std::vector<ObjectMeasurement> objects;
  ImageSummary summary;
};

}  // namespace orbit::vision
