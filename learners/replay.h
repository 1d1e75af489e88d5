// Sequence replay for the world-model learner: one ring of steps per env, sampled as windows of
// consecutive steps (which may cross episode boundaries: `first` marks where the model resets).
//
//   step t of env i:  obs_t, the action that led to it (zero on a first step), the reward for
//                     arriving, first (an episode starts here), terminal (it ended in a terminal
//                     state: no continuation), and with images on its frame [3, 64, 64] uint8
//
// Images stay uint8 here (12 KB a step: 20k steps are 240 MB); a batch becomes float in
// [-0.5, 0.5] only in to(device), where it moves once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace simlab::learners {

// uint8 frames as the world model sees them: float in [-0.5, 0.5], on the frames' device.
torch::Tensor image_to_float(const torch::Tensor& image);

struct SequenceBatch {
  torch::Tensor obs;       // [B, L, obs]
  torch::Tensor action;    // [B, L, act] the action that led to obs
  torch::Tensor reward;    // [B, L]
  torch::Tensor first;     // [B, L]
  torch::Tensor terminal;  // [B, L]
  torch::Tensor image;  // [B, L, 3, 64, 64] uint8 with images on (float in [-0.5, 0.5] after to())
  SequenceBatch to(torch::Device device) const;
};

class SequenceReplay {
 public:
  // `capacity`: steps over all envs (each env keeps capacity / envs).
  // `image_size` > 0: each step also holds a [3, image_size, image_size] uint8 frame.
  SequenceReplay(int envs, std::int64_t capacity, int obs_dim, int act_dim, int image_size = 0);

  // `image`: the step's frame (required with images on, else ignored).
  void add(int env, const float* obs, const float* action, float reward, bool first, bool terminal,
           const std::uint8_t* image = nullptr);
  std::int64_t size() const;  // steps held
  // Whether some env holds `length` consecutive steps.
  bool can_sample(int length) const;
  // `batch` windows of `length` steps, envs weighted by how many windows they hold, drawn from
  // the default CPU generator.
  SequenceBatch sample(int batch, int length) const;

  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  int envs_;
  std::int64_t per_env_;
  int obs_dim_, act_dim_, image_size_;
  torch::Tensor obs_, action_, reward_, first_, terminal_;  // [envs * per_env, ...]
  torch::Tensor image_;                                     // [envs * per_env, 3, S, S] uint8
  std::vector<std::int64_t> count_, next_;                  // per env: held, write position
};

}  // namespace simlab::learners
