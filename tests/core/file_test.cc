#include "core/file.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace orbit {
namespace {
namespace fs = std::filesystem;

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("orbit_file_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(FileTest, WriteAtomicThenReadRoundTrips) {
  ASSERT_TRUE(WriteFileAtomic(dir_ / "a.bin", std::string("he\0llo", 6)).ok());
  auto bytes = ReadFileBytes(dir_ / "a.bin");
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(*bytes, std::string("he\0llo", 6));
}

TEST_F(FileTest, WriteAtomicReplacesAndLeavesNoTemporaryFiles) {
  ASSERT_TRUE(WriteFileAtomic(dir_ / "a.txt", "old").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ / "a.txt", "new").ok());
  EXPECT_EQ(*ReadFileBytes(dir_ / "a.txt"), "new");
  int files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1);
}

TEST_F(FileTest, WriteIntoMissingDirectoryIsUnavailable) {
  Status s = WriteFileAtomic(dir_ / "missing" / "a.txt", "x");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("missing/a.txt"), std::string::npos);
}

// The directory fsync after the rename must also work for a bare file name (parent path "").
TEST_F(FileTest, WriteAtomicWithBareFileNameWritesIntoCurrentDirectory) {
  const fs::path previous = fs::current_path();
  fs::current_path(dir_);
  const Status s = WriteFileAtomic("bare.txt", "x");
  fs::current_path(previous);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(*ReadFileBytes(dir_ / "bare.txt"), "x");
}

TEST_F(FileTest, SyncDirectorySucceedsOnDirectoryAndNamesMissingOne) {
  EXPECT_TRUE(SyncDirectory(dir_).ok());
  const Status missing = SyncDirectory(dir_ / "missing");
  EXPECT_EQ(missing.code(), StatusCode::kUnavailable);
  EXPECT_NE(missing.message().find("missing"), std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(dir_ / "file", "x").ok());
  EXPECT_FALSE(SyncDirectory(dir_ / "file").ok());  // a file is not a directory
}

TEST_F(FileTest, ReadMissingFileIsNotFound) {
  auto r = ReadFileBytes(dir_ / "nope.png");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("nope.png"), std::string::npos);
}

TEST_F(FileTest, ReadRefusesFileOverLimit) {
  ASSERT_TRUE(WriteFileAtomic(dir_ / "big", std::string(100, 'x')).ok());
  auto r = ReadFileBytes(dir_ / "big", 99);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
}

TEST_F(FileTest, ReadDirectoryIsInvalidArgument) {
  auto r = ReadFileBytes(dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace orbit
