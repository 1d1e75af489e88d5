// A Batch is the structure-of-arrays result of stepping N envs: one contiguous [rows, dim] array
// per field, 64-byte aligned, row r belonging to env env_id[r]. For the synchronous step rows are
// envs in order (env_id[r] == r); for the asynchronous recv() they are the envs that finished.
//
//   obs          float32 [rows, obs_dim]   observation after the step; after an auto-reset, the
//                                          first observation of the new episode
//   final_obs    float32 [rows, obs_dim]   last observation of the episode that just ended; valid
//                                          where terminated or truncated (Gymnasium's contract)
//   action       float32 [rows, act_dim]   the action that was applied
//   reward       float32 [rows, 1]
//   terminated   uint8   [rows, 1]         the task ended (a terminal state: no bootstrapping)
//   truncated    uint8   [rows, 1]         cut short: time limit, divergence or an invalid action
//   status       uint8   [rows, 1]         StepStatus: why an env was reset outside the task
//   env_id       int32   [rows, 1]
//   episode_step int32   [rows, 1]         steps taken in the current episode (0 after a reset)
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/core/buffer.h"

namespace simlab::engine {

enum class StepStatus : std::uint8_t {
  kOk = 0,
  kDiverged = 1,       // NaN/Inf or a physics warning (bad qpos/qvel/qacc): env reset
  kInvalidAction = 2,  // a NaN or Inf in the env's action: not applied, env reset
  kOverflow = 3,       // a fixed physics buffer filled up (contacts, constraint rows): env reset
};

enum class DType : std::uint8_t { kFloat32, kUInt8, kInt32 };

// A non-owning description of one field, enough to wrap it as a tensor without copying.
struct FieldView {
  std::string_view name;
  DType dtype;
  std::int64_t rows;
  std::int64_t cols;
  void* data;
};

class Batch {
 public:
  Batch() = default;
  Batch(std::int64_t rows, std::int64_t obs_dim, std::int64_t act_dim);

  std::int64_t rows() const { return rows_; }

  Buffer2D<float> obs;
  Buffer2D<float> final_obs;
  Buffer2D<float> action;
  Buffer2D<float> reward;
  Buffer2D<std::uint8_t> terminated;
  Buffer2D<std::uint8_t> truncated;
  Buffer2D<std::uint8_t> status;
  Buffer2D<std::int32_t> env_id;
  Buffer2D<std::int32_t> episode_step;

  // Every field, in the order above.
  std::vector<FieldView> fields();

  // Copy row `src_row` of every field of `src` into row `dst_row` of this batch.
  void copy_row(std::int64_t dst_row, const Batch& src, std::int64_t src_row);

  // Bytes held by all fields.
  std::size_t size_bytes() const;

 private:
  std::int64_t rows_ = 0;
};

}  // namespace simlab::engine
