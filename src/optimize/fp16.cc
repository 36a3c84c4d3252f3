#include "optimize/fp16.h"

namespace orbit::optimize {

std::set<std::string> DefaultFp16BlockList() { return {}; }

Result<TransformResult> ConvertToFp16(const onnx::ModelProto&, const Fp16Options&) {
  return UnimplementedError("FP16 conversion: not implemented yet");
}

}  // namespace orbit::optimize
