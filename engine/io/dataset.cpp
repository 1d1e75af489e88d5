#include "engine/io/dataset.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <hdf5.h>
#include <libdeflate.h>
#include <mutex>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <climits>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/io/hash.h"

namespace simlab::engine::io {

namespace fs = std::filesystem;

std::vector<ObsTerm> obs_terms(const Space& space) {
  std::vector<ObsTerm> out;
  for (const auto& g : space.groups()) {
    if (g.size <= 0) continue;
    std::string key;
    for (std::size_t i = 0; i < g.name.size(); ++i) {
      const char c = g.name[i];
      if (c == '-' && i + 1 < g.name.size() && g.name[i + 1] == '>') {
        key += "_to_";
        ++i;
      } else {
        key += std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ? c : '_';
      }
    }
    if (key.empty()) key = "term";
    const std::string base = key;
    for (int n = 2;
         std::any_of(out.begin(), out.end(), [&](const auto& t) { return t.key == key; }); ++n)
      key = base + "_" + std::to_string(n);
    ObsTerm t{.key = key, .term = g.name, .offset = g.offset, .size = g.size};
    t.names.assign(space.names().begin() + g.offset, space.names().begin() + g.offset + g.size);
    out.push_back(std::move(t));
  }
  return out;
}

namespace {

// data.attrs simlab_obs_terms: [{"key", "term", "offset", "size", "names"}, ...]
std::string terms_json(const std::vector<ObsTerm>& terms) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& t : terms)
    j.push_back({{"key", t.key},
                 {"term", t.term},
                 {"offset", t.offset},
                 {"size", t.size},
                 {"names", t.names}});
  return j.dump();
}

std::vector<ObsTerm> parse_terms(const std::string& text, const fs::path& file) {
  std::vector<ObsTerm> out;
  try {
    // offset and size are checked as whole numbers before they become ints (get<int>() casts a
    // float such as 1e300 unchecked), and the columns they add up to must fit an int.
    auto whole = [](const nlohmann::json& v) {
      if (!v.is_number_integer()) throw std::invalid_argument("offset and size must be integers");
      return v.get<std::int64_t>();
    };
    std::int64_t end = 0;
    for (const auto& t : nlohmann::json::parse(text)) {
      const std::int64_t offset = whole(t.at("offset")), size = whole(t.at("size"));
      ObsTerm term{.key = t.at("key").get<std::string>(),
                   .term = t.value("term", ""),
                   .names = t.value("names", std::vector<std::string>{})};
      if (size < 1 || offset != end || size > INT_MAX - end || term.key.empty() ||
          term.key.find('/') != std::string::npos ||
          (!term.names.empty() && static_cast<std::int64_t>(term.names.size()) != size))
        throw std::invalid_argument("term " + term.key);
      term.offset = static_cast<int>(offset);
      term.size = static_cast<int>(size);
      end += size;
      out.push_back(std::move(term));
    }
  } catch (const std::exception& e) {
    throw Error(SourceLocation{.file = file.string(), .field = "data.attrs.simlab_obs_terms"},
                std::string("not a list of observation terms (") + e.what() + ")");
  }
  return out;
}

}  // namespace

std::vector<ObsTerm> parse_obs_terms(const std::string& text, const fs::path& file) {
  return parse_terms(text, file);
}

std::vector<std::string> DatasetLayout::modalities() const {
  std::vector<std::string> keys;
  if (state) keys.push_back("state");
  if (rgb) keys.push_back("rgb");
  if (depth) keys.push_back("depth");
  if (seg) keys.push_back("seg");
  return keys;
}

std::vector<ObsTerm> DatasetLayout::state_terms() const {
  if (!state) return {};
  if (!terms.empty()) return terms;
  return {
      ObsTerm{.key = "state", .term = "state", .offset = 0, .size = obs_dim, .names = obs_names}};
}

std::vector<std::string> DatasetLayout::obs_keys() const {
  std::vector<std::string> keys;
  for (const auto& t : state_terms())
    keys.push_back(t.key);
  if (rgb) keys.push_back("rgb");
  if (depth) keys.push_back("depth");
  if (seg) keys.push_back("seg");
  return keys;
}

std::size_t Episode::bytes() const {
  return obs.size() * sizeof(float) + actions.size() * sizeof(float) +
         rewards.size() * sizeof(float) + dones.size() + states.size() * sizeof(double) +
         rgb.size() + depth.size() * sizeof(float) + seg.size() * sizeof(std::int32_t) +
         env_args.size() + sizeof(Episode);
}

std::string episode_hash(const Episode& e) {
  Fnv1a64 h;
  h.add(e.actions);
  h.add(e.rewards);
  h.add(e.dones);
  h.add(e.states);
  h.add(e.obs);
  h.add(e.rgb);
  h.add(e.depth);
  h.add(e.seg);
  return h.hex();
}

namespace {

// HDF5 prints its error stack to stderr by default; simlab turns failures into simlab::Error.
// Nor does HDF5 close files at exit: simlab closes every file it opens, and a file whose close
// failed (a full disk) would make HDF5's exit handler crash.
void quiet_hdf5() {
  static std::once_flag once;
  std::call_once(once, [] {
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  });
}

// The innermost message of HDF5's error stack, with the system's reason when there is one
// ("errno = 28, error message = 'No space left on device'").
std::string hdf5_reason() {
  std::vector<std::string> messages;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* err, void* data) -> herr_t {
        if (err->desc) static_cast<std::vector<std::string>*>(data)->push_back(err->desc);
        return 0;
      },
      &messages);
  H5Eclear2(H5E_DEFAULT);
  for (const auto& m : messages) {
    const auto at = m.find("error message = '");
    if (at == std::string::npos) continue;
    const auto start = at + 17, end = m.find('\'', start);
    std::string reason = m.substr(start, end == std::string::npos ? end : end - start);
    if (m.find("errno = 28,") != std::string::npos || m.find("errno = 27,") != std::string::npos)
      reason += " (the disk is full, or a file size limit such as `ulimit -f` was reached)";
    return reason;
  }
  return messages.empty() ? "HDF5 error" : messages.back();
}

// The names of a group's links, in name order (HDF5 1.10's H5Literate).
std::vector<std::string> link_names(hid_t group, const char* prefix = "") {
  struct Ctx {
    const char* prefix;
    std::vector<std::string> names;
  } ctx{prefix, {}};
  const herr_t listed = H5Literate(
      group, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
        auto* c = static_cast<Ctx*>(data);
        if (std::strncmp(name, c->prefix, std::strlen(c->prefix)) == 0) c->names.push_back(name);
        return 0;
      },
      &ctx);
  // A damaged group must not read as an empty one ("0 episodes").
  if (listed < 0) throw Error(SourceLocation{}, "cannot list a group's members: " + hdf5_reason());
  return ctx.names;
}

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
  throw Error(SourceLocation{.file = file.string()}, what + ": " + hdf5_reason());
}

// An HDF5 identifier closed by its own close function.
class Id {
 public:
  Id() = default;
  Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Id(Id&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Id& operator=(Id&& o) noexcept {
    reset();
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = -1;
    return *this;
  }
  ~Id() { reset(); }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = -1;
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }
  // Hand the identifier to a call that closes it (H5Fclose), success or not.
  hid_t release() {
    const hid_t id = id_;
    id_ = -1;
    return id;
  }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

Id checked(hid_t id, herr_t (*close)(hid_t), const fs::path& file, const std::string& what) {
  if (id < 0) fail(file, what);
  return Id(id, close);
}

void check(herr_t status, const fs::path& file, const std::string& what) {
  if (status < 0) fail(file, what);
}

// A new file in HDF5 1.10's format (readable by HDF5 >= 1.10, h5py's included): its compact
// object headers and chunk indexes (one chunk needs no B-tree) make the thousands of small
// datasets of a dataset file several times cheaper to create than in the 1.8 format. Objects are
// never deleted, so no free-space tracking.
Id create_file(const fs::path& path) {
  Id fcpl = checked(H5Pcreate(H5P_FILE_CREATE), H5Pclose, path, "file properties");
  H5Pset_file_space_strategy(fcpl.get(), H5F_FSPACE_STRATEGY_NONE, 0, 1);
  Id fapl = checked(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, path, "file properties");
  H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V110, H5F_LIBVER_V110);
  H5Pset_meta_block_size(fapl.get(), 64 << 10);  // metadata of many small objects, together
  // A metadata cache that holds a few thousand objects' headers without evicting.
  H5AC_cache_config_t mdc{};
  mdc.version = H5AC__CURR_CACHE_CONFIG_VERSION;
  if (H5Pget_mdc_config(fapl.get(), &mdc) >= 0) {
    mdc.set_initial_size = true;
    mdc.initial_size = 16 << 20;
    mdc.max_size = std::max<std::size_t>(mdc.max_size, 64 << 20);
    mdc.min_size = std::min<std::size_t>(mdc.min_size, mdc.initial_size);
    H5Pset_mdc_config(fapl.get(), &mdc);
  }
  return checked(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), H5Fclose, path,
                 "cannot create the file");
}

Id make_group(hid_t loc, const std::string& name, const fs::path& file) {
  return checked(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                 file, "cannot create group " + name);
}

void write_attr(hid_t loc, const char* name, std::int64_t value, const fs::path& file) {
  Id space = checked(H5Screate(H5S_SCALAR), H5Sclose, file, "dataspace");
  Id attr = checked(H5Acreate2(loc, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                    H5Aclose, file, std::string("cannot create attribute ") + name);
  check(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), file, "attribute");
}

// A variable-length UTF-8 string: h5py reads it as a Python str.
Id string_type(const fs::path& file) {
  Id type = checked(H5Tcopy(H5T_C_S1), H5Tclose, file, "string type");
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  return type;
}

void write_attr(hid_t loc, const char* name, const std::string& value, const fs::path& file) {
  Id type = string_type(file);
  Id space = checked(H5Screate(H5S_SCALAR), H5Sclose, file, "dataspace");
  Id attr = checked(H5Acreate2(loc, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                    H5Aclose, file, std::string("cannot create attribute ") + name);
  const char* text = value.c_str();
  check(H5Awrite(attr.get(), type.get(), &text), file, "attribute");
}

bool has_attr(hid_t loc, const char* name) {
  return H5Aexists(loc, name) > 0;
}

std::int64_t read_int_attr(hid_t loc, const char* name, std::int64_t fallback) {
  if (!has_attr(loc, name)) return fallback;
  Id attr(H5Aopen(loc, name, H5P_DEFAULT), H5Aclose);
  std::int64_t v = fallback;
  if (!attr.ok() || H5Aread(attr.get(), H5T_NATIVE_INT64, &v) < 0) return fallback;
  return v;
}

// Variable- or fixed-length string attributes (other writers use both).
std::string read_string_attr(hid_t loc, const char* name) {
  if (!has_attr(loc, name)) return "";
  Id attr(H5Aopen(loc, name, H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) return "";
  Id type(H5Aget_type(attr.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING) return "";
  if (H5Tis_variable_str(type.get()) > 0) {
    Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    char* text = nullptr;
    if (H5Aread(attr.get(), mem.get(), &text) < 0 || !text) return "";
    std::string out(text);
    H5free_memory(text);
    return out;
  }
  std::string out(H5Tget_size(type.get()), '\0');
  Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(mem.get(), out.size());
  if (H5Aread(attr.get(), mem.get(), out.data()) < 0) return "";
  out.resize(std::strlen(out.c_str()));
  return out;
}

// Dataset creation properties: chunks of `chunk` and shuffle + deflate at `level` (none at 0).
Id chunked(const std::vector<hsize_t>& chunk, int level, bool shuffle, const fs::path& file) {
  Id dcpl = checked(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, file, "dataset properties");
  check(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()), file, "chunks");
  H5Pset_obj_track_times(dcpl.get(), 0);  // no modification times: less to write, same bytes
  if (level > 0) {
    if (shuffle) check(H5Pset_shuffle(dcpl.get()), file, "shuffle filter");
    check(H5Pset_deflate(dcpl.get(), static_cast<unsigned>(level)), file, "deflate filter");
  }
  return dcpl;
}

// Chunks as HDF5's filter pipeline would store them (byte shuffle for elements wider than a byte,
// then the zlib format that the deflate filter writes), encoded here with libdeflate and written
// with H5Dwrite_chunk: faster than the pipeline, and an image frame shared by obs and next_obs is
// encoded once.
class Encoder {
 public:
  explicit Encoder(int level)
      : level_(level), compressor_(level > 0 ? libdeflate_alloc_compressor(level) : nullptr) {
    if (level > 0 && !compressor_) throw std::bad_alloc();
  }
  ~Encoder() {
    if (compressor_) libdeflate_free_compressor(compressor_);
  }
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  int level() const { return level_; }

  // Encode `bytes` of elements `elem` bytes wide into `out`.
  void encode(const std::uint8_t* data, std::size_t bytes, std::size_t elem,
              std::vector<std::uint8_t>& out) {
    if (!compressor_) {
      out.assign(data, data + bytes);
      return;
    }
    const std::uint8_t* src = data;
    if (elem > 1) {
      shuffled_.resize(bytes);
      const std::size_t n = bytes / elem;
      for (std::size_t b = 0; b < elem; ++b) {
        std::uint8_t* plane = shuffled_.data() + b * n;
        for (std::size_t i = 0; i < n; ++i)
          plane[i] = data[i * elem + b];
      }
      src = shuffled_.data();
    }
    out.resize(libdeflate_zlib_compress_bound(compressor_, bytes));
    const std::size_t size =
        libdeflate_zlib_compress(compressor_, src, bytes, out.data(), out.size());
    SIMLAB_CHECK(size > 0) << "libdeflate: output larger than its own bound";
    out.resize(size);
  }

 private:
  int level_;
  libdeflate_compressor* compressor_;
  std::vector<std::uint8_t> shuffled_;
};

// A [rows] array (cols < 0) or a [rows, cols] one, in chunks of whole rows of at most 1 MB.
void write_rows(hid_t loc, const std::string& name, hid_t file_type, std::size_t elem, bool shuffle,
                const void* data, hsize_t rows, int cols, Encoder& encoder,
                std::vector<std::uint8_t>& pad, std::vector<std::uint8_t>& out,
                const fs::path& file) {
  std::vector<hsize_t> dims = {rows}, chunk = {1};
  const hsize_t width = cols > 0 ? static_cast<hsize_t>(cols) : 1;
  const hsize_t row_bytes = width * elem;
  chunk[0] = std::clamp<hsize_t>((1 << 20) / row_bytes, 1, std::max<hsize_t>(rows, 1));
  if (cols >= 0) {
    dims.push_back(static_cast<hsize_t>(cols));
    chunk.push_back(width);
  }
  Id space = checked(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                     H5Sclose, file, "dataspace");
  const bool empty = rows == 0 || cols == 0;  // (a model without joints has no state)
  Id dcpl = empty ? checked(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, file, "dataset properties")
                  : chunked(chunk, encoder.level(), shuffle && elem > 1, file);
  Id set = checked(
      H5Dcreate2(loc, name.c_str(), file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
      H5Dclose, file, "cannot create dataset " + name);
  if (empty) return;
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  const std::size_t chunk_bytes = chunk[0] * row_bytes;
  std::vector<hsize_t> offset(dims.size(), 0);
  for (hsize_t r0 = 0; r0 < rows; r0 += chunk[0]) {
    const std::size_t have = std::min<hsize_t>(chunk[0], rows - r0) * row_bytes;
    const std::uint8_t* src = bytes + r0 * row_bytes;
    if (have < chunk_bytes) {  // the last chunk is stored whole: pad it
      pad.assign(chunk_bytes, 0);
      std::copy_n(src, have, pad.data());
      src = pad.data();
    }
    encoder.encode(src, chunk_bytes, shuffle ? elem : 1, out);
    offset[0] = r0;
    check(H5Dwrite_chunk(set.get(), H5P_DEFAULT, 0, offset.data(), out.size(), out.data()), file,
          "cannot write dataset " + name);
  }
}

}  // namespace

struct DatasetWriter::Impl {
  explicit Impl(int level) : encoder(level) {}
  fs::path path;
  Id file, data;
  Encoder encoder;
  std::vector<std::uint8_t> pad, out;
  std::vector<std::vector<std::uint8_t>> frames;  // encoded frames of the key being written
  std::vector<ObsTerm> terms;                     // the layout's state terms
  std::vector<float> columns;                     // one term's observations
};

DatasetWriter::DatasetWriter(const fs::path& file, DatasetLayout layout, std::string env_args,
                             std::string job)
    : impl_(std::make_unique<Impl>(layout.compression)), layout_(std::move(layout)) {
  quiet_hdf5();
  impl_->path = file;
  impl_->terms = layout_.state_terms();
  for (const auto& t : impl_->terms)
    SIMLAB_CHECK(t.offset >= 0 && t.size > 0 && t.offset + t.size <= layout_.obs_dim)
        << "observation term " << t.key << " outside the observation";
  impl_->file = create_file(file);
  impl_->data = make_group(impl_->file.get(), "data", file);
  write_attr(impl_->data.get(), "env_args", env_args, file);
  write_attr(impl_->data.get(), "simlab_job", job, file);
  write_attr(impl_->data.get(), "simlab_obs_terms", terms_json(impl_->terms), file);
}

DatasetWriter::~DatasetWriter() = default;

void DatasetWriter::write(const Episode& e, const std::string& hash) {
  const auto& L = layout_;
  const fs::path& file = impl_->path;
  const int level = L.compression;
  const hsize_t T = static_cast<hsize_t>(e.steps);
  SIMLAB_CHECK(e.steps > 0) << "episode " << e.index << " has no steps";
  SIMLAB_CHECK(e.obs.size() == (T + 1) * L.obs_dim) << "obs of episode " << e.index;
  SIMLAB_CHECK(e.actions.size() == T * L.act_dim) << "actions of episode " << e.index;
  const std::string name = "demo_" + std::to_string(e.index);
  Id demo = make_group(impl_->data.get(), name, file);
  write_attr(demo.get(), "num_samples", static_cast<std::int64_t>(T), file);
  write_attr(demo.get(), "episode", e.index, file);
  write_attr(demo.get(), "variant", static_cast<std::int64_t>(e.variant), file);
  write_attr(demo.get(), "terminated", static_cast<std::int64_t>(e.terminated), file);
  write_attr(demo.get(), "hash", hash, file);
  write_attr(demo.get(), "env_args", e.env_args, file);

  auto& enc = impl_->encoder;
  auto rows = [&](hid_t loc, const char* key, hid_t type, std::size_t elem, const void* values,
                  int cols, bool shuffle = true) {
    write_rows(loc, key, type, elem, shuffle, values, T, cols, enc, impl_->pad, impl_->out, file);
  };
  rows(demo.get(), "actions", H5T_IEEE_F32LE, 4, e.actions.data(), L.act_dim);
  rows(demo.get(), "rewards", H5T_IEEE_F32LE, 4, e.rewards.data(), -1);
  rows(demo.get(), "dones", H5T_STD_U8LE, 1, e.dones.data(), -1);
  // Physics states repeat whole rows (bodies at rest, constant coordinates): deflate finds those
  // in the rows as they are and not once shuffled (push: 14% fewer bytes, and faster).
  rows(demo.get(), "states", H5T_IEEE_F64LE, 8, e.states.data(), e.state_dim, false);

  Id obs = make_group(demo.get(), "obs", file);
  Id next = make_group(demo.get(), "next_obs", file);
  // Each term's columns of the T + 1 observations, side by side: rows 0..T-1 are obs, 1..T
  // next_obs.
  for (const auto& term : impl_->terms) {
    const std::size_t dim = static_cast<std::size_t>(L.obs_dim);
    const std::size_t size = static_cast<std::size_t>(term.size);
    const float* src = e.obs.data() + term.offset;
    auto& cols = impl_->columns;
    if (size == dim) {
      cols.assign(e.obs.begin(), e.obs.end());
    } else {
      cols.resize((T + 1) * size);
      for (hsize_t t = 0; t <= T; ++t)
        std::copy_n(src + t * dim, size, cols.data() + t * size);
    }
    rows(obs.get(), term.key.c_str(), H5T_IEEE_F32LE, 4, cols.data(), term.size);
    rows(next.get(), term.key.c_str(), H5T_IEEE_F32LE, 4, cols.data() + size, term.size);
  }
  // Frames: encode T + 1 once, write frames 0..T-1 as obs and 1..T as next_obs.
  auto frames = [&](const char* key, const void* pixels, std::size_t elem, int channels,
                    hid_t file_type) {
    const std::size_t frame_bytes = static_cast<std::size_t>(L.width) * L.height * channels * elem;
    auto& encoded = impl_->frames;
    encoded.resize(T + 1);
    for (hsize_t t = 0; t <= T; ++t)
      enc.encode(static_cast<const std::uint8_t*>(pixels) + t * frame_bytes, frame_bytes, elem,
                 encoded[t]);
    std::vector<hsize_t> dims = {T, static_cast<hsize_t>(L.height), static_cast<hsize_t>(L.width)};
    if (channels > 1) dims.push_back(static_cast<hsize_t>(channels));
    std::vector<hsize_t> chunk = dims;
    chunk[0] = 1;
    for (int which = 0; which < 2; ++which) {
      Id space = checked(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                         H5Sclose, file, "dataspace");
      Id dcpl = chunked(chunk, level, elem > 1, file);
      Id set = checked(H5Dcreate2(which == 0 ? obs.get() : next.get(), key, file_type, space.get(),
                                  H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                       H5Dclose, file, std::string("cannot create dataset ") + key);
      std::vector<hsize_t> offset(dims.size(), 0);
      for (hsize_t t = 0; t < T; ++t) {
        offset[0] = t;
        const auto& bytes = encoded[t + which];
        check(H5Dwrite_chunk(set.get(), H5P_DEFAULT, 0, offset.data(), bytes.size(), bytes.data()),
              file, std::string("cannot write dataset ") + key);
      }
    }
  };
  const std::size_t px = static_cast<std::size_t>(L.width) * L.height;
  if (L.rgb) {
    SIMLAB_CHECK(e.rgb.size() == (T + 1) * px * 3) << "rgb of episode " << e.index;
    frames("rgb", e.rgb.data(), 1, 3, H5T_STD_U8LE);
  }
  if (L.depth) {
    SIMLAB_CHECK(e.depth.size() == (T + 1) * px) << "depth of episode " << e.index;
    frames("depth", e.depth.data(), 4, 1, H5T_IEEE_F32LE);
  }
  if (L.seg) {
    SIMLAB_CHECK(e.seg.size() == (T + 1) * px) << "seg of episode " << e.index;
    frames("seg", e.seg.data(), 4, 1, H5T_STD_I32LE);
  }
  ++episodes_;
  steps_ += e.steps;
}

void DatasetWriter::close() {
  if (!impl_->file.ok()) return;
  write_attr(impl_->data.get(), "total", steps_, impl_->path);
  impl_->data.reset();
  check(H5Fflush(impl_->file.get(), H5F_SCOPE_GLOBAL), impl_->path, "cannot flush the file");
  check(H5Fclose(impl_->file.release()), impl_->path, "cannot close the file");
  sync_file(impl_->path);
}

struct DatasetReader::Impl {
  Id file, data;
};

DatasetReader::DatasetReader(const fs::path& file) : impl_(std::make_unique<Impl>()), file_(file) {
  quiet_hdf5();
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw Error(SourceLocation{.file = file.string()}, "no such file");
  impl_->file = checked(H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, file,
                        "not a readable HDF5 file");
  if (H5Lexists(impl_->file.get(), "data", H5P_DEFAULT) <= 0)
    throw Error(SourceLocation{.file = file.string()},
                "no 'data' group: not a dataset in robomimic's layout");
  impl_->data = checked(H5Gopen2(impl_->file.get(), "data", H5P_DEFAULT), H5Gclose, file,
                        "cannot open group data");
  std::vector<std::string> names;
  try {
    names = link_names(impl_->data.get(), "demo_");
  } catch (const Error& e) {
    throw Error(SourceLocation{.file = file.string(), .field = "data"}, e.message());
  }
  for (const auto& name : names) {
    Id g = checked(H5Gopen2(impl_->data.get(), name.c_str(), H5P_DEFAULT), H5Gclose, file,
                   "cannot open " + name);
    DemoInfo d{.name = name};
    d.index = read_int_attr(g.get(), "episode", std::atoll(name.c_str() + 5));
    d.num_samples = read_int_attr(g.get(), "num_samples", 0);
    d.variant = static_cast<int>(read_int_attr(g.get(), "variant", -1));
    d.terminated = read_int_attr(g.get(), "terminated", 0) != 0;
    d.hash = read_string_attr(g.get(), "hash");
    d.env_args = read_string_attr(g.get(), "env_args");
    demos_.push_back(std::move(d));
  }
  std::sort(demos_.begin(), demos_.end(),
            [](const DemoInfo& a, const DemoInfo& b) { return a.index < b.index; });
  const std::string terms = read_string_attr(impl_->data.get(), "simlab_obs_terms");
  if (!terms.empty()) {
    terms_ = parse_terms(terms, file);
  } else if (!demos_.empty()) {  // written before per-term keys: one obs/state
    const std::string path = demos_[0].name + "/obs/state";
    if (H5Lexists(impl_->data.get(), demos_[0].name.c_str(), H5P_DEFAULT) > 0 &&
        H5Lexists(impl_->data.get(), (demos_[0].name + "/obs").c_str(), H5P_DEFAULT) > 0 &&
        H5Lexists(impl_->data.get(), path.c_str(), H5P_DEFAULT) > 0) {
      Id set(H5Dopen2(impl_->data.get(), path.c_str(), H5P_DEFAULT), H5Dclose);
      Id space(set.ok() ? H5Dget_space(set.get()) : H5I_INVALID_HID, H5Sclose);
      hsize_t dims[2] = {0, 0};
      if (space.ok() && H5Sget_simple_extent_ndims(space.get()) == 2 &&
          H5Sget_simple_extent_dims(space.get(), dims, nullptr) == 2 && dims[1] > 0)
        terms_.push_back(
            ObsTerm{.key = "state", .term = "state", .size = static_cast<int>(dims[1])});
    }
  }
}

DatasetReader::~DatasetReader() = default;

std::int64_t DatasetReader::total() const {
  return read_int_attr(impl_->data.get(), "total", 0);
}
std::string DatasetReader::env_args() const {
  return read_string_attr(impl_->data.get(), "env_args");
}
std::string DatasetReader::job() const {
  return read_string_attr(impl_->data.get(), "simlab_job");
}
std::string DatasetReader::data_attr(const std::string& name) const {
  return read_string_attr(impl_->data.get(), name.c_str());
}

namespace {

std::string dtype_name(hid_t type) {
  const auto cls = H5Tget_class(type);
  const std::size_t size = H5Tget_size(type);
  if (cls == H5T_FLOAT) return "float" + std::to_string(size * 8);
  if (cls == H5T_INTEGER)
    return std::string(H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") +
           std::to_string(size * 8);
  if (cls == H5T_STRING) return "string";
  return "other";
}

void collect_arrays(hid_t group, const std::string& prefix, std::vector<ArrayInfo>& out) {
  for (const auto& name : link_names(group)) {
    Id obj(H5Oopen(group, name.c_str(), H5P_DEFAULT), H5Oclose);
    if (!obj.ok()) continue;
    const auto kind = H5Iget_type(obj.get());
    if (kind == H5I_GROUP) {
      collect_arrays(obj.get(), prefix + name + "/", out);
    } else if (kind == H5I_DATASET) {
      ArrayInfo a{.key = prefix + name};
      Id type(H5Dget_type(obj.get()), H5Tclose);
      a.dtype = dtype_name(type.get());
      Id space(H5Dget_space(obj.get()), H5Sclose);
      const int rank = H5Sget_simple_extent_ndims(space.get());
      std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
      H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
      for (auto d : dims)
        a.shape.push_back(static_cast<std::int64_t>(d));
      out.push_back(std::move(a));
    }
  }
}

template <class T>
std::vector<T> read_dataset(hid_t data, const fs::path& file, const std::string& demo,
                            const std::string& key, hid_t mem_type) {
  const std::string path = demo + "/" + key;
  Id set =
      checked(H5Dopen2(data, path.c_str(), H5P_DEFAULT), H5Dclose, file, "no dataset data/" + path);
  Id space(H5Dget_space(set.get()), H5Sclose);
  const auto n = H5Sget_simple_extent_npoints(space.get());
  std::vector<T> out(static_cast<std::size_t>(std::max<hssize_t>(n, 0)));
  if (!out.empty())
    check(H5Dread(set.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), file,
          "cannot read data/" + path);
  return out;
}

}  // namespace

std::vector<ArrayInfo> DatasetReader::arrays(const std::string& demo) const {
  Id g = checked(H5Gopen2(impl_->data.get(), demo.c_str(), H5P_DEFAULT), H5Gclose, file_,
                 "no group data/" + demo);
  std::vector<ArrayInfo> out;
  try {
    collect_arrays(g.get(), "", out);
  } catch (const Error& e) {
    throw Error(SourceLocation{.file = file_.string(), .field = "data/" + demo}, e.message());
  }
  return out;
}

std::vector<double> DatasetReader::read(const std::string& demo, const std::string& key) const {
  return read_dataset<double>(impl_->data.get(), file_, demo, key, H5T_NATIVE_DOUBLE);
}

std::vector<double> DatasetReader::read_obs(const std::string& demo,
                                            const std::string& prefix) const {
  if (terms_.empty())
    throw Error(SourceLocation{.file = file_.string(), .field = "data.attrs.simlab_obs_terms"},
                "the file does not say how its observations are laid out (not written by simlab "
                "gen, or without state observations)");
  const int dim = terms_.back().offset + terms_.back().size;
  std::vector<double> out;
  std::int64_t rows = -1;
  for (const auto& t : terms_) {
    const auto values = read(demo, prefix + "/" + t.key);
    const auto n = static_cast<std::int64_t>(values.size()) / t.size;
    if (n * t.size != static_cast<std::int64_t>(values.size()) || (rows >= 0 && n != rows))
      throw Error(
          SourceLocation{.file = file_.string(), .field = demo + "/" + prefix + "/" + t.key},
          "has " + std::to_string(values.size()) + " values, not " +
              (rows >= 0 ? std::to_string(rows) : std::string("T")) + " rows of " +
              std::to_string(t.size));
    if (rows < 0) {
      rows = n;
      out.assign(static_cast<std::size_t>(rows * dim), 0.0);
    }
    for (std::int64_t r = 0; r < rows; ++r)
      std::copy_n(values.begin() + r * t.size, t.size, out.begin() + r * dim + t.offset);
  }
  return out;
}

std::vector<std::uint8_t> DatasetReader::read_u8(const std::string& demo,
                                                 const std::string& key) const {
  return read_dataset<std::uint8_t>(impl_->data.get(), file_, demo, key, H5T_NATIVE_UINT8);
}

namespace {

// Room for `bytes` more in `file`'s folder, by the file size limit and the disk's free space:
// asked before a copy, because HDF5 1.10's H5Ocopy crashes when a write fails inside it.
void check_room(const fs::path& file, std::uintmax_t bytes) {
  rlimit limit{};
  if (getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      bytes > limit.rlim_cur)
    throw Error(SourceLocation{.file = file.string()},
                "would take about " + std::to_string(bytes) +
                    " bytes, more than the file size limit (`ulimit -f`) of " +
                    std::to_string(limit.rlim_cur) + " bytes");
  struct statvfs fsinfo {};
  const fs::path dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  if (statvfs(dir.c_str(), &fsinfo) == 0) {
    const std::uintmax_t free = static_cast<std::uintmax_t>(fsinfo.f_bavail) * fsinfo.f_frsize;
    if (bytes > free)
      throw Error(SourceLocation{.file = file.string()},
                  "would take about " + std::to_string(bytes / 1000000 + 1) +
                      " MB and the disk has " + std::to_string(free / 1000000) +
                      " MB free (No space left on device)");
  }
}

// The first top-level key whose value differs between two JSON texts ("" when equal; "(text)"
// when either is not a JSON object).
std::string json_difference(const std::string& a, const std::string& b) {
  if (a == b) return "";
  const auto ja = nlohmann::json::parse(a, nullptr, false);
  const auto jb = nlohmann::json::parse(b, nullptr, false);
  if (!ja.is_object() || !jb.is_object()) return "(text)";
  for (const auto& [key, value] : ja.items())
    if (!jb.contains(key) || jb[key] != value) return key;
  for (const auto& [key, value] : jb.items())
    if (!ja.contains(key)) return key;
  return "";
}

std::string json_value(const std::string& text, const std::string& key) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains(key)) return "(absent)";
  auto v = j[key].dump();
  return v.size() > 80 ? v.substr(0, 77) + "..." : v;
}

// The random stream of the train/validation split (keyed by seed and episode).
constexpr std::uint32_t kSplitStream = 0x53504c54;  // "SPLT"

// mask/<key>: demo names as fixed-length byte strings (what robomimic's split script writes).
void write_mask(hid_t mask, const std::string& key, const std::vector<std::string>& names,
                const fs::path& file) {
  std::size_t width = 1;
  for (const auto& n : names)
    width = std::max(width, n.size());
  std::vector<char> packed(width * names.size(), '\0');
  for (std::size_t i = 0; i < names.size(); ++i)
    std::memcpy(packed.data() + i * width, names[i].data(), names[i].size());
  Id type = checked(H5Tcopy(H5T_C_S1), H5Tclose, file, "string type");
  H5Tset_size(type.get(), width);
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  const hsize_t n = names.size();
  Id space = checked(H5Screate_simple(1, &n, nullptr), H5Sclose, file, "dataspace");
  Id set = checked(
      H5Dcreate2(mask, key.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
      H5Dclose, file, "cannot create mask/" + key);
  if (n > 0)
    check(H5Dwrite(set.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, packed.data()), file,
          "cannot write mask/" + key);
}

}  // namespace

std::vector<std::string> read_mask(const fs::path& file, const std::string& key) {
  quiet_hdf5();
  Id f = checked(H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, file,
                 "not a readable HDF5 file");
  const std::string path = "mask/" + key;
  if (H5Lexists(f.get(), "mask", H5P_DEFAULT) <= 0 ||
      H5Lexists(f.get(), path.c_str(), H5P_DEFAULT) <= 0)
    return {};
  Id set = checked(H5Dopen2(f.get(), path.c_str(), H5P_DEFAULT), H5Dclose, file, path);
  Id type = checked(H5Dget_type(set.get()), H5Tclose, file, path);
  Id space = checked(H5Dget_space(set.get()), H5Sclose, file, path);
  const auto n = static_cast<std::size_t>(H5Sget_simple_extent_npoints(space.get()));
  const std::size_t width = H5Tget_size(type.get());
  std::vector<char> packed(width * n + 1, '\0');
  Id mem = checked(H5Tcopy(H5T_C_S1), H5Tclose, file, "string type");
  H5Tset_size(mem.get(), width);
  H5Tset_strpad(mem.get(), H5T_STR_NULLPAD);
  if (n > 0)
    check(H5Dread(set.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, packed.data()), file,
          "cannot read " + path);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < n; ++i) {
    std::string name(packed.data() + i * width, width);
    name.resize(std::strlen(name.c_str()));
    names.push_back(std::move(name));
  }
  return names;
}

MergeResult merge_files(const std::vector<fs::path>& parts, const fs::path& out,
                        const MergeOptions& options) {
  quiet_hdf5();
  SIMLAB_CHECK(!parts.empty()) << "nothing to merge into " << out;
  std::uintmax_t bytes = 0;
  for (const auto& part : parts) {
    std::error_code ec;
    bytes += fs::file_size(part, ec);
  }
  check_room(out, bytes);
  std::string env_args, job, terms;
  {
    DatasetReader first(parts[0]);
    env_args = first.env_args();
    job = first.job();
    terms = first.data_attr("simlab_obs_terms");
  }
  // Every part must come from the same job and lay its observations out the same way.
  for (std::size_t i = 1; i < parts.size(); ++i) {
    DatasetReader part(parts[i]);
    const std::string their_terms = part.data_attr("simlab_obs_terms");
    const auto field = json_difference(job, part.job());
    if (!field.empty() || their_terms != terms)
      throw Error(SourceLocation{.file = parts[i].string(),
                                 .field = field.empty() ? "data.attrs.simlab_obs_terms"
                                                        : "data.attrs.simlab_job." + field},
                  "differs from " + parts[0].filename().string() +
                      (field.empty() ? " (other observation keys)"
                                     : " (" + field + ": " + json_value(part.job(), field) +
                                           " vs " + json_value(job, field) + ")") +
                      "; merge only shards of one job");
  }
  Id file = create_file(out);
  Id data = make_group(file.get(), "data", out);
  write_attr(data.get(), "env_args", env_args, out);
  write_attr(data.get(), "simlab_job", job, out);
  if (!terms.empty()) write_attr(data.get(), "simlab_obs_terms", terms, out);
  std::int64_t total = 0;
  std::vector<std::pair<std::int64_t, std::string>> demos;  // (episode index, name)
  for (const auto& part : parts) {
    Id src = checked(H5Fopen(part.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, part,
                     "not a readable HDF5 file");
    Id src_data =
        checked(H5Gopen2(src.get(), "data", H5P_DEFAULT), H5Gclose, part, "no group data");
    for (const auto& name : link_names(src_data.get(), "demo_")) {
      if (H5Lexists(data.get(), name.c_str(), H5P_DEFAULT) > 0)
        throw Error(SourceLocation{.file = part.string()},
                    name + " is in more than one file being merged");
      // Raw chunks, no re-encoding. (HDF5's per-object cost bounds this: about 30 us per dataset,
      // so state-only demos merge at a fraction of a plain copy's speed; a copy by hand through
      // H5Dread_chunk / H5Dwrite_chunk measured 2.5 times slower still.)
      check(
          H5Ocopy(src_data.get(), name.c_str(), data.get(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
          out, "cannot copy " + name + " from " + part.string());
      Id g(H5Gopen2(src_data.get(), name.c_str(), H5P_DEFAULT), H5Gclose);
      total += read_int_attr(g.get(), "num_samples", 0);
      demos.emplace_back(read_int_attr(g.get(), "episode", std::stoll(name.substr(5))), name);
    }
  }
  write_attr(data.get(), "total", total, out);
  data.reset();
  MergeResult result{.demos = static_cast<int>(demos.size()), .total = total};
  if (options.masks) {
    if (!(options.valid_fraction >= 0 && options.valid_fraction < 1))
      throw Error(SourceLocation{.field = "valid_fraction"},
                  "must be in [0, 1), got " + std::to_string(options.valid_fraction));
    std::sort(demos.begin(), demos.end());
    // A key per (seed, episode) from the project's counter-based generator.
    auto split_key = [&](std::int64_t episode) {
      return Rng(options.seed, static_cast<std::uint32_t>(episode), 0, kSplitStream).next_u64();
    };
    auto by_key = demos;
    std::sort(by_key.begin(), by_key.end(), [&](const auto& a, const auto& b) {
      return split_key(a.first) < split_key(b.first);
    });
    const auto n = demos.size();
    auto valid_count = static_cast<std::size_t>(std::lround(options.valid_fraction * n));
    if (n > 1 && options.valid_fraction > 0)
      valid_count = std::clamp<std::size_t>(valid_count, 1, n - 1);
    std::vector<std::int64_t> valid_ids;
    for (std::size_t i = 0; i < valid_count; ++i)
      valid_ids.push_back(by_key[i].first);
    std::sort(valid_ids.begin(), valid_ids.end());
    std::vector<std::string> train, valid;
    for (const auto& [id, name] : demos)
      (std::binary_search(valid_ids.begin(), valid_ids.end(), id) ? valid : train).push_back(name);
    Id mask = make_group(file.get(), "mask", out);
    write_mask(mask.get(), "train", train, out);
    write_mask(mask.get(), "valid", valid, out);
    result.train = static_cast<int>(train.size());
    result.valid = static_cast<int>(valid.size());
  }
  check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), out, "cannot flush the file");
  check(H5Fclose(file.release()), out, "cannot close the file");
  sync_file(out);
  return result;
}

void sync_file(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    throw Error(SourceLocation{.file = file.string()},
                std::string("cannot sync to disk: ") + std::strerror(err));
  }
  ::close(fd);
}

void sync_dir(const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: not every file system lets a folder be opened
  ::fsync(fd);
  ::close(fd);
}

}  // namespace simlab::engine::io
