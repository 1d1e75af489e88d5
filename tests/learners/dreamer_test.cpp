// The world-model learner and rollout streaming: symlog, sequence replay, a stream that delivers
// every transition as the sampling policy and schedule say, world-model losses that fall, a
// checkpoint round trip, a resumed run equal to an uninterrupted one, a NaN loss named.
#include "learners/dreamer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "learners/frames.h"
#include "learners/latent_linear.h"
#include "learners/replay.h"
#include "learners/rssm_scan.h"
#include "learners/stream.h"
#include "learners/threads.h"
#include "learners/trainer.h"
#include "scenes/scene.h"
#include "tests/support/train.h"

namespace simlab::learners {
namespace {

// One compute thread, OpenBLAS's included: its spinning threads on a loaded machine (ctest -j) turn
// these tests' many small products into waits.
[[maybe_unused]] const bool kOneComputeThread = (set_compute_threads(1), true);

namespace fs = std::filesystem;

TEST(Dreamer, SymlogAndSymexpAreInverse) {
  const auto x = torch::tensor({-1000.0f, -3.0f, -0.5f, 0.0f, 0.25f, 7.0f, 12345.0f});
  EXPECT_TRUE(torch::allclose(symexp(symlog(x)), x, 1e-4, 1e-4));
  EXPECT_NEAR(symlog(torch::tensor(std::exp(2.0f) - 1)).item<float>(), 2.0f, 1e-5);
  EXPECT_EQ(symlog(torch::tensor(-3.0f)).item<float>(), -symlog(torch::tensor(3.0f)).item<float>());
}

TEST(Replay, SamplesConsecutiveStepsOfOneEnvAcrossTheRing) {
  // 2 envs, 10 steps each; env e's step k stores obs = 100 e + k. 25 steps wrap the ring.
  SequenceReplay replay(2, 20, 1, 1);
  EXPECT_FALSE(replay.can_sample(4));
  for (int k = 0; k < 25; ++k)
    for (int e = 0; e < 2; ++e) {
      const float obs = 100.0f * e + k, action = static_cast<float>(k);
      replay.add(e, &obs, &action, 0.5f, k % 7 == 0, false);
    }
  EXPECT_EQ(replay.size(), 20);
  torch::manual_seed(0);
  const auto b = replay.sample(64, 4);
  ASSERT_EQ(b.obs.sizes(), (std::vector<std::int64_t>{64, 4, 1}));
  for (int i = 0; i < 64; ++i) {
    const float start = b.obs[i][0][0].item<float>();
    const int env = start >= 100 ? 1 : 0, k0 = static_cast<int>(start) - 100 * env;
    EXPECT_GE(k0, 15);  // only the last 10 steps are held
    EXPECT_LE(k0, 21);
    for (int j = 0; j < 4; ++j) {
      EXPECT_EQ(b.obs[i][j][0].item<float>(), start + j);
      EXPECT_EQ(b.first[i][j].item<float>(), (k0 + j) % 7 == 0 ? 1.0f : 0.0f);
    }
  }
}

// Acts with a deterministic function of the observation and the weights version it was given.
class VersionPolicy : public StreamPolicy {
 public:
  void load(const std::vector<torch::Tensor>& weights) override {
    version_ = weights.at(0).item<float>();
    loads.push_back(version_);
  }
  torch::Tensor act(const torch::Tensor& obs, const torch::Tensor&, const torch::Tensor&,
                    at::Generator&) override {
    return torch::tanh(obs.slice(1, 0, 1) * 0.1f * (1 + version_));
  }
  std::vector<float> loads;

 private:
  float version_ = 0;
};

TEST(Stream, DeliversEveryTransitionAsThePolicyAndScheduleSay) {
  const auto scene =
      scenes::compile_scene(scenes::load_scene(scenes::resolve_scene("cartpole-balance")), 1);
  for (int lag : {0, 1}) {
    const int n = 3, steps = 40, chunks = 6;
    auto env = scenes::make_env(scene, n, 2, 9);
    VersionPolicy policy;
    std::vector<Chunk> got;
    {
      RolloutStream stream(*env, policy, {.steps = steps, .lag = lag, .chunks = chunks, .seed = 1});
      stream.publish({torch::tensor(0.0f)});
      for (int k = 0; k < chunks; ++k) {
        got.push_back(stream.next());
        stream.publish({torch::tensor(static_cast<float>(k + 1))});
      }
      EXPECT_THROW(stream.next(), Error);  // no seventh chunk
    }
    // Chunk k was collected with version max(0, k - lag), and its actions are that version's.
    auto replay_env = scenes::make_env(scene, n, 1, 9);
    auto obs = torch::from_blob(const_cast<float*>(replay_env->reset().obs.data()), {n, 4}).clone();
    int episodes_ended = 0;
    for (int k = 0; k < chunks; ++k) {
      const Chunk& c = got[k];
      EXPECT_EQ(c.index, k);
      EXPECT_EQ(c.version, std::max(0, k - lag)) << "lag " << lag;
      for (int t = 0; t < steps; ++t) {
        // The same observation the reference env sees, and the version's action for it.
        ASSERT_TRUE(torch::equal(c.obs[t], obs)) << "chunk " << k << " step " << t;
        const auto expected = torch::tanh(obs.slice(1, 0, 1) * 0.1f * (1 + c.version));
        ASSERT_TRUE(torch::equal(c.action[t], expected));
        const auto a = c.action[t].contiguous();
        const engine::Batch& b =
            replay_env->step(std::span<const float>(a.data_ptr<float>(), a.numel()));
        for (int i = 0; i < n; ++i) {
          ASSERT_EQ(c.reward[t][i].item<float>(), b.reward(i, 0));
          ASSERT_EQ(c.terminated[t][i].item<float>(), b.terminated(i, 0));
          ASSERT_EQ(c.truncated[t][i].item<float>(), b.truncated(i, 0));
          const bool ended = b.terminated(i, 0) || b.truncated(i, 0);
          if (t + 1 < steps) {
            ASSERT_EQ(c.first[t + 1][i].item<float>(), ended ? 1.0f : 0.0f);
          }
          if (ended) {
            ++episodes_ended;
            for (int d = 0; d < 4; ++d)
              ASSERT_EQ(c.final_obs[t][i][d].item<float>(), b.final_obs(i, d));
          }
        }
        obs = torch::from_blob(const_cast<float*>(b.obs.data()), {n, 4}).clone();
      }
      EXPECT_TRUE(torch::equal(c.next_obs, obs));
    }
    EXPECT_GT(episodes_ended, 0);  // the check above saw episode boundaries
    // Each version was loaded once, in order.
    std::vector<float> expected;
    for (int v = 0; v <= chunks - 1 - lag; ++v)
      expected.push_back(static_cast<float>(v));
    EXPECT_EQ(policy.loads, expected);
  }
}

DreamerConfig tiny_dreamer() {
  DreamerConfig c;
  c.deter = 32;
  c.hidden = 32;
  c.stoch = 4;
  c.classes = 4;
  c.batch = 8;
  c.seq_len = 16;
  c.horizon = 5;
  c.imag_starts = 32;
  c.chunk = 20;
  c.prefill = 80;
  c.train_ratio = 16;
  c.model_lr = 1e-3;
  c.action_repeat = 1;  // the tests count decisions as control steps
  return c;
}

// Random-action data from cartpole-balance.
SequenceReplay random_replay(int envs, int steps) {
  const auto scene =
      scenes::compile_scene(scenes::load_scene(scenes::resolve_scene("cartpole-balance")), 0);
  auto env = scenes::make_env(scene, envs, 1, 4);
  SequenceReplay replay(envs, envs * steps, 4, 1);
  const engine::Batch* b = &env->reset();
  auto action = torch::zeros({envs, 1});
  for (int t = 0; t < steps; ++t) {
    for (int i = 0; i < envs; ++i)
      replay.add(i, b->obs.data() + i * 4, t ? action[i].data_ptr<float>() : nullptr,
                 t ? b->reward(i, 0) : 0.0f, t == 0, false);
    action = torch::rand({envs, 1}) * 2 - 1;
    b = &env->step(std::span<const float>(action.data_ptr<float>(), envs));
  }
  return replay;
}

// The fused posterior filter (learners/rssm_scan.h, a hand-written backward) against the same steps
// composed from the world model's own layers under autograd: outputs and every gradient, in double
// precision, across episode starts inside the sequences.
TEST(Dreamer, TheFusedPosteriorFilterMatchesTheStepByStepOne) {
  torch::manual_seed(3);
  const auto config = tiny_dreamer();  // deter 32, hidden 32, latent 4 x 4
  WorldModel model(4, 2, config);
  model->to(torch::kFloat64);
  const int b = 3, l = 7, z = config.stoch * config.classes;
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const auto obs = torch::randn({b, l, 4}, f64), action = torch::randn({b, l, 2}, f64).tanh();
  auto first = torch::zeros({b, l}, f64);
  first[0][0] = 1, first[1][4] = 1, first[2][0] = 1, first[2][2] = 1;
  const auto noise = torch::rand({b, l, config.stoch}, f64);  // one uniform number per group
  // A random weight on every output, so every path back is exercised.
  const auto wd = torch::randn({b, l, config.deter}, f64), wz = torch::randn({b, l, z}, f64),
             wl = torch::randn({b, l, config.stoch, config.classes}, f64);
  auto run = [&](bool fused) {
    model->zero_grad();
    const auto embed = model->embed(obs);
    WorldModelImpl::Observed o;
    if (fused) {
      o = model->observe(embed, action, first, noise);
    } else {
      Latent s{torch::zeros({b, config.deter}, f64), torch::zeros({b, z}, f64)};
      std::vector<torch::Tensor> deters, stochs, logits;
      for (int t = 0; t < l; ++t) {
        s.deter = model->step_deter(s, action.select(1, t), first.select(1, t));
        logits.push_back(model->posterior_logits(s.deter, embed.select(1, t)));
        s.stoch = model->sample_st(logits.back(), noise.select(1, t)).first;
        deters.push_back(s.deter);
        stochs.push_back(s.stoch);
      }
      o = {torch::stack(deters, 1), torch::stack(stochs, 1), torch::stack(logits, 1), {}};
    }
    ((o.deter * wd).sum() + (o.stoch * wz).sum() + (o.post_logits * wl).sum()).backward();
    std::vector<std::pair<std::string, torch::Tensor>> out = {
        {"deter", o.deter.detach().clone()},
        {"stoch", o.stoch.detach().clone()},
        {"post_logits", o.post_logits.detach().clone()}};
    for (const auto& p : model->named_parameters())
      if (p.value().grad().defined()) out.emplace_back(p.key(), p.value().grad().clone());
    return out;
  };
  const auto reference = run(false), fused = run(true);
  ASSERT_EQ(reference.size(), fused.size());
  EXPECT_GT(reference.size(), 12u);  // outputs, and the gradients of encoder, img_in, GRU, post
  for (std::size_t i = 0; i < reference.size(); ++i) {
    ASSERT_EQ(reference[i].first, fused[i].first);
    EXPECT_TRUE(torch::allclose(fused[i].second, reference[i].second, 1e-9, 1e-11))
        << reference[i].first << ": largest difference "
        << (fused[i].second - reference[i].second).abs().max().item<double>();
  }
}

// The fused imagination rollout (learners/imagine_scan.h, a hand-written backward) against the
// actor and the world model's imagine() composed step by step under autograd: states, entropies,
// sampled actions and the actor's gradients through the frozen dynamics, in double precision.
TEST(Dreamer, TheFusedRolloutMatchesTheStepByStepOne) {
  torch::manual_seed(5);
  const auto config = tiny_dreamer();
  const int act = 2, starts = 5, horizon = 4, z = config.stoch * config.classes;
  WorldModel model(4, act, config);
  DreamerActor actor(config.deter + z, act, config.hidden);
  model->to(torch::kFloat64);
  actor->to(torch::kFloat64);
  for (auto& p : model->parameters())
    p.requires_grad_(false);  // frozen, as in training's imagination
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const auto start_sample = detail::categorical_sample(
      torch::softmax(torch::randn({starts, config.stoch, config.classes}, f64), -1),
      torch::rand({starts, config.stoch}, f64));
  const Latent start{torch::randn({starts, config.deter}, f64), start_sample.one_hot.flatten(1),
                     start_sample.index};
  const auto noise = torch::randn({horizon, starts, act}, f64);
  const auto u = torch::rand({horizon, starts, config.stoch}, f64);
  const auto wd = torch::randn({horizon + 1, starts, config.deter}, f64),
             wz = torch::randn({horizon + 1, starts, z}, f64),
             we = torch::randn({horizon, starts}, f64);
  auto run = [&](bool fused) {
    actor->zero_grad();
    WorldModelImpl::Rollout r;
    if (fused) {
      r = model->rollout(*actor, start, noise, u);
    } else {
      Latent s = start;
      std::vector<torch::Tensor> deters{s.deter}, stochs{s.stoch}, entropies, pre_tanh;
      for (int k = 0; k < horizon; ++k) {
        const auto [mean, std] =
            actor->forward(Latent{s.deter.detach(), s.stoch.detach(), s.index});
        pre_tanh.push_back((mean + std * noise[k]).detach());
        entropies.push_back(torch::log(std).sum(-1));
        s = model->imagine(s, torch::tanh(mean + std * noise[k]), u[k]);
        deters.push_back(s.deter);
        stochs.push_back(s.stoch);
      }
      r.states = {torch::stack(deters, 0), torch::stack(stochs, 0), {}};
      r.entropy = torch::stack(entropies, 0);
      r.pre_tanh = torch::stack(pre_tanh, 0);
    }
    ((r.states.deter * wd).sum() + (r.states.stoch * wz).sum() + (r.entropy * we).sum()).backward();
    std::vector<std::pair<std::string, torch::Tensor>> out = {
        {"deter", r.states.deter.detach().clone()},
        {"stoch", r.states.stoch.detach().clone()},
        {"entropy", r.entropy.detach().clone()},
        {"pre_tanh", r.pre_tanh.detach().clone()}};
    for (const auto& p : actor->named_parameters())
      out.emplace_back(p.key(), p.value().grad().clone());
    return out;
  };
  const auto reference = run(false), fused = run(true);
  ASSERT_EQ(reference.size(), fused.size());
  ASSERT_EQ(reference.size(), 12u);  // 4 outputs, 8 actor parameters
  for (std::size_t i = 0; i < reference.size(); ++i) {
    ASSERT_EQ(reference[i].first, fused[i].first);
    EXPECT_GT(reference[i].second.abs().max().item<double>(), 0) << reference[i].first;
    EXPECT_TRUE(torch::allclose(fused[i].second, reference[i].second, 1e-9, 1e-11))
        << reference[i].first << ": largest difference "
        << (fused[i].second - reference[i].second).abs().max().item<double>();
  }
}

// A layer reading the one-hot latent gathers its weight's rows (learners/latent_linear.h): the same
// values and gradients as the dense product, with the latent after or before the dense input.
TEST(Dreamer, TheLatentLayerMatchesTheDenseProduct) {
  torch::manual_seed(4);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const int n = 6, dense = 5, groups = 3, classes = 4, out = 7;
  const auto probs = torch::softmax(torch::randn({n, groups, classes}, f64), -1);
  const auto sample = detail::categorical_sample(probs, torch::rand({n, groups}, f64));
  for (const bool latent_first : {false, true}) {
    const auto x0 = torch::randn({n, dense}, f64),
               w0 = torch::randn({out, dense + groups * classes}, f64);
    const auto g = torch::randn({n, out}, f64);
    auto run = [&](bool gathered) {
      auto x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
      auto p = probs.clone().requires_grad_(true);
      // Straight-through, as the world model's samples: the value is the one-hot.
      const auto z = (sample.one_hot + p - p.detach()).flatten(1);
      const auto y = gathered
                         ? detail::latent_linear(x, z, sample.index, w, latent_first)
                         : torch::nn::functional::linear(
                               latent_first ? torch::cat({z, x}, 1) : torch::cat({x, z}, 1), w);
      (y * g).sum().backward();
      return std::vector<torch::Tensor>{y.detach(), x.grad(), w.grad(), p.grad()};
    };
    const auto a = run(false), b = run(true);
    for (std::size_t i = 0; i < a.size(); ++i)
      EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-12, 1e-12))
          << "latent_first " << latent_first << " part " << i;
  }
  // The sample's columns point at its ones.
  EXPECT_TRUE(torch::equal(sample.one_hot.flatten(1).gather(1, sample.index),
                           torch::ones({n, groups}, f64)));
}

TEST(Dreamer, WorldModelLossesFallOnCartpoleData) {
  torch::manual_seed(0);
  auto replay = random_replay(4, 100);
  Dreamer dreamer(4, 1, tiny_dreamer(), torch::kCPU);
  const auto probe = replay.sample(16, 16);
  const double before = dreamer.open_loop(probe, 5).nmse.mean().item<double>();
  DreamerStats first, last;
  for (int u = 0; u < 150; ++u)
    (u == 0 ? first : last) = dreamer.train(replay.sample(8, 16));
  EXPECT_LT(last.decoder_loss, 0.3 * first.decoder_loss);
  EXPECT_LT(last.reward_loss, 0.3 * first.reward_loss);
  EXPECT_LT(last.model_loss, first.model_loss);
  EXPECT_TRUE(std::isfinite(last.actor_loss) && std::isfinite(last.critic_loss));
  // Open-loop predictions beat the untrained model.
  const double after = dreamer.open_loop(probe, 5).nmse.mean().item<double>();
  EXPECT_LT(after, 0.7 * before) << before << " -> " << after;
}

TEST(Dreamer, CheckpointRoundTripRestoresEveryPart) {
  torch::manual_seed(2);
  auto replay = random_replay(2, 40);
  Dreamer a(4, 1, tiny_dreamer(), torch::kCPU);
  for (int u = 0; u < 3; ++u)
    a.train(replay.sample(4, 16));
  const auto file = fs::temp_directory_path() / "simlab_dreamer_ckpt.pt";
  {
    torch::serialize::OutputArchive out;
    a.save(out);
    out.save_to(file.string());
  }
  torch::manual_seed(7);
  Dreamer b(4, 1, tiny_dreamer(), torch::kCPU);
  torch::serialize::InputArchive in;
  in.load_from(file.string());
  b.load(in);
  const auto wa = a.policy_weights(), wb = b.policy_weights();
  ASSERT_EQ(wa.size(), wb.size());
  for (std::size_t i = 0; i < wa.size(); ++i)
    ASSERT_TRUE(torch::equal(wa[i], wb[i]));
  // Optimizers and critics too: the next update is the same.
  const auto batch = replay.sample(4, 16);
  torch::manual_seed(11);
  const auto sa = a.train(batch);
  torch::manual_seed(11);
  const auto sb = b.train(batch);
  EXPECT_EQ(sa.model_loss, sb.model_loss);
  EXPECT_EQ(sa.critic_loss, sb.critic_loss);
  EXPECT_EQ(sa.actor_loss, sb.actor_loss);
  fs::remove(file);
}

TEST(Dreamer, ANonFiniteLossIsNamed) {
  auto replay = random_replay(2, 40);
  Dreamer dreamer(4, 1, tiny_dreamer(), torch::kCPU);
  auto batch = replay.sample(4, 16);
  batch.obs[1][3][2] = NAN;
  try {
    dreamer.train(batch);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model_loss"), std::string::npos) << e.what();
  }
}

std::vector<nlohmann::json> rows(const fs::path& dir) {
  std::vector<nlohmann::json> out;
  std::ifstream in(dir / "metrics.jsonl");
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

TrainConfig tiny_run(const fs::path& out) {
  TrainConfig c;
  c.scene = "cartpole-balance";
  c.algo = Algo::kDreamer;
  c.envs = 2;
  c.threads = 1;
  c.seed = 5;
  c.dreamer = tiny_dreamer();
  c.checkpoint_every = 3;
  c.steps = 6 * 20 * 2;  // 6 iterations: 2 segments
  c.out = out;
  c.device = DeviceChoice::kCpu;
  return c;
}

TEST(DreamerTraining, AResumedRunReproducesAnUninterruptedOne) {
  const auto whole = fs::temp_directory_path() / "simlab_dreamer_whole";
  const auto split = fs::temp_directory_path() / "simlab_dreamer_split";
  fs::remove_all(whole);
  fs::remove_all(split);
  simlab::test::train(tiny_run(whole));
  auto first = tiny_run(split);
  first.steps /= 2;
  simlab::test::train(first);
  ASSERT_EQ(rows(split).size(), 3u);
  auto second = tiny_run(split);
  second.resume = true;
  second.checkpoint_every = 2;  // not part of a dreamer run's identity: it changes nothing
  simlab::test::train(second);
  const auto a = rows(whole), b = rows(split);
  ASSERT_EQ(a.size(), 6u);
  ASSERT_EQ(b.size(), 6u);
  EXPECT_GT(a.back()["updates"].get<int>(), 0);  // it trained after the prefill
  for (std::size_t i = 0; i < a.size(); ++i)
    for (const char* key : {"iteration", "env_steps", "episodes", "mean_return", "updates",
                            "model_loss", "actor_loss", "critic_loss", "openloop_nmse"})
      EXPECT_EQ(a[i][key], b[i][key]) << key << " at iteration " << i + 1;
  EXPECT_TRUE(fs::exists(split / "world_model.png"));
  EXPECT_TRUE(fs::exists(split / "learning_curve.png"));
  // A different world-model size is another configuration.
  auto other = tiny_run(split);
  other.resume = true;
  other.dreamer.deter = 64;
  try {
    simlab::test::train(other);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'dreamer.deter' differs"), std::string::npos) << e.what();
  }
  fs::remove_all(whole);
  fs::remove_all(split);
}

// Checkpoints hold every env's running episode: the checkpoint period changes nothing. Swing-up
// episodes last 1000 steps; with a checkpoint every 20 steps per env they used to be cut at every
// one, and no episode ever finished.
TEST(DreamerTraining, EpisodesRunOnAcrossCheckpoints) {
  std::vector<std::vector<nlohmann::json>> runs;
  for (int every : {1, 7, 100}) {
    auto c = tiny_run(fs::temp_directory_path() / ("simlab_dreamer_every" + std::to_string(every)));
    fs::remove_all(c.out);
    c.scene = "cartpole-swingup";
    c.steps = 2 * 20 * 60;        // 60 iterations of 20 steps on 2 envs: one episode each
    c.dreamer.prefill = c.steps;  // acting and stepping only: no updates
    c.dreamer.replay = c.steps;
    c.checkpoint_every = every;
    simlab::test::train(c);
    runs.push_back(rows(c.out));
    fs::remove_all(c.out);
  }
  ASSERT_EQ(runs[0].size(), 60u);
  EXPECT_EQ(runs[0].back()["episodes"], 2);
  for (std::size_t r = 1; r < runs.size(); ++r) {
    ASSERT_EQ(runs[r].size(), runs[0].size());
    for (std::size_t i = 0; i < runs[0].size(); ++i)
      for (const char* key : {"env_steps", "episodes", "mean_return"})
        ASSERT_EQ(runs[0][i][key], runs[r][i][key]) << key << " at iteration " << i + 1;
  }
}

TEST(DreamerTraining, TheCheckpointPeriodDoesNotChangeLearning) {
  std::vector<std::vector<nlohmann::json>> runs;
  for (int every : {1, 4}) {
    auto c = tiny_run(fs::temp_directory_path() / ("simlab_dreamer_learn" + std::to_string(every)));
    fs::remove_all(c.out);
    c.checkpoint_every = every;
    simlab::test::train(c);
    runs.push_back(rows(c.out));
    fs::remove_all(c.out);
  }
  ASSERT_EQ(runs[0].size(), 6u);
  ASSERT_EQ(runs[1].size(), 6u);
  EXPECT_GT(runs[0].back()["updates"].get<int>(), 0);
  for (std::size_t i = 0; i < 6; ++i)
    for (const char* key : {"env_steps", "episodes", "mean_return", "updates", "model_loss",
                            "actor_loss", "critic_loss", "openloop_nmse"})
      EXPECT_EQ(runs[0][i][key], runs[1][i][key]) << key << " at iteration " << i + 1;
}

TEST(DreamerImages, RgbOnASceneWithoutACameraIsAnError) {
  auto c = tiny_run(fs::temp_directory_path() / "simlab_dreamer_nocamera");
  fs::remove_all(c.out);
  c.scene = "cartpole-swingup";
  c.dreamer.obs = "rgb";
  try {
    simlab::test::train(c);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("obs"), std::string::npos) << what;
    EXPECT_NE(what.find("'cartpole-swingup' has no [[camera]]"), std::string::npos) << what;
  }
  EXPECT_FALSE(fs::exists(c.out));  // no run folder left behind
  c.dreamer.obs = "depth";
  try {
    simlab::test::train(c);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected state, rgb or state,rgb"), std::string::npos)
        << e.what();
  }
}

#if SIMLAB_HAS_RENDER
TEST(DreamerImages, ImageReconstructionLossFallsOnRenderedFrames) {
  torch::manual_seed(0);
  const auto scene =
      scenes::compile_scene(scenes::load_scene(scenes::resolve_scene("cartpole-balance")), 0);
  const int envs = 2, steps = 40;
  FrameRenderer frames(scene, 0, "--obs");
  auto env = scenes::make_env(scene, envs, 1, 4);
  SequenceReplay replay(envs, envs * steps, 4, 1, kFrameSize);
  const engine::Batch* b = &env->reset();
  auto action = torch::zeros({envs, 1});
  for (int t = 0; t < steps; ++t) {
    const auto image = frames.render(*env);
    ASSERT_EQ(image.sizes(), (std::vector<std::int64_t>{envs, 3, kFrameSize, kFrameSize}));
    for (int i = 0; i < envs; ++i)
      replay.add(i, b->obs.data() + i * 4, t ? action[i].data_ptr<float>() : nullptr,
                 t ? b->reward(i, 0) : 0.0f, t == 0, false, image[i].data_ptr<std::uint8_t>());
    action = torch::rand({envs, 1}) * 2 - 1;
    b = &env->step(std::span<const float>(action.data_ptr<float>(), envs));
  }
  const auto batch = replay.sample(4, 8);
  EXPECT_EQ(batch.image.scalar_type(), torch::kUInt8);
  const auto on_device = batch.to(torch::kCPU).image;
  EXPECT_GE(on_device.min().item<float>(), -0.5f);
  EXPECT_LE(on_device.max().item<float>(), 0.5f);
  EXPECT_GT(on_device.std().item<float>(), 0.01f);  // the frames show something

  auto config = tiny_dreamer();
  for (const std::string obs : {"rgb", "state,rgb"}) {
    config.obs = obs;
    Dreamer dreamer(4, 1, config, torch::kCPU);
    DreamerStats first, last;
    const auto start = std::chrono::steady_clock::now();
    const int updates = 15;
    for (int u = 0; u < updates; ++u)
      (u == 0 ? first : last) = dreamer.train(replay.sample(4, 8));
    const double per_update =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / updates;
    std::printf("obs %s: image loss %.1f -> %.1f, %.1f updates/s at batch 4 x 8\n", obs.c_str(),
                first.image_loss, last.image_loss, 1 / per_update);
    EXPECT_LT(last.image_loss, 0.5 * first.image_loss) << obs;
    const auto o = dreamer.open_loop(replay.sample(2, 8), 5);
    EXPECT_EQ(o.predicted_image.sizes(), o.real_image.sizes());
    EXPECT_TRUE(std::isfinite(o.nmse.mean().item<double>()));
    // The acting side sees frames too.
    DreamerPolicy policy(4, 1, config, torch::full({1}, -1.0f), torch::full({1}, 1.0f));
    policy.load(dreamer.policy_weights());
    policy.start(0, envs);
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(1);
    const auto a =
        policy.act(torch::zeros({envs, 4}), frames.render(*env), torch::ones({envs}), generator);
    EXPECT_EQ(a.size(0), envs);
  }
}

TEST(DreamerImages, ATinyRgbRunWritesFramesOfTheWorldModel) {
  auto c = tiny_run(fs::temp_directory_path() / "simlab_dreamer_rgb");
  fs::remove_all(c.out);
  c.dreamer.obs = "rgb";
  c.dreamer.replay = 400;
  c.dreamer.train_ratio = 4;
  c.steps = 4 * 20 * 2;
  c.checkpoint_every = 4;
  simlab::test::train(c);
  const auto r = rows(c.out);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_GT(r.back()["updates"].get<int>(), 0);
  EXPECT_TRUE(fs::exists(c.out / "world_model.png"));
  nlohmann::json config;
  std::ifstream(c.out / "config.json") >> config;
  EXPECT_EQ(config["dreamer"]["obs"], "rgb");
  fs::remove_all(c.out);
}
#endif

}  // namespace
}  // namespace simlab::learners
