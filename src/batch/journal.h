// The job journal: an append-only file of item records, one per finished item (succeeded or
// failed), each framed as [u32 length][u32 CRC-32][JSON payload] and fsync'd before the item
// counts as done. A kill -9 can only tear the last record; readers stop at the first record whose
// frame or CRC does not check out, and a writer re-opening the file cuts that torn tail off
// before appending. The invariant this file upholds is in docs/design/batch-journal.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace orbit::batch {

// What the journal knows about one finished item.
struct ItemRecord {
  std::int64_t index = -1;
  bool ok = false;
  int attempts = 1;
  std::string error;  // reason, when !ok
  std::string input_sha256;
  // Outputs, relative to the job directory ("" when not written), with size and SHA-256 so a
  // checker can prove the file on disk is the one the record describes.
  std::string mask;
  std::int64_t mask_bytes = 0;
  std::string mask_sha256;
  std::string overlay;
  std::int64_t overlay_bytes = 0;
  std::string overlay_sha256;
  int width = 0, height = 0;
  int object_count = 0;
  double confluence_percent = 0;
  double mean_object_area = 0;
  double seconds = 0;  // wall time of the item's last attempt
  // objects.csv rows of this item without the leading item columns ("label,area,...\n"...).
  std::string objects_csv;

  nlohmann::json ToJson() const;
  static Result<ItemRecord> FromJson(const nlohmann::json& json);
};

// Frames one record: [u32 little-endian payload length][u32 CRC-32 of payload][payload].
std::string EncodeRecord(const ItemRecord& record);

// What a scan found: how many bytes hold whole, valid records and whether anything follows them
// (a torn tail after a kill, or garbage).
struct JournalScanSummary {
  std::uint64_t valid_bytes = 0;
  std::uint64_t file_bytes = 0;
  std::int64_t records = 0;
  bool torn() const { return valid_bytes != file_bytes; }
};

// Calls `visit(record, offset)` for each valid record in order and stops at the first invalid
// frame. A missing journal is an empty one.
Result<JournalScanSummary> ScanJournal(
    const std::filesystem::path& path,
    const std::function<void(const ItemRecord&, std::uint64_t offset)>& visit);

// The record framed at `offset` (an offset ScanJournal reported).
Result<ItemRecord> ReadRecordAt(const std::filesystem::path& path, std::uint64_t offset);

// Appends records to one journal file. Thread-safe: Append may be called from any thread; each
// record is written with one write(2) and made durable with fdatasync before Append returns.
class JournalWriter {
 public:
  // Scans the file (calling `visit` like ScanJournal), truncates a torn tail, and opens it for
  // appending. The caller must hold the shard lock so no other writer exists.
  static Result<std::unique_ptr<JournalWriter>> Open(
      const std::filesystem::path& path,
      const std::function<void(const ItemRecord&, std::uint64_t offset)>& visit,
      JournalScanSummary* summary = nullptr);
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  Status Append(const ItemRecord& record);

 private:
  void RollBack();  // under mu_
  JournalWriter(std::filesystem::path path, int fd, std::uint64_t end)
      : path_(std::move(path)), fd_(fd), end_(end) {}
  const std::filesystem::path path_;
  std::mutex mu_;
  const int fd_;       // written under mu_
  std::uint64_t end_;  // guarded by mu_; size of the file's valid records
};

}  // namespace orbit::batch
