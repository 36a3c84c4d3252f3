#include "batch/inputs.h"

#include <gtest/gtest.h>
#include <tiffio.h>

#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "batch/shard.h"

namespace orbit::batch {
namespace {
namespace fs = std::filesystem;

class InputsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("orbit_batch_inputs_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "a" / "deep");
    fs::create_directories(dir_ / "b");
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path Png(const fs::path& rel) {
    const fs::path path = dir_ / rel;
    cv::imwrite(path.string(), cv::Mat(8, 8, CV_8U, cv::Scalar(9)));
    return path;
  }
  void Text(const fs::path& rel, const std::string& text) { std::ofstream(dir_ / rel) << text; }
  // A TIFF with `pages` 8x8 8-bit pages.
  fs::path Stack(const fs::path& rel, int pages) {
    const fs::path path = dir_ / rel;
    TIFF* tiff = TIFFOpen(path.c_str(), "w");
    std::vector<unsigned char> row(8, 7);
    for (int p = 0; p < pages; ++p) {
      TIFFSetField(tiff, TIFFTAG_IMAGEWIDTH, 8);
      TIFFSetField(tiff, TIFFTAG_IMAGELENGTH, 8);
      TIFFSetField(tiff, TIFFTAG_BITSPERSAMPLE, 8);
      TIFFSetField(tiff, TIFFTAG_SAMPLESPERPIXEL, 1);
      TIFFSetField(tiff, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
      TIFFSetField(tiff, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
      TIFFSetField(tiff, TIFFTAG_ROWSPERSTRIP, 8);
      for (int y = 0; y < 8; ++y) TIFFWriteScanline(tiff, row.data(), y, 0);
      TIFFWriteDirectory(tiff);
    }
    TIFFClose(tiff);
    return path;
  }

  fs::path dir_;
};

TEST_F(InputsTest, DirectoryExpandsRecursivelyToImageFilesOnly) {
  Png("a/one.png");
  Png("a/deep/two.png");
  Text("a/notes.txt", "not an image");
  auto files = ExpandInputs({(dir_ / "a").string()});
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].filename(), "two.png");  // sorted by full path: a/deep/ < a/one
  EXPECT_EQ((*files)[1].filename(), "one.png");
}

TEST_F(InputsTest, GlobStarStaysInOneDirectoryAndDoubleStarRecurses) {
  Png("a/one.png");
  Png("a/deep/two.png");
  Png("b/three.png");
  auto shallow = ExpandInputs({(dir_ / "a" / "*.png").string()});
  ASSERT_TRUE(shallow.ok()) << shallow.status().ToString();
  EXPECT_EQ(shallow->size(), 1u);
  auto deep = ExpandInputs({(dir_ / "**.png").string()});
  ASSERT_TRUE(deep.ok()) << deep.status().ToString();
  EXPECT_EQ(deep->size(), 3u);
}

TEST_F(InputsTest, ListFileResolvesRelativePathsAgainstItsDirectory) {
  Png("b/three.png");
  Text("list.txt", "# inputs\nb/three.png\n\n" + (dir_ / "missing.png").string() + "\n");
  auto files = ExpandInputs({(dir_ / "list.txt").string()});
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0], dir_ / "b/three.png");
  EXPECT_EQ((*files)[1], dir_ / "missing.png");  // kept: it fails as an item, with a reason
}

TEST_F(InputsTest, DuplicatesAcrossArgumentsAreMerged) {
  const fs::path one = Png("a/one.png");
  auto files = ExpandInputs({one.string(), (dir_ / "a" / "*.png").string()});
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->size(), 1u);
}

TEST_F(InputsTest, PatternMatchingNothingIsNotFound) {
  auto files = ExpandInputs({(dir_ / "*.jpg").string()});
  EXPECT_EQ(files.status().code(), StatusCode::kNotFound);
  EXPECT_NE(files.status().message().find("matches no files"), std::string::npos);
  EXPECT_EQ(ExpandInputs({(dir_ / "nope").string()}).status().code(), StatusCode::kNotFound);
}

TEST_F(InputsTest, MultiPageTiffExpandsToOneItemPerPage) {
  const fs::path stack = Stack("stack.tif", 3);
  const fs::path single = Png("a/one.png");
  EXPECT_EQ(CountPages(stack), 3);
  EXPECT_EQ(CountPages(single), 1);
  const auto items = ExpandItems({single, stack});
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[0].name, "one");
  EXPECT_EQ(items[1].name, "stack_p0000");
  EXPECT_EQ(items[3].name, "stack_p0002");
  EXPECT_EQ(items[3].page, 2);
  EXPECT_EQ(items[3].page_count, 3);
  EXPECT_EQ(items[3].index, 3);
  EXPECT_EQ(items[3].Id(), stack.string() + "#2");
}

TEST_F(InputsTest, NpyStackExpandsToOneItemPerFrame) {
  // (3 frames, 8, 8) uint8, numpy's version-1 header.
  std::string dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 8, 8), }";
  while ((10 + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  std::string npy("\x93NUMPY\x01\x00", 8);
  npy += static_cast<char>(dict.size() & 0xff);
  npy += static_cast<char>(dict.size() >> 8);
  npy += dict + std::string(3 * 64, '\x05');
  std::ofstream(dir_ / "well_A1.npy", std::ios::binary) << npy;
  EXPECT_EQ(CountPages(dir_ / "well_A1.npy"), 3);
  const auto items = ExpandItems({dir_ / "well_A1.npy"});
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].name, "well_A1_t0000");
  EXPECT_EQ(items[2].name, "well_A1_t0002");
  EXPECT_EQ(items[2].page, 2);
  EXPECT_EQ(items[2].page_count, 3);
}

TEST_F(InputsTest, NumberedFileSeriesIsOneItemPerFileInFrameOrder) {
  // A time-lapse kept as one file per frame needs no special handling: each file is an item,
  // sorted by name, output named after the file.
  for (const char* name : {"well_A1_t002.png", "well_A1_t001.png", "well_A1_t010.png"}) Png(name);
  auto files = ExpandInputs({(dir_ / "well_A1_t*.png").string()});
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  const auto items = ExpandItems(*files);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].name, "well_A1_t001");
  EXPECT_EQ(items[1].name, "well_A1_t002");
  EXPECT_EQ(items[2].name, "well_A1_t010");
  EXPECT_EQ(items[2].page_count, 1);
}

TEST_F(InputsTest, CorruptTiffCountsAsOnePage) {
  Text("bad.tif", "II*\0garbage");
  EXPECT_EQ(CountPages(dir_ / "bad.tif"), 1);
}

TEST_F(InputsTest, SameStemsGetUniqueNames) {
  const auto items = ExpandItems({dir_ / "a/x.png", dir_ / "b/x.png", dir_ / "b/x.tif"});
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].name, "x");
  EXPECT_EQ(items[1].name, "x-2");
  EXPECT_EQ(items[2].name, "x-3");
}

TEST(ShardTest, ParsesIndexOverCount) {
  auto shard = ParseShard("2/5");
  ASSERT_TRUE(shard.ok());
  EXPECT_EQ(shard->index, 2);
  EXPECT_EQ(shard->count, 5);
  EXPECT_EQ(shard->ToString(), "2/5");
  EXPECT_EQ(shard->FileStem(), "shard-2-of-5");
  for (const char* bad : {"", "1", "5/5", "-1/3", "a/b", "1/0", "1/3x"}) {
    EXPECT_FALSE(ParseShard(bad).ok()) << bad;
  }
}

TEST(ShardTest, EveryItemBelongsToExactlyOneShard) {
  constexpr int kItems = 103;
  constexpr int kShards = 7;
  std::vector<int> owners(kItems, 0);
  std::size_t largest = 0, smallest = kItems;
  for (int s = 0; s < kShards; ++s) {
    const auto items = ShardItems(kItems, ShardRef{s, kShards});
    largest = std::max(largest, items.size());
    smallest = std::min(smallest, items.size());
    for (auto i : items) {
      ++owners[static_cast<std::size_t>(i)];
      EXPECT_TRUE((ShardRef{s, kShards}).Owns(i));
    }
  }
  for (int count : owners) EXPECT_EQ(count, 1);
  EXPECT_LE(largest - smallest, 1u);  // balanced
  EXPECT_EQ(ShardItems(5, ShardRef{}).size(), 5u);
}

}  // namespace
}  // namespace orbit::batch
