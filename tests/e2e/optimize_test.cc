// End-to-end tests of `orbit optimize` on the demo model: the variant packages and reports it
// writes (and that `orbit evaluate` loads them), the gate, and bad inputs, which must give one
// clear error, exit code 2 and nothing written. Timing flags are tiny so the suite stays fast;
// the speed numbers themselves are measured by bench/optimize/run.sh, not asserted here.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "e2e/subprocess.h"

namespace orbit::testing {
namespace {
namespace fs = std::filesystem;

const fs::path kSource = ORBIT_SOURCE_DIR;
const fs::path kModel = kSource / "models/cellseg";
const fs::path kFixtures = kModel / "fixtures";

// Builds small ONNX models with Python's onnx package (python3-onnx): "uint8" has only a uint8
// input; "sin" is Conv -> Sin -> Conv, Sin being an op no quantiser handles.
constexpr char kMakeModel[] = R"PY(
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
kind, out = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
if kind == "uint8":
    x = helper.make_tensor_value_info("image", TensorProto.UINT8, [None, 1, None, None])
    nodes, inits = [helper.make_node("Cast", ["image"], ["logits"], to=TensorProto.FLOAT)], []
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 1, None, None])
else:
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 1, None, None])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 2, None, None])
    inits = [numpy_helper.from_array(rng.normal(0, 0.5, s).astype(np.float32), n)
             for n, s in [("w1", (4, 1, 3, 3)), ("b1", (4,)), ("w2", (2, 4, 1, 1)), ("b2", (2,))]]
    nodes = [helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], name="conv1",
                              pads=[1, 1, 1, 1]),
             helper.make_node("Sin", ["c1"], ["s1"], name="sin1"),
             helper.make_node("Conv", ["s1", "w2", "b2"], ["logits"], name="conv2")]
graph = helper.make_graph(nodes, "g", [x], [y], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, out)
)PY";

class OptimizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("orbit_optimize_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // A small labelled set and calibration set (the first images of the fixtures).
    fs::create_directories(dir_ / "images");
    fs::create_directories(dir_ / "masks");
    fs::create_directories(dir_ / "calib");
    for (const char* stem : {"img_000", "img_003", "img_005"}) {
      fs::copy_file(kFixtures / "images" / (std::string(stem) + ".png"),
                    dir_ / "images" / (std::string(stem) + ".png"));
      fs::copy_file(kFixtures / "masks" / (std::string(stem) + ".png"),
                    dir_ / "masks" / (std::string(stem) + ".png"));
    }
    for (const char* name : {"img_001.png", "img_002.png", "img_015.tif"}) {
      fs::copy_file(kFixtures / "images" / name, dir_ / "calib" / name);
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  // `orbit optimize` with the small sets and the fastest timing settings.
  std::string Args(const fs::path& model, const std::string& extra) const {
    return "optimize --model " + ShellQuote(model.string()) + " --out " +
           ShellQuote(out().string()) + " --images " + ShellQuote((dir_ / "images").string()) +
           " --masks " + ShellQuote((dir_ / "masks").string()) +
           " --bench-size 64x64 --bench-batch 1,2 --bench-seconds 0 --bench-min-iterations 2"
           " --bench-warmup 1 --threads 1 " +
           extra;
  }
  fs::path out() const { return dir_ / "out"; }

  // Nothing under --out and no temporary folder left beside it.
  void ExpectNothingWritten() const {
    EXPECT_FALSE(fs::exists(out()));
    for (const auto& e : fs::directory_iterator(dir_)) {
      EXPECT_EQ(e.path().filename().string().find(".out.partial"), std::string::npos) << e.path();
    }
  }

  // A model package from kMakeModel (`kind`) with `recipe` as its orbit.yaml.
  fs::path MakeModel(const std::string& kind, const std::string& recipe) const {
    const fs::path package = dir_ / kind;
    fs::create_directories(package);
    std::ofstream(dir_ / "make_model.py") << kMakeModel;
    const std::string command = "/usr/bin/python3 " +
                                ShellQuote((dir_ / "make_model.py").string()) + " " + kind + " " +
                                ShellQuote((package / "model.onnx").string());
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    if (!recipe.empty()) std::ofstream(package / "orbit.yaml") << recipe;
    return package;
  }

  static std::string ReadAll(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }

  fs::path dir_;
};

TEST_F(OptimizeTest, WritesGatedVariantPackagesAndReportsThatEvaluateLoads) {
  const CommandResult r = RunOrbit(Args(kModel, "--fp16 --int8 --calibration-images " +
                                                    ShellQuote((dir_ / "calib").string()) +
                                                    " --max-accuracy-drop 1 --min-speedup 0.01"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto report = nlohmann::json::parse(ReadAll(out() / "report.json"));
  ASSERT_EQ(report["variants"].size(), 3u);
  EXPECT_EQ(report["reference"]["name"], "fp32");
  EXPECT_GT(report["reference"]["accuracy"]["iou"].get<double>(), 0.5);
  EXPECT_EQ(report["calibration_images"], 3);
  for (const auto& v : report["variants"]) {
    const std::string name = v["name"];
    SCOPED_TRACE(name);
    EXPECT_TRUE(fs::is_regular_file(out() / name / "model.onnx"));
    EXPECT_NE(ReadAll(out() / name / "orbit.yaml")
                  .find("precision: " + v["precision"].get<std::string>()),
              std::string::npos);
    EXPECT_GT(v["file_bytes"].get<long>(), 0);
    EXPECT_GT(v["parameter_count"].get<long>(), 0);
    ASSERT_EQ(v["latency"].size(), 2u);
    EXPECT_GT(v["latency"][1]["images_per_second"].get<double>(), 0);
    EXPECT_GT(v["pixel_agreement"].get<double>(), 0.9);
    EXPECT_LT(v["gate"]["iou_drop"].get<double>(), 0.1);
    EXPECT_TRUE(v["gate"]["accepted"].get<bool>());
  }
  EXPECT_EQ(report["variants"][1]["precision"], "fp16");
  EXPECT_EQ(report["variants"][2]["name"], "int8");
  EXPECT_LT(report["variants"][1]["parameter_bytes"].get<long>(),
            report["reference"]["parameter_bytes"].get<long>());
  // The recommended link points at an accepted variant; md has the table.
  ASSERT_TRUE(fs::is_symlink(out() / "recommended"));
  EXPECT_EQ(fs::read_symlink(out() / "recommended").string(), report["recommended"]);
  EXPECT_NE(ReadAll(out() / "report.md").find("| int8 | int8 |"), std::string::npos);
  // Variants are ordinary model packages.
  for (const char* variant : {"int8", "fp16", "recommended"}) {
    const CommandResult e = RunOrbit("evaluate --model " + ShellQuote((out() / variant).string()) +
                                     " --images " + ShellQuote((dir_ / "images").string()) +
                                     " --masks " + ShellQuote((dir_ / "masks").string()));
    EXPECT_EQ(e.exit_code, 0) << variant << ": " << e.err;
  }
}

TEST_F(OptimizeTest, GateRejectsTooSlowVariantAndRecommendsNothing) {
  const CommandResult r = RunOrbit(Args(kModel, "--min-speedup 100"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("no variant passed the gate"), std::string::npos) << r.err;
  const auto report = nlohmann::json::parse(ReadAll(out() / "report.json"));
  EXPECT_TRUE(report["recommended"].is_null());
  const auto& gate = report["variants"][0]["gate"];
  EXPECT_FALSE(gate["accepted"].get<bool>());
  ASSERT_EQ(gate["reasons"].size(), 1u);
  EXPECT_NE(gate["reasons"][0].get<std::string>().find("< --min-speedup 100.00x"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(out() / "recommended"));
  EXPECT_TRUE(fs::is_regular_file(out() / "fp32-optimized" / "model.onnx"));
  EXPECT_NE(ReadAll(out() / "report.md").find("rejected"), std::string::npos);
}

TEST_F(OptimizeTest, CorruptCalibrationImageFailsNamingItAndWritesNothing) {
  std::ofstream(dir_ / "calib" / "broken.png") << "this is not a png";
  const CommandResult r = RunOrbit(
      Args(kModel, "--int8 --calibration-images " + ShellQuote((dir_ / "calib").string())));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("error: --calibration-images: 1 of 4 calibration image(s) failed"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("broken.png"), std::string::npos) << r.err;
  ExpectNothingWritten();
}

TEST_F(OptimizeTest, EmptyCalibrationFolderFailsAndWritesNothing) {
  fs::create_directories(dir_ / "empty");
  const CommandResult r = RunOrbit(
      Args(kModel, "--int8 --calibration-images " + ShellQuote((dir_ / "empty").string())));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("no image files"), std::string::npos) << r.err;
  ExpectNothingWritten();
}

TEST_F(OptimizeTest, ModelWithoutFloatInputFailsAndWritesNothing) {
  const fs::path model = MakeModel("uint8", "");
  const CommandResult r = RunOrbit(Args(model / "model.onnx", "--fp16"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("has no float32 input (inputs: image (UINT8))"), std::string::npos) << r.err;
  ExpectNothingWritten();
}

TEST_F(OptimizeTest, OpTheQuantiserDoesNotHandleIsKeptInFp32AndListed) {
  const fs::path model =
      MakeModel("sin",
                "name: sin\n"
                "inputs: [{name: image, datatype: FP32, shape: [-1, 1, -1, -1]}]\n"
                "outputs: [{name: logits, datatype: FP32, shape: [-1, 2, -1, -1]}]\n"
                "preprocess: {pad_to_multiple: 16}\n"
                "postprocess: {instances: {method: connected_components}}\n");
  const CommandResult r =
      RunOrbit(Args(model, "--int8 --calibration-images " + ShellQuote((dir_ / "calib").string()) +
                               " --max-accuracy-drop 1 --min-speedup 0.01"));
  ASSERT_NE(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("warning: int8: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sin1 (Sin"), std::string::npos) << r.err;
  const auto report = nlohmann::json::parse(ReadAll(out() / "report.json"));
  const auto& int8 = report["variants"][1];
  ASSERT_EQ(int8["name"], "int8");
  bool listed = false;
  for (const auto& k : int8["kept_fp32"]) listed = listed || k["op_type"] == "Sin";
  EXPECT_TRUE(listed) << int8.dump(2);
  EXPECT_NE(ReadAll(out() / "report.md").find("`sin1` (Sin)"), std::string::npos);
}

TEST_F(OptimizeTest, ExistingOutputFolderIsRefused) {
  fs::create_directories(out());
  std::ofstream(out() / "keep.txt") << "mine";
  const CommandResult r = RunOrbit(Args(kModel, ""));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  EXPECT_EQ(ReadAll(out() / "keep.txt"), "mine");
}

TEST_F(OptimizeTest, Int8WithoutCalibrationImagesIsAUsageError) {
  const CommandResult r = RunOrbit(Args(kModel, "--int8"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--int8 needs --calibration-images"), std::string::npos) << r.err;
  ExpectNothingWritten();
}

}  // namespace
}  // namespace orbit::testing
