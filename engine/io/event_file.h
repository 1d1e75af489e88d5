// TensorBoard event files, so that `tensorboard --logdir runs/` shows simlab's training runs:
//
//   file  = record*                       (TFRecord framing)
//   record = uint64 length | uint32 masked_crc32c(length) | payload | uint32 masked_crc32c(payload)
//   payload = a tensorflow.Event protobuf: wall_time, step, and either file_version (the first
//             record) or a Summary of values: scalars (simple_value) and text (a string tensor
//             tagged with the "text" plugin)
//
// The handful of protobuf fields are encoded here directly (varints and length-delimited fields),
// so the writer needs no generated code and no libprotobuf: a build without ONNX still logs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace simlab::engine::io {

// CRC-32C (Castagnoli), and TFRecord's masked form of it: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
std::uint32_t crc32c(const void* data, std::size_t bytes);
std::uint32_t masked_crc32c(const void* data, std::size_t bytes);

class EventWriter {
 public:
  // Creates `dir` if needed and opens dir/events.out.tfevents.<unix time>.<host>.<pid>.simlab,
  // starting with the file_version record. Throws simlab::Error naming the file if it cannot.
  explicit EventWriter(const std::filesystem::path& dir);

  // Scalars at one step (e.g. env steps), one Summary with a value per tag.
  void scalars(std::int64_t step, const std::vector<std::pair<std::string, double>>& values);
  // A text summary (markdown), shown in TensorBoard's Text tab.
  void text(const std::string& tag, const std::string& markdown, std::int64_t step = 0);
  // Written records reach the file (the stream is flushed; TensorBoard reads as it grows).
  void flush();

  const std::filesystem::path& path() const { return path_; }

 private:
  void record(const std::string& event);

  std::filesystem::path path_;
  std::ofstream out_;
};

// The payloads of an event file's records, each record's length and CRCs checked; a bad record
// throws simlab::Error naming the file and its byte offset.
std::vector<std::string> read_records(const std::filesystem::path& file);

// One decoded value of an Event's Summary (for tests and tools): its tag, and the scalar or the
// text it holds.
struct EventValue {
  std::int64_t step = 0;
  std::string tag;
  bool is_text = false;
  double scalar = 0;
  std::string text;
};
// Every summary value in an Event payload (none for the file_version record).
std::vector<EventValue> decode_event(const std::string& payload);

}  // namespace simlab::engine::io
