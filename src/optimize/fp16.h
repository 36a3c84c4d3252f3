// FP16 variant of an FP32 model: initializers and compute in float16, graph inputs and outputs kept
// in FP32 with Casts at the edges, numerically sensitive ops (block list) kept in FP32 behind
// Casts, and constants clamped to FP16's finite range.
#pragma once

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

// Fails (InvalidArgument) when the model has no float32 input.
Result<TransformResult> ConvertToFp16(const onnx::ModelProto& model, const Fp16Options& options);

}  // namespace orbit::optimize
