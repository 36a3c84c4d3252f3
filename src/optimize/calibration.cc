#include "optimize/calibration.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "optimize/onnx_model.h"
#include "optimize/qdq.h"
#include "runtime/engine.h"

namespace orbit::optimize {

// Per tensor: the exact min/max, and (for percentile/entropy) a histogram of |x| over
// [0, histogram_max]. When a later batch exceeds histogram_max the histogram is re-binned onto the
// wider range (each old bin's count moves to the new bin holding its centre), as ONNX Runtime's
// HistogramCollector does, so memory stays at `histogram_bins` counters per tensor.
struct RangeCollector::State {
  float min = std::numeric_limits<float>::infinity();
  float max = -std::numeric_limits<float>::infinity();
  double histogram_max = 0;
  std::vector<double> histogram;
};

namespace {

// Redistributes `histogram` (over [0, old_max]) onto the same number of bins over [0, new_max].
void Rebin(std::vector<double>& histogram, double old_max, double new_max) {
  const auto bins = static_cast<double>(histogram.size());
  std::vector<double> wider(histogram.size(), 0.0);
  const double old_width = old_max / bins;
  const double new_width = new_max / bins;
  for (std::size_t j = 0; j < histogram.size(); ++j) {
    if (histogram[j] == 0) continue;
    const double centre = (static_cast<double>(j) + 0.5) * old_width;
    auto index = static_cast<std::size_t>(centre / new_width);
    wider[std::min(index, wider.size() - 1)] += histogram[j];
  }
  histogram.swap(wider);
}

// Index of the bin at which the cumulative count reaches `percentile` % of the total, + 1.
std::size_t PercentileBins(const std::vector<double>& histogram, double percentile) {
  double total = 0;
  for (double c : histogram) total += c;
  const double target = total * percentile / 100.0;
  double cumulative = 0;
  for (std::size_t j = 0; j < histogram.size(); ++j) {
    cumulative += histogram[j];
    if (cumulative >= target) return j + 1;
  }
  return histogram.size();
}

// ONNX Runtime's smooth_distribution: moves eps of mass onto the empty bins so that the KL
// divergence stays finite.
bool Smooth(std::vector<double>& p) {
  constexpr double kEps = 0.0001;
  std::size_t zeros = 0;
  for (double v : p) zeros += v == 0 ? 1 : 0;
  const std::size_t nonzeros = p.size() - zeros;
  if (nonzeros == 0) return false;
  const double eps1 = kEps * static_cast<double>(zeros) / static_cast<double>(nonzeros);
  for (double& v : p) v = v == 0 ? kEps : v - eps1;
  return true;
}

void Normalize(std::vector<double>& p) {
  double total = 0;
  for (double v : p) total += v;
  if (total > 0) {
    for (double& v : p) v /= total;
  }
}

// TensorRT's entropy calibration: for each candidate threshold bin i (from kQuantizedBins to all
// bins), P = the first i bins with the outliers folded into the last one, Q = the same bins merged
// into kQuantizedBins levels and expanded back over P's non-empty bins; the threshold minimises
// KL(P || Q). Default 256 levels: a uint8 activation's whole range (see calibration.h).
std::size_t EntropyBins(const std::vector<double>& histogram, std::size_t quantized_bins) {
  const std::size_t kQuantizedBins = std::max<std::size_t>(quantized_bins, 2);
  const std::size_t n = histogram.size();
  if (n <= kQuantizedBins) return n;
  std::vector<double> suffix(n + 1, 0.0);
  for (std::size_t j = n; j-- > 0;) suffix[j] = suffix[j + 1] + histogram[j];
  double best_divergence = std::numeric_limits<double>::infinity();
  std::size_t best = n;
  std::vector<double> p;
  std::vector<double> q;
  for (std::size_t i = kQuantizedBins; i <= n; ++i) {
    p.assign(histogram.begin(), histogram.begin() + static_cast<std::ptrdiff_t>(i));
    p[i - 1] += suffix[i];
    q.assign(i, 0.0);
    const std::size_t merged = i / kQuantizedBins;
    for (std::size_t k = 0; k < kQuantizedBins; ++k) {
      const std::size_t start = k * merged;
      const std::size_t end = k == kQuantizedBins - 1 ? i : start + merged;
      double mass = 0;
      std::size_t nonempty = 0;
      for (std::size_t j = start; j < end; ++j) {
        mass += histogram[j];
        nonempty += p[j] != 0 ? 1 : 0;
      }
      if (nonempty == 0) continue;
      for (std::size_t j = start; j < end; ++j) {
        if (p[j] != 0) q[j] = mass / static_cast<double>(nonempty);
      }
    }
    Normalize(p);
    Normalize(q);
    if (!Smooth(p) || !Smooth(q)) continue;
    double divergence = 0;
    for (std::size_t j = 0; j < i; ++j) {
      if (p[j] > 0 && q[j] > 0) divergence += p[j] * std::log(p[j] / q[j]);
    }
    if (divergence < best_divergence) {
      best_divergence = divergence;
      best = i;
    }
  }
  return best;
}

}  // namespace

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

RangeCollector::RangeCollector(CalibrationOptions options) : options_(options) {}

void RangeCollector::Add(const std::string& tensor, std::span<const float> values) {
  std::shared_ptr<State>& state = states_[tensor];
  if (!state) state = std::make_shared<State>();
  float batch_min = std::numeric_limits<float>::infinity();
  float batch_max = -std::numeric_limits<float>::infinity();
  for (float v : values) {
    if (std::isnan(v)) continue;
    batch_min = std::min(batch_min, v);
    batch_max = std::max(batch_max, v);
  }
  if (batch_min > batch_max) return;  // empty or all NaN
  state->min = std::min(state->min, batch_min);
  state->max = std::max(state->max, batch_max);
  if (options_.method == CalibrationMethod::kMinMax) return;

  const double abs_max = std::max(std::abs(batch_min), std::abs(batch_max));
  const auto bins = static_cast<std::size_t>(std::max(options_.histogram_bins, 1));
  if (state->histogram.empty()) {
    state->histogram.assign(bins, 0.0);
    state->histogram_max = abs_max > 0 ? abs_max : 1e-12;
  } else if (abs_max > state->histogram_max) {
    Rebin(state->histogram, state->histogram_max, abs_max);
    state->histogram_max = abs_max;
  }
  const double scale = static_cast<double>(bins) / state->histogram_max;
  for (float v : values) {
    if (std::isnan(v)) continue;
    auto index = static_cast<std::size_t>(std::abs(static_cast<double>(v)) * scale);
    state->histogram[std::min(index, bins - 1)] += 1;
  }
}

Result<RangeTable> RangeCollector::Compute() const {
  if (options_.method == CalibrationMethod::kPercentile &&
      !(options_.percentile > 0 && options_.percentile <= 100)) {
    return InvalidArgumentError("calibration percentile " + std::to_string(options_.percentile) +
                                ": expected a value in (0, 100]");
  }
  RangeTable table;
  for (const auto& [name, state] : states_) {
    if (state->min > state->max) {
      return InvalidArgumentError("calibration: tensor '" + name + "' saw no (non-NaN) values");
    }
    TensorRange range{state->min, state->max};
    if (options_.method != CalibrationMethod::kMinMax && !state->histogram.empty()) {
      const std::size_t kept =
          options_.method == CalibrationMethod::kPercentile
              ? PercentileBins(state->histogram, options_.percentile)
              : EntropyBins(state->histogram,
                            static_cast<std::size_t>(options_.entropy_quantized_bins));
      const auto threshold = static_cast<float>(state->histogram_max * static_cast<double>(kept) /
                                                static_cast<double>(state->histogram.size()));
      range.min = std::max(range.min, -threshold);
      range.max = std::min(range.max, threshold);
    }
    table[name] = range;
  }
  return table;
}

Result<RangeTable> Calibrate(const onnx::ModelProto& model, const std::vector<Tensor>& inputs,
                             const std::vector<std::string>& tensors,
                             const CalibrationOptions& options) {
  if (inputs.empty()) {
    return InvalidArgumentError("calibration: no input batches (need at least one input tensor)");
  }
  const onnx::GraphProto& graph = model.graph();
  std::set<std::string> initializers;
  for (const auto& init : graph.initializer()) initializers.insert(init.name());
  std::vector<std::string> graph_inputs;
  for (const auto& input : graph.input()) {
    if (initializers.count(input.name()) == 0) graph_inputs.push_back(input.name());
  }
  if (graph_inputs.size() != 1) {
    return InvalidArgumentError("calibration: the model has " +
                                std::to_string(graph_inputs.size()) +
                                " inputs; only single-input models are supported");
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].dtype() != DType::kFloat32) {
      return InvalidArgumentError("calibration input #" + std::to_string(i) + ": " +
                                  std::string(DTypeName(inputs[i].dtype())) +
                                  " tensor, expected FP32");
    }
  }

  std::vector<std::string> wanted = tensors;
  if (wanted.empty()) {
    ORBIT_ASSIGN_OR_RETURN(wanted, ActivationsToCalibrate(model, {}));
  }
  std::map<std::string, int> types = InferElemTypes(model);
  std::set<std::string> known(graph_inputs.begin(), graph_inputs.end());
  for (const auto& node : graph.node()) known.insert(node.output().begin(), node.output().end());
  for (const auto& name : wanted) {
    if (known.count(name) == 0) {
      return InvalidArgumentError("calibration: tensor '" + name +
                                  "' is not an input or node output of the model");
    }
    auto type = types.find(name);
    if (type != types.end() && type->second != onnx::TensorProto::FLOAT) {
      return InvalidArgumentError("calibration: tensor '" + name +
                                  "' is not float32 (only float activations are calibrated)");
    }
  }

  // Expose every wanted intermediate as an extra graph output.
  onnx::ModelProto exposed = model;
  std::set<std::string> outputs;
  for (const auto& output : graph.output()) outputs.insert(output.name());
  for (const auto& name : wanted) {
    if (outputs.count(name) > 0 || name == graph_inputs[0]) continue;
    auto* info = exposed.mutable_graph()->add_output();
    info->set_name(name);
    info->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    outputs.insert(name);
  }
  ORBIT_ASSIGN_OR_RETURN(std::string bytes, SerializeOnnxModel(exposed));
  ORBIT_ASSIGN_OR_RETURN(
      std::unique_ptr<runtime::Engine> engine,
      runtime::LoadOnnxEngineFromBytes(
          std::as_bytes(std::span<const char>(bytes.data(), bytes.size())), "calibration"));
  std::map<std::string, std::size_t> output_index;
  for (std::size_t i = 0; i < engine->outputs().size(); ++i) {
    output_index[engine->outputs()[i].name] = i;
  }

  RangeCollector collector(options);
  for (const Tensor& input : inputs) {
    std::span<const Tensor> batch(&input, 1);
    ORBIT_ASSIGN_OR_RETURN(std::vector<Tensor> results, engine->Run(batch));
    for (const auto& name : wanted) {
      if (name == graph_inputs[0]) {
        collector.Add(name, input.data<float>());
        continue;
      }
      const Tensor& result = results[output_index.at(name)];
      if (result.dtype() != DType::kFloat32) {
        return InvalidArgumentError("calibration: tensor '" + name + "' is " +
                                    std::string(DTypeName(result.dtype())) + ", not FP32");
      }
      collector.Add(name, result.data<float>());
    }
  }
  return collector.Compute();
}

}  // namespace orbit::optimize
