// The acceptance gate of `orbit optimize`: a variant is accepted only when it loses at most
// `max_accuracy_drop` IoU (absolute) against the FP32 model and is at least `min_speedup` times as
// fast at every measured batch size. Rejections carry the numbers so a report can say why.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace orbit::optimize {

// Thresholds from --max-accuracy-drop and --min-speedup.
struct GateOptions {
  double max_accuracy_drop = 0.01;  // IoU, absolute (0.01 = one IoU point)
  double min_speedup = 1.2;         // FP32 median latency / variant median latency
};
// InvalidArgument for a negative or non-finite drop, or a speedup that is not > 0.
Status ValidateGateOptions(const GateOptions& options);

// What the gate looks at for one variant.
struct GateInput {
  std::string variant;
  double reference_iou = 0;  // FP32 model on the labelled set
  double variant_iou = 0;
  // Speedup over FP32 per measured batch size, e.g. {{1, 1.7}, {8, 1.9}} (see Speedups).
  std::vector<std::pair<int, double>> speedup_by_batch;
};

// The verdict and its numbers; `reasons` is empty exactly when accepted.
struct GateDecision {
  std::string variant;
  bool accepted = false;
  double iou_drop = 0;  // reference_iou - variant_iou (negative: the variant scored higher)
  double speedup = 0;   // the smallest of speedup_by_batch (0 when nothing was measured)
  int slowest_batch = 0;
  std::vector<std::string> reasons;  // e.g. "IoU drop 0.0234 > --max-accuracy-drop 0.01"
};

GateDecision ApplyGate(const GateInput& input, const GateOptions& options);

// The fastest accepted variant (highest `speedup`; first on ties), or nullopt when none passed.
std::optional<std::string> RecommendVariant(const std::vector<GateDecision>& decisions);

}  // namespace orbit::optimize
