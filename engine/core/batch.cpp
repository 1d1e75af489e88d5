#include "engine/core/batch.h"

#include <algorithm>

namespace simlab::engine {

Batch::Batch(std::int64_t rows, std::int64_t obs_dim, std::int64_t act_dim)
    : obs(rows, obs_dim),
      final_obs(rows, obs_dim),
      action(rows, act_dim),
      reward(rows, 1),
      terminated(rows, 1),
      truncated(rows, 1),
      status(rows, 1),
      env_id(rows, 1),
      episode_step(rows, 1),
      rows_(rows) {
  for (std::int64_t r = 0; r < rows; ++r)
    env_id(r, 0) = static_cast<std::int32_t>(r);
}

std::vector<FieldView> Batch::fields() {
  auto view = [](std::string_view name, DType type, auto& buf) {
    return FieldView{name, type, buf.rows(), buf.cols(), static_cast<void*>(buf.data())};
  };
  return {view("obs", DType::kFloat32, obs),
          view("final_obs", DType::kFloat32, final_obs),
          view("action", DType::kFloat32, action),
          view("reward", DType::kFloat32, reward),
          view("terminated", DType::kUInt8, terminated),
          view("truncated", DType::kUInt8, truncated),
          view("status", DType::kUInt8, status),
          view("env_id", DType::kInt32, env_id),
          view("episode_step", DType::kInt32, episode_step)};
}

namespace {
template <class T>
void copy_row_of(Buffer2D<T>& dst, std::int64_t dst_row, const Buffer2D<T>& src,
                 std::int64_t src_row) {
  std::copy_n(src.row(src_row).data(), src.cols(), dst.row(dst_row).data());
}
}  // namespace

void Batch::copy_row(std::int64_t dst_row, const Batch& src, std::int64_t src_row) {
  SIMLAB_CHECK(obs.cols() == src.obs.cols() && action.cols() == src.action.cols())
      << "copy_row between batches of different shapes";
  copy_row_of(obs, dst_row, src.obs, src_row);
  copy_row_of(final_obs, dst_row, src.final_obs, src_row);
  copy_row_of(action, dst_row, src.action, src_row);
  copy_row_of(reward, dst_row, src.reward, src_row);
  copy_row_of(terminated, dst_row, src.terminated, src_row);
  copy_row_of(truncated, dst_row, src.truncated, src_row);
  copy_row_of(status, dst_row, src.status, src_row);
  copy_row_of(env_id, dst_row, src.env_id, src_row);
  copy_row_of(episode_step, dst_row, src.episode_step, src_row);
}

std::size_t Batch::size_bytes() const {
  return obs.size_bytes() + final_obs.size_bytes() + action.size_bytes() + reward.size_bytes() +
         terminated.size_bytes() + truncated.size_bytes() + status.size_bytes() +
         env_id.size_bytes() + episode_step.size_bytes();
}

}  // namespace simlab::engine
