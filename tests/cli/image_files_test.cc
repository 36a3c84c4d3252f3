#include "cli/image_files.h"

#include <gtest/gtest.h>

#include <fstream>

namespace orbit::cli {
namespace {
namespace fs = std::filesystem;

class ImageFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("orbit_image_files_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "masks");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Touch(const fs::path& p) { std::ofstream(dir_ / p) << "x"; }
  fs::path dir_;
};

TEST_F(ImageFilesTest, ListsOnlyImageExtensionsSortedCaseInsensitively) {
  for (const char* name : {"b.TIF", "a.png", "c.jpeg", "d.npy", "notes.txt", "e.tiff", "f.JPG"}) {
    Touch(name);
  }
  auto files = ListImageFiles(dir_);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  std::vector<std::string> names;
  for (const auto& f : *files) names.push_back(f.filename().string());
  EXPECT_EQ(names,
            (std::vector<std::string>{"a.png", "b.TIF", "c.jpeg", "d.npy", "e.tiff", "f.JPG"}));
}

TEST_F(ImageFilesTest, MissingDirectoryIsNotFound) {
  EXPECT_EQ(ListImageFiles(dir_ / "nope").status().code(), StatusCode::kNotFound);
}

TEST_F(ImageFilesTest, FindsMaskByStemWhateverItsExtension) {
  Touch("masks/img_1.png");
  Touch("masks/img_10.tif");
  auto mask = FindByStem(dir_ / "masks", "images/img_1.tif");
  ASSERT_TRUE(mask.ok()) << mask.status().ToString();
  EXPECT_EQ(mask->filename(), "img_1.png");
}

TEST_F(ImageFilesTest, AmbiguousOrMissingMaskIsAnError) {
  Touch("masks/a.png");
  Touch("masks/a.tif");
  EXPECT_EQ(FindByStem(dir_ / "masks", "a.png").status().code(), StatusCode::kInvalidArgument);
  auto missing = FindByStem(dir_ / "masks", "b.png");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("no mask named 'b.*'"), std::string::npos);
}

}  // namespace
}  // namespace orbit::cli
