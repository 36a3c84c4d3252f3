#include "optimize/qdq.h"

namespace orbit::optimize {

Result<std::vector<std::string>> ActivationsToCalibrate(const onnx::ModelProto&,
                                                        const QuantizeOptions&) {
  return UnimplementedError("QDQ quantisation: not implemented yet");
}

Result<TransformResult> QuantizeQdq(const onnx::ModelProto&, const RangeTable&,
                                    const QuantizeOptions&) {
  return UnimplementedError("QDQ quantisation: not implemented yet");
}

}  // namespace orbit::optimize
