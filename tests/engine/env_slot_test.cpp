// EnvSlot is the one env step: a VectorEnv's rows, an episode rollout and a restored snapshot are
// all a slot's steps, bit for bit.
#include "engine/env_slot.h"

#include <cstring>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "engine/episode_rollout.h"
#include "tests/support/scenes.h"

namespace simlab::engine {
namespace {

bool same(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::vector<float> action_for(int act_dim, int env, int step) {
  Rng rng(5, static_cast<std::uint32_t>(env), static_cast<std::uint32_t>(step), 9);
  std::vector<float> a(static_cast<std::size_t>(act_dim));
  for (auto& x : a)
    x = static_cast<float>(rng.uniform(-1.0, 1.0));
  return a;
}

// cartpole-balance: per-reset pole mass, motor gain, velocity noise, a 0-1 step action delay.
struct SlotTest : ::testing::Test {
  scenes::Scene scene = scenes::builtin("cartpole-balance", 3);
  VectorEnvConfig config = [this] {
    auto c = scene.config;
    c.seed = 3;
    c.snapshots = true;
    return c;
  }();
  int obs_dim = scene.variants[0].task.observation.dim();
  int act_dim = scene.variants[0].model->info().action.dim();
};

TEST_F(SlotTest, ActionRepeatSumsTheControlStepsAndStopsAtTheEnd) {
  config.action_repeat = 3;
  config.max_episode_steps = 10;
  EnvSlot repeated(scene.variants[0], config, 2);
  auto single_config = config;
  single_config.action_repeat = 1;
  EnvSlot single(scene.variants[0], single_config, 2);
  std::vector<float> obs_r(obs_dim), obs_s(obs_dim);
  repeated.begin(0, obs_r);
  single.begin(0, obs_s);
  ASSERT_TRUE(same(obs_r, obs_s));
  int control_steps = 0, hook_calls = 0;
  const EnvSlot::ControlStepHook count = [&](const physics::World&, const SlotStep&) {
    ++hook_calls;
  };
  for (int decision = 0; decision < 4; ++decision) {
    const auto a = action_for(act_dim, 2, decision);
    const SlotStep r = repeated.step(a, obs_r, &count);
    float sum = 0;
    SlotStep s;
    for (int k = 0; k < 3; ++k) {
      s = single.control_step(a, obs_s);
      sum += s.reward;
      ++control_steps;
      if (s.done()) break;
    }
    EXPECT_EQ(r.reward, sum) << "decision " << decision;
    EXPECT_EQ(r.truncated, s.truncated);
    EXPECT_TRUE(same(obs_r, obs_s)) << "decision " << decision;
    if (r.done()) break;
  }
  EXPECT_EQ(control_steps, 10) << "the time limit cuts the last repeat short";
  EXPECT_EQ(hook_calls, 10);
  EXPECT_EQ(repeated.episode_step(), 10);
  EXPECT_EQ(repeated.stats().steps, 10u);
  EXPECT_EQ(repeated.stats().episodes, 1u);
}

TEST_F(SlotTest, ARestoredSlotContinuesExactly) {
  EnvSlot a(scene.variants[0], config, 4);
  std::vector<float> obs_a(obs_dim), obs_b(obs_dim);
  a.begin(7, obs_a);
  for (int t = 0; t < 25; ++t)
    ASSERT_FALSE(a.control_step(action_for(act_dim, 4, t), obs_a).done());
  const EnvSnapshot snap = a.snapshot();
  EXPECT_EQ(snap.episode, 7u);
  EXPECT_EQ(snap.actions.size(), static_cast<std::size_t>(25 * act_dim));
  EnvSlot b(scene.variants[0], config, 4);
  ASSERT_TRUE(b.restore(snap, obs_b));
  EXPECT_TRUE(same(obs_a, obs_b));
  EXPECT_EQ(b.episode_step(), 25);
  EXPECT_EQ(b.stats().steps, a.stats().steps);
  for (int t = 25; t < 60; ++t) {
    const auto act = action_for(act_dim, 4, t);
    const SlotStep sa = a.control_step(act, obs_a), sb = b.control_step(act, obs_b);
    ASSERT_EQ(sa.reward, sb.reward) << "step " << t;
    ASSERT_TRUE(same(obs_a, obs_b)) << "step " << t;
    if (sa.done()) break;
  }
  // A snapshot of another env's episode does not replay on this one without ending it early or
  // diverging from it: the slot's streams are its own.
  EnvSlot c(scene.variants[0], config, 5);
  std::vector<float> obs_c(obs_dim);
  c.restore(snap, obs_c);
  EXPECT_FALSE(same(obs_a, obs_c));
}

TEST_F(SlotTest, AnInvalidActionEndsOnlyTheEpisodeAndIsCounted) {
  EnvSlot slot(scene.variants[0], config, 0);
  std::vector<float> obs(obs_dim);
  slot.begin(0, obs);
  const std::vector<float> before = obs;
  std::vector<float> bad(act_dim, 0.0f);
  bad[0] = std::numeric_limits<float>::quiet_NaN();
  const SlotStep s = slot.control_step(bad, obs);
  EXPECT_EQ(s.status, StepStatus::kInvalidAction);
  EXPECT_TRUE(s.truncated);
  EXPECT_EQ(slot.bad_action_element(), 0);
  EXPECT_EQ(slot.stats().invalid_actions, 1u);
  EXPECT_TRUE(same(obs, before)) << "the observation keeps the last good one";
}

TEST(RngStreams, AreDeclaredOnceAndDistinct) {
  const std::uint32_t streams[] = {
      rng_stream::kReset, rng_stream::kRandomize, rng_stream::kStartup, rng_stream::kInitial,
      rng_stream::kNoise, rng_stream::kInterval,  rng_stream::kCamera,  rng_stream::kPolicy};
  for (std::size_t i = 0; i < std::size(streams); ++i)
    for (std::size_t j = i + 1; j < std::size(streams); ++j)
      EXPECT_NE(streams[i], streams[j]);
  // Interval streams (16 + step) stay below the cameras' for any episode length simlab runs.
  EXPECT_LT(rng_stream::kInterval + 100'000'000u, rng_stream::kCamera);
}

}  // namespace
}  // namespace simlab::engine
