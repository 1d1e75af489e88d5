// A dataset episode is env k's first episode of a VectorEnv with the same seed: the same
// observations (noise, dropout and action delay included), rewards and endings, step for step.
#include "engine/episode_rollout.h"

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/scenes.h"

namespace simlab::engine {
namespace {

float action_for(std::int64_t env, int step, int j) {
  Rng rng(99, static_cast<std::uint32_t>(env), static_cast<std::uint32_t>(step), 5);
  float a = 0;
  for (int i = 0; i <= j; ++i)
    a = static_cast<float>(rng.uniform(-1.0, 1.0));
  return a;
}

bool same(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void expect_rollouts_match_vector_env(const std::string& scene_name, int max_variants, int steps) {
  SCOPED_TRACE(scene_name);
  const auto scene = scenes::builtin(scene_name, 7, max_variants);
  auto config = scene.config;
  config.seed = 7;
  config.num_envs = 5;
  config.num_threads = 2;
  config.max_episode_steps = steps;
  VectorEnv env(scene.variants, config);
  const int act = env.action_space().dim();

  std::vector<std::unique_ptr<EpisodeRollout>> rollouts;
  for (int k = 0; k < config.num_envs; ++k) {
    rollouts.push_back(std::make_unique<EpisodeRollout>(scene.variants, config, k));
    EXPECT_EQ(rollouts[k]->variant(), env.variant_of(k));
    EXPECT_TRUE(same(rollouts[k]->obs(), env.batch().obs.row(k))) << "first obs of env " << k;
    EXPECT_GT(rollouts[k]->state_dim(), 0);
  }
  std::vector<float> actions(static_cast<std::size_t>(config.num_envs) * act);
  int ended = 0;
  for (int t = 0; t < steps && ended < config.num_envs; ++t) {
    for (int k = 0; k < config.num_envs; ++k)
      for (int j = 0; j < act; ++j)
        actions[static_cast<std::size_t>(k) * act + j] = action_for(k, t, j);
    const Batch& b = env.step(actions);
    for (int k = 0; k < config.num_envs; ++k) {
      auto& r = *rollouts[k];
      if (r.done()) continue;
      const auto s = r.step(std::span<const float>(actions).subspan(k * act, act));
      ASSERT_EQ(s.reward, b.reward(k, 0)) << "env " << k << " step " << t;
      ASSERT_EQ(s.terminated, b.terminated(k, 0) != 0) << "env " << k << " step " << t;
      ASSERT_EQ(s.truncated, b.truncated(k, 0) != 0) << "env " << k << " step " << t;
      // After the episode ends VectorEnv has reset: its last observation is final_obs.
      ASSERT_TRUE(same(r.obs(), r.done() ? b.final_obs.row(k) : b.obs.row(k)))
          << "env " << k << " step " << t;
      ended += r.done();
    }
  }
  EXPECT_EQ(ended, config.num_envs) << "every episode should end within " << steps << " steps";
}

TEST(EpisodeRollout, IsEnvKsFirstEpisodeOfAVectorEnvCartpole) {
  // Per-reset pole mass, per-env motor gain, velocity noise, 0-1 step action delay.
  expect_rollouts_match_vector_env("cartpole-balance", 0, 60);
}

TEST(EpisodeRollout, IsEnvKsFirstEpisodeOfAVectorEnvQuadruped) {
  // Terrain variants, interval pushes, sensor noise, action delay.
  expect_rollouts_match_vector_env("quadruped", 3, 40);
}

TEST(EpisodeRollout, StateIsQposThenQvelAndDependsOnTheIndexOnly) {
  const auto scene = scenes::builtin("cartpole-balance", 3);
  auto config = scene.config;
  config.seed = 3;
  EpisodeRollout a(scene.variants, config, 11), b(scene.variants, config, 11),
      c(scene.variants, config, 12);
  ASSERT_EQ(a.state_dim(), 4);  // slider, hinge: 2 qpos + 2 qvel
  std::vector<double> sa(4), sb(4), sc(4);
  a.read_state(sa);
  b.read_state(sb);
  c.read_state(sc);
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
  double q[1];
  a.world().read(physics::Quantity::kJointPos, 1, q);
  EXPECT_EQ(sa[1], q[0]);
}

}  // namespace
}  // namespace simlab::engine
