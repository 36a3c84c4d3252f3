#include "batch/journal.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <vector>

#include "core/file.h"

namespace orbit::batch {
namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t kMaxRecordBytes = 256u << 20;

std::uint32_t Crc32(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths; records are capped far below 4 GiB.
  crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size()));
  return static_cast<std::uint32_t>(crc);
}

void PutU32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

std::uint32_t GetU32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

// Reads one frame at the stream's position: the record, or nullopt when the frame is incomplete
// or fails its CRC (a torn tail).
std::optional<ItemRecord> ReadFrame(std::istream& in, std::uint64_t remaining,
                                    std::uint64_t* frame_bytes) {
  if (remaining < 8) return std::nullopt;
  unsigned char header[8];
  if (!in.read(reinterpret_cast<char*>(header), 8)) return std::nullopt;
  const std::uint32_t length = GetU32(header);
  const std::uint32_t crc = GetU32(header + 4);
  if (length == 0 || length > kMaxRecordBytes || length > remaining - 8) return std::nullopt;
  std::string payload(length, '\0');
  if (!in.read(payload.data(), length)) return std::nullopt;
  if (Crc32(payload) != crc) return std::nullopt;
  const auto json = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return std::nullopt;
  auto record = ItemRecord::FromJson(json);
  if (!record.ok()) return std::nullopt;
  *frame_bytes = 8 + length;
  return std::move(record).value();
}

}  // namespace

nlohmann::json ItemRecord::ToJson() const {
  nlohmann::json j = {{"i", index}, {"ok", ok}, {"attempts", attempts}, {"seconds", seconds}};
  if (!input_sha256.empty()) j["input_sha256"] = input_sha256;
  if (!ok) {
    j["error"] = error;
    return j;
  }
  if (!mask.empty()) j["mask"] = {{"path", mask}, {"bytes", mask_bytes}, {"sha256", mask_sha256}};
  if (!overlay.empty()) {
    j["overlay"] = {{"path", overlay}, {"bytes", overlay_bytes}, {"sha256", overlay_sha256}};
  }
  j["width"] = width;
  j["height"] = height;
  j["object_count"] = object_count;
  j["confluence_percent"] = confluence_percent;
  j["mean_object_area"] = mean_object_area;
  j["objects_csv"] = objects_csv;
  return j;
}

Result<ItemRecord> ItemRecord::FromJson(const nlohmann::json& j) {
  try {
    ItemRecord r;
    r.index = j.at("i").get<std::int64_t>();
    r.ok = j.at("ok").get<bool>();
    r.attempts = j.value("attempts", 1);
    r.seconds = j.value("seconds", 0.0);
    r.input_sha256 = j.value("input_sha256", "");
    if (!r.ok) {
      r.error = j.value("error", "");
      return r;
    }
    if (j.contains("mask")) {
      r.mask = j["mask"].at("path").get<std::string>();
      r.mask_bytes = j["mask"].at("bytes").get<std::int64_t>();
      r.mask_sha256 = j["mask"].at("sha256").get<std::string>();
    }
    if (j.contains("overlay")) {
      r.overlay = j["overlay"].at("path").get<std::string>();
      r.overlay_bytes = j["overlay"].at("bytes").get<std::int64_t>();
      r.overlay_sha256 = j["overlay"].at("sha256").get<std::string>();
    }
    r.width = j.at("width").get<int>();
    r.height = j.at("height").get<int>();
    r.object_count = j.at("object_count").get<int>();
    r.confluence_percent = j.at("confluence_percent").get<double>();
    r.mean_object_area = j.at("mean_object_area").get<double>();
    r.objects_csv = j.value("objects_csv", "");
    return r;
  } catch (const nlohmann::json::exception& e) {
    return DataLossError(std::string("journal record: ") + e.what());
  }
}

std::string EncodeRecord(const ItemRecord& record) {
  const std::string payload = record.ToJson().dump();
  std::string out;
  out.reserve(payload.size() + 8);
  PutU32(out, static_cast<std::uint32_t>(payload.size()));
  PutU32(out, Crc32(payload));
  out += payload;
  return out;
}

Result<JournalScanSummary> ScanJournal(
    const fs::path& path, const std::function<void(const ItemRecord&, std::uint64_t)>& visit) {
  JournalScanSummary summary;
  std::error_code ec;
  if (!fs::exists(path, ec)) return summary;
  summary.file_bytes = fs::file_size(path, ec);
  if (ec) return UnavailableError("journal '" + path.string() + "': " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) return UnavailableError("journal '" + path.string() + "' cannot be read");
  while (summary.valid_bytes < summary.file_bytes) {
    std::uint64_t frame = 0;
    auto record = ReadFrame(in, summary.file_bytes - summary.valid_bytes, &frame);
    if (!record) break;
    if (visit) visit(*record, summary.valid_bytes);
    summary.valid_bytes += frame;
    ++summary.records;
  }
  return summary;
}

Result<ItemRecord> ReadRecordAt(const fs::path& path, std::uint64_t offset) {
  std::error_code ec;
  const std::uint64_t size = fs::file_size(path, ec);
  if (ec || offset >= size) {
    return DataLossError("journal '" + path.string() + "': no record at offset " +
                         std::to_string(offset));
  }
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::uint64_t frame = 0;
  auto record = ReadFrame(in, size - offset, &frame);
  if (!record) {
    return DataLossError("journal '" + path.string() + "': bad record at offset " +
                         std::to_string(offset));
  }
  return std::move(*record);
}

Result<std::unique_ptr<JournalWriter>> JournalWriter::Open(
    const fs::path& path, const std::function<void(const ItemRecord&, std::uint64_t)>& visit,
    JournalScanSummary* summary_out) {
  ORBIT_ASSIGN_OR_RETURN(JournalScanSummary summary, ScanJournal(path, visit));
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return UnavailableError("journal '" + path.string() +
                            "': cannot open: " + std::strerror(errno));
  }
  if (summary.torn()) {
    // Only the tail can be torn: records are appended whole and fsync'd one after another.
    if (::ftruncate(fd, static_cast<off_t>(summary.valid_bytes)) != 0 || ::fsync(fd) != 0) {
      const std::string reason = std::strerror(errno);
      ::close(fd);
      return UnavailableError("journal '" + path.string() + "': cannot cut torn tail: " + reason);
    }
  }
  if (::lseek(fd, static_cast<off_t>(summary.valid_bytes), SEEK_SET) < 0) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    return UnavailableError("journal '" + path.string() + "': " + reason);
  }
  // A journal created just now must not vanish on a power loss while the outputs its records
  // name survive (harmless, they would be redone, but cheap to rule out: once per run).
  if (Status synced = SyncDirectory(path.parent_path()); !synced.ok()) {
    ::close(fd);
    return synced;
  }
  if (summary_out != nullptr) *summary_out = summary;
  return std::unique_ptr<JournalWriter>(new JournalWriter(path, fd, summary.valid_bytes));
}

JournalWriter::~JournalWriter() { ::close(fd_); }

void JournalWriter::RollBack() {
  // A half-written frame must not stay in the middle of the file, where later records would
  // follow it and be unreadable: cut back to the last whole record.
  if (::ftruncate(fd_, static_cast<off_t>(end_)) == 0) {
    ::lseek(fd_, static_cast<off_t>(end_), SEEK_SET);
  }
}

Status JournalWriter::Append(const ItemRecord& record) {
  const std::string frame = EncodeRecord(record);
  std::lock_guard<std::mutex> lock(mu_);
  std::size_t written = 0;
  while (written < frame.size()) {
    const ssize_t n = ::write(fd_, frame.data() + written, frame.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string reason = std::strerror(errno);
      RollBack();
      return UnavailableError("journal '" + path_.string() + "': write failed: " + reason);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd_) != 0) {
    const std::string reason = std::strerror(errno);
    RollBack();
    return UnavailableError("journal '" + path_.string() + "': fdatasync failed: " + reason);
  }
  end_ += frame.size();
  return Status::Ok();
}

}  // namespace orbit::batch
