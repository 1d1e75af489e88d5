// TensorBoard event files: TFRecord framing with masked CRC-32C around Event protos, read back
// record by record with every CRC checked.
#include "engine/io/event_file.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "engine/core/error.h"

namespace simlab::engine::io {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("simlab_events_" + name);
  fs::remove_all(dir);
  return dir;
}

TEST(EventFile, Crc32cMatchesTheCastagnoliCheckValue) {
  EXPECT_EQ(crc32c("123456789", 9), 0xe3069283u);  // the standard check value of CRC-32C
  EXPECT_EQ(crc32c("", 0), 0u);
  const std::uint32_t c = crc32c("abc", 3);
  EXPECT_EQ(masked_crc32c("abc", 3), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

TEST(EventFile, ScalarsAndTextComeBackRecordByRecord) {
  const auto dir = fresh_dir("roundtrip");
  fs::path file;
  {
    EventWriter w(dir);
    file = w.path();
    EXPECT_EQ(file.parent_path(), dir);
    EXPECT_EQ(file.filename().string().rfind("events.out.tfevents.", 0), 0u);
    w.text("config", "```json\n{\"seed\": 3}\n```");
    w.scalars(4096, {{"train/mean_return", 12.5}, {"train/loss", -0.25}});
    w.scalars(8192, {{"train/mean_return", 20.0}});
    w.flush();
  }
  const auto records = read_records(file);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_NE(records[0].find("brain.Event:2"), std::string::npos);  // the file_version record
  EXPECT_TRUE(decode_event(records[0]).empty());
  const auto text = decode_event(records[1]);
  ASSERT_EQ(text.size(), 1u);
  EXPECT_TRUE(text[0].is_text);
  EXPECT_EQ(text[0].tag, "config");
  EXPECT_EQ(text[0].text, "```json\n{\"seed\": 3}\n```");
  const auto first = decode_event(records[2]);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].step, 4096);
  EXPECT_EQ(first[0].tag, "train/mean_return");
  EXPECT_FLOAT_EQ(static_cast<float>(first[0].scalar), 12.5f);
  EXPECT_EQ(first[1].tag, "train/loss");
  EXPECT_FLOAT_EQ(static_cast<float>(first[1].scalar), -0.25f);
  const auto second = decode_event(records[3]);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].step, 8192);
  EXPECT_FLOAT_EQ(static_cast<float>(second[0].scalar), 20.0f);
  fs::remove_all(dir);
}

TEST(EventFile, ACorruptByteIsFoundAndLocated) {
  const auto dir = fresh_dir("corrupt");
  fs::path file;
  {
    EventWriter w(dir);
    file = w.path();
    w.scalars(1, {{"a", 1.0}});
  }
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  bytes[bytes.size() - 6] ^= 0x01;  // inside the last record's payload
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  try {
    read_records(file);
    FAIL() << "a corrupt record was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("payload CRC mismatch"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(file.string() + ": byte "), std::string::npos) << e.what();
  }
  bytes.resize(bytes.size() - 3);  // cut short
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  EXPECT_THROW(read_records(file), Error);
  fs::remove_all(dir);
}

TEST(EventFile, AnUnwritableFolderIsAnErrorNamingTheFile) {
  const auto dir = fresh_dir("file_in_the_way");
  fs::create_directories(dir.parent_path());
  std::ofstream(dir) << "not a folder";
  EXPECT_THROW(EventWriter{dir}, Error);
  fs::remove(dir);
}

}  // namespace
}  // namespace simlab::engine::io
