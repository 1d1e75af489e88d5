// Env snapshots (VectorEnv::snapshot / restore, what training checkpoints hold): a VectorEnv
// rebuilt from a snapshot steps on bit for bit as the original, on scenes with terrain variants,
// pushes, observation noise, action delay and randomization, on both physics engines; a snapshot
// that does not fit is refused, naming the field.
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "tests/support/scenes.h"

namespace simlab::scenes {
namespace {

// Random actions in [-1, 1] from a seeded generator: both envs get the same sequence.
std::vector<float> actions(std::mt19937& gen, int n, int dim) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> a(static_cast<std::size_t>(n) * dim);
  for (float& x : a)
    x = u(gen);
  return a;
}

bool same_rows(const engine::Buffer2D<float>& a, const engine::Buffer2D<float>& b, int rows) {
  return std::memcmp(a.data(), b.data(), sizeof(float) * rows * a.cols()) == 0;
}

void expect_restored_env_continues_exactly(const Scene& scene, int envs, int before, int after) {
  const std::uint64_t seed = 11;
  auto a = make_env(scene, envs, 2, seed, /*snapshots=*/true);
  const int dim = a->action_space().dim();
  std::mt19937 gen(3);
  a->reset();
  for (int t = 0; t < before; ++t) {
    const auto act = actions(gen, envs, dim);
    a->step(act);
  }
  const auto snapshot = a->snapshot();
  std::uint32_t episodes = 0;
  std::size_t running = 0;
  for (const auto& s : snapshot) {
    episodes += s.episode;
    running += s.actions.size() / dim;
  }
  EXPECT_GT(episodes, 0u) << "some env should have finished an episode before the snapshot";
  EXPECT_GT(running, 0u) << "some env should be inside an episode";

  auto b = make_env(scene, envs, 1, seed, /*snapshots=*/true);
  const engine::Batch& restored = b->restore(snapshot);
  ASSERT_TRUE(same_rows(restored.obs, a->batch().obs, envs)) << "observations after restore";
  for (int i = 0; i < envs; ++i) {
    EXPECT_EQ(b->action_delay(i), a->action_delay(i)) << "env " << i;
    EXPECT_EQ(b->env_stats(i).steps, a->env_stats(i).steps) << "env " << i;
  }
  int ended = 0;
  for (int t = 0; t < after; ++t) {
    const auto act = actions(gen, envs, dim);
    const engine::Batch& x = a->step(act);
    const engine::Batch& y = b->step(act);
    ASSERT_TRUE(same_rows(x.obs, y.obs, envs)) << "step " << t;
    ASSERT_TRUE(same_rows(x.reward, y.reward, envs)) << "step " << t;
    for (int i = 0; i < envs; ++i) {
      ASSERT_EQ(x.terminated(i, 0), y.terminated(i, 0)) << "step " << t << " env " << i;
      ASSERT_EQ(x.truncated(i, 0), y.truncated(i, 0)) << "step " << t << " env " << i;
      if (x.terminated(i, 0) || x.truncated(i, 0)) {  // final_obs is written when an episode ends
        ++ended;
        ASSERT_EQ(std::memcmp(x.final_obs.row(i).data(), y.final_obs.row(i).data(),
                              x.final_obs.row(i).size_bytes()),
                  0)
            << "step " << t << " env " << i;
      }
    }
  }
  EXPECT_GT(ended, 0) << "an episode should end after the restore too";
}

// The quadruped with short episodes, which end by the time limit before and after a snapshot
// whether or not the randomized robot falls under random actions (that depends on its motors'
// strength range).
SceneSpec short_quadruped(double episode_seconds) {
  auto spec = load_scene(resolve_scene("quadruped"));
  spec.episode_seconds = episode_seconds;
  return spec;
}

TEST(Snapshot, QuadrupedWithTerrainPushesNoiseAndDelayContinuesExactly) {
  expect_restored_env_continues_exactly(compile_scene(short_quadruped(3.0), 0, 4), 6, 220, 200);
}

TEST(Snapshot, CartpoleWithDelayAndRandomizedMassesContinuesExactly) {
  expect_restored_env_continues_exactly(builtin("cartpole-balance"), 5, 300, 300);
}

#if SIMLAB_HAS_PHYSICS_BULLET
TEST(Snapshot, BulletContinuesExactly) {
  expect_restored_env_continues_exactly(
      compile_scene(short_quadruped(2.0),
                    {.max_variants = 2, .backend = engine::physics::BackendKind::kBullet}),
      4, 150, 300);
}
#endif

TEST(Snapshot, ASnapshotThatDoesNotFitIsRefused) {
  const auto scene = builtin("cartpole-balance");
  auto env = make_env(scene, 3, 1, 5, /*snapshots=*/true);
  env->reset();
  auto snapshot = env->snapshot();
  snapshot.pop_back();
  try {
    env->restore(snapshot);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "snapshot: 2 envs, this VectorEnv has 3");
  }
  snapshot = env->snapshot();
  snapshot[1].actions.assign(3, 0.5f);  // cartpole has one action: 3 steps
  snapshot[1].actions.push_back(0.25f);
  snapshot[2].actions.assign(1, 0.0f);
  snapshot[2].actions.resize(5000, 0.0f);  // longer than an episode
  try {
    env->restore(snapshot);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("env 2: 5000 action values"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace simlab::scenes
