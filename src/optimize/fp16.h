// FP16 variant of an FP32 model: initializers and compute in float16, graph inputs and outputs kept
// in FP32 with Casts at the edges, numerically sensitive ops (block list) kept in FP32 behind
// Casts, and constants clamped to FP16's finite range.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "core/status.h"
#include "optimize/transform_result.h"

namespace orbit::optimize {

// Ops kept in FP32 by default (reductions, exponentials, normalisations, ...).
std::set<std::string> DefaultFp16BlockList();

struct Fp16Options {
  std::set<std::string> block_ops = DefaultFp16BlockList();
  std::set<std::string> exclude_nodes;  // node names kept in FP32
};

// float32 -> float16 bits, rounding to nearest even; finite values beyond FP16's range clamp to
// +-65504 (never inf), magnitudes below half the smallest subnormal (2^-25) become a signed zero,
// inf and NaN stay inf and NaN.
std::uint16_t FloatToHalf(float value);
float HalfToFloat(std::uint16_t bits);

// Fails (InvalidArgument) when the model has no float32 input.
Result<TransformResult> ConvertToFp16(const onnx::ModelProto& model, const Fp16Options& options);

}  // namespace orbit::optimize
