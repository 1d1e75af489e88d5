// Checksums beside the files simlab loads back: what is written verifies, a truncated or
// bit-flipped file is refused naming it, a crash between the two renames still verifies, and a
// failed write (the file size limit) is an Error that leaves the previous file intact.
#include "engine/io/checksum.h"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <sys/resource.h>

#include <gtest/gtest.h>

#include "engine/core/error.h"

namespace simlab::engine::io {
namespace {

namespace fs = std::filesystem;

fs::path fresh(const std::string& name) {
  const auto dir = fs::temp_directory_path() / "simlab_checksum_test";
  fs::create_directories(dir);
  const auto file = dir / name;
  for (const auto& f : {file, sum_path(file), fs::path(sum_path(file).string() + ".next"),
                        fs::path(file.string() + ".tmp")})
    fs::remove(f);
  return file;
}

FileSum write(const fs::path& file, const std::string& bytes) {
  SummedFileWriter out(file);
  out.write(bytes.data(), bytes.size() / 2);
  out.write(bytes.data() + bytes.size() / 2, bytes.size() - bytes.size() / 2);
  return out.commit();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Checksum, WhatIsWrittenVerifiesAndDamageIsNamed) {
  const auto file = fresh("weights.pt");
  const std::string bytes(100000, 'x');
  const auto sum = write(file, bytes + "tail");
  EXPECT_EQ(sum, file_sum(file));
  EXPECT_EQ(sum.bytes, 100004u);
  EXPECT_TRUE(verify_sum_file(file, "checkpoint"));
  EXPECT_FALSE(fs::exists(file.string() + ".tmp"));

  // One flipped bit: same size, another CRC.
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5000);
    f.put('y');
  }
  auto what = error_of([&] { verify_sum_file(file, "checkpoint"); });
  EXPECT_NE(what.find(file.string()), std::string::npos) << what;
  EXPECT_NE(what.find("checkpoint is damaged or truncated"), std::string::npos) << what;
  // Truncated: refused by its size.
  fs::resize_file(file, 100);
  what = error_of([&] { verify_sum(file, sum, "exported policy"); });
  EXPECT_NE(what.find("it has 100 bytes"), std::string::npos) << what;

  // No FILE.sum: nothing to check against (files from before checksums).
  const auto other = fresh("plain.pt");
  std::ofstream(other) << "abc";
  EXPECT_FALSE(verify_sum_file(other, "checkpoint"));
}

TEST(Checksum, ACrashBetweenTheRenamesStillVerifies) {
  const auto file = fresh("ckpt.pt");
  write(file, "first version");
  std::ifstream in(sum_path(file));
  const std::string old_sum((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write(file, "second, longer version");
  // As if the process died after FILE was renamed but before FILE.sum.next was: FILE is new,
  // FILE.sum old, FILE.sum.next new.
  fs::rename(sum_path(file), sum_path(file).string() + ".next");
  std::ofstream(sum_path(file)) << old_sum;
  EXPECT_TRUE(verify_sum_file(file, "checkpoint"));
}

TEST(Checksum, AFailedWriteIsAnErrorAndKeepsThePreviousFile) {
  const auto file = fresh("big.pt");
  write(file, "the previous checkpoint");
  const auto before = file_sum(file);
  // A file size limit of 64 KB, as `ulimit -f 64` sets it; SIGXFSZ ignored as simlab's main does.
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  getrlimit(RLIMIT_FSIZE, &old);
  rlimit limit = old;
  limit.rlim_cur = 64 << 10;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  std::string what;
  {
    SummedFileWriter out(file);
    const std::string chunk(32 << 10, 'z');
    what = error_of([&] {
      for (int i = 0; i < 4; ++i)
        out.write(chunk.data(), chunk.size());
    });
  }
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_NE(what.find(file.string()), std::string::npos) << what;
  EXPECT_NE(what.find("File too large"), std::string::npos) << what;
  EXPECT_FALSE(fs::exists(file.string() + ".tmp"));
  EXPECT_EQ(file_sum(file), before);
  EXPECT_TRUE(verify_sum_file(file, "checkpoint"));
}

}  // namespace
}  // namespace simlab::engine::io
