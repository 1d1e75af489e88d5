// Datasets in robomimic's HDF5 layout, one episode per group:
//
//   data/                      attrs: total (steps in the file), env_args (JSON: scene spec and
//                              generation settings), simlab_job (JSON: what must match to resume)
//   data/demo_K/               K: the episode's index in the whole job; attrs: num_samples (T),
//                              episode, variant, terminated, hash (16 hex digits), env_args (JSON:
//                              this episode's randomized parameters)
//     obs/<term>     float32 [T, size]      what the policy saw (noise and dropout included), one
//                                           key per observation term: joint_pos, site_pos_goal...
//                                           (DatasetLayout::terms; concatenated in the file's
//                                           order they are the policy's observation vector)
//     obs/rgb        uint8   [T, H, W, 3]   camera colour (optional)
//     obs/depth      float32 [T, H, W]      metres along the camera axis (optional)
//     obs/seg        int32   [T, H, W]      geom index, -1 background (optional)
//     next_obs/...   the same keys, one step later (next_obs[t] = obs[t + 1]; the last row is
//                    the episode's final observation)
//     actions        float32 [T, act_dim]
//     rewards        float32 [T]
//     dones          uint8   [T]            1 at the last step
//     states         float64 [T, nq + nv]   the physics state before each action
//
// Every dataset is chunked and compressed (shuffle + deflate). Image frames are chunked one frame
// each and compressed once: obs frame t + 1 and next_obs frame t share the compressed bytes, which
// are written with HDF5's direct chunk write. HDF5 types stay in dataset.cpp.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/spec.h"

namespace simlab::engine::io {

// One observation term's columns of the observation vector, stored as obs/<key>.
struct ObsTerm {
  std::string key;   // an HDF5 name: the term's group with '/' and "->" made '_' and "_to_"
  std::string term;  // the group it came from ("site_pos/goal")
  int offset = 0, size = 0;
  std::vector<std::string> names;  // per element
};

// A space's groups as obs/<key> terms, in order (empty groups left out, clashing keys numbered).
std::vector<ObsTerm> obs_terms(const Space& space);
// The terms a file's data.attrs simlab_obs_terms lists (JSON); throws simlab::Error naming `file`
// when the text is not such a list (terms must be contiguous from 0, each with a size >= 1).
std::vector<ObsTerm> parse_obs_terms(const std::string& text, const std::filesystem::path& file);

// What every episode of a dataset holds besides the fixed fields.
struct DatasetLayout {
  int obs_dim = 0;
  int act_dim = 0;
  std::vector<std::string> obs_names;  // per observation element
  std::vector<std::string> act_names;
  // How the observation vector is split into obs/<key> datasets; empty: one term "state"
  // covering all of it.
  std::vector<ObsTerm> terms;
  bool state = true, rgb = false, depth = false, seg = false;
  int width = 0, height = 0;  // image keys
  int compression = 1;        // deflate level 0-9 (0: stored uncompressed)

  bool has_images() const { return rgb || depth || seg; }
  // What was asked for: "state", "rgb", "depth", "seg" as enabled.
  std::vector<std::string> modalities() const;
  // The state's terms (terms, or one "state" term when it is empty); none without state.
  std::vector<ObsTerm> state_terms() const;
  // Obs keys in file order: the state's terms, then "rgb", "depth", "seg" as enabled.
  std::vector<std::string> obs_keys() const;
};

// One finished episode, as the simulation hands it to the writer. Per-step arrays have T rows;
// observations and frames have T + 1 (the first observation, then one after each step).
struct Episode {
  std::int64_t index = 0;  // in the whole job
  int variant = 0;
  int steps = 0;  // T
  bool terminated = false;
  int state_dim = 0;                // nq + nv of the episode's variant
  std::vector<float> obs;           // [T + 1, obs_dim]
  std::vector<float> actions;       // [T, act_dim]
  std::vector<float> rewards;       // [T]
  std::vector<std::uint8_t> dones;  // [T]
  std::vector<double> states;       // [T, state_dim]
  std::vector<std::uint8_t> rgb;    // [T + 1, H, W, 3]
  std::vector<float> depth;         // [T + 1, H, W]
  std::vector<std::int32_t> seg;    // [T + 1, H, W]
  std::string env_args;             // JSON: this episode's randomized parameters

  std::size_t bytes() const;
};

// 64-bit FNV-1a over everything an episode records (actions, rewards, dones, states,
// observations and frames), as 16 hex digits. Equal hashes: equal data, whoever wrote it.
std::string episode_hash(const Episode& episode);

// Writes one HDF5 file in the layout above. The file is complete once close() returns; errors
// (a full disk, a missing folder) throw simlab::Error naming the file and the system's reason.
class DatasetWriter {
 public:
  // `env_args` and `job` are JSON texts stored as attributes of data/.
  DatasetWriter(const std::filesystem::path& file, DatasetLayout layout, std::string env_args,
                std::string job);
  ~DatasetWriter();  // closes without flushing to the disk if close() was not called
  DatasetWriter(const DatasetWriter&) = delete;
  DatasetWriter& operator=(const DatasetWriter&) = delete;

  void write(const Episode& episode, const std::string& hash);
  // Write data.attrs total, close the file and fsync it.
  void close();

  int episodes() const { return episodes_; }
  std::int64_t steps() const { return steps_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  DatasetLayout layout_;
  int episodes_ = 0;
  std::int64_t steps_ = 0;
};

// One episode group of a file, without its arrays.
struct DemoInfo {
  std::string name;  // demo_K
  std::int64_t index = -1;
  std::int64_t num_samples = 0;
  std::string hash;
  std::string env_args;
  int variant = -1;
  bool terminated = false;
};

// One array of a demo: its path below the demo group, element type and shape.
struct ArrayInfo {
  std::string key;    // "obs/state", "actions", ...
  std::string dtype;  // "float32", "float64", "uint8", "int32", ...
  std::vector<std::int64_t> shape;
};

// Reads files written by DatasetWriter (and other robomimic-layout files).
class DatasetReader {
 public:
  explicit DatasetReader(const std::filesystem::path& file);  // throws simlab::Error
  ~DatasetReader();
  DatasetReader(const DatasetReader&) = delete;
  DatasetReader& operator=(const DatasetReader&) = delete;

  const std::filesystem::path& file() const { return file_; }
  std::int64_t total() const;    // data.attrs total (0 if absent)
  std::string env_args() const;  // data.attrs env_args ("" if absent)
  std::string job() const;       // data.attrs simlab_job ("" if absent)
  std::string data_attr(
      const std::string& name) const;  // a string attribute of data ("" if absent)
  // Every data/demo_* group, ordered by episode index.
  const std::vector<DemoInfo>& demos() const { return demos_; }
  // Every array of a demo (obs/*, next_obs/*, actions, rewards, dones, states).
  std::vector<ArrayInfo> arrays(const std::string& demo) const;
  // The observation terms the writer recorded in env_args (simlab.obs_terms), in vector order;
  // for files written before per-term keys, one term "state". Empty for files of other writers.
  const std::vector<ObsTerm>& obs_terms() const { return terms_; }
  // The observation vectors of a demo, [T, obs_dim] row-major: its obs/<term> arrays side by side
  // (`prefix` "obs" or "next_obs").
  std::vector<double> read_obs(const std::string& demo, const std::string& prefix = "obs") const;
  // An array converted to double (any numeric type), row-major.
  std::vector<double> read(const std::string& demo, const std::string& key) const;
  // A uint8 array as stored (images).
  std::vector<std::uint8_t> read_u8(const std::string& demo, const std::string& key) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::filesystem::path file_;
  std::vector<DemoInfo> demos_;
  std::vector<ObsTerm> terms_;
};

// What merge_files adds besides the demos: robomimic's train/validation filter keys,
//   mask/train, mask/valid   fixed-length byte strings, the demo names ("demo_K") of each split
// (robomimic trains on mask/train and validates on mask/valid). The validation demos are the
// round(valid_fraction x N) whose (seed, episode index) hash is smallest: a function of the seed
// and the episodes alone, not of how the shards were cut. No masks when `masks` is false.
struct MergeOptions {
  bool masks = false;
  double valid_fraction = 0.1;
  std::uint64_t seed = 0;
};
// What a merge wrote.
struct MergeResult {
  int demos = 0, train = 0, valid = 0;
  std::int64_t total = 0;  // steps
};

// Copy every demo group of `parts` into a new file `out` (raw compressed chunks, no re-encoding),
// with data attrs total, env_args and simlab_job taken from the first part (and masks as asked);
// close and fsync it.
MergeResult merge_files(const std::vector<std::filesystem::path>& parts,
                        const std::filesystem::path& out, const MergeOptions& options = {});

// The names in a file's mask/<key> (empty when it has none).
std::vector<std::string> read_mask(const std::filesystem::path& file, const std::string& key);

// fsync a file, and the folder that holds it (so a rename is durable). Throws simlab::Error.
void sync_file(const std::filesystem::path& file);
void sync_dir(const std::filesystem::path& dir);

}  // namespace simlab::engine::io
