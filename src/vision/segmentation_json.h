// JSON form of a Segmentation (summary + objects), shared by `orbit predict` and the server's
// /segment endpoint so both speak the same schema (docs/segmentation-json.md).
#pragma once

#include <nlohmann/json.hpp>

#include "vision/metrics.h"
#include "vision/segmentation.h"

namespace orbit::vision {

nlohmann::json SummaryToJson(const ImageSummary& summary);
nlohmann::json ObjectToJson(const ObjectMeasurement& object);
// {"summary": {...}, "objects": [...]}
nlohmann::json SegmentationToJson(const Segmentation& segmentation);

nlohmann::json ImageMetricsToJson(const ImageMetrics& metrics);
nlohmann::json AggregateMetricsToJson(const AggregateMetrics& metrics);

}  // namespace orbit::vision
