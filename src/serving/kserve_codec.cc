#include "serving/kserve_codec.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace orbit::serving {
namespace {

using json = nlohmann::json;

constexpr std::string_view kHeaderLengthName = "Inference-Header-Content-Length";

std::string Quoted(std::string_view name) { return "'" + std::string(name) + "'"; }

std::string InputPrefix(std::string_view name) { return "input " + Quoted(name) + ": "; }

// Library messages may quote raw request bytes: keep them short and printable.
std::string Printable(std::string_view text, std::size_t max_size = 160) {
  std::string out;
  for (const char c : text.substr(0, max_size)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  if (text.size() > max_size) out += "...";
  return out;
}

// A short description of a JSON value for error messages: numbers and booleans verbatim,
// everything else by type.
std::string Describe(const json& value) {
  if (value.is_number() || value.is_boolean()) return value.dump();
  return std::string(value.type_name());
}

// Rejects nesting deeper than kMaxJsonDepth before the JSON library builds (and later copies
// recursively) a DOM of it. Brackets inside strings do not count.
Status CheckJsonDepth(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return InvalidArgumentError("JSON nests deeper than " + std::to_string(kMaxJsonDepth) +
                                    " levels at byte " + std::to_string(i + 1));
      }
    } else if (c == ']' || c == '}') {
      --depth;  // unbalanced input is the parser's to report
    }
  }
  return Status::Ok();
}

Result<json> ParseJson(std::string_view text) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    // what(): "[json.exception.parse_error.101] parse error at line 1, column 2: <reason>".
    std::string_view what = e.what();
    if (const auto column = what.find("column "); column != std::string_view::npos) {
      if (const auto colon = what.find(": ", column); colon != std::string_view::npos) {
        what.remove_prefix(colon + 2);
      }
    }
    return InvalidArgumentError("malformed JSON at byte " + std::to_string(e.byte) + ": " +
                                Printable(what));
  } catch (const json::out_of_range& e) {
    // Numbers beyond the double range, e.g. 1e400: "[json.exception.out_of_range.406] number
    // overflow parsing '1e400'".
    std::string_view what = e.what();
    if (const auto bracket = what.find("] "); bracket != std::string_view::npos) {
      what.remove_prefix(bracket + 2);
    }
    return InvalidArgumentError("JSON number out of range: " + Printable(what));
  }
}

// Round half to even without depending on the floating-point environment. `x` is >= 0 and
// small enough (< 2^52) that x - floor(x) is exact.
double RoundHalfEven(double x) {
  const double floor = std::floor(x);
  const double fraction = x - floor;
  if (fraction > 0.5) return floor + 1.0;
  if (fraction < 0.5) return floor;
  return std::fmod(floor, 2.0) == 0.0 ? floor : floor + 1.0;
}

// Largest magnitude that rounds to a finite value: halfway between the largest finite value and
// the next power of two (which would be the next value if the exponent range allowed).
constexpr double kHalfRoundingLimit = 65520.0;                                     // 65504 + 16
constexpr double kFloatRoundingLimit = 340282356779733661637539395458142568448.0;  // 2^128 - 2^103

// ---------------------------------------------------------------------------------------------
// JSON "data" -> tensor bytes.

// Converts the scalars of one input, in row-major order, into its tensor's buffer.
class DataWriter {
 public:
  DataWriter(std::string_view input_name, DType dtype, std::span<std::byte> out)
      : input_name_(input_name), dtype_(dtype), out_(out), size_(DTypeSize(dtype)) {}

  std::int64_t written() const { return written_; }

  Status Write(const json& value) {
    const std::size_t offset = static_cast<std::size_t>(written_) * size_;
    if (offset + size_ > out_.size()) {
      return InternalError(InputPrefix(input_name_) + "more data elements than the shape holds");
    }
    std::byte* dst = out_.data() + offset;
    Status status;
    switch (dtype_) {
      case DType::kBool:
        status = WriteBool(value, dst);
        break;
      case DType::kUInt8:
        status = WriteInteger<std::uint8_t>(value, dst);
        break;
      case DType::kUInt16:
        status = WriteInteger<std::uint16_t>(value, dst);
        break;
      case DType::kUInt32:
        status = WriteInteger<std::uint32_t>(value, dst);
        break;
      case DType::kUInt64:
        status = WriteInteger<std::uint64_t>(value, dst);
        break;
      case DType::kInt8:
        status = WriteInteger<std::int8_t>(value, dst);
        break;
      case DType::kInt16:
        status = WriteInteger<std::int16_t>(value, dst);
        break;
      case DType::kInt32:
        status = WriteInteger<std::int32_t>(value, dst);
        break;
      case DType::kInt64:
        status = WriteInteger<std::int64_t>(value, dst);
        break;
      case DType::kFloat16:
      case DType::kFloat32:
      case DType::kFloat64:
        status = WriteFloat(value, dst);
        break;
    }
    ++written_;
    return status;
  }

 private:
  Status ElementError(const std::string& reason) const {
    return InvalidArgumentError(InputPrefix(input_name_) + "data element " +
                                std::to_string(written_) + " " + reason);
  }
  std::string TypeName() const { return std::string(DTypeName(dtype_)); }

  Status WriteBool(const json& value, std::byte* dst) {
    if (!value.is_boolean()) {
      return ElementError("is " + Describe(value) + ", expected true or false for BOOL");
    }
    const std::uint8_t byte = value.get<bool>() ? 1 : 0;
    std::memcpy(dst, &byte, 1);
    return Status::Ok();
  }

  template <typename T>
  Status WriteInteger(const json& value, std::byte* dst) {
    T result{};
    bool in_range = false;
    if (value.is_number_unsigned()) {
      const auto v = value.get<std::uint64_t>();
      in_range = std::in_range<T>(v);
      result = static_cast<T>(v);
    } else if (value.is_number_integer()) {
      const auto v = value.get<std::int64_t>();
      in_range = std::in_range<T>(v);
      result = static_cast<T>(v);
    } else if (value.is_number_float()) {
      return ElementError("(" + value.dump() + ") is not an integer, as " + TypeName() +
                          " requires");
    } else {
      return ElementError("is " + Describe(value) + ", expected an integer for " + TypeName());
    }
    if (!in_range) {
      return ElementError("(" + value.dump() + ") is out of range for " + TypeName());
    }
    std::memcpy(dst, &result, sizeof(T));
    return Status::Ok();
  }

  Status WriteFloat(const json& value, std::byte* dst) {
    if (!value.is_number()) {
      return ElementError("is " + Describe(value) + ", expected a number for " + TypeName());
    }
    const double v = value.get<double>();  // exact for floats; integers round to nearest
    const double magnitude = std::fabs(v);
    const bool finite = std::isfinite(v);
    switch (dtype_) {
      case DType::kFloat16: {
        if (!finite || magnitude >= kHalfRoundingLimit) break;
        const std::uint16_t bits = DoubleToHalfBits(v);
        std::memcpy(dst, &bits, sizeof(bits));
        return Status::Ok();
      }
      case DType::kFloat32: {
        if (!finite || magnitude >= kFloatRoundingLimit) break;
        // Between FLT_MAX and the rounding limit the value rounds to FLT_MAX; clamp rather than
        // rely on an out-of-range conversion.
        constexpr float kMax = std::numeric_limits<float>::max();
        const float f = magnitude <= static_cast<double>(kMax) ? static_cast<float>(v)
                        : v > 0                                ? kMax
                                                               : -kMax;
        std::memcpy(dst, &f, sizeof(f));
        return Status::Ok();
      }
      default: {
        if (!finite) break;
        std::memcpy(dst, &v, sizeof(v));
        return Status::Ok();
      }
    }
    return ElementError("(" + value.dump() + ") is out of range for " + TypeName());
  }

  std::string_view input_name_;
  DType dtype_;
  std::span<std::byte> out_;
  std::size_t size_;
  std::int64_t written_ = 0;
};

std::string PathString(const std::vector<std::size_t>& path) {
  std::string out = "data";
  for (const auto index : path) out += "[" + std::to_string(index) + "]";
  return out;
}

// Walks nested "data" that must mirror `shape` exactly: the array at depth d has shape[d] items
// and the leaves sit at depth rank. Depth is bounded by kMaxJsonDepth.
Status WriteNested(const json& node, const Shape& shape, std::vector<std::size_t>& path,
                   std::string_view input_name, DataWriter& writer) {
  const std::size_t depth = path.size();
  if (depth == shape.size()) {
    if (node.is_array()) {
      return InvalidArgumentError(InputPrefix(input_name) + "data nesting does not match shape " +
                                  ShapeToString(shape) + ": " + PathString(path) +
                                  " is an array, expected a value");
    }
    return writer.Write(node);
  }
  if (!node.is_array()) {
    return InvalidArgumentError(InputPrefix(input_name) + "data nesting does not match shape " +
                                ShapeToString(shape) + ": " + PathString(path) + " is " +
                                Describe(node) + ", expected an array of " +
                                std::to_string(shape[depth]) + " items");
  }
  if (node.size() != static_cast<std::uint64_t>(shape[depth])) {
    return InvalidArgumentError(InputPrefix(input_name) + "data nesting does not match shape " +
                                ShapeToString(shape) + ": " + PathString(path) + " has " +
                                std::to_string(node.size()) + " items, expected " +
                                std::to_string(shape[depth]));
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    path.push_back(i);
    ORBIT_RETURN_IF_ERROR(WriteNested(node[i], shape, path, input_name, writer));
    path.pop_back();
  }
  return Status::Ok();
}

// Fills `tensor` (already shaped) from "data": a flat array of element_count values, or arrays
// nested exactly as the shape.
Status WriteJsonData(const json& data, std::string_view input_name, Tensor& tensor) {
  if (!data.is_array()) {
    return InvalidArgumentError(InputPrefix(input_name) + "'data' must be an array, got " +
                                std::string(data.type_name()));
  }
  DataWriter writer(input_name, tensor.dtype(), tensor.bytes());
  const bool nested = !data.empty() && data.front().is_array();
  if (nested) {
    std::vector<std::size_t> path;
    return WriteNested(data, tensor.shape(), path, input_name, writer);
  }
  for (const auto& value : data) ORBIT_RETURN_IF_ERROR(writer.Write(value));
  return Status::Ok();
}

// Number of scalars a flat or nested "data" holds, to compare with the shape before allocating.
// Returns nullopt for nested data (checked item by item against the shape instead).
std::optional<std::size_t> FlatDataSize(const json& data) {
  if (!data.is_array()) return std::nullopt;
  if (!data.empty() && data.front().is_array()) return std::nullopt;
  return data.size();
}

// ---------------------------------------------------------------------------------------------
// Request fields.

Result<DType> ParseProtocolDType(const json& value, std::string_view input_name) {
  if (!value.is_string()) {
    return InvalidArgumentError(InputPrefix(input_name) + "'datatype' must be a string, got " +
                                Describe(value));
  }
  const auto& name = value.get_ref<const std::string&>();
  if (name == "BYTES") {
    return UnimplementedError(InputPrefix(input_name) +
                              "datatype BYTES is not supported (Orbit serves numeric tensors)");
  }
  auto dtype = ParseDType(name);
  // ParseDType also accepts lower-case aliases; the protocol's names are upper-case only.
  if (!dtype.ok() || DTypeName(*dtype) != name) {
    return InvalidArgumentError(InputPrefix(input_name) + "unknown datatype " +
                                Quoted(Printable(name)) +
                                " (expected BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, "
                                "INT32, INT64, FP16, FP32 or FP64)");
  }
  return *dtype;
}

Result<Shape> ParseShape(const json& value, std::string_view input_name) {
  if (!value.is_array()) {
    return InvalidArgumentError(InputPrefix(input_name) + "'shape' must be an array, got " +
                                Describe(value));
  }
  Shape shape;
  shape.reserve(value.size());
  for (const auto& dim : value) {
    if (dim.is_number_unsigned()) {
      const auto v = dim.get<std::uint64_t>();
      if (!std::in_range<std::int64_t>(v)) {
        return InvalidArgumentError(InputPrefix(input_name) + "shape dimension " +
                                    std::to_string(v) + " is out of range");
      }
      shape.push_back(static_cast<std::int64_t>(v));
    } else if (dim.is_number_integer()) {
      shape.push_back(dim.get<std::int64_t>());
    } else {
      return InvalidArgumentError(InputPrefix(input_name) + "'shape' must hold integers, found " +
                                  Describe(dim));
    }
  }
  for (const auto dim : shape) {
    if (dim < 0) {
      return InvalidArgumentError(InputPrefix(input_name) + "shape " + ShapeToString(shape) +
                                  " has a negative dimension");
    }
  }
  return shape;
}

Result<std::uint64_t> ParseBinaryDataSize(const json& value, std::string_view input_name) {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  if (value.is_number_integer() && value.get<std::int64_t>() >= 0) {
    return static_cast<std::uint64_t>(value.get<std::int64_t>());
  }
  return InvalidArgumentError(InputPrefix(input_name) +
                              "parameters.binary_data_size must be a non-negative integer, got " +
                              Describe(value));
}

Result<json> ParseParameters(const json& object, std::string_view owner) {
  const auto it = object.find("parameters");
  if (it == object.end()) return json::object();
  if (!it->is_object()) {
    return InvalidArgumentError(std::string(owner) + "'parameters' must be an object, got " +
                                Describe(*it));
  }
  return *it;
}

// The bytes after the JSON header, taken by the binary inputs in order.
struct BinarySection {
  bool present = false;
  std::string_view bytes;
  std::size_t consumed = 0;
};

struct ElementBudget {
  std::int64_t limit = 0;
  std::int64_t used = 0;
};

Result<InferInput> ParseInput(const json& value, std::size_t index, BinarySection& binary,
                              ElementBudget& budget) {
  const std::string where = "inputs[" + std::to_string(index) + "]";
  if (!value.is_object()) {
    return InvalidArgumentError(where + " must be an object, got " + Describe(value));
  }
  InferInput input;
  const auto name = value.find("name");
  if (name == value.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return InvalidArgumentError(where + ": 'name' must be a non-empty string");
  }
  input.name = name->get<std::string>();
  const std::string& input_name = input.name;

  const auto datatype = value.find("datatype");
  if (datatype == value.end()) {
    return InvalidArgumentError(InputPrefix(input_name) + "'datatype' is missing");
  }
  ORBIT_ASSIGN_OR_RETURN(input.dtype, ParseProtocolDType(*datatype, input_name));

  const auto shape = value.find("shape");
  if (shape == value.end()) {
    return InvalidArgumentError(InputPrefix(input_name) + "'shape' is missing");
  }
  ORBIT_ASSIGN_OR_RETURN(input.shape, ParseShape(*shape, input_name));
  auto count = ElementCount(input.shape);
  if (!count.ok()) {
    return InvalidArgumentError(InputPrefix(input_name) + "shape " + ShapeToString(input.shape) +
                                " has more elements than a 64-bit count holds");
  }
  if (*count > budget.limit - budget.used) {
    return ResourceExhaustedError(InputPrefix(input_name) + "shape " + ShapeToString(input.shape) +
                                  " has " + std::to_string(*count) +
                                  " elements, which takes the request past its limit of " +
                                  std::to_string(budget.limit) + " elements");
  }
  budget.used += *count;
  // A budget above 2^61 elements could let the byte size wrap; such a size matches nothing.
  const std::uint64_t element_size = DTypeSize(input.dtype);
  const bool byte_size_fits =
      static_cast<std::uint64_t>(*count) <= std::numeric_limits<std::uint64_t>::max() / 8;
  const std::uint64_t byte_size = static_cast<std::uint64_t>(*count) * element_size;

  ORBIT_ASSIGN_OR_RETURN(input.parameters, ParseParameters(value, InputPrefix(input_name)));
  const auto binary_size_it = input.parameters.find("binary_data_size");
  const bool has_binary = binary_size_it != input.parameters.end();
  const auto data = value.find("data");
  const bool has_data = data != value.end();
  if (has_binary && has_data) {
    return InvalidArgumentError(InputPrefix(input_name) +
                                "has both 'data' and parameters.binary_data_size");
  }
  if (!has_binary && !has_data) {
    return InvalidArgumentError(InputPrefix(input_name) +
                                "has neither 'data' nor parameters.binary_data_size");
  }

  if (has_binary) {
    ORBIT_ASSIGN_OR_RETURN(const std::uint64_t size,
                           ParseBinaryDataSize(*binary_size_it, input_name));
    if (!binary.present) {
      return InvalidArgumentError(InputPrefix(input_name) +
                                  "has parameters.binary_data_size but the request has no "
                                  "binary section (" +
                                  std::string(kHeaderLengthName) + " is not set)");
    }
    if (!byte_size_fits || size != byte_size) {
      return InvalidArgumentError(
          InputPrefix(input_name) + "binary_data_size " + std::to_string(size) +
          " does not match shape " + ShapeToString(input.shape) + " of " +
          std::string(DTypeName(input.dtype)) + " (" +
          (byte_size_fits ? std::to_string(byte_size) + " bytes" : "too many bytes") + ")");
    }
    const std::size_t left = binary.bytes.size() - binary.consumed;
    if (size > left) {
      return InvalidArgumentError(
          InputPrefix(input_name) + "binary_data_size " + std::to_string(size) + " exceeds the " +
          std::to_string(left) + " bytes left in the binary section (" +
          std::to_string(binary.bytes.size()) + " bytes after the JSON header, " +
          std::to_string(binary.consumed) + " taken by earlier inputs)");
    }
    const auto bytes = std::as_bytes(std::span<const char>(binary.bytes.data() + binary.consumed,
                                                           static_cast<std::size_t>(size)));
    binary.consumed += static_cast<std::size_t>(size);
    if (input.dtype == DType::kBool) {
      for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (bytes[i] != std::byte{0} && bytes[i] != std::byte{1}) {
          return InvalidArgumentError(
              InputPrefix(input_name) + "BOOL element " + std::to_string(i) + " is byte " +
              std::to_string(std::to_integer<int>(bytes[i])) + ", expected 0 or 1");
        }
      }
    }
    ORBIT_ASSIGN_OR_RETURN(input.tensor, Tensor::CopyFrom(input.dtype, input.shape, bytes));
    return input;
  }

  if (const auto flat_size = FlatDataSize(*data);
      flat_size && *flat_size != static_cast<std::uint64_t>(*count)) {
    return InvalidArgumentError(InputPrefix(input_name) + "shape " + ShapeToString(input.shape) +
                                " has " + std::to_string(*count) + " elements but data has " +
                                std::to_string(*flat_size));
  }
  ORBIT_ASSIGN_OR_RETURN(input.tensor, Tensor::Zeros(input.dtype, input.shape));
  ORBIT_RETURN_IF_ERROR(WriteJsonData(*data, input_name, input.tensor));
  return input;
}

Result<std::vector<RequestedOutput>> ParseRequestedOutputs(const json& value, bool default_binary) {
  if (!value.is_array()) {
    return InvalidArgumentError("'outputs' must be an array, got " + Describe(value));
  }
  std::vector<RequestedOutput> outputs;
  std::unordered_set<std::string> names;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const json& entry = value[i];
    const std::string where = "outputs[" + std::to_string(i) + "]";
    if (!entry.is_object()) {
      return InvalidArgumentError(where + " must be an object, got " + Describe(entry));
    }
    const auto name = entry.find("name");
    if (name == entry.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
      return InvalidArgumentError(where + ": 'name' must be a non-empty string");
    }
    RequestedOutput output;
    output.name = name->get<std::string>();
    if (!names.insert(output.name).second) {
      return InvalidArgumentError("output " + Quoted(output.name) + " is requested twice");
    }
    const std::string prefix = "output " + Quoted(output.name) + ": ";
    ORBIT_ASSIGN_OR_RETURN(output.parameters, ParseParameters(entry, prefix));
    output.binary_data = default_binary;
    if (const auto binary = output.parameters.find("binary_data");
        binary != output.parameters.end()) {
      if (!binary->is_boolean()) {
        return InvalidArgumentError(prefix + "parameters.binary_data must be true or false, got " +
                                    Describe(*binary));
      }
      output.binary_data = binary->get<bool>();
    }
    outputs.push_back(std::move(output));
  }
  return outputs;
}

Result<InferRequest> ParseRequestJson(std::string_view json_text, BinarySection binary,
                                      const ParseLimits& limits) {
  ORBIT_RETURN_IF_ERROR(CheckJsonDepth(json_text));
  ORBIT_ASSIGN_OR_RETURN(const json document, ParseJson(json_text));
  if (!document.is_object()) {
    return InvalidArgumentError("request must be a JSON object, got " + Describe(document));
  }
  InferRequest request;
  if (const auto id = document.find("id"); id != document.end()) {
    if (!id->is_string()) {
      return InvalidArgumentError("'id' must be a string, got " + Describe(*id));
    }
    request.id = id->get<std::string>();
  }
  ORBIT_ASSIGN_OR_RETURN(request.parameters, ParseParameters(document, ""));
  if (const auto binary_output = request.parameters.find("binary_data_output");
      binary_output != request.parameters.end()) {
    if (!binary_output->is_boolean()) {
      return InvalidArgumentError("parameters.binary_data_output must be true or false, got " +
                                  Describe(*binary_output));
    }
    request.binary_data_output_default = binary_output->get<bool>();
  }

  const auto inputs = document.find("inputs");
  if (inputs == document.end()) return InvalidArgumentError("request has no 'inputs'");
  if (!inputs->is_array()) {
    return InvalidArgumentError("'inputs' must be an array, got " + Describe(*inputs));
  }
  ElementBudget budget{.limit = limits.max_elements};
  std::unordered_map<std::string, std::size_t> seen;
  request.inputs.reserve(inputs->size());
  for (std::size_t i = 0; i < inputs->size(); ++i) {
    ORBIT_ASSIGN_OR_RETURN(InferInput input, ParseInput((*inputs)[i], i, binary, budget));
    if (const auto [it, inserted] = seen.emplace(input.name, i); !inserted) {
      return InvalidArgumentError("duplicate input " + Quoted(input.name) + " (inputs[" +
                                  std::to_string(it->second) + "] and inputs[" + std::to_string(i) +
                                  "])");
    }
    request.inputs.push_back(std::move(input));
  }
  if (binary.consumed != binary.bytes.size()) {
    return InvalidArgumentError(
        "binary section has " + std::to_string(binary.bytes.size()) +
        " bytes after the JSON header but the inputs' binary_data_size add up to " +
        std::to_string(binary.consumed));
  }

  if (const auto outputs = document.find("outputs"); outputs != document.end()) {
    ORBIT_ASSIGN_OR_RETURN(request.outputs,
                           ParseRequestedOutputs(*outputs, request.binary_data_output_default));
  }
  return request;
}

// ---------------------------------------------------------------------------------------------
// Response encoding.

void AppendJsonString(std::string& out, std::string_view text) {
  out += json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
}

template <typename T>
void AppendInteger(std::string& out, T value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

// Shortest text that reads back as the same value of T; a '.0' keeps integral values (and -0.0)
// floating-point for parsers that type numbers by their spelling.
template <typename T>
void AppendFloat(std::string& out, T value) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  const std::string_view text(buffer, static_cast<std::size_t>(result.ptr - buffer));
  out += text;
  if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
}

template <typename T>
T LoadElement(const std::byte* at) {
  T value;
  std::memcpy(&value, at, sizeof(T));
  return value;
}

void AppendElement(std::string& out, DType dtype, const std::byte* at) {
  switch (dtype) {
    case DType::kBool:
      out += LoadElement<std::uint8_t>(at) != 0 ? "true" : "false";
      return;
    case DType::kUInt8:
      return AppendInteger(out, LoadElement<std::uint8_t>(at));
    case DType::kUInt16:
      return AppendInteger(out, LoadElement<std::uint16_t>(at));
    case DType::kUInt32:
      return AppendInteger(out, LoadElement<std::uint32_t>(at));
    case DType::kUInt64:
      return AppendInteger(out, LoadElement<std::uint64_t>(at));
    case DType::kInt8:
      return AppendInteger(out, LoadElement<std::int8_t>(at));
    case DType::kInt16:
      return AppendInteger(out, LoadElement<std::int16_t>(at));
    case DType::kInt32:
      return AppendInteger(out, LoadElement<std::int32_t>(at));
    case DType::kInt64:
      return AppendInteger(out, LoadElement<std::int64_t>(at));
    case DType::kFloat16:
      return AppendFloat(out, HalfBitsToFloat(LoadElement<std::uint16_t>(at)));
    case DType::kFloat32:
      return AppendFloat(out, LoadElement<float>(at));
    case DType::kFloat64:
      return AppendFloat(out, LoadElement<double>(at));
  }
}

void AppendShape(std::string& out, const Shape& shape) {
  out += '[';
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ',';
    AppendInteger(out, shape[i]);
  }
  out += ']';
}

void AppendOutput(std::string& out, const InferOutput& output) {
  const Tensor& tensor = output.tensor;
  out += "{\"name\":";
  AppendJsonString(out, output.name);
  out += ",\"datatype\":\"";
  out += DTypeName(tensor.dtype());
  out += "\",\"shape\":";
  AppendShape(out, tensor.shape());
  if (output.binary) {
    out += ",\"parameters\":{\"binary_data_size\":";
    AppendInteger(out, tensor.byte_size());
    out += "}}";
    return;
  }
  out += ",\"data\":[";
  const auto bytes = tensor.bytes();
  const std::size_t size = DTypeSize(tensor.dtype());
  for (std::size_t offset = 0; offset < bytes.size(); offset += size) {
    if (offset > 0) out += ',';
    AppendElement(out, tensor.dtype(), bytes.data() + offset);
  }
  out += "]}";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public API.

std::uint16_t DoubleToHalfBits(double value) {
  const std::uint16_t sign = std::signbit(value) ? 0x8000 : 0;
  if (std::isnan(value)) return sign | 0x7e00;
  const double magnitude = std::fabs(value);
  if (magnitude >= kHalfRoundingLimit) return sign | 0x7c00;
  if (magnitude < 0x1p-14) {
    // Zero or subnormal: a count of 2^-24 units. A count of 1024 is the smallest normal, whose
    // encoding is that same number.
    const double units = RoundHalfEven(magnitude * 0x1p24);  // power-of-two scaling is exact
    return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(units));
  }
  int exponent = 0;
  const double fraction = std::frexp(magnitude, &exponent);  // magnitude = fraction * 2^exponent
  // magnitude = (1 + m / 1024) * 2^(exponent - 1); a mantissa that rounds up to 1024 carries
  // into the exponent field, which the addition below does by itself.
  const double mantissa = RoundHalfEven((fraction * 2.0 - 1.0) * 1024.0);
  const int biased = exponent - 1 + 15;
  return static_cast<std::uint16_t>(sign | ((biased << 10) + static_cast<int>(mantissa)));
}

float HalfBitsToFloat(std::uint16_t bits) {
  const bool negative = (bits & 0x8000) != 0;
  const int exponent = (bits >> 10) & 0x1f;
  const int mantissa = bits & 0x3ff;
  float magnitude = 0.0f;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);
  } else if (exponent == 31) {
    magnitude = mantissa == 0 ? std::numeric_limits<float>::infinity()
                              : std::numeric_limits<float>::quiet_NaN();
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa + 1024), exponent - 25);
  }
  return negative ? -magnitude : magnitude;
}

Result<InferRequest> ParseInferRequest(std::string_view body,
                                       std::optional<std::size_t> json_header_length,
                                       const ParseLimits& limits) {
  if (body.size() > limits.max_body_bytes) {
    return ResourceExhaustedError("request body of " + std::to_string(body.size()) +
                                  " bytes exceeds the limit of " +
                                  std::to_string(limits.max_body_bytes) + " bytes");
  }
  if (json_header_length && *json_header_length > body.size()) {
    return InvalidArgumentError(std::string(kHeaderLengthName) + " " +
                                std::to_string(*json_header_length) + " exceeds the body size of " +
                                std::to_string(body.size()) + " bytes");
  }
  const std::size_t json_size = json_header_length.value_or(body.size());
  if (json_size > limits.max_json_bytes) {
    return ResourceExhaustedError("JSON request header of " + std::to_string(json_size) +
                                  " bytes exceeds the limit of " +
                                  std::to_string(limits.max_json_bytes) + " bytes");
  }
  BinarySection binary{.present = json_header_length.has_value(), .bytes = body.substr(json_size)};
  try {
    return ParseRequestJson(body.substr(0, json_size), binary, limits);
  } catch (const json::exception& e) {
    // Every access above checks types first; this is a backstop, not a path.
    return InvalidArgumentError("invalid request: " + Printable(e.what()));
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("out of memory while parsing a request of " +
                                  std::to_string(body.size()) + " bytes");
  }
}

Result<EncodedResponse> EncodeInferResponse(const InferResponse& response) {
  if (!response.parameters.is_null() && !response.parameters.is_object()) {
    return InvalidArgumentError("response parameters must be a JSON object, got " +
                                Describe(response.parameters));
  }
  std::unordered_set<std::string_view> names;
  std::size_t binary_size = 0;
  bool any_binary = false;
  for (const auto& output : response.outputs) {
    if (!names.insert(output.name).second) {
      return InvalidArgumentError("response has two outputs named " + Quoted(output.name));
    }
    if (output.binary) {
      any_binary = true;
      binary_size += output.tensor.byte_size();
    }
  }

  EncodedResponse encoded;
  std::string& out = encoded.body;
  out += "{\"model_name\":";
  AppendJsonString(out, response.model_name);
  out += ",\"model_version\":";
  AppendJsonString(out, response.model_version);
  if (!response.id.empty()) {
    out += ",\"id\":";
    AppendJsonString(out, response.id);
  }
  if (response.parameters.is_object() && !response.parameters.empty()) {
    out += ",\"parameters\":";
    out += response.parameters.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  out += ",\"outputs\":[";
  for (std::size_t i = 0; i < response.outputs.size(); ++i) {
    if (i > 0) out += ',';
    AppendOutput(out, response.outputs[i]);
  }
  out += "]}";

  if (any_binary) {
    encoded.json_header_length = out.size();
    out.reserve(out.size() + binary_size);
    for (const auto& output : response.outputs) {
      if (!output.binary) continue;
      const auto bytes = output.tensor.bytes();
      if (bytes.empty()) continue;
      out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
    encoded.content_type = "application/octet-stream";
  } else {
    encoded.content_type = "application/json";
  }
  return encoded;
}

nlohmann::json ServerMetadataJson(std::string_view name, std::string_view version,
                                  std::span<const std::string> extensions) {
  return json{{"name", std::string(name)},
              {"version", std::string(version)},
              {"extensions", json(std::vector<std::string>(extensions.begin(), extensions.end()))}};
}

namespace {
json TensorMetadataJson(std::span<const TensorMetadata> tensors) {
  json out = json::array();
  for (const auto& tensor : tensors) {
    out.push_back({{"name", tensor.name},
                   {"datatype", std::string(DTypeName(tensor.dtype))},
                   {"shape", tensor.shape}});
  }
  return out;
}
}  // namespace

nlohmann::json ModelMetadataJson(std::string_view name, std::span<const std::string> versions,
                                 std::string_view platform, std::span<const TensorMetadata> inputs,
                                 std::span<const TensorMetadata> outputs) {
  return json{{"name", std::string(name)},
              {"versions", json(std::vector<std::string>(versions.begin(), versions.end()))},
              {"platform", std::string(platform)},
              {"inputs", TensorMetadataJson(inputs)},
              {"outputs", TensorMetadataJson(outputs)}};
}

}  // namespace orbit::serving
