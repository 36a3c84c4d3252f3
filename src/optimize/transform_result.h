// What a graph transform did, node by node, so that reports can list what stayed in FP32 and why.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

namespace orbit::optimize {

struct NodeDecision {
  std::string node;  // node name (or "<op_type>#<index>" when the node has none)
  std::string op_type;
  std::string
      reason;  // e.g. "op not supported by the FP16 converter", "excluded by --exclude-nodes"
};

struct TransformResult {
  onnx::ModelProto model;
  std::vector<std::string> converted_nodes;  // nodes now computing in FP16 / INT8
  std::vector<NodeDecision> kept_fp32;       // nodes left in FP32, with the reason
};

}  // namespace orbit::optimize
