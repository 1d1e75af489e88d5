#include "engine/io/event_file.h"

#include <array>
#include <chrono>
#include <cstring>
#include <iterator>
#include <unistd.h>

#include "engine/core/error.h"

namespace simlab::engine::io {
namespace {

// Reflected CRC-32C table (polynomial 0x82f63b78), built once.
const std::array<std::uint32_t, 256>& crc_table() {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k)
        c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

// Protobuf's wire format, the parts an Event needs.
void varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void tag(std::string& out, int field, int wire_type) {
  varint(out, static_cast<std::uint64_t>(field) << 3 | static_cast<std::uint64_t>(wire_type));
}
void bytes_field(std::string& out, int field, const std::string& bytes) {
  tag(out, field, 2);
  varint(out, bytes.size());
  out += bytes;
}
template <class T>
void fixed_field(std::string& out, int field, T value) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8);
  tag(out, field, sizeof(T) == 8 ? 1 : 5);
  char raw[sizeof(T)];
  std::memcpy(raw, &value, sizeof(T));  // little-endian on every platform simlab builds for
  out.append(raw, sizeof(T));
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// tensorflow.Event { double wall_time = 1; int64 step = 2; string file_version = 3;
//                    Summary summary = 5; }
std::string event(std::int64_t step, const std::string* file_version, const std::string* summary) {
  std::string e;
  fixed_field(e, 1, now_seconds());
  tag(e, 2, 0);
  varint(e, static_cast<std::uint64_t>(step));
  if (file_version) bytes_field(e, 3, *file_version);
  if (summary) bytes_field(e, 5, *summary);
  return e;
}

// A cursor over protobuf bytes, for reading events back.
struct Reader {
  const std::string& s;
  std::size_t at = 0;
  bool done() const { return at >= s.size(); }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64 && at < s.size(); shift += 7) {
      const auto b = static_cast<unsigned char>(s[at++]);
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw Error(SourceLocation{.field = "event"}, "truncated varint");
  }
  std::string bytes() {
    const auto n = varint();
    if (n > s.size() - at) throw Error(SourceLocation{.field = "event"}, "truncated field");
    std::string out = s.substr(at, n);
    at += n;
    return out;
  }
  template <class T>
  T fixed() {
    if (sizeof(T) > s.size() - at) throw Error(SourceLocation{.field = "event"}, "truncated");
    T v;
    std::memcpy(&v, s.data() + at, sizeof(T));
    at += sizeof(T);
    return v;
  }
  void skip(int wire_type) {
    switch (wire_type) {
      case 0:
        varint();
        break;
      case 1:
        at += 8;
        break;
      case 2:
        bytes();
        break;
      case 5:
        at += 4;
        break;
      default:
        throw Error(SourceLocation{.field = "event"}, "unknown wire type");
    }
  }
};

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t bytes) {
  const auto& table = crc_table();
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = 0xffffffffu;
  for (std::size_t i = 0; i < bytes; ++i)
    c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

std::uint32_t masked_crc32c(const void* data, std::size_t bytes) {
  const std::uint32_t c = crc32c(data, bytes);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

EventWriter::EventWriter(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  path_ = dir / ("events.out.tfevents." + std::to_string(static_cast<long long>(now_seconds())) +
                 "." + host + "." + std::to_string(::getpid()) + ".simlab");
  out_.open(path_, std::ios::binary | std::ios::trunc);
  if (!out_)
    throw Error(SourceLocation{.file = path_.string()}, "cannot write TensorBoard events here");
  const std::string version = "brain.Event:2";
  record(event(0, &version, nullptr));
  flush();
}

void EventWriter::scalars(std::int64_t step,
                          const std::vector<std::pair<std::string, double>>& values) {
  // Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
  std::string summary;
  for (const auto& [name, v] : values) {
    std::string value;
    bytes_field(value, 1, name);
    fixed_field(value, 2, static_cast<float>(v));
    bytes_field(summary, 1, value);
  }
  record(event(step, nullptr, &summary));
}

void EventWriter::text(const std::string& name, const std::string& markdown, std::int64_t step) {
  // Value { tag = 1; SummaryMetadata metadata = 9 { PluginData plugin_data = 1
  //   { string plugin_name = 1; } }; TensorProto tensor = 8 { DataType dtype = 1 (DT_STRING = 7);
  //   repeated bytes string_val = 8; } }: a scalar string tensor of the "text" plugin.
  std::string plugin, metadata, tensor, value, summary;
  bytes_field(plugin, 1, "text");
  bytes_field(metadata, 1, plugin);
  tag(tensor, 1, 0);
  varint(tensor, 7);
  bytes_field(tensor, 8, markdown);
  bytes_field(value, 1, name);
  bytes_field(value, 9, metadata);
  bytes_field(value, 8, tensor);
  bytes_field(summary, 1, value);
  record(event(step, nullptr, &summary));
}

void EventWriter::flush() {
  out_.flush();
  if (!out_) throw Error(SourceLocation{.file = path_.string()}, "cannot write TensorBoard events");
}

void EventWriter::record(const std::string& payload) {
  const std::uint64_t length = payload.size();
  char header[12];
  std::memcpy(header, &length, 8);
  const std::uint32_t length_crc = masked_crc32c(header, 8);
  std::memcpy(header + 8, &length_crc, 4);
  const std::uint32_t payload_crc = masked_crc32c(payload.data(), payload.size());
  out_.write(header, sizeof header);
  out_.write(payload.data(), static_cast<std::streamsize>(payload.size()));
  out_.write(reinterpret_cast<const char*>(&payload_crc), 4);
}

std::vector<std::string> read_records(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(SourceLocation{.file = file.string()}, "cannot read the event file");
  const std::string all{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::vector<std::string> records;
  std::size_t at = 0;
  auto bad = [&](const std::string& what) {
    return Error(SourceLocation{.file = file.string(), .field = "byte " + std::to_string(at)},
                 what);
  };
  while (at < all.size()) {
    if (all.size() - at < 12) throw bad("truncated record header");
    std::uint64_t length;
    std::uint32_t length_crc, payload_crc;
    std::memcpy(&length, all.data() + at, 8);
    std::memcpy(&length_crc, all.data() + at + 8, 4);
    if (length_crc != masked_crc32c(all.data() + at, 8)) throw bad("record length CRC mismatch");
    // Room for the payload and its CRC (12 to 15 bytes left would wrap the subtraction).
    if (all.size() - at < 16 || length > all.size() - at - 16) throw bad("truncated record");
    std::string payload = all.substr(at + 12, length);
    std::memcpy(&payload_crc, all.data() + at + 12 + length, 4);
    if (payload_crc != masked_crc32c(payload.data(), payload.size()))
      throw bad("record payload CRC mismatch");
    records.push_back(std::move(payload));
    at += 16 + length;
  }
  return records;
}

std::vector<EventValue> decode_event(const std::string& payload) {
  std::vector<EventValue> values;
  std::int64_t step = 0;
  std::string summary;
  for (Reader r{payload}; !r.done();) {
    const auto key = r.varint();
    const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    if (field == 2 && wire == 0)
      step = static_cast<std::int64_t>(r.varint());
    else if (field == 5 && wire == 2)
      summary = r.bytes();
    else
      r.skip(wire);
  }
  for (Reader s{summary}; !s.done();) {
    const auto key = s.varint();
    if ((key >> 3) != 1 || (key & 7) != 2) {
      s.skip(static_cast<int>(key & 7));
      continue;
    }
    const std::string value = s.bytes();
    EventValue v;
    v.step = step;
    for (Reader f{value}; !f.done();) {
      const auto k = f.varint();
      const int field = static_cast<int>(k >> 3), wire = static_cast<int>(k & 7);
      if (field == 1 && wire == 2) {
        v.tag = f.bytes();
      } else if (field == 2 && wire == 5) {
        v.scalar = f.fixed<float>();
      } else if (field == 8 && wire == 2) {  // a string tensor: its first string_val
        const std::string tensor = f.bytes();
        for (Reader t{tensor}; !t.done();) {
          const auto tk = t.varint();
          if ((tk >> 3) == 8 && (tk & 7) == 2) {
            v.text = t.bytes();
            v.is_text = true;
          } else {
            t.skip(static_cast<int>(tk & 7));
          }
        }
      } else {
        f.skip(wire);
      }
    }
    values.push_back(std::move(v));
  }
  return values;
}

}  // namespace simlab::engine::io
