// The world-model learner, after DreamerV3 (Hafner et al. 2023), sized for CPUs.
//
//   replay windows [B, L] --encoder(symlog obs) and/or CNN(image)--> RSSM: deterministic GRU state
//   h and a stochastic categorical latent z (S groups of C classes, 1% uniform mix,
//   straight-through samples)
//     prior p(z | h) from h alone, posterior q(z | h, embed) with the observation
//     heads on (h, z): decoder (symlog obs, MSE), reward (symlog, MSE), continuation (Bernoulli)
//   images (obs "rgb" or "state,rgb"): 64 x 64 frames in [-0.5, 0.5]; encoder: 4 stride-2 convs
//   (16-32-64-128 channels, GroupNorm, SiLU) -> 2048 features, concatenated with the state MLP's
//   embedding; decoder: a linear layer to 128 x 4 x 4 and 4 transposed convs back to 3 x 64 x 64;
//   loss: squared error summed over the 12288 pixel values (as DreamerV3), mean over B and L
//     KL balancing with free bits: 0.5 KL[sg(q) || p] + 0.1 KL[q || sg(p)], each at least 1 nat
//   imagination from posterior states: the actor (tanh-squashed Gaussian, reparameterized) rolls
//   the prior forward H steps -> rewards, continuations, values of a slow critic ->
//   lambda-returns -> actor: maximize returns / max(1, EMA of their 5-95% range) + entropy
//   (gradients through the learned dynamics); critic: symlog regression onto the returns
//
// Acting (DreamerPolicy, the actor thread of a RolloutStream): per env, the posterior is filtered
// step by step from the observations, and the actor samples from (h, z).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "learners/replay.h"
#include "learners/stream.h"

namespace simlab::learners {

// Decisions every 2 control steps unless the scene says otherwise (cartpole swing-up at 100k
// steps, ratio 128: 431 deciding every step, 606 every 2nd, 782 every 4th, which
// cartpole-swingup.toml names).
inline constexpr int kDefaultActionRepeat = 2;

struct DreamerConfig {
  int chunk = 50;  // decisions per env per iteration (one stream chunk)
  // Env (control) steps each action holds for, rewards summed (VectorEnvConfig::action_repeat):
  // the agent decides at 1 / action_repeat of the scene's rate, as DMC agents do. 0: the scene's
  // choice (SceneSpec::action_repeat), else kDefaultActionRepeat; run_training resolves it.
  int action_repeat = 0;
  int lag = 1;                  // 1: the actors collect the next chunk while the learner trains
  int batch = 16;               // sequences per update
  int seq_len = 64;             // steps per sequence
  double train_ratio = 256;     // replayed steps per env step (swing-up at 100k: 128 782, 256 874)
  std::int64_t prefill = 5000;  // env steps of uniform random actions before training starts
  std::int64_t replay = 1000000;  // replay capacity, in steps
  int deter = 128;                // GRU state
  int stoch = 16, classes = 16;   // categorical latent: groups x classes
  int hidden = 128;               // units of every MLP layer
  int horizon = 15;               // imagination steps
  int imag_starts = 256;          // imagination start states per update (of batch x seq_len)
  double gamma = 0.997,
         lambda = 0.95;  // 0.997: a 3.3 s horizon at 100 Hz (0.985 never learned to swing up)
  double model_lr = 3e-4, actor_lr = 1e-4, critic_lr = 1e-4;
  double free_bits = 1.0, kl_dyn = 0.5, kl_rep = 0.1, unimix = 0.01;
  double entropy = 3e-4;
  double model_clip = 1000, ac_clip = 100;  // gradient-norm clips
  double slow_critic = 0.02;                // EMA rate of the critic that targets use
  std::string obs = "state";                // what the model sees: state, rgb or state,rgb
  // How the actor learns from imagined returns: "backprop" (through the learned dynamics) or
  // "reinforce" (score function with the critic as baseline; the rollout needs no gradient).
  std::string actor_grad = "backprop";
  // Capture whole updates as CUDA graphs on a CUDA device (LibTorch built with CUDA); no effect
  // on the CPU. Not part of a run's identity: a graph replays the same kernels.
  bool cuda_graphs = true;
  bool state_obs() const { return obs != "rgb"; }
  bool image_obs() const { return obs == "rgb" || obs == "state,rgb"; }
  bool reinforce() const { return actor_grad == "reinforce"; }
};

torch::Tensor symlog(const torch::Tensor& x);
torch::Tensor symexp(const torch::Tensor& x);

// The RSSM's state: h [B, deter] and the one-hot latent z [B, stoch * classes].
// `index` [B, stoch]: z's columns (group g's class c: g * classes + c), where training sampled
// it; layers reading the features then gather z's share of their weights instead of multiplying.
struct Latent {
  torch::Tensor deter, stoch, index;
  torch::Tensor feat() const { return torch::cat({deter, stoch}, -1); }
};

struct DreamerActorImpl;

struct WorldModelImpl : torch::nn::Module {
  WorldModelImpl(int obs_dim, int act_dim, const DreamerConfig& config);

  Latent initial(std::int64_t batch, torch::Device device) const;
  // [.., embed] of observations [.., obs] and/or frames [.., 3, 64, 64] in [-0.5, 0.5] (each
  // ignored when the model does not see it).
  torch::Tensor embed(const torch::Tensor& obs, const torch::Tensor& image = {});
  // Frames [.., 3, 64, 64] (in [-0.5, 0.5] units) from features [.., feat].
  torch::Tensor decode_image(const torch::Tensor& feat);
  // h' = GRU(h, [z, a]) (state and action zeroed where first is 1) and the prior's logits.
  torch::Tensor step_deter(const Latent& prev, const torch::Tensor& action,
                           const torch::Tensor& first = {});
  torch::Tensor prior_logits(const torch::Tensor& deter);  // [B, stoch, classes]
  torch::Tensor posterior_logits(const torch::Tensor& deter, const torch::Tensor& embed);
  // A straight-through one-hot sample [B, stoch * classes] of the mixed distribution; the mode
  // when `mode`; from `generator` when given.
  torch::Tensor sample(const torch::Tensor& logits, at::Generator* generator = nullptr,
                       bool mode = false);
  // Log-probabilities with the uniform mix.
  torch::Tensor log_probs(const torch::Tensor& logits) const;

  // Training's posterior filter along sequences, for embeddings [B, L, embed], the actions that led
  // to each step [B, L, act], first [B, L] and uniform numbers [B, L, stoch]: per step
  // h_t = GRU(h_{t-1}, [z_{t-1}, a_t]) (state and action zeroed where first), z_t the
  // straight-through sample of q(z | h_t, e_t). What does not depend on the recurrence (the
  // action's and the embedding's share of the input layers) is computed for all steps at once,
  // and the recurrence runs as one autograd node with its backward written out
  // (learners/rssm_scan.h); `step_deter` / `posterior_logits` / `sample_st` compute the same one
  // step at a time (acting, export, the scan's test).
  struct Observed {
    torch::Tensor deter, stoch;  // [B, L, deter], [B, L, stoch * classes]
    torch::Tensor post_logits;   // [B, L, stoch, classes]
    torch::Tensor index;         // [B, L, stoch] stoch's columns
    Latent latent() const { return {deter, stoch, index}; }
  };
  Observed observe(const torch::Tensor& embed, const torch::Tensor& action,
                   const torch::Tensor& first, const torch::Tensor& noise);
  // The straight-through one-hot sample [.., stoch * classes] of logits [.., stoch, classes] with
  // the uniform mix, from uniform numbers u [.., stoch] (one per group), and its columns
  // [.., stoch].
  std::pair<torch::Tensor, torch::Tensor> sample_st(const torch::Tensor& logits,
                                                    const torch::Tensor& u);
  // An MLP of this model (or the learner's) on a latent state's features: its first layer through
  // z's indices where they are known (learners/latent_linear.h).
  static torch::Tensor on_features(torch::nn::Sequential net, const Latent& s);
  // One imagined step from the prior: h' = GRU(h, [z, a]), z' the straight-through sample of
  // p(z | h') from uniform numbers u [B, stoch].
  Latent imagine(const Latent& prev, const torch::Tensor& action, const torch::Tensor& noise);
  // The actor's rollout of H steps from `start` [S, ..] as one autograd node
  // (learners/imagine_scan.h): `imagine` after the actor's sample, the actor seeing the features
  // without differentiating them. action_noise [H, S, A] standard normal, latent_u [H, S, stoch]
  // uniform. Gradients reach the actor through its actions (and entropies), not this model.
  struct Rollout {
    Latent states;           // [H + 1, S, ..], the start first
    torch::Tensor entropy;   // [H, S] sum of log std
    torch::Tensor pre_tanh;  // [H, S, A] the sampled u (actions are tanh(u)), as data
  };
  Rollout rollout(DreamerActorImpl& actor, const Latent& start, const torch::Tensor& action_noise,
                  const torch::Tensor& latent_u);

  int obs_dim, act_dim, stoch, classes;
  double unimix;
  bool use_state, use_image;
  torch::nn::Sequential encoder{nullptr}, img_in{nullptr}, prior{nullptr}, post{nullptr};
  torch::nn::GRUCell gru{nullptr};
  torch::nn::Sequential decoder{nullptr}, reward{nullptr}, cont{nullptr};
  // With images on (registered after the rest, so state-only models keep their layout).
  torch::nn::Sequential image_encoder{nullptr}, image_decoder{nullptr};
};
TORCH_MODULE(WorldModel);

// Tanh-squashed Gaussian over actions in [-1, 1].
struct DreamerActorImpl : torch::nn::Module {
  DreamerActorImpl(int feat_dim, int act_dim, int hidden);
  // Mean and std before squashing.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& feat);
  std::pair<torch::Tensor, torch::Tensor> forward(const Latent& s);
  // Mean and std from the network's output.
  std::pair<torch::Tensor, torch::Tensor> distribution(const torch::Tensor& out) const;
  torch::nn::Sequential net{nullptr};
  int act_dim;
};
TORCH_MODULE(DreamerActor);

struct DreamerStats {
  double model_loss = 0, decoder_loss = 0, image_loss = 0, reward_loss = 0, cont_loss = 0, kl = 0;
  double actor_loss = 0, critic_loss = 0, entropy = 0, imag_return = 0, return_scale = 1;
  double model_grad_norm = 0, actor_grad_norm = 0, critic_grad_norm = 0;  // before clipping
};

// Open-loop prediction: the posterior filters `context` steps, then the prior alone predicts the
// rest from the real actions (latents sampled, as in training).
struct OpenLoop {
  torch::Tensor predicted, real;  // [B, H, obs] (raw units)
  // With images on: [B, H, 3, 64, 64] in [-0.5, 0.5].
  torch::Tensor predicted_image, real_image;
  torch::Tensor valid;  // [B, H] 0 after an episode boundary
  // [H] mean squared error / the observations' variance (of the state, else of the frames)
  torch::Tensor nmse;
};

class Distributed;
class GraphedUpdate;
class FlatParameters;
class FlatAdam;

// The learner. An update is queued on the device and nothing in it waits for the device: losses
// and statistics stay there (stats() reads them, once per iteration), the optimizers run on flat
// parameter buffers, random numbers come from the device's generator, and shapes are static. On a
// CUDA device the whole update (world model, imagination, three optimizer steps) is captured as
// one CUDA graph after a few eager warm-up updates and replayed from then on.
class Dreamer {
 public:
  Dreamer(int obs_dim, int act_dim, DreamerConfig config, torch::Device device);
  ~Dreamer();
  Dreamer(const Dreamer&) = delete;
  Dreamer& operator=(const Dreamer&) = delete;

  // One update: the world model on `batch` (on any device: it moves once), then the actor and
  // critic in imagination. Queued: returns before the device finishes.
  void update(const SequenceBatch& batch);
  // The last update's figures (waits for the device). Throws simlab::Error naming a loss that was
  // not finite in any update since the previous call.
  DreamerStats stats();
  // update() then stats(): for tests and one-off updates.
  DreamerStats train(const SequenceBatch& batch) {
    update(batch);
    return stats();
  }
  OpenLoop open_loop(const SequenceBatch& batch, int context);
  // What acting needs (world model and actor): two flat CPU tensors for a DreamerPolicy.
  std::vector<torch::Tensor> policy_weights() const;

  // Data-parallel: gradients averaged over the group before every optimizer step (null: alone).
  void set_distributed(Distributed* distributed);
  // Every parameter of the world model, actor and critics (to broadcast or fingerprint).
  std::vector<torch::Tensor> parameters() const;

  // Dense-layer FLOPs of one update at `batch` x `seq_len` (2 per multiply-add; a backward pass
  // counts twice its forward where weights learn, once where only gradients flow through).
  double update_flops(std::int64_t batch, std::int64_t seq_len) const;
  // Whether updates replay a captured CUDA graph.
  bool graphed() const;

  void save(torch::serialize::OutputArchive& archive) const;
  // `file`: named in errors (a checkpoint whose tensors do not fit this configuration).
  void load(torch::serialize::InputArchive& archive, const std::filesystem::path& file = {});

  WorldModel& world_model() { return model_; }
  DreamerActor& actor() { return actor_; }
  const DreamerConfig& config() const { return config_; }

 private:
  void update_on_device(const SequenceBatch& b);  // every tensor already on device_

  DreamerConfig config_;
  torch::Device device_;
  int obs_dim_, act_dim_;
  WorldModel model_;
  DreamerActor actor_;
  torch::nn::Sequential critic_{nullptr}, slow_critic_{nullptr};
  std::unique_ptr<FlatParameters> model_params_, actor_params_, critic_params_, slow_params_;
  std::unique_ptr<FlatAdam> model_opt_, actor_opt_, critic_opt_;
  torch::Tensor return_scale_;     // 0-dim: EMA of the returns' 5-95% range (-1 before the first)
  torch::Tensor stats_;            // [kStats] the last update's figures
  torch::Tensor bad_, first_bad_;  // [kStats] not finite since stats(), and the first such value
  Distributed* distributed_ = nullptr;
  SequenceBatch static_;  // CUDA graphs: the device buffers a captured update reads
  std::unique_ptr<GraphedUpdate> graph_;
};

// Acting in the actor thread: the posterior per env, then the actor's sample, scaled to the
// action bounds. Before `prefill` env steps (counted from `steps_before`) it acts uniformly.
class DreamerPolicy : public StreamPolicy {
 public:
  DreamerPolicy(int obs_dim, int act_dim, const DreamerConfig& config, torch::Tensor low,
                torch::Tensor high);
  // At the start of a run: the env steps taken so far (for the prefill) and the env count.
  void start(std::int64_t steps_before, int envs);
  void load(const std::vector<torch::Tensor>& weights) override;
  // The filtered latent per env, the previous actions and the steps taken (checkpoints).
  std::vector<torch::Tensor> state() const override;
  void set_state(const std::vector<torch::Tensor>& state) override;
  torch::Tensor act(const torch::Tensor& obs, const torch::Tensor& image,
                    const torch::Tensor& first, at::Generator& generator) override;
  // Env actions back to the actor's [-1, 1].
  torch::Tensor normalize(const torch::Tensor& action) const;

 private:
  DreamerConfig config_;
  WorldModel model_;
  DreamerActor actor_;
  torch::Tensor low_, high_;
  std::int64_t steps_ = 0;
  int envs_ = 0;
  Latent state_;
  torch::Tensor prev_action_;  // [N, act] in [-1, 1]
};

}  // namespace simlab::learners
