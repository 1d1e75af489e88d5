// Checksums of the files simlab loads back (checkpoints, exported policies), verified before
// anything parses them: a truncated or bit-flipped file is refused naming it, instead of reaching
// a deserializer that trusts its input.
//
//   FILE.sum   {"file": "checkpoint.pt", "bytes": N, "crc32": "8 hex digits"} (zlib's CRC-32)
//
// SummedFileWriter writes FILE through FILE.tmp with write(2), so that a full disk or the file
// size limit is an Error with the system's reason (never a signal or a half file under the name),
// and commits FILE and FILE.sum together:
//   FILE.tmp (fsync) -> FILE.sum.next (fsync) -> rename FILE.tmp to FILE -> rename FILE.sum.next
//   to FILE.sum
// A crash between the two renames leaves FILE.sum.next matching FILE; verify_sum accepts it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace simlab::engine::io {

struct FileSum {
  std::uintmax_t bytes = 0;
  std::string crc32;  // 8 lowercase hex digits

  nlohmann::json to_json() const { return {{"bytes", bytes}, {"crc32", crc32}}; }
  // Throws simlab::Error naming `where` when `j` is not such an object.
  static FileSum from_json(const nlohmann::json& j, const std::string& where);
  bool operator==(const FileSum&) const = default;
};

// The size and CRC-32 of a file's bytes; throws simlab::Error naming it if it cannot be read.
FileSum file_sum(const std::filesystem::path& file);

// FILE.sum of `file`.
std::filesystem::path sum_path(const std::filesystem::path& file);

// Whether `file` matches `expected`; if not, throws simlab::Error naming the file, both sizes and
// CRCs, and `what` it is ("checkpoint", "exported policy").
void verify_sum(const std::filesystem::path& file, const FileSum& expected,
                const std::string& what);

// Verifies `file` against FILE.sum (or FILE.sum.next, see above). Returns false, checking
// nothing, when there is no FILE.sum (a file written before checksums, or by another tool).
bool verify_sum_file(const std::filesystem::path& file, const std::string& what);

class SummedFileWriter {
 public:
  // Creates FILE.tmp (its folder must exist); throws simlab::Error naming FILE if it cannot.
  explicit SummedFileWriter(std::filesystem::path file);
  ~SummedFileWriter();  // without commit(): FILE.tmp is removed, FILE and FILE.sum untouched
  SummedFileWriter(const SummedFileWriter&) = delete;
  SummedFileWriter& operator=(const SummedFileWriter&) = delete;

  // Appends bytes; a failure throws simlab::Error naming FILE with the system's reason ("No space
  // left on device", "File too large") and what to do.
  void write(const void* data, std::size_t bytes);
  // Fsyncs, puts FILE and FILE.sum in place (the order above) and returns the sum.
  FileSum commit();

  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_, tmp_;
  int fd_ = -1;
  std::uintmax_t bytes_ = 0;
  unsigned long crc_ = 0;
};

}  // namespace simlab::engine::io
