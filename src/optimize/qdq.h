// INT8 static quantisation in QDQ form: weights int8 symmetric (per tensor or per output channel),
// activations uint8 asymmetric from calibrated ranges, biases int32, with QuantizeLinear /
// DequantizeLinear pairs placed where ONNX Runtime fuses them into integer kernels (QLinearConv,
// QLinearMatMul, ...). Ops the quantiser does not handle stay FP32 and are listed.
//
// Measured with ONNX Runtime 1.29's CPU provider on the demo U-Net: every Conv (+ folded Relu)
// becomes QLinearConv, Concat QLinearConcat and MaxPool a uint8 NhwcMaxPool; ConvTranspose has no
// fused INT8 kernel there and runs in FP32 between its DQ and Q (other providers fuse it).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "core/status.h"
#include "optimize/calibration.h"
#include "optimize/transform_result.h"

namespace orbit::optimize {

struct QuantizeOptions {
  bool per_channel = false;
  std::set<std::string> exclude_nodes;
};

// The activations whose ranges QuantizeQdq needs for this model (input to Calibrate).
Result<std::vector<std::string>> ActivationsToCalibrate(const onnx::ModelProto& model,
                                                        const QuantizeOptions& options);

// FailedPrecondition when `ranges` lacks a tensor the quantiser needs (named in the message).
Result<TransformResult> QuantizeQdq(const onnx::ModelProto& model, const RangeTable& ranges,
                                    const QuantizeOptions& options);

}  // namespace orbit::optimize
