#include "serving/kserve_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

namespace orbit::serving {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

Result<InferRequest> ParseJsonBody(const std::string& body, const ParseLimits& limits = {}) {
  return ParseInferRequest(body, std::nullopt, limits);
}

// A body in the binary extension's layout: JSON header, then the raw bytes.
struct BinaryBody {
  std::string body;
  std::size_t header_length;
};

BinaryBody MakeBinaryBody(const std::string& header, const std::string& bytes) {
  return {header + bytes, header.size()};
}

template <typename T>
std::string RawBytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

std::string SingleInput(std::string_view datatype, std::string_view shape, std::string_view data,
                        std::string_view name = "x") {
  return R"({"inputs":[{"name":")" + std::string(name) + R"(","datatype":")" +
         std::string(datatype) + R"(","shape":)" + std::string(shape) + R"(,"data":)" +
         std::string(data) + "}]}";
}

Status ParseError(const std::string& body) {
  auto result = ParseJsonBody(body);
  EXPECT_FALSE(result.ok()) << body;
  return result.ok() ? Status::Ok() : result.status();
}

template <typename T>
std::vector<T> Values(const Tensor& tensor) {
  std::vector<T> out(static_cast<std::size_t>(tensor.element_count()));
  if (!out.empty()) std::memcpy(out.data(), tensor.bytes().data(), tensor.byte_size());
  return out;
}

// The response's outputs turned into a request's inputs, to parse what was encoded.
std::string ResponseAsRequest(const EncodedResponse& encoded) {
  json response = json::parse(encoded.body);
  return json{{"inputs", response["outputs"]}}.dump();
}

InferResponse ResponseWith(Tensor tensor, bool binary = false, std::string name = "y") {
  InferResponse response;
  response.model_name = "cellseg";
  response.model_version = "1";
  response.outputs.push_back({std::move(name), std::move(tensor), binary});
  return response;
}

// ---------------------------------------------------------------------------------------------
// Datatypes

struct DtypeCase {
  std::string datatype;
  std::string data;            // as sent
  std::string expected_bytes;  // tensor contents
  std::string encoded_data;    // "data" as encoded back
};

class EveryDatatypeTest : public ::testing::TestWithParam<DtypeCase> {};

TEST_P(EveryDatatypeTest, RoundTripsThroughJson) {
  const DtypeCase& c = GetParam();
  auto request = ParseJsonBody(SingleInput(c.datatype, "[3]", c.data));
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  ASSERT_EQ(request->inputs.size(), 1u);
  InferInput& input = request->inputs[0];
  EXPECT_EQ(DTypeName(input.dtype), c.datatype);
  EXPECT_EQ(input.shape, Shape({3}));
  EXPECT_EQ(input.tensor.shape(), Shape({3}));
  ASSERT_TRUE(input.tensor.is_owned());
  const auto bytes = input.tensor.bytes();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
            c.expected_bytes);

  auto encoded = EncodeInferResponse(ResponseWith(std::move(input.tensor)));
  ASSERT_TRUE(encoded.ok()) << encoded.status().ToString();
  EXPECT_THAT(encoded->body, HasSubstr(R"("datatype":")" + c.datatype + R"(","shape":[3],"data":)" +
                                       c.encoded_data + "}"));
}

INSTANTIATE_TEST_SUITE_P(
    KServeCodec, EveryDatatypeTest,
    ::testing::Values(
        DtypeCase{"BOOL", "[true,false,true]", std::string("\1\0\1", 3), "[true,false,true]"},
        DtypeCase{"UINT8", "[0,255,7]", RawBytes<std::uint8_t>({0, 255, 7}), "[0,255,7]"},
        DtypeCase{"UINT16", "[0,65535,7]", RawBytes<std::uint16_t>({0, 65535, 7}), "[0,65535,7]"},
        DtypeCase{"UINT32", "[0,4294967295,7]", RawBytes<std::uint32_t>({0, 4294967295u, 7}),
                  "[0,4294967295,7]"},
        DtypeCase{"UINT64", "[0,18446744073709551615,7]",
                  RawBytes<std::uint64_t>({0, 18446744073709551615u, 7}),
                  "[0,18446744073709551615,7]"},
        DtypeCase{"INT8", "[-128,127,0]", RawBytes<std::int8_t>({-128, 127, 0}), "[-128,127,0]"},
        DtypeCase{"INT16", "[-32768,32767,0]", RawBytes<std::int16_t>({-32768, 32767, 0}),
                  "[-32768,32767,0]"},
        DtypeCase{"INT32", "[-2147483648,2147483647,0]",
                  RawBytes<std::int32_t>({std::numeric_limits<std::int32_t>::min(), 2147483647, 0}),
                  "[-2147483648,2147483647,0]"},
        DtypeCase{"INT64", "[-9223372036854775808,9223372036854775807,0]",
                  RawBytes<std::int64_t>({std::numeric_limits<std::int64_t>::min(),
                                          std::numeric_limits<std::int64_t>::max(), 0}),
                  "[-9223372036854775808,9223372036854775807,0]"},
        DtypeCase{"FP16", "[1,-2.5,0.1]", RawBytes<std::uint16_t>({0x3c00, 0xc100, 0x2e66}),
                  "[1.0,-2.5,0.099975586]"},
        DtypeCase{"FP32", "[0.1,-0.0,3]", RawBytes<float>({0.1f, -0.0f, 3.0f}), "[0.1,-0.0,3.0]"},
        DtypeCase{"FP64", "[0.1,1e300,-7]", RawBytes<double>({0.1, 1e300, -7.0}),
                  "[0.1,1e+300,-7.0]"}),
    [](const auto& info) { return info.param.datatype; });

TEST(KServeCodecTest, RejectsBytesAsUnimplemented) {
  Status status = ParseError(SingleInput("BYTES", "[1]", R"(["abc"])", "text"));
  EXPECT_EQ(status.code(), StatusCode::kUnimplemented);
  EXPECT_THAT(status.message(), HasSubstr("input 'text': datatype BYTES is not supported"));
}

TEST(KServeCodecTest, RejectsUnknownAndLowerCaseDatatypes) {
  for (const char* datatype : {"FP8", "float32", "fp32", ""}) {
    Status status = ParseError(SingleInput(datatype, "[1]", "[1]"));
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(),
                HasSubstr("input 'x': unknown datatype '" + std::string(datatype) + "'"));
  }
}

TEST(KServeCodecTest, RejectsOutOfRangeIntegers) {
  struct Case {
    const char* datatype;
    const char* value;
  };
  for (const Case& c :
       {Case{"UINT8", "300"}, Case{"UINT8", "-1"}, Case{"INT8", "-129"}, Case{"INT8", "128"},
        Case{"UINT16", "65536"}, Case{"INT16", "-32769"}, Case{"UINT32", "4294967296"},
        Case{"INT32", "2147483648"}, Case{"INT64", "9223372036854775808"}, Case{"UINT64", "-1"}}) {
    Status status = ParseError(SingleInput(c.datatype, "[2]", std::string("[0,") + c.value + "]"));
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(), std::string("input 'x': data element 1 (") + c.value +
                                    ") is out of range for " + c.datatype);
  }
}

TEST(KServeCodecTest, RejectsFractionsAndNonNumbersForIntegerTypes) {
  EXPECT_EQ(ParseError(SingleInput("INT32", "[1]", "[1.5]")).message(),
            "input 'x': data element 0 (1.5) is not an integer, as INT32 requires");
  EXPECT_EQ(ParseError(SingleInput("UINT8", "[1]", "[1.0]")).message(),
            "input 'x': data element 0 (1.0) is not an integer, as UINT8 requires");
  EXPECT_EQ(ParseError(SingleInput("INT64", "[1]", R"(["1"])")).message(),
            "input 'x': data element 0 is string, expected an integer for INT64");
  EXPECT_EQ(ParseError(SingleInput("INT64", "[1]", "[true]")).message(),
            "input 'x': data element 0 is true, expected an integer for INT64");
}

TEST(KServeCodecTest, BoolAcceptsOnlyTrueAndFalse) {
  EXPECT_EQ(ParseError(SingleInput("BOOL", "[2]", "[true,1]")).message(),
            "input 'x': data element 1 is 1, expected true or false for BOOL");
  EXPECT_EQ(ParseError(SingleInput("BOOL", "[1]", "[null]")).message(),
            "input 'x': data element 0 is null, expected true or false for BOOL");
}

TEST(KServeCodecTest, FloatTypesAcceptIntegersAndRejectNonNumbers) {
  auto request = ParseJsonBody(SingleInput("FP32", "[2]", "[1,-16777217]"));
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  EXPECT_EQ(Values<float>(request->inputs[0].tensor), std::vector<float>({1.0f, -16777216.0f}));
  EXPECT_EQ(ParseError(SingleInput("FP64", "[1]", "[false]")).message(),
            "input 'x': data element 0 is false, expected a number for FP64");
}

TEST(KServeCodecTest, Fp32AcceptsTheShortestSpellingOfFltMaxButRejectsOverflow) {
  auto request = ParseJsonBody(SingleInput("FP32", "[2]", "[3.4028235e38,-3.4028235e38]"));
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  constexpr float kMax = std::numeric_limits<float>::max();
  EXPECT_EQ(Values<float>(request->inputs[0].tensor), std::vector<float>({kMax, -kMax}));
  EXPECT_EQ(ParseError(SingleInput("FP32", "[1]", "[3.5e38]")).message(),
            "input 'x': data element 0 (3.5e+38) is out of range for FP32");
  EXPECT_EQ(ParseError(SingleInput("FP64", "[1]", "[1e400]")).message(),
            "JSON number out of range: number overflow parsing '1e400'");
}

TEST(KServeCodecTest, Fp16ConversionRoundsToNearestEven) {
  struct Case {
    double value;
    std::uint16_t bits;
  };
  for (const Case& c : {
           Case{0.0, 0x0000},
           Case{-0.0, 0x8000},
           Case{1.0, 0x3c00},
           Case{-2.0, 0xc000},
           Case{0.1, 0x2e66},
           Case{1.0 / 3.0, 0x3555},
           Case{65504.0, 0x7bff},
           Case{65519.99, 0x7bff},                 // just below the halfway point to 65536
           Case{65520.0, 0x7c00},                  // halfway rounds to even: infinity
           Case{0x1p-14, 0x0400},                  // smallest normal
           Case{0x1p-24, 0x0001},                  // smallest subnormal
           Case{0x1p-25, 0x0000},                  // halfway to the smallest subnormal: even (zero)
           Case{0x1.8p-25, 0x0001},                // above halfway
           Case{0x1.ff8p-15, 0x03ff},              // largest subnormal
           Case{0x1.ffcp-15, 0x0400},              // tie between 0x03ff and 0x0400: even
           Case{0x1.ffep-15, 0x0400},              // rounds up into the normal range
           Case{1.0 + 0x1p-11, 0x3c00},            // tie between 0x3c00 and 0x3c01: even
           Case{1.0 + 3 * 0x1p-11, 0x3c02},        // tie between 0x3c01 and 0x3c02: even
           Case{1.0 + 0x1p-11 + 0x1p-40, 0x3c01},  // just above the tie
           Case{2049.0, 0x6800},                   // 2049 is a tie between 2048 and 2050
           Case{std::numeric_limits<double>::infinity(), 0x7c00},
       }) {
    EXPECT_EQ(DoubleToHalfBits(c.value), c.bits) << c.value;
  }
  EXPECT_EQ(DoubleToHalfBits(std::numeric_limits<double>::quiet_NaN()) & 0x7c00, 0x7c00);
  EXPECT_EQ(HalfBitsToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfBitsToFloat(0x0001), 0x1p-24f);
  EXPECT_EQ(HalfBitsToFloat(0x2e66), 0.0999755859375f);
  EXPECT_TRUE(std::signbit(HalfBitsToFloat(0x8000)));
  EXPECT_TRUE(std::isinf(HalfBitsToFloat(0xfc00)));
  EXPECT_TRUE(std::isnan(HalfBitsToFloat(0x7e00)));
}

TEST(KServeCodecTest, Fp16DataRejectsValuesThatRoundToInfinity) {
  auto request = ParseJsonBody(SingleInput("FP16", "[2]", "[65519,-65504]"));
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  EXPECT_EQ(Values<std::uint16_t>(request->inputs[0].tensor),
            std::vector<std::uint16_t>({0x7bff, 0xfbff}));
  EXPECT_EQ(ParseError(SingleInput("FP16", "[1]", "[65520]")).message(),
            "input 'x': data element 0 (65520) is out of range for FP16");
  EXPECT_EQ(ParseError(SingleInput("FP16", "[1]", "[-1e6]")).message(),
            "input 'x': data element 0 (-1000000.0) is out of range for FP16");
}

TEST(KServeCodecTest, EveryFiniteFp16ValueRoundTripsThroughJson) {
  std::vector<std::uint16_t> all;
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    if ((bits & 0x7c00) != 0x7c00) all.push_back(static_cast<std::uint16_t>(bits));
  }
  const std::int64_t count = static_cast<std::int64_t>(all.size());
  auto tensor = Tensor::CopyFrom(DType::kFloat16, {count}, std::as_bytes(std::span(all)));
  ASSERT_TRUE(tensor.ok());
  auto encoded = EncodeInferResponse(ResponseWith(std::move(*tensor)));
  ASSERT_TRUE(encoded.ok());
  auto parsed = ParseJsonBody(ResponseAsRequest(*encoded));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(Values<std::uint16_t>(parsed->inputs[0].tensor), all);
}

TEST(KServeCodecTest, RandomFiniteFp32AndFp64ValuesRoundTripThroughJson) {
  std::mt19937_64 random(42);
  std::vector<float> floats;
  std::vector<double> doubles;
  while (floats.size() < 20000) {
    const auto bits = random();
    float f;
    const auto low = static_cast<std::uint32_t>(bits);
    std::memcpy(&f, &low, sizeof(f));
    double d;
    std::memcpy(&d, &bits, sizeof(d));
    if (std::isfinite(f) && std::isfinite(d)) {
      floats.push_back(f);
      doubles.push_back(d);
    }
  }
  InferResponse response;
  response.outputs.push_back({"f", *Tensor::FromVector<float>({20000}, floats), false});
  response.outputs.push_back({"d", *Tensor::FromVector<double>({100, 200}, doubles), false});
  auto encoded = EncodeInferResponse(response);
  ASSERT_TRUE(encoded.ok());
  auto parsed = ParseJsonBody(ResponseAsRequest(*encoded));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const auto same_bits = [](const Tensor& a, const Tensor& b) {
    return a.byte_size() == b.byte_size() &&
           std::memcmp(a.bytes().data(), b.bytes().data(), a.byte_size()) == 0;
  };
  EXPECT_TRUE(same_bits(parsed->inputs[0].tensor, response.outputs[0].tensor));
  EXPECT_TRUE(same_bits(parsed->inputs[1].tensor, response.outputs[1].tensor));
}

// ---------------------------------------------------------------------------------------------
// Shapes and data layout

TEST(KServeCodecTest, NestedAndFlatDataGiveTheSameRowMajorTensor) {
  auto flat = ParseJsonBody(SingleInput("INT32", "[2,3]", "[1,2,3,4,5,6]"));
  auto nested = ParseJsonBody(SingleInput("INT32", "[2,3]", "[[1,2,3],[4,5,6]]"));
  ASSERT_TRUE(flat.ok()) << flat.status().ToString();
  ASSERT_TRUE(nested.ok()) << nested.status().ToString();
  const std::vector<std::int32_t> expected = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(Values<std::int32_t>(flat->inputs[0].tensor), expected);
  EXPECT_EQ(Values<std::int32_t>(nested->inputs[0].tensor), expected);
  EXPECT_EQ(nested->inputs[0].tensor.shape(), Shape({2, 3}));

  auto deep = ParseJsonBody(SingleInput("UINT8", "[2,1,2]", "[[[1,2]],[[3,4]]]"));
  ASSERT_TRUE(deep.ok()) << deep.status().ToString();
  EXPECT_EQ(Values<std::uint8_t>(deep->inputs[0].tensor), std::vector<std::uint8_t>({1, 2, 3, 4}));
}

TEST(KServeCodecTest, RejectsElementCountThatDiffersFromShape) {
  EXPECT_EQ(ParseError(SingleInput("FP32", "[1,3]", "[1,2]", "image")).message(),
            "input 'image': shape [1, 3] has 3 elements but data has 2");
  EXPECT_EQ(ParseError(SingleInput("FP32", "[2]", "[1,2,3]", "image")).message(),
            "input 'image': shape [2] has 2 elements but data has 3");
}

TEST(KServeCodecTest, RejectsNestedDataThatDoesNotMirrorTheShape) {
  EXPECT_EQ(ParseError(SingleInput("INT32", "[2,3]", "[[1,2,3],[4,5]]")).message(),
            "input 'x': data nesting does not match shape [2, 3]: data[1] has 2 items, expected 3");
  EXPECT_EQ(ParseError(SingleInput("INT32", "[2,3]", "[[1,2,3,4,5,6]]")).message(),
            "input 'x': data nesting does not match shape [2, 3]: data has 1 items, expected 2");
  EXPECT_EQ(ParseError(SingleInput("INT32", "[2,3]", "[[1,2,3],7]")).message(),
            "input 'x': data nesting does not match shape [2, 3]: data[1] is 7, expected an array "
            "of 3 items");
  EXPECT_EQ(ParseError(SingleInput("INT32", "[3]", "[[1],[2],[3]]")).message(),
            "input 'x': data nesting does not match shape [3]: data[0] is an array, expected a "
            "value");
  // Partially flattened data is neither flat nor nested as the shape.
  EXPECT_THAT(ParseError(SingleInput("INT32", "[2,2,2]", "[[1,2,3,4],[5,6,7,8]]")).message(),
              HasSubstr("data[0] has 4 items, expected 2"));
}

TEST(KServeCodecTest, AcceptsEmptyAndScalarTensors) {
  auto empty = ParseJsonBody(SingleInput("FP32", "[0,3]", "[]"));
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->inputs[0].tensor.element_count(), 0);
  auto scalar = ParseJsonBody(SingleInput("INT64", "[]", "[42]"));
  ASSERT_TRUE(scalar.ok()) << scalar.status().ToString();
  EXPECT_EQ(Values<std::int64_t>(scalar->inputs[0].tensor), std::vector<std::int64_t>({42}));
}

TEST(KServeCodecTest, RejectsNegativeAndOverflowingShapes) {
  EXPECT_EQ(ParseError(SingleInput("FP32", "[1,-1]", "[1]")).message(),
            "input 'x': shape [1, -1] has a negative dimension");
  EXPECT_EQ(ParseError(SingleInput("FP32", "[4611686018427387904,4]", "[1]")).message(),
            "input 'x': shape [4611686018427387904, 4] has more elements than a 64-bit count "
            "holds");
  EXPECT_EQ(ParseError(SingleInput("FP32", "[18446744073709551615]", "[1]")).message(),
            "input 'x': shape dimension 18446744073709551615 is out of range");
  EXPECT_EQ(ParseError(SingleInput("FP32", "[1.0]", "[1]")).message(),
            "input 'x': 'shape' must hold integers, found 1.0");
}

// ---------------------------------------------------------------------------------------------
// Request structure

TEST(KServeCodecTest, RejectsDuplicateInputNames) {
  const std::string body = R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1]},)"
                           R"({"name":"b","datatype":"FP32","shape":[1],"data":[1]},)"
                           R"({"name":"a","datatype":"FP32","shape":[1],"data":[2]}]})";
  EXPECT_EQ(ParseError(body).message(), "duplicate input 'a' (inputs[0] and inputs[2])");
}

TEST(KServeCodecTest, RejectsMissingFields) {
  EXPECT_EQ(ParseError(R"({"id":"1"})").message(), "request has no 'inputs'");
  EXPECT_EQ(ParseError(R"({"inputs":[{"datatype":"FP32","shape":[1],"data":[1]}]})").message(),
            "inputs[0]: 'name' must be a non-empty string");
  EXPECT_EQ(ParseError(R"({"inputs":[{"name":"a","shape":[1],"data":[1]}]})").message(),
            "input 'a': 'datatype' is missing");
  EXPECT_EQ(ParseError(R"({"inputs":[{"name":"a","datatype":"FP32","data":[1]}]})").message(),
            "input 'a': 'shape' is missing");
  EXPECT_EQ(ParseError(R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1]}]})").message(),
            "input 'a': has neither 'data' nor parameters.binary_data_size");
}

TEST(KServeCodecTest, RejectsWrongJsonTypes) {
  const std::string input = R"({"name":"a","datatype":"FP32","shape":[1],"data":[1]})";
  EXPECT_EQ(ParseError("[]").message(), "request must be a JSON object, got array");
  EXPECT_EQ(ParseError(R"({"inputs":{}})").message(), "'inputs' must be an array, got object");
  EXPECT_EQ(ParseError(R"({"inputs":[7]})").message(), "inputs[0] must be an object, got 7");
  EXPECT_EQ(ParseError(R"({"id":5,"inputs":[]})").message(), "'id' must be a string, got 5");
  EXPECT_EQ(ParseError(R"({"parameters":[],"inputs":[]})").message(),
            "'parameters' must be an object, got array");
  EXPECT_EQ(ParseError(R"({"parameters":{"binary_data_output":1},"inputs":[]})").message(),
            "parameters.binary_data_output must be true or false, got 1");
  EXPECT_EQ(
      ParseError(R"({"inputs":[{"name":3,"datatype":"FP32","shape":[1],"data":[1]}]})").message(),
      "inputs[0]: 'name' must be a non-empty string");
  EXPECT_EQ(
      ParseError(R"({"inputs":[{"name":"a","datatype":32,"shape":[1],"data":[1]}]})").message(),
      "input 'a': 'datatype' must be a string, got 32");
  EXPECT_EQ(
      ParseError(R"({"inputs":[{"name":"a","datatype":"FP32","shape":"1","data":[1]}]})").message(),
      "input 'a': 'shape' must be an array, got string");
  EXPECT_EQ(
      ParseError(R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":{}}]})").message(),
      "input 'a': 'data' must be an array, got object");
  EXPECT_EQ(ParseError(R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1],)"
                       R"("parameters":5}]})")
                .message(),
            "input 'a': 'parameters' must be an object, got 5");
  EXPECT_EQ(ParseError(R"({"inputs":[)" + input + R"(],"outputs":{}})").message(),
            "'outputs' must be an array, got object");
  EXPECT_EQ(ParseError(R"({"inputs":[)" + input +
                       R"(],"outputs":[{"name":"y",)"
                       R"("parameters":{"binary_data":"yes"}}]})")
                .message(),
            "output 'y': parameters.binary_data must be true or false, got string");
}

TEST(KServeCodecTest, MalformedJsonNamesTheByte) {
  Status status = ParseError(R"({"inputs": ]})");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("malformed JSON at byte 12: "));
  EXPECT_THAT(ParseError("").message(), HasSubstr("malformed JSON at byte 1: "));
  EXPECT_THAT(ParseError(R"({"inputs":[]} x)").message(), HasSubstr("malformed JSON at byte 15"));
}

TEST(KServeCodecTest, MalformedJsonMessageIsShortAndPrintable) {
  // An unterminated string with control and non-ASCII bytes: the parser quotes what it read.
  const std::string body = "{\"inputs\":\"" + std::string(1000, 'a') + "\x01\xff";
  const Status status = ParseError(body);
  EXPECT_THAT(status.message(), HasSubstr("malformed JSON at byte"));
  EXPECT_LT(status.message().size(), 300u);
  for (const char c : status.message()) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << static_cast<int>(c);
  }
}

TEST(KServeCodecTest, RejectsJsonNestedBeyondTheDepthLimit) {
  const std::string deep =
      std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']');
  EXPECT_EQ(ParseError(R"({"id":"[[[[","parameters":{"p":)" + deep + "}}").message(),
            "JSON nests deeper than 64 levels at byte 94");
  const std::string ok = std::string(kMaxJsonDepth - 2, '[') + std::string(kMaxJsonDepth - 2, ']');
  EXPECT_TRUE(ParseJsonBody(R"({"inputs":[],"parameters":{"p":)" + ok + "}}").ok());
}

TEST(KServeCodecTest, KeepsIdAndParametersAndEchoesIdInTheResponse) {
  auto request = ParseJsonBody(
      R"({"id":"req-7","parameters":{"priority":2},"inputs":[{"name":"x","datatype":"FP32",)"
      R"("shape":[1],"data":[1],"parameters":{"note":"n"}}]})");
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  EXPECT_EQ(request->id, "req-7");
  EXPECT_EQ(request->parameters, json({{"priority", 2}}));
  EXPECT_EQ(request->inputs[0].parameters, json({{"note", "n"}}));
  EXPECT_FALSE(request->binary_data_output_default);
  EXPECT_TRUE(request->outputs.empty());

  InferResponse response = ResponseWith(std::move(request->inputs[0].tensor));
  response.id = request->id;
  auto encoded = EncodeInferResponse(response);
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(encoded->body,
            R"({"model_name":"cellseg","model_version":"1","id":"req-7","outputs":[{"name":"y",)"
            R"("datatype":"FP32","shape":[1],"data":[1.0]}]})");
  EXPECT_EQ(encoded->content_type, "application/json");
  EXPECT_FALSE(encoded->json_header_length.has_value());

  response.id.clear();
  EXPECT_EQ(json::parse(EncodeInferResponse(response)->body).count("id"), 0u);
}

TEST(KServeCodecTest, ReadsRequestedOutputsAndTheirBinaryFlags) {
  const std::string input = R"({"name":"x","datatype":"FP32","shape":[1],"data":[1]})";
  auto request =
      ParseJsonBody(R"({"inputs":[)" + input +
                    R"(],"parameters":{"binary_data_output":true},"outputs":[{"name":"mask"},)"
                    R"({"name":"logits","parameters":{"binary_data":false}},)"
                    R"({"name":"probs","parameters":{"binary_data":true,"classification":2}}]})");
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  EXPECT_TRUE(request->binary_data_output_default);
  ASSERT_EQ(request->outputs.size(), 3u);
  EXPECT_EQ(request->outputs[0].name, "mask");
  EXPECT_TRUE(request->outputs[0].binary_data);
  EXPECT_EQ(request->outputs[1].name, "logits");
  EXPECT_FALSE(request->outputs[1].binary_data);
  EXPECT_TRUE(request->outputs[2].binary_data);
  EXPECT_EQ(request->outputs[2].parameters["classification"], 2);

  auto json_default = ParseJsonBody(R"({"inputs":[)" + input + R"(],"outputs":[{"name":"m"}]})");
  ASSERT_TRUE(json_default.ok());
  EXPECT_FALSE(json_default->outputs[0].binary_data);

  EXPECT_EQ(ParseError(R"({"inputs":[)" + input + R"(],"outputs":[{"name":"m"},{"name":"m"}]})")
                .message(),
            "output 'm' is requested twice");
  EXPECT_EQ(ParseError(R"({"inputs":[)" + input + R"(],"outputs":[{"parameters":{}}]})").message(),
            "outputs[0]: 'name' must be a non-empty string");
}

// ---------------------------------------------------------------------------------------------
// Binary tensor data extension

TEST(KServeCodecTest, ReadsBinaryInputsInOrderAfterTheJsonHeader) {
  const std::vector<float> image = {0.5f, -1.0f, 2.0f, 3.5f};
  const std::vector<std::uint8_t> mask = {1, 0, 1};
  const BinaryBody body = MakeBinaryBody(
      R"({"inputs":[{"name":"image","datatype":"FP32","shape":[1,4],)"
      R"("parameters":{"binary_data_size":16}},)"
      R"({"name":"scale","datatype":"FP64","shape":[1],"data":[0.25]},)"
      R"({"name":"mask","datatype":"UINT8","shape":[3],"parameters":{"binary_data_size":3}}]})",
      RawBytes(image) + RawBytes(mask));
  auto request = ParseInferRequest(body.body, body.header_length);
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  ASSERT_EQ(request->inputs.size(), 3u);
  EXPECT_EQ(Values<float>(request->inputs[0].tensor), image);
  EXPECT_EQ(request->inputs[0].tensor.shape(), Shape({1, 4}));
  EXPECT_TRUE(request->inputs[0].tensor.is_owned());
  EXPECT_EQ(request->inputs[0].parameters["binary_data_size"], 16);
  EXPECT_EQ(Values<double>(request->inputs[1].tensor), std::vector<double>({0.25}));
  EXPECT_EQ(Values<std::uint8_t>(request->inputs[2].tensor), mask);
}

TEST(KServeCodecTest, AcceptsAHeaderLengthWithNoBinaryInputs) {
  const std::string json_body = SingleInput("FP32", "[1]", "[1]");
  auto request = ParseInferRequest(json_body, json_body.size());
  ASSERT_TRUE(request.ok()) << request.status().ToString();
}

TEST(KServeCodecTest, RejectsHeaderLengthBeyondTheBody) {
  const std::string json_body = SingleInput("FP32", "[1]", "[1]");
  auto request = ParseInferRequest(json_body, json_body.size() + 1);
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.status().message(),
            "Inference-Header-Content-Length " + std::to_string(json_body.size() + 1) +
                " exceeds the body size of " + std::to_string(json_body.size()) + " bytes");
}

TEST(KServeCodecTest, RejectsHeaderLengthThatCutsTheJson) {
  const std::string json_body = SingleInput("FP32", "[1]", "[1]");
  auto request = ParseInferRequest(json_body, json_body.size() - 2);
  ASSERT_FALSE(request.ok());
  EXPECT_THAT(request.status().message(), HasSubstr("malformed JSON at byte"));
}

const char kTwoBinaryInputs[] =
    R"({"inputs":[{"name":"a","datatype":"INT16","shape":[2],"parameters":{"binary_data_size":4}},)"
    R"({"name":"b","datatype":"INT16","shape":[1],"parameters":{"binary_data_size":2}}]})";

TEST(KServeCodecTest, RejectsBinarySizesThatDoNotAddUpToTheBody) {
  const BinaryBody extra = MakeBinaryBody(kTwoBinaryInputs, std::string(7, '\0'));
  auto request = ParseInferRequest(extra.body, extra.header_length);
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.status().message(),
            "binary section has 7 bytes after the JSON header but the inputs' binary_data_size "
            "add up to 6");

  const BinaryBody short_body = MakeBinaryBody(kTwoBinaryInputs, std::string(5, '\0'));
  request = ParseInferRequest(short_body.body, short_body.header_length);
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.status().message(),
            "input 'b': binary_data_size 2 exceeds the 1 bytes left in the binary section (5 "
            "bytes after the JSON header, 4 taken by earlier inputs)");
}

TEST(KServeCodecTest, RejectsBinaryDataSizeThatDisagreesWithTheShape) {
  const BinaryBody body =
      MakeBinaryBody(R"({"inputs":[{"name":"image","datatype":"FP32","shape":[1,3],)"
                     R"("parameters":{"binary_data_size":8}}]})",
                     std::string(8, '\0'));
  auto request = ParseInferRequest(body.body, body.header_length);
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.status().message(),
            "input 'image': binary_data_size 8 does not match shape [1, 3] of FP32 (12 bytes)");
}

TEST(KServeCodecTest, RejectsBinaryDataSizeWithoutABinarySection) {
  EXPECT_EQ(ParseError(R"({"inputs":[{"name":"a","datatype":"INT8","shape":[1],)"
                       R"("parameters":{"binary_data_size":1}}]})")
                .message(),
            "input 'a': has parameters.binary_data_size but the request has no binary section "
            "(Inference-Header-Content-Length is not set)");
}

TEST(KServeCodecTest, RejectsBothDataAndBinaryDataSize) {
  const BinaryBody body =
      MakeBinaryBody(R"({"inputs":[{"name":"a","datatype":"INT8","shape":[1],"data":[1],)"
                     R"("parameters":{"binary_data_size":1}}]})",
                     std::string(1, '\1'));
  auto request = ParseInferRequest(body.body, body.header_length);
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.status().message(),
            "input 'a': has both 'data' and parameters.binary_data_size");
}

TEST(KServeCodecTest, RejectsNegativeOrNonIntegerBinaryDataSize) {
  for (const char* size : {"-1", "1.0", "\"1\""}) {
    const BinaryBody body =
        MakeBinaryBody(std::string(R"({"inputs":[{"name":"a","datatype":"INT8","shape":[1],)") +
                           R"("parameters":{"binary_data_size":)" + size + "}}]}",
                       std::string(1, '\1'));
    auto request = ParseInferRequest(body.body, body.header_length);
    ASSERT_FALSE(request.ok());
    EXPECT_THAT(request.status().message(),
                HasSubstr("input 'a': parameters.binary_data_size must be a non-negative integer"));
  }
}

TEST(KServeCodecTest, BinaryBoolBytesMustBeZeroOrOne) {
  const std::string header =
      R"({"inputs":[{"name":"m","datatype":"BOOL","shape":[3],"parameters":{"binary_data_size":3}}]})";
  const BinaryBody good = MakeBinaryBody(header, std::string("\1\0\1", 3));
  auto request = ParseInferRequest(good.body, good.header_length);
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  EXPECT_EQ(Values<std::uint8_t>(request->inputs[0].tensor), std::vector<std::uint8_t>({1, 0, 1}));

  const BinaryBody bad = MakeBinaryBody(header, std::string("\1\2\1", 3));
  request = ParseInferRequest(bad.body, bad.header_length);
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.status().message(), "input 'm': BOOL element 1 is byte 2, expected 0 or 1");
}

TEST(KServeCodecTest, EncodesBinaryOutputsAfterTheJsonInOrder) {
  const std::vector<std::uint8_t> mask = {0, 1, 2, 3, 4, 5};
  const std::vector<float> scores = {0.25f, 0.75f};
  InferResponse response;
  response.model_name = "cellseg";
  response.model_version = "3";
  response.id = "r1";
  response.parameters = {{"sequence_end", true}};
  response.outputs.push_back({"mask", *Tensor::FromVector<std::uint8_t>({2, 3}, mask), true});
  response.outputs.push_back({"count", *Tensor::FromVector<std::int32_t>({1}, {2}), false});
  response.outputs.push_back({"scores", *Tensor::FromVector<float>({2}, scores), true});
  auto encoded = EncodeInferResponse(response);
  ASSERT_TRUE(encoded.ok()) << encoded.status().ToString();
  EXPECT_EQ(encoded->content_type, "application/octet-stream");
  ASSERT_TRUE(encoded->json_header_length.has_value());
  const std::size_t header_length = *encoded->json_header_length;
  ASSERT_EQ(encoded->body.size(), header_length + 6 + 8);

  const json header = json::parse(encoded->body.substr(0, header_length));
  EXPECT_EQ(header["model_name"], "cellseg");
  EXPECT_EQ(header["model_version"], "3");
  EXPECT_EQ(header["id"], "r1");
  EXPECT_EQ(header["parameters"], json({{"sequence_end", true}}));
  ASSERT_EQ(header["outputs"].size(), 3u);
  EXPECT_EQ(header["outputs"][0], json::parse(R"({"name":"mask","datatype":"UINT8","shape":[2,3],)"
                                              R"("parameters":{"binary_data_size":6}})"));
  EXPECT_EQ(header["outputs"][1],
            json::parse(R"({"name":"count","datatype":"INT32","shape":[1],"data":[2]})"));
  EXPECT_EQ(header["outputs"][2]["parameters"]["binary_data_size"], 8);
  EXPECT_EQ(encoded->body.substr(header_length), RawBytes(mask) + RawBytes(scores));
}

TEST(KServeCodecTest, EncodedBinaryResponseParsesBackAsABinaryRequest) {
  const std::vector<std::uint16_t> half = {0x3c00, 0x7e00, 0xfc00};  // 1, NaN, -inf survive
  auto encoded = EncodeInferResponse(
      ResponseWith(*Tensor::CopyFrom(DType::kFloat16, {3}, std::as_bytes(std::span(half))), true));
  ASSERT_TRUE(encoded.ok());
  const std::string header = encoded->body.substr(0, *encoded->json_header_length);
  const std::string request_header = json{{"inputs", json::parse(header)["outputs"]}}.dump();
  const BinaryBody body =
      MakeBinaryBody(request_header, encoded->body.substr(*encoded->json_header_length));
  auto request = ParseInferRequest(body.body, body.header_length);
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  EXPECT_EQ(Values<std::uint16_t>(request->inputs[0].tensor), half);
}

TEST(KServeCodecTest, EncodesNonFiniteJsonValuesAsNull) {
  const std::vector<float> values = {std::numeric_limits<float>::quiet_NaN(),
                                     std::numeric_limits<float>::infinity(), 1e20f, 1.5e-45f};
  auto encoded = EncodeInferResponse(ResponseWith(*Tensor::FromVector<float>({4}, values)));
  ASSERT_TRUE(encoded.ok());
  EXPECT_THAT(encoded->body, HasSubstr(R"("data":[null,null,1e+20,1e-45])"));
  EXPECT_FALSE(json::parse(encoded->body, nullptr, false).is_discarded());
}

TEST(KServeCodecTest, EncodeRejectsDuplicateOutputNamesAndNonObjectParameters) {
  InferResponse response = ResponseWith(*Tensor::FromVector<float>({1}, {1.0f}));
  response.outputs.push_back({"y", *Tensor::FromVector<float>({1}, {2.0f}), false});
  auto encoded = EncodeInferResponse(response);
  ASSERT_FALSE(encoded.ok());
  EXPECT_EQ(encoded.status().message(), "response has two outputs named 'y'");

  InferResponse bad_parameters = ResponseWith(*Tensor::FromVector<float>({1}, {1.0f}));
  bad_parameters.parameters = json::array();
  EXPECT_EQ(EncodeInferResponse(bad_parameters).status().code(), StatusCode::kInvalidArgument);
}

TEST(KServeCodecTest, EncodeEscapesNamesAndReplacesInvalidUtf8) {
  InferResponse response = ResponseWith(*Tensor::FromVector<float>({1}, {1.0f}), false, "a\"b\xff");
  response.model_name = "m\\n";
  auto encoded = EncodeInferResponse(response);
  ASSERT_TRUE(encoded.ok());
  const json parsed = json::parse(encoded->body);
  EXPECT_EQ(parsed["model_name"], "m\\n");
  EXPECT_EQ(parsed["outputs"][0]["name"], "a\"b\xef\xbf\xbd");
}

// ---------------------------------------------------------------------------------------------
// Limits

TEST(KServeCodecTest, BodyOverTheLimitIsResourceExhausted) {
  const std::string body = SingleInput("FP32", "[1]", "[1]");
  auto request = ParseJsonBody(body, {.max_body_bytes = body.size() - 1});
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(request.status().message(), "request body of " + std::to_string(body.size()) +
                                            " bytes exceeds the limit of " +
                                            std::to_string(body.size() - 1) + " bytes");
  EXPECT_TRUE(ParseJsonBody(body, {.max_body_bytes = body.size()}).ok());
}

TEST(KServeCodecTest, JsonHeaderOverTheLimitIsResourceExhausted) {
  const BinaryBody body =
      MakeBinaryBody(R"({"inputs":[{"name":"a","datatype":"UINT8","shape":[64],)"
                     R"("parameters":{"binary_data_size":64}}]})",
                     std::string(64, '\0'));
  ParseLimits limits;
  limits.max_json_bytes = body.header_length;
  EXPECT_TRUE(ParseInferRequest(body.body, body.header_length, limits).ok());
  limits.max_json_bytes = body.header_length - 1;
  auto request = ParseInferRequest(body.body, body.header_length, limits);
  EXPECT_EQ(request.status().code(), StatusCode::kResourceExhausted);
}

TEST(KServeCodecTest, ElementsOverTheLimitAreResourceExhaustedAcrossInputs) {
  const std::string body =
      R"({"inputs":[{"name":"a","datatype":"FP32","shape":[2,2],"data":[1,2,3,4]},)"
      R"({"name":"b","datatype":"FP32","shape":[2],"data":[1,2]}]})";
  ParseLimits limits;
  limits.max_elements = 6;
  EXPECT_TRUE(ParseJsonBody(body, limits).ok());
  limits.max_elements = 5;
  auto request = ParseJsonBody(body, limits);
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(request.status().message(),
            "input 'b': shape [2] has 2 elements, which takes the request past its limit of 5 "
            "elements");
}

TEST(KServeCodecTest, HugeShapeWithLittleDataFailsBeforeAllocating) {
  // 2^40 elements would be 4 TiB; the limit stops it before any allocation.
  auto request = ParseJsonBody(SingleInput("FP32", "[1099511627776]", "[1]"),
                               {.max_elements = std::numeric_limits<std::int64_t>::max()});
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.status().message(),
            "input 'x': shape [1099511627776] has 1099511627776 elements but data has 1");
  request = ParseJsonBody(SingleInput("FP32", "[1099511627776]", "[1]"));
  EXPECT_EQ(request.status().code(), StatusCode::kResourceExhausted);
}

// ---------------------------------------------------------------------------------------------
// Metadata

TEST(KServeCodecTest, ServerMetadataListsExtensions) {
  const std::vector<std::string> extensions = {"binary_tensor_data", "model_repository"};
  EXPECT_EQ(ServerMetadataJson("orbit", "0.1.0", extensions),
            json::parse(R"({"name":"orbit","version":"0.1.0",)"
                        R"("extensions":["binary_tensor_data","model_repository"]})"));
  EXPECT_EQ(ServerMetadataJson("orbit", "0.1.0", {})["extensions"], json::array());
}

TEST(KServeCodecTest, ModelMetadataDescribesTensors) {
  const std::vector<std::string> versions = {"1", "2"};
  const std::vector<TensorMetadata> inputs = {{"image", DType::kFloat32, {-1, 1, 256, 256}}};
  const std::vector<TensorMetadata> outputs = {{"logits", DType::kFloat16, {-1, 2, 256, 256}}};
  EXPECT_EQ(ModelMetadataJson("cellseg", versions, kOnnxRuntimePlatform, inputs, outputs),
            json::parse(R"({"name":"cellseg","versions":["1","2"],"platform":"onnxruntime_onnx",)"
                        R"("inputs":[{"name":"image","datatype":"FP32","shape":[-1,1,256,256]}],)"
                        R"("outputs":[{"name":"logits","datatype":"FP16",)"
                        R"("shape":[-1,2,256,256]}]})"));
}

}  // namespace
}  // namespace orbit::serving
