#include "optimize/calibration.h"

namespace orbit::optimize {

Result<CalibrationMethod> ParseCalibrationMethod(std::string_view name) {
  if (name == "minmax") return CalibrationMethod::kMinMax;
  if (name == "percentile") return CalibrationMethod::kPercentile;
  if (name == "entropy") return CalibrationMethod::kEntropy;
  return InvalidArgumentError("calibration method '" + std::string(name) +
                              "': expected one of minmax, percentile, entropy");
}

std::string_view CalibrationMethodName(CalibrationMethod method) {
  switch (method) {
    case CalibrationMethod::kMinMax:
      return "minmax";
    case CalibrationMethod::kPercentile:
      return "percentile";
    case CalibrationMethod::kEntropy:
      return "entropy";
  }
  return "unknown";
}

struct RangeCollector::State {};
RangeCollector::RangeCollector(CalibrationOptions options) : options_(options) {}
void RangeCollector::Add(const std::string&, std::span<const float>) {}
Result<RangeTable> RangeCollector::Compute() const { return UnimplementedError("calibration"); }

Result<RangeTable> Calibrate(const onnx::ModelProto&, const std::vector<Tensor>&,
                             const std::vector<std::string>&, const CalibrationOptions&) {
  return UnimplementedError("calibration: not implemented yet");
}

}  // namespace orbit::optimize
