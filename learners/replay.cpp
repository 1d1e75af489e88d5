#include "learners/replay.h"

#include <algorithm>
#include <cstring>

#include "engine/core/error.h"

namespace simlab::learners {

torch::Tensor image_to_float(const torch::Tensor& image) {
  return image.to(torch::kFloat32) / 255.0f - 0.5f;
}

SequenceBatch SequenceBatch::to(torch::Device device) const {
  SequenceBatch out{obs.to(device), action.to(device), reward.to(device), first.to(device),
                    terminal.to(device)};
  // uint8 moves (4x fewer bytes), then becomes float on the device.
  if (image.defined())
    out.image =
        image.scalar_type() == torch::kUInt8 ? image_to_float(image.to(device)) : image.to(device);
  return out;
}

SequenceReplay::SequenceReplay(int envs, std::int64_t capacity, int obs_dim, int act_dim,
                               int image_size)
    : envs_(envs),
      per_env_(std::max<std::int64_t>(1, capacity / std::max(1, envs))),
      obs_dim_(obs_dim),
      act_dim_(act_dim),
      image_size_(image_size),
      obs_(torch::zeros({envs * per_env_, obs_dim})),
      action_(torch::zeros({envs * per_env_, act_dim})),
      reward_(torch::zeros({envs * per_env_})),
      first_(torch::zeros({envs * per_env_})),
      terminal_(torch::zeros({envs * per_env_})),
      count_(static_cast<std::size_t>(envs), 0),
      next_(static_cast<std::size_t>(envs), 0) {
  if (image_size_ > 0)
    image_ = torch::zeros({envs * per_env_, 3, image_size_, image_size_}, torch::kUInt8);
}

void SequenceReplay::add(int env, const float* obs, const float* action, float reward, bool first,
                         bool terminal, const std::uint8_t* image) {
  const std::int64_t row = env * per_env_ + next_[env];
  if (image_.defined()) {
    if (!image) throw Error(SourceLocation{.field = "replay"}, "a step without its image");
    const std::int64_t bytes = 3 * image_size_ * image_size_;
    std::memcpy(image_.data_ptr<std::uint8_t>() + row * bytes, image, bytes);
  }
  std::memcpy(obs_.data_ptr<float>() + row * obs_dim_, obs, sizeof(float) * obs_dim_);
  if (action)
    std::memcpy(action_.data_ptr<float>() + row * act_dim_, action, sizeof(float) * act_dim_);
  else
    std::fill_n(action_.data_ptr<float>() + row * act_dim_, act_dim_, 0.0f);
  reward_.data_ptr<float>()[row] = reward;
  first_.data_ptr<float>()[row] = first ? 1.0f : 0.0f;
  terminal_.data_ptr<float>()[row] = terminal ? 1.0f : 0.0f;
  next_[env] = (next_[env] + 1) % per_env_;
  count_[env] = std::min(per_env_, count_[env] + 1);
}

std::int64_t SequenceReplay::size() const {
  std::int64_t total = 0;
  for (auto c : count_)
    total += c;
  return total;
}

bool SequenceReplay::can_sample(int length) const {
  return std::any_of(count_.begin(), count_.end(), [&](auto c) { return c >= length; });
}

SequenceBatch SequenceReplay::sample(int batch, int length) const {
  if (!can_sample(length))
    throw Error(SourceLocation{.field = "replay"},
                "no env holds " + std::to_string(length) + " steps yet");
  // Windows: envs weighted by how many windows they hold, a uniform start among them. All as
  // tensor ops (a batch of thousands of sequences would otherwise cost two scalar reads each).
  const auto count = torch::tensor(count_, torch::kInt64),
             next = torch::tensor(next_, torch::kInt64);
  const auto windows = (count - length + 1).clamp_min(0).to(torch::kFloat64);
  const auto env = torch::multinomial(windows, batch, /*replacement=*/true);  // [B]
  const auto n = windows.index_select(0, env).to(torch::kInt64);              // windows held
  const auto start = torch::minimum(
      n - 1, (torch::rand({batch}, torch::kFloat64) * n.to(torch::kFloat64)).to(torch::kInt64));
  // A full ring's oldest step sits at its write position.
  const auto oldest = torch::where(count.index_select(0, env) == per_env_,
                                   next.index_select(0, env), torch::zeros_like(env));
  const auto steps = torch::arange(length, torch::kInt64);
  const auto flat = (env.unsqueeze(1) * per_env_ +
                     (oldest.add(start).unsqueeze(1) + steps.unsqueeze(0)).remainder(per_env_))
                        .reshape({-1});
  SequenceBatch out{obs_.index_select(0, flat).reshape({batch, length, obs_dim_}),
                    action_.index_select(0, flat).reshape({batch, length, act_dim_}),
                    reward_.index_select(0, flat).reshape({batch, length}),
                    first_.index_select(0, flat).reshape({batch, length}),
                    terminal_.index_select(0, flat).reshape({batch, length})};
  if (image_.defined())
    out.image = image_.index_select(0, flat).reshape({batch, length, 3, image_size_, image_size_});
  return out;
}

void SequenceReplay::save(torch::serialize::OutputArchive& archive) const {
  archive.write("replay_obs", obs_);
  archive.write("replay_action", action_);
  archive.write("replay_reward", reward_);
  archive.write("replay_first", first_);
  archive.write("replay_terminal", terminal_);
  archive.write("replay_count", torch::tensor(count_, torch::kInt64));
  archive.write("replay_next", torch::tensor(next_, torch::kInt64));
  if (image_.defined()) archive.write("replay_image", image_);
}

void SequenceReplay::load(torch::serialize::InputArchive& archive) {
  torch::Tensor obs, action, reward, first, terminal, count, next;
  archive.read("replay_obs", obs);
  archive.read("replay_action", action);
  archive.read("replay_reward", reward);
  archive.read("replay_first", first);
  archive.read("replay_terminal", terminal);
  archive.read("replay_count", count);
  archive.read("replay_next", next);
  if (!obs.sizes().equals(obs_.sizes()) || count.numel() != envs_)
    throw Error(SourceLocation{.field = "replay"}, "the checkpoint's replay has another shape");
  if (image_.defined()) {
    torch::Tensor image;
    archive.read("replay_image", image);
    if (!image.sizes().equals(image_.sizes()))
      throw Error(SourceLocation{.field = "replay"}, "the checkpoint's images have another shape");
    image_ = image.clone();
  }
  obs_ = obs.clone(), action_ = action.clone(), reward_ = reward.clone();
  first_ = first.clone(), terminal_ = terminal.clone();
  for (int e = 0; e < envs_; ++e) {
    count_[e] = count[e].item<std::int64_t>();
    next_[e] = next[e].item<std::int64_t>();
  }
}

}  // namespace simlab::learners
