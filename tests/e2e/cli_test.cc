// End-to-end tests of `orbit predict / evaluate / bench` on the committed demo model and
// fixtures: outputs, exit codes, and one clear error line per bad input with no crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "e2e/subprocess.h"

namespace orbit::testing {
namespace {
namespace fs = std::filesystem;

const fs::path kSource = ORBIT_SOURCE_DIR;
const fs::path kModel = kSource / "models/cellseg";
const fs::path kFixtures = kModel / "fixtures";

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("orbit_cli_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path Write(const std::string& name, const std::string& bytes) {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  static std::string ReadAll(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  static fs::path FirstFixture() {
    std::vector<fs::path> images;
    for (const auto& e : fs::directory_iterator(kFixtures / "images")) {
      if (e.path().extension() == ".png") images.push_back(e.path());
    }
    std::sort(images.begin(), images.end());
    return images.at(0);
  }
  std::string Predict(const std::vector<fs::path>& images) {
    std::string args = "predict --model " + ShellQuote(kModel.string()) + " --out " +
                       ShellQuote((dir_ / "out").string());
    for (const auto& image : images) args += " " + ShellQuote(image.string());
    return args;
  }

  fs::path dir_;
};

// One non-empty error line on stderr that names `file` and contains `reason`.
void ExpectOneErrorLine(const CommandResult& r, const std::string& file,
                        const std::string& reason) {
  ASSERT_NE(r.err.find("error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(reason), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(CliTest, PredictWritesLabelsOverlayAndJsonPerImage) {
  const fs::path image = FirstFixture();
  const CommandResult r = RunOrbit(Predict({image}) + " --format json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto report = nlohmann::json::parse(r.out);
  ASSERT_EQ(report["results"].size(), 1u);
  const auto& result = report["results"][0];
  const std::string stem = image.stem().string();
  const cv::Mat labels =
      cv::imread((dir_ / "out" / (stem + ".labels.png")).string(), cv::IMREAD_UNCHANGED);
  ASSERT_FALSE(labels.empty());
  EXPECT_EQ(labels.depth(), CV_16U);
  double max_label = 0;
  cv::minMaxLoc(labels, nullptr, &max_label);
  EXPECT_EQ(static_cast<int>(max_label), result["summary"]["object_count"].get<int>());
  EXPECT_GT(max_label, 0);
  const cv::Mat overlay = cv::imread((dir_ / "out" / (stem + ".overlay.png")).string());
  EXPECT_EQ(overlay.size(), labels.size());
  const auto saved = nlohmann::json::parse(ReadAll(dir_ / "out" / (stem + ".json")));
  EXPECT_EQ(saved["objects"].size(), result["objects"].size());
  EXPECT_EQ(saved["summary"]["object_count"], result["summary"]["object_count"]);
}

TEST_F(CliTest, PredictReportsBadImageAndStillRunsTheRest) {
  const fs::path bad = Write("notes.png", "this is text, not an image\n");
  const fs::path good = FirstFixture();
  const CommandResult r = RunOrbit(Predict({bad, good}));
  EXPECT_EQ(r.exit_code, 1);
  ExpectOneErrorLine(r, "notes.png", "not a PNG, JPEG, TIFF or NPY image");
  EXPECT_TRUE(fs::exists(dir_ / "out" / (good.stem().string() + ".labels.png")));
  EXPECT_NE(r.out.find("1 ok, 1 failed"), std::string::npos) << r.out;
}

TEST_F(CliTest, PredictRejectsEmptyFile) {
  const fs::path empty = Write("empty.png", "");
  const CommandResult r = RunOrbit(Predict({empty}));
  EXPECT_EQ(r.exit_code, 1);
  ExpectOneErrorLine(r, "empty.png", "empty");
}

TEST_F(CliTest, PredictRejectsTruncatedAndCorruptImages) {
  const std::string png = ReadAll(FirstFixture());
  const fs::path truncated = Write("truncated.png", png.substr(0, png.size() / 2));
  std::string corrupt = png;
  for (std::size_t i = 60; i < corrupt.size() && i < 400; ++i) corrupt[i] = static_cast<char>(i);
  const fs::path corrupted = Write("corrupt.png", corrupt);
  for (const auto& path : {truncated, corrupted}) {
    const CommandResult r = RunOrbit(Predict({path}));
    EXPECT_EQ(r.exit_code, 1) << path;
    ExpectOneErrorLine(r, path.filename().string(), "could not be decoded");
  }
}

TEST_F(CliTest, PredictRejectsUnsupportedChannelCounts) {
  cv::Mat rgba(32, 32, CV_8UC4, cv::Scalar(1, 2, 3, 255));
  ASSERT_TRUE(cv::imwrite((dir_ / "rgba.png").string(), rgba));
  // OpenCV cannot write gray+alpha PNGs; this one was written with PIL (mode "LA").
  const fs::path gray_alpha = kSource / "tests/vision/data/gray_alpha.png";
  const CommandResult r4 = RunOrbit(Predict({dir_ / "rgba.png"}));
  EXPECT_EQ(r4.exit_code, 1);
  ExpectOneErrorLine(r4, "rgba.png", "4 channels");
  const CommandResult r2 = RunOrbit(Predict({gray_alpha}));
  EXPECT_EQ(r2.exit_code, 1);
  ExpectOneErrorLine(r2, "gray_alpha.png", "2 channels");
}

// A PNG whose header claims 100000 x 100000 pixels: refused from the header, before allocating.
TEST_F(CliTest, PredictRefusesHugeHeaderBeforeAllocating) {
  const cv::Mat tiny(4, 4, CV_8U, cv::Scalar(7));
  std::vector<uchar> png;
  ASSERT_TRUE(cv::imencode(".png", tiny, png));
  auto put32 = [&](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) png[at + i] = static_cast<uchar>(v >> (24 - 8 * i));
  };
  put32(16, 100000);  // IHDR width
  put32(20, 100000);  // IHDR height
  // Recompute the IHDR CRC so only the size is "wrong".
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 12; i < 29; ++i) {
    crc ^= png[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  put32(29, crc ^ 0xFFFFFFFFu);
  const fs::path huge = Write("huge.png", std::string(png.begin(), png.end()));
  const CommandResult r = RunOrbit("--log-level error " + Predict({huge}));
  EXPECT_EQ(r.exit_code, 1);
  ExpectOneErrorLine(r, "huge.png", "100000 x 100000");
}

TEST_F(CliTest, PredictRejectsZeroSizedImage) {
  const cv::Mat tiny(4, 4, CV_8U, cv::Scalar(7));
  std::vector<uchar> png;
  ASSERT_TRUE(cv::imencode(".png", tiny, png));
  for (int i = 16; i < 20; ++i) png[static_cast<std::size_t>(i)] = 0;  // width = 0
  const fs::path zero = Write("zero.png", std::string(png.begin(), png.end()));
  const CommandResult r = RunOrbit(Predict({zero}));
  EXPECT_EQ(r.exit_code, 1);
  ExpectOneErrorLine(r, "zero.png", "zero");
}

TEST_F(CliTest, PredictMissingImageIsReported) {
  const CommandResult r = RunOrbit(Predict({dir_ / "nope.png"}));
  EXPECT_EQ(r.exit_code, 1);
  ExpectOneErrorLine(r, "nope.png", "does not exist");
}

TEST_F(CliTest, ModelFileThatIsNotOnnxIsRefused) {
  fs::create_directories(dir_ / "fake");
  Write("fake/model.onnx", "definitely not protobuf");
  fs::copy_file(kModel / "orbit.yaml", dir_ / "fake" / "orbit.yaml");
  const CommandResult r = RunOrbit("predict --model " + ShellQuote((dir_ / "fake").string()) + " " +
                                   ShellQuote(FirstFixture().string()));
  EXPECT_EQ(r.exit_code, 2);
  ExpectOneErrorLine(r, "model.onnx", "not a valid ONNX model");
}

TEST_F(CliTest, ModelWhoseInputsContradictOrbitYamlIsRefused) {
  fs::create_directories(dir_ / "mismatch");
  fs::copy_file(kModel / "model.onnx", dir_ / "mismatch" / "model.onnx");
  std::string yaml = ReadAll(kModel / "orbit.yaml");
  const auto at = yaml.find("name: image");
  ASSERT_NE(at, std::string::npos);
  yaml.replace(at, 11, "name: pixels");
  Write("mismatch/orbit.yaml", yaml);
  const CommandResult r = RunOrbit("predict --model " + ShellQuote((dir_ / "mismatch").string()) +
                                   " " + ShellQuote(FirstFixture().string()));
  EXPECT_EQ(r.exit_code, 2);
  ExpectOneErrorLine(r, "orbit.yaml", "'pixels'");
}

TEST_F(CliTest, UnknownModelPathIsRefused) {
  const CommandResult r =
      RunOrbit("predict --model " + ShellQuote((dir_ / "missing").string()) + " x.png");
  EXPECT_EQ(r.exit_code, 2);
  ExpectOneErrorLine(r, "missing", "does not exist");
}

// The golden test: C++ evaluation of the committed model on the committed fixtures reproduces
// the model card's held-out IoU (computed in Python at export time) within 0.01.
TEST_F(CliTest, EvaluateReproducesModelCardIoU) {
  const auto card = nlohmann::json::parse(ReadAll(kModel / "metrics.json"));
  const CommandResult r =
      RunOrbit("evaluate --model " + ShellQuote(kModel.string()) + " --images " +
               ShellQuote((kFixtures / "images").string()) + " --masks " +
               ShellQuote((kFixtures / "masks").string()) + " --format json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto report = nlohmann::json::parse(r.out);
  const auto& total = report["aggregate"];
  EXPECT_EQ(total["image_count"].get<int>(), card["n_images"].get<int>());
  EXPECT_NEAR(total["iou"].get<double>(), card["semantic_iou"].get<double>(), 0.01);
  EXPECT_NEAR(total["dice"].get<double>(), card["dice"].get<double>(), 0.01);
  EXPECT_GT(total["f1"].get<double>(), 0.5);
  EXPECT_EQ(total["ap_per_threshold"].size(), 10u);
}

TEST_F(CliTest, EvaluateGateFailsWhenIoUIsBelowThreshold) {
  const CommandResult r =
      RunOrbit("evaluate --model " + ShellQuote(kModel.string()) + " --images " +
               ShellQuote((kFixtures / "images").string()) + " --masks " +
               ShellQuote((kFixtures / "masks").string()) + " --fail-under-iou 0.999");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("under --fail-under-iou"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("all ("), std::string::npos) << r.out;
}

TEST_F(CliTest, EvaluateReportsImageWithoutMask) {
  fs::create_directories(dir_ / "images");
  fs::create_directories(dir_ / "masks");
  fs::copy_file(FirstFixture(), dir_ / "images" / "lonely.png");
  const CommandResult r = RunOrbit("evaluate --model " + ShellQuote(kModel.string()) +
                                   " --images " + ShellQuote((dir_ / "images").string()) +
                                   " --masks " + ShellQuote((dir_ / "masks").string()));
  EXPECT_EQ(r.exit_code, 1);
  ExpectOneErrorLine(r, "lonely", "no mask named");
}

TEST_F(CliTest, BenchPrintsModelAndPipelineLatencyPerBatch) {
  const CommandResult r =
      RunOrbit("bench --model " + ShellQuote(kModel.string()) +
               " --batch 1,2 --image-size 96x80 --seconds 0 --min-iterations 2 --format json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto report = nlohmann::json::parse(r.out);
  ASSERT_EQ(report["results"].size(), 2u);
  for (const auto& result : report["results"]) {
    for (const char* mode : {"model_only", "pipeline"}) {
      EXPECT_GT(result[mode]["p50_ms"].get<double>(), 0) << mode;
      EXPECT_LE(result[mode]["p50_ms"].get<double>(), result[mode]["p99_ms"].get<double>());
      EXPECT_GE(result[mode]["iterations"].get<int>(), 2);
    }
    EXPECT_GT(result["stage_mean_ms"]["model"].get<double>(), 0);
  }
  EXPECT_EQ(report["results"][1]["batch"].get<int>(), 2);
}

TEST_F(CliTest, BenchRejectsMalformedFlags) {
  const CommandResult r = RunOrbit("bench --model " + ShellQuote(kModel.string()) + " --batch 1,x");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'x' is not a batch size"), std::string::npos) << r.err;
  const CommandResult s =
      RunOrbit("bench --model " + ShellQuote(kModel.string()) + " --image-size 10by10");
  EXPECT_EQ(s.exit_code, 2);
  EXPECT_NE(s.err.find("WIDTHxHEIGHT"), std::string::npos) << s.err;
}

}  // namespace
}  // namespace orbit::testing
