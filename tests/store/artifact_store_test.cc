#include "store/artifact_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <streambuf>
#include <thread>

#include "test_backends.h"

namespace orbit::store {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::TempDir;

// A deterministic byte stream generated on the fly, so a large upload needs no large buffer.
class GeneratedStream : public std::streambuf {
 public:
  explicit GeneratedStream(std::uint64_t size) : size_(size), buffer_(1 << 16) {}

  static char ByteAt(std::uint64_t i) { return static_cast<char>((i * 2654435761u) >> 13); }

 protected:
  int_type underflow() override {
    if (produced_ == size_) return traits_type::eof();
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(buffer_.size(), size_ - produced_));
    for (std::size_t i = 0; i < n; ++i) buffer_[i] = ByteAt(produced_ + i);
    produced_ += n;
    setg(buffer_.data(), buffer_.data(), buffer_.data() + n);
    return traits_type::to_int_type(buffer_[0]);
  }

 private:
  std::uint64_t size_;
  std::uint64_t produced_ = 0;
  std::vector<char> buffer_;
};

std::string GeneratedSha256(std::uint64_t size) {
  Sha256 hash;
  std::vector<char> chunk(1 << 20);
  for (std::uint64_t at = 0; at < size; at += chunk.size()) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), size - at));
    for (std::size_t i = 0; i < n; ++i) chunk[i] = GeneratedStream::ByteAt(at + i);
    hash.Update(std::string_view(chunk.data(), n));
  }
  return hash.HexDigest();
}

long MaxRssKiB() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

class ArtifactStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    now_ = std::chrono::system_clock::now();
    auto store = ArtifactStore::Open(dir_.path() / "blobs", [this] { return now_.load(); });
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  void Advance(std::chrono::seconds by) { now_ = now_.load() + by; }

  std::vector<fs::path> TempFiles() const {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(store_->root() / "tmp")) files.push_back(e.path());
    return files;
  }

  void FlipByteOnDisk(const std::string& sha, std::streamoff offset) {
    const fs::path path = store_->BlobPath(sha);
    fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(offset);
    char c = 0;
    f.get(c);
    f.seekp(offset);
    f.put(static_cast<char>(c ^ 0x40));
  }

  TempDir dir_;
  std::atomic<std::chrono::system_clock::time_point> now_;
  std::unique_ptr<ArtifactStore> store_;
};

TEST_F(ArtifactStoreTest, PutThenReadRoundTripsUnderItsSha256) {
  auto info = store_->PutBytes("hello, orbit");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->sha256, Sha256Hex("hello, orbit"));
  EXPECT_EQ(info->size_bytes, 12u);
  const fs::path path = store_->BlobPath(info->sha256);
  EXPECT_EQ(path, store_->root() / "sha256" / info->sha256.substr(0, 2) / info->sha256.substr(2));
  EXPECT_TRUE(fs::exists(path));
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  EXPECT_EQ(store_->ReadAll(info->sha256).value(), "hello, orbit");
  EXPECT_TRUE(store_->Verify(info->sha256).ok());
  EXPECT_EQ(store_->Stat(info->sha256).value(), *info);
  EXPECT_TRUE(TempFiles().empty());
}

TEST_F(ArtifactStoreTest, StoresEmptyBlob) {
  auto info = store_->PutBytes("");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(store_->ReadAll(info->sha256).value(), "");
}

TEST_F(ArtifactStoreTest, DeduplicatesIdenticalContentAndResetsItsAge) {
  auto first = store_->PutBytes("same bytes");
  ASSERT_TRUE(first.ok());
  Advance(48h);
  auto second = store_->PutBytes("same bytes");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*first, *second);
  EXPECT_EQ(store_->List().value().size(), 1u);
  // The re-upload made it young again: a registration about to reference it is protected.
  auto report = store_->GarbageCollect({}, 1h);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->removed_blobs.empty());
  EXPECT_EQ(report->kept_young, 1u);
}

TEST_F(ArtifactStoreTest, StreamsLargeBlobWithoutHoldingItInMemory) {
  constexpr std::uint64_t kSize = 64ull << 20;
  const long rss_before = MaxRssKiB();
  GeneratedStream generated(kSize);
  std::istream in(&generated);
  auto info = store_->Put(in);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->size_bytes, kSize);
  EXPECT_EQ(info->sha256, GeneratedSha256(kSize));

  auto reader = store_->Read(info->sha256);
  ASSERT_TRUE(reader.ok());
  std::vector<char> buffer(1 << 20);
  std::uint64_t total = 0;
  bool same = true;
  while (true) {
    auto n = (*reader)->Read(buffer);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    if (*n == 0) break;
    for (std::size_t i = 0; i < *n && same; i += 4099) {
      same = buffer[i] == GeneratedStream::ByteAt(total + i);
    }
    total += *n;
  }
  EXPECT_TRUE(same);
  EXPECT_EQ(total, kSize);
  EXPECT_LT(MaxRssKiB() - rss_before, 24 * 1024) << "the upload or read was buffered in memory";
}

TEST_F(ArtifactStoreTest, ReportsCorruptionAsDataLossAndNeverServesTheWholeBlob) {
  const std::string content(300000, 'x');
  auto info = store_->PutBytes(content);
  ASSERT_TRUE(info.ok());
  FlipByteOnDisk(info->sha256, 123456);

  EXPECT_EQ(store_->Verify(info->sha256).code(), StatusCode::kDataLoss);
  auto all = store_->ReadAll(info->sha256);
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(all.status().message().find("corrupt"), std::string::npos);

  auto reader = store_->Read(info->sha256);
  ASSERT_TRUE(reader.ok());
  std::vector<char> buffer(65536);
  std::uint64_t served = 0;
  Status end;
  while (true) {
    auto n = (*reader)->Read(buffer);
    if (!n.ok()) {
      end = n.status();
      break;
    }
    if (*n == 0) break;
    served += *n;
  }
  EXPECT_EQ(end.code(), StatusCode::kDataLoss);
  EXPECT_LT(served, content.size());

  // Uploading the right content again repairs it.
  ASSERT_TRUE(store_->PutBytes(content).ok());
  EXPECT_TRUE(store_->Verify(info->sha256).ok());
}

TEST_F(ArtifactStoreTest, DetectsTruncatedBlob) {
  auto info = store_->PutBytes(std::string(1000, 'y'));
  ASSERT_TRUE(info.ok());
  fs::permissions(store_->BlobPath(info->sha256), fs::perms::owner_write, fs::perm_options::add);
  fs::resize_file(store_->BlobPath(info->sha256), 999);
  EXPECT_EQ(store_->Verify(info->sha256).code(), StatusCode::kDataLoss);
}

TEST_F(ArtifactStoreTest, RejectsUploadThatDoesNotMatchExpectedDigest) {
  std::istringstream in("actual content");
  auto info = store_->Put(in, Sha256Hex("declared content"));
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(store_->List().value().empty());
  EXPECT_TRUE(TempFiles().empty());
}

TEST_F(ArtifactStoreTest, RejectsMalformedDigestsBeforeTouchingTheFilesystem) {
  for (const char* bad : {"../../etc/passwd", "ABCDEF", ""}) {
    EXPECT_EQ(store_->Read(bad).status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->Verify(bad).code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(store_->Read(std::string(64, '0')).status().code(), StatusCode::kNotFound);
}

TEST_F(ArtifactStoreTest, GarbageCollectKeepsReferencedAndYoungBlobs) {
  const std::string kept = store_->PutBytes("referenced").value().sha256;
  const std::string orphan = store_->PutBytes("orphan").value().sha256;
  Advance(2h);
  const std::string young = store_->PutBytes("uploaded just now").value().sha256;

  auto report = store_->GarbageCollect({kept}, 1h);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->removed_blobs, (std::vector<std::string>{orphan}));
  EXPECT_EQ(report->bytes_freed, 6u);
  EXPECT_EQ(report->kept_referenced, 1u);
  EXPECT_EQ(report->kept_young, 1u);
  std::vector<std::string> left;
  const std::vector<BlobInfo> listed = store_->List().value();
  for (const BlobInfo& b : listed) left.push_back(b.sha256);
  std::sort(left.begin(), left.end());
  std::vector<std::string> expected = {kept, young};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(left, expected);
}

TEST_F(ArtifactStoreTest, GarbageCollectRemovesLeftoverTempFilesOnlyAfterMinAge) {
  const fs::path leftover = store_->root() / "tmp" / "upload-1-deadbeef.part";
  std::ofstream(leftover) << "half an upload";
  auto early = store_->GarbageCollect({}, 1h);
  ASSERT_TRUE(early.ok());
  EXPECT_TRUE(early->removed_temp_files.empty());  // may be an upload in progress
  EXPECT_TRUE(fs::exists(leftover));
  Advance(2h);
  auto later = store_->GarbageCollect({}, 1h);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->removed_temp_files, (std::vector<fs::path>{leftover}));
  EXPECT_FALSE(fs::exists(leftover));
}

TEST_F(ArtifactStoreTest, UploadKilledMidStreamLeavesOnlyATempFileThatGcRemoves) {
  const fs::path fifo = dir_.path() / "upload.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // the "server": streams an upload that never finishes
    std::ifstream in(fifo, std::ios::binary);
    auto info = store_->Put(in);
    ::_exit(info.ok() ? 0 : 1);
  }
  std::ofstream out(fifo, std::ios::binary);
  const std::string chunk(1 << 20, 'z');
  for (int i = 0; i < 3; ++i) out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  out.flush();
  bool started = false;  // wait until the child has written part of the upload
  for (int i = 0; i < 500 && !started; ++i) {
    for (const fs::path& f : TempFiles()) {
      std::error_code ec;
      started = started || fs::file_size(f, ec) >= chunk.size();
    }
    if (!started) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(started) << "the child never started writing its upload";
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFSIGNALED(wstatus));

  EXPECT_TRUE(store_->List().value().empty());  // nothing half-published
  ASSERT_EQ(TempFiles().size(), 1u);
  Advance(2h);
  auto report = store_->GarbageCollect({}, 1h);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->removed_temp_files.size(), 1u);
  EXPECT_TRUE(TempFiles().empty());
}

TEST_F(ArtifactStoreTest, ConcurrentIdenticalUploadsPublishOneIntactBlob) {
  const std::string content(1 << 20, 'c');
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (store_->PutBytes(content).ok()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  ASSERT_EQ(store_->List().value().size(), 1u);
  EXPECT_TRUE(store_->Verify(Sha256Hex(content)).ok());
  EXPECT_TRUE(TempFiles().empty());
}

}  // namespace
}  // namespace orbit::store
