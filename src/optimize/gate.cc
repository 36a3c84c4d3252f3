#include "optimize/gate.h"

#include <cmath>
#include <cstdio>

namespace orbit::optimize {
namespace {

// IoU and throughput ratios are computed in floating point: 0.80 - 0.79 is 0.0100000000000000009,
// which must still pass --max-accuracy-drop 0.01. Far below any difference that matters.
constexpr double kTolerance = 1e-9;

std::string Format(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
  return buffer;
}

}  // namespace

Status ValidateGateOptions(const GateOptions& options) {
  if (!std::isfinite(options.max_accuracy_drop) || options.max_accuracy_drop < 0) {
    return InvalidArgumentError("--max-accuracy-drop " + Format(options.max_accuracy_drop, 4) +
                                " must be a number >= 0 (IoU, absolute)");
  }
  if (!std::isfinite(options.min_speedup) || options.min_speedup <= 0) {
    return InvalidArgumentError("--min-speedup " + Format(options.min_speedup, 4) +
                                " must be a number > 0 (throughput ratio to FP32)");
  }
  return Status::Ok();
}

GateDecision ApplyGate(const GateInput& input, const GateOptions& options) {
  GateDecision decision;
  decision.variant = input.variant;
  decision.iou_drop = input.reference_iou - input.variant_iou;
  if (!std::isfinite(decision.iou_drop)) {
    decision.reasons.push_back("IoU could not be measured");
  } else if (decision.iou_drop > options.max_accuracy_drop + kTolerance) {
    decision.reasons.push_back("IoU drop " + Format(decision.iou_drop, 4) + " (" +
                               Format(input.reference_iou, 4) + " -> " +
                               Format(input.variant_iou, 4) + ") > --max-accuracy-drop " +
                               Format(options.max_accuracy_drop, 4));
  }
  bool first = true;
  for (const auto& [batch, speedup] : input.speedup_by_batch) {
    if (first || speedup < decision.speedup) {
      decision.speedup = speedup;
      decision.slowest_batch = batch;
      first = false;
    }
  }
  if (first) {
    decision.reasons.push_back("speed was not measured");
  } else if (!(decision.speedup >= options.min_speedup - kTolerance)) {
    decision.reasons.push_back("speedup " + Format(decision.speedup, 2) + "x at batch " +
                               std::to_string(decision.slowest_batch) + " < --min-speedup " +
                               Format(options.min_speedup, 2) + "x");
  }
  decision.accepted = decision.reasons.empty();
  return decision;
}

std::optional<std::string> RecommendVariant(const std::vector<GateDecision>& decisions) {
  const GateDecision* best = nullptr;
  for (const GateDecision& d : decisions) {
    if (d.accepted && (best == nullptr || d.speedup > best->speedup)) best = &d;
  }
  if (best == nullptr) return std::nullopt;
  return best->variant;
}

}  // namespace orbit::optimize
