#include "engine/io/checksum.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <unistd.h>
#include <zlib.h>

#include "engine/core/error.h"
#include "engine/io/dataset.h"
#include "engine/io/hash.h"
#include "engine/io/manifest.h"

namespace simlab::engine::io {

namespace fs = std::filesystem;

namespace {

std::string hex8(unsigned long crc) {
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08lx", crc & 0xffffffffUL);
  return hex;
}

// What to tell the user about a failed write, from errno.
std::string write_failure(int err) {
  std::string why = std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) why += ": make room on the disk";
  if (err == EFBIG) why += " (the file size limit, `ulimit -f`, or the file system's)";
  return why;
}

}  // namespace

FileSum FileSum::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("bytes") || !j["bytes"].is_number_unsigned() ||
      !j.contains("crc32") || !j["crc32"].is_string() || j["crc32"].get<std::string>().size() != 8)
    throw Error(SourceLocation{.file = where},
                "not a checksum record ({\"bytes\": N, \"crc32\": \"8 hex digits\"})");
  return {.bytes = j["bytes"].get<std::uintmax_t>(), .crc32 = j["crc32"].get<std::string>()};
}

FileSum file_sum(const fs::path& file) {
  std::error_code ec;
  const auto bytes = fs::file_size(file, ec);
  if (ec) throw Error(SourceLocation{.file = file.string()}, "cannot read: " + ec.message());
  return {.bytes = bytes, .crc32 = crc32_file(file)};
}

fs::path sum_path(const fs::path& file) {
  return file.string() + ".sum";
}

void verify_sum(const fs::path& file, const FileSum& expected, const std::string& what) {
  std::error_code ec;
  const auto bytes = fs::file_size(file, ec);
  if (ec) throw Error(SourceLocation{.file = file.string()}, "cannot read: " + ec.message());
  // The size first: a truncated file is refused without reading it.
  const FileSum have = bytes == expected.bytes ? file_sum(file) : FileSum{.bytes = bytes};
  if (have == expected) return;
  throw Error(SourceLocation{.file = file.string()},
              "this " + what + " is damaged or truncated: it has " + std::to_string(have.bytes) +
                  " bytes" + (have.crc32.empty() ? "" : ", CRC-32 " + have.crc32) +
                  "; when written it had " + std::to_string(expected.bytes) + " bytes, CRC-32 " +
                  expected.crc32 + ". Nothing was loaded from it");
}

bool verify_sum_file(const fs::path& file, const std::string& what) {
  const fs::path sum = sum_path(file), next = sum.string() + ".next";
  std::error_code ec;
  if (!fs::exists(sum, ec) && !fs::exists(next, ec)) return false;
  auto expected = [&](const fs::path& p) { return FileSum::from_json(read_json(p), p.string()); };
  if (fs::exists(next, ec)) {  // a crash between the renames: FILE is the new one
    try {
      verify_sum(file, expected(next), what);
      return true;
    } catch (const Error&) {
      if (!fs::exists(sum, ec)) throw;
    }
  }
  verify_sum(file, expected(sum), what);
  return true;
}

SummedFileWriter::SummedFileWriter(fs::path file)
    : file_(std::move(file)), tmp_(file_.string() + ".tmp"), crc_(crc32(0L, Z_NULL, 0)) {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw Error(SourceLocation{.file = file_.string()},
                "cannot create " + tmp_.filename().string() + ": " + write_failure(errno));
}

SummedFileWriter::~SummedFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    std::error_code ec;
    fs::remove(tmp_, ec);
  }
}

void SummedFileWriter::write(const void* data, std::size_t bytes) {
  SIMLAB_CHECK(fd_ >= 0) << "SummedFileWriter::write after commit";
  const auto* p = static_cast<const unsigned char*>(data);
  std::size_t done = 0;
  while (done < bytes) {
    const ssize_t n = ::write(fd_, p + done, bytes - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw Error(SourceLocation{.file = file_.string()},
                  "cannot write after " + std::to_string(bytes_ + done) +
                      " bytes: " + write_failure(n < 0 ? errno : ENOSPC) +
                      "; the previous file under this name, if any, is intact");
    done += static_cast<std::size_t>(n);
  }
  // zlib takes uInt lengths: feed the CRC in pieces below 4 GB.
  for (std::size_t off = 0; off < bytes;) {
    const std::size_t n = std::min<std::size_t>(bytes - off, 1u << 30);
    crc_ = crc32(crc_, p + off, static_cast<uInt>(n));
    off += n;
  }
  bytes_ += bytes;
}

FileSum SummedFileWriter::commit() {
  SIMLAB_CHECK(fd_ >= 0) << "SummedFileWriter::commit twice";
  if (::fsync(fd_) != 0)
    throw Error(SourceLocation{.file = file_.string()}, "cannot sync: " + write_failure(errno));
  ::close(fd_);
  fd_ = -1;
  const FileSum sum{.bytes = bytes_, .crc32 = hex8(crc_)};
  const fs::path next = sum_path(file_).string() + ".next";
  nlohmann::json record = sum.to_json();
  record["file"] = file_.filename().string();
  write_json_atomic(next, record);
  std::error_code ec;
  fs::rename(tmp_, file_, ec);
  if (ec) {
    fs::remove(tmp_, ec);
    throw Error(SourceLocation{.file = file_.string()},
                "cannot rename into place: " + ec.message());
  }
  fs::rename(next, sum_path(file_), ec);
  if (ec)
    throw Error(SourceLocation{.file = sum_path(file_).string()},
                "cannot rename into place: " + ec.message());
  sync_dir(file_.parent_path());
  return sum;
}

}  // namespace simlab::engine::io
