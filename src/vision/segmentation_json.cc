#include "vision/segmentation_json.h"

namespace orbit::vision {

nlohmann::json SummaryToJson(const ImageSummary& s) {
  return {{"width", s.width},
          {"height", s.height},
          {"object_count", s.object_count},
          {"confluence_percent", s.confluence_percent},
          {"mean_object_area", s.mean_object_area}};
}

nlohmann::json ObjectToJson(const ObjectMeasurement& o) {
  return {{"label", o.label},
          {"area", o.area},
          {"perimeter", o.perimeter},
          {"centroid", {o.centroid_x, o.centroid_y}},
          {"bbox", {o.bbox_x, o.bbox_y, o.bbox_width, o.bbox_height}},
          {"eccentricity", o.eccentricity},
          {"mean_intensity", o.mean_intensity}};
}

nlohmann::json SegmentationToJson(const Segmentation& segmentation) {
  nlohmann::json objects = nlohmann::json::array();
  for (const auto& o : segmentation.objects) objects.push_back(ObjectToJson(o));
  return {{"summary", SummaryToJson(segmentation.summary)}, {"objects", std::move(objects)}};
}

namespace {
nlohmann::json ObjectCountsToJson(const ObjectCounts& c) {
  return {{"true_positives", c.true_positives},
          {"false_positives", c.false_positives},
          {"false_negatives", c.false_negatives}};
}
}  // namespace

nlohmann::json ImageMetricsToJson(const ImageMetrics& m) {
  return {{"iou", m.iou},
          {"dice", m.dice},
          {"precision", m.precision},
          {"recall", m.recall},
          {"f1", m.f1},
          {"average_precision", m.average_precision},
          {"ap_per_threshold", m.ap_per_threshold},
          {"objects", ObjectCountsToJson(m.objects)},
          {"pixels",
           {{"intersection", m.pixels.intersection},
            {"predicted", m.pixels.predicted},
            {"truth", m.pixels.truth}}}};
}

nlohmann::json AggregateMetricsToJson(const AggregateMetrics& m) {
  return {{"image_count", m.image_count},
          {"iou", m.iou},
          {"dice", m.dice},
          {"mean_image_iou", m.mean_image_iou},
          {"precision", m.precision},
          {"recall", m.recall},
          {"f1", m.f1},
          {"average_precision", m.average_precision},
          {"ap_per_threshold", m.ap_per_threshold},
          {"objects", ObjectCountsToJson(m.objects)}};
}

}  // namespace orbit::vision
