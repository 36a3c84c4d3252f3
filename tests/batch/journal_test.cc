#include "batch/journal.h"

#include <gtest/gtest.h>

#include <fstream>

#include "batch/job_state.h"

namespace orbit::batch {
namespace {
namespace fs = std::filesystem;

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("orbit_batch_journal_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = dir_ / "j.log";
  }
  void TearDown() override { fs::remove_all(dir_); }

  static ItemRecord Ok(std::int64_t index) {
    ItemRecord r;
    r.index = index;
    r.ok = true;
    r.mask = "masks/m" + std::to_string(index) + ".png";
    r.mask_bytes = 10;
    r.mask_sha256 = "ab";
    r.width = 4;
    r.height = 5;
    r.object_count = 1;
    r.objects_csv = "1,3,4,1,1,0,0,2,2,0.1,7\n";
    return r;
  }
  std::vector<ItemRecord> ReadAll() {
    std::vector<ItemRecord> out;
    auto s = ScanJournal(path_, [&](const ItemRecord& r, std::uint64_t) { out.push_back(r); });
    EXPECT_TRUE(s.ok());
    return out;
  }
  void AppendRaw(const std::string& bytes) {
    std::ofstream(path_, std::ios::binary | std::ios::app) << bytes;
  }

  fs::path dir_;
  fs::path path_;
};

TEST_F(JournalTest, RecordsRoundTrip) {
  {
    auto writer = JournalWriter::Open(path_, nullptr);
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    ASSERT_TRUE((*writer)->Append(Ok(0)).ok());
    ItemRecord failed;
    failed.index = 1;
    failed.ok = false;
    failed.attempts = 3;
    failed.error = "image 'x.png': empty file";
    ASSERT_TRUE((*writer)->Append(failed).ok());
  }
  const auto records = ReadAll();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_TRUE(records[0].ok);
  EXPECT_EQ(records[0].mask, "masks/m0.png");
  EXPECT_EQ(records[0].objects_csv, Ok(0).objects_csv);
  EXPECT_FALSE(records[1].ok);
  EXPECT_EQ(records[1].attempts, 3);
  EXPECT_EQ(records[1].error, "image 'x.png': empty file");
}

TEST_F(JournalTest, TornLastRecordIsIgnoredAndCutBeforeAppending) {
  AppendRaw(EncodeRecord(Ok(0)));
  const std::string second = EncodeRecord(Ok(1));
  // Every proper prefix of a record is a torn write: none may be read as a record.
  for (std::size_t cut = 1; cut < second.size(); cut += 7) {
    fs::resize_file(path_, EncodeRecord(Ok(0)).size());
    AppendRaw(second.substr(0, cut));
    auto summary = ScanJournal(path_, nullptr);
    ASSERT_TRUE(summary.ok());
    EXPECT_EQ(summary->records, 1) << "cut at " << cut;
    EXPECT_TRUE(summary->torn());
  }
  JournalScanSummary opened;
  auto writer = JournalWriter::Open(path_, nullptr, &opened);
  ASSERT_TRUE(writer.ok());
  EXPECT_TRUE(opened.torn());
  ASSERT_TRUE((*writer)->Append(Ok(2)).ok());
  writer->reset();
  const auto records = ReadAll();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].index, 0);
  EXPECT_EQ(records[1].index, 2);
  EXPECT_FALSE(ScanJournal(path_, nullptr)->torn());
}

TEST_F(JournalTest, CorruptedPayloadFailsItsCrc) {
  std::string frame = EncodeRecord(Ok(0));
  frame[frame.size() - 3] ^= 0x5A;
  AppendRaw(frame);
  auto summary = ScanJournal(path_, nullptr);
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->records, 0);
  EXPECT_TRUE(summary->torn());
}

TEST_F(JournalTest, MissingJournalIsEmpty) {
  auto summary = ScanJournal(dir_ / "none.log", nullptr);
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->records, 0);
  EXPECT_FALSE(summary->torn());
}

TEST_F(JournalTest, ReadRecordAtReturnsTheRecordAtAScannedOffset) {
  AppendRaw(EncodeRecord(Ok(0)) + EncodeRecord(Ok(7)));
  std::vector<std::uint64_t> offsets;
  ASSERT_TRUE(
      ScanJournal(path_, [&](const ItemRecord&, std::uint64_t o) { offsets.push_back(o); }).ok());
  ASSERT_EQ(offsets.size(), 2u);
  auto record = ReadRecordAt(path_, offsets[1]);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->index, 7);
  EXPECT_FALSE(ReadRecordAt(path_, offsets[1] + 1).ok());
}

TEST(ItemStateTest, LegalTransitions) {
  using S = ItemState;
  EXPECT_TRUE(ValidateItemTransition(S::kPending, S::kRunning).ok());
  EXPECT_TRUE(ValidateItemTransition(S::kRunning, S::kSucceeded).ok());
  EXPECT_TRUE(ValidateItemTransition(S::kRunning, S::kFailed).ok());
  EXPECT_TRUE(ValidateItemTransition(S::kRunning, S::kPending).ok());
  EXPECT_TRUE(ValidateItemTransition(S::kFailed, S::kRunning).ok());
}

TEST(ItemStateTest, IllegalTransitionsAreRefused) {
  using S = ItemState;
  const S all[] = {S::kPending, S::kRunning, S::kSucceeded, S::kFailed};
  int legal = 0;
  for (S from : all) {
    for (S to : all) {
      const Status s = ValidateItemTransition(from, to);
      if (s.ok()) {
        ++legal;
        continue;
      }
      EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
      EXPECT_NE(s.message().find(std::string(ItemStateName(from))), std::string::npos);
    }
  }
  EXPECT_EQ(legal, 5);
  // A succeeded item is final: no transition out of it.
  for (S to : all) EXPECT_FALSE(ValidateItemTransition(S::kSucceeded, to).ok());
}

}  // namespace
}  // namespace orbit::batch
