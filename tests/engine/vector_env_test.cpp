#include "engine/vector_env.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <oneapi/tbb/global_control.h>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "engine/core/error.h"
#include "tests/support/models.h"

namespace simlab::engine {
namespace {

using physics::load_model;
using physics::ModelSource;

std::shared_ptr<const physics::Model> pendulum() {
  return load_model(ModelSource::string(test::kPendulumXml, "pendulum.xml"));
}
std::shared_ptr<const physics::Model> humanoid() {
  return load_model(
      ModelSource::file(std::filesystem::path(SIMLAB_TEST_ASSET_DIR) / "models/humanoid.xml"));
}

// The pendulum's hinge angle (joint 1).
double hinge(const physics::World& w) {
  double q[1];
  w.read(physics::Quantity::kJointPos, 1, q);
  return q[0];
}

// Balance-the-pole task on the pendulum: reward cos(hinge), terminal once |hinge| > 1 rad.
Task balance_task() {
  return {.reward = [](const physics::World& w,
                       std::span<const float>) { return static_cast<float>(std::cos(hinge(w))); },
          .terminated = [](const physics::World& w) { return std::abs(hinge(w)) > 1.0; }};
}

// The humanoid's torso height (qpos[2] of its free root joint, joint 0).
float torso_height(const physics::World& w) {
  double q[7];
  w.read(physics::Quantity::kJointPos, 0, q);
  return static_cast<float>(q[2]);
}

// Deterministic actions: a function of (env, step) only, within [-1, 1].
float action_for(int env, int step, int dim) {
  Rng rng(1234, static_cast<std::uint32_t>(env), static_cast<std::uint32_t>(step));
  float a = 0;
  for (int i = 0; i <= dim; ++i)
    a = static_cast<float>(rng.uniform(-1.0, 1.0));
  return a;
}

std::vector<float> actions_at(int step, int envs, int act_dim) {
  std::vector<float> a(static_cast<std::size_t>(envs) * act_dim);
  for (int e = 0; e < envs; ++e)
    for (int d = 0; d < act_dim; ++d)
      a[e * act_dim + d] = action_for(e, step, d);
  return a;
}

// Envs that cannot fit the memory budget are refused before they are allocated, with the
// figures; SIMLAB_MEMORY_LIMIT sets a budget of one's own.
TEST(VectorEnv, EnvsThatCannotFitAreRefusedBeforeAllocating) {
  const char* old = std::getenv("SIMLAB_MEMORY_LIMIT");
  const std::string saved = old ? old : "";
  const auto model = humanoid();
  // What the process holds now, plus 1 MB: room for a few humanoids, not for 100,000.
  std::ifstream status("/proc/self/status");
  std::string line;
  long rss_kb = 0;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) rss_kb = std::stol(line.substr(6));
  setenv("SIMLAB_MEMORY_LIMIT", (std::to_string(rss_kb + 1024) + "K").c_str(), 1);
  try {
    VectorEnv env(model, VectorEnvConfig{.num_envs = 100000, .num_threads = 1});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.where().field, "envs");
    EXPECT_NE(what.find("100000 envs of"), std::string::npos) << what;
    EXPECT_NE(what.find("SIMLAB_MEMORY_LIMIT="), std::string::npos) << what;
    EXPECT_NE(what.find("at most"), std::string::npos) << what;
  }
  setenv("SIMLAB_MEMORY_LIMIT", "lots", 1);
  EXPECT_THROW(VectorEnv(model, VectorEnvConfig{.num_envs = 16, .num_threads = 1}), Error);
  setenv("SIMLAB_MEMORY_LIMIT", "64G", 1);
  EXPECT_NO_THROW(VectorEnv(model, VectorEnvConfig{.num_envs = 16, .num_threads = 1}));
  if (saved.empty())
    unsetenv("SIMLAB_MEMORY_LIMIT");
  else
    setenv("SIMLAB_MEMORY_LIMIT", saved.c_str(), 1);
}

TEST(VectorEnv, StepWritesOneRowPerEnv) {
  VectorEnv env(pendulum(), {.num_envs = 5, .seed = 1});
  EXPECT_EQ(env.num_envs(), 5);
  const auto& b = env.step(actions_at(0, 5, 1));
  EXPECT_EQ(b.rows(), 5);
  EXPECT_EQ(b.obs.cols(), 7);
  EXPECT_EQ(b.action.cols(), 1);
  for (int e = 0; e < 5; ++e) {
    EXPECT_EQ(b.env_id(e, 0), e);
    EXPECT_EQ(b.action(e, 0), action_for(e, 0, 0));
    EXPECT_EQ(b.episode_step(e, 0), 1);
  }
  // Different envs draw different reset noise.
  EXPECT_NE(b.obs(0, 0), b.obs(1, 0));
}

TEST(VectorEnv, TimeLimitTruncatesAndKeepsTheFinalObservation) {
  VectorEnvConfig config{.num_envs = 3, .seed = 7, .max_episode_steps = 5};
  VectorEnv limited(pendulum(), config);
  config.max_episode_steps = 0;  // reference: the same rollout without a time limit
  VectorEnv unlimited(pendulum(), config);
  for (int s = 0; s < 5; ++s) {
    const auto a = actions_at(s, 3, 1);
    const auto& b = limited.step(a);
    const auto& ref = unlimited.step(a);
    const bool last = s == 4;
    for (int e = 0; e < 3; ++e) {
      EXPECT_EQ(b.truncated(e, 0), last);
      EXPECT_EQ(b.terminated(e, 0), 0);
      if (last) {
        // final_obs is what the episode ended in; obs already starts the next episode.
        for (int k = 0; k < 7; ++k)
          EXPECT_EQ(b.final_obs(e, k), ref.obs(e, k));
        EXPECT_NE(b.obs(e, 0), ref.obs(e, 0));
        EXPECT_EQ(b.episode_step(e, 0), 0);
      }
    }
  }
  EXPECT_EQ(limited.stats().episodes, 3u);
}

// action_repeat: one step() holds the action for that many control steps and sums their rewards;
// the time limit still counts control steps and cuts a repeat short.
TEST(VectorEnv, ActionRepeatHoldsTheActionAndSumsRewards) {
  VectorEnvConfig config{.num_envs = 2, .seed = 3, .max_episode_steps = 4, .task = balance_task()};
  VectorEnv single(pendulum(), config);
  config.action_repeat = 3;
  VectorEnv repeated(pendulum(), config);
  std::vector<float> a = {0.4f, -0.7f};
  // Control steps 1-3: one repeated step against three single ones.
  float sum[2] = {0, 0};
  for (int s = 0; s < 3; ++s) {
    const auto& b = single.step(a);
    for (int e = 0; e < 2; ++e)
      sum[e] += b.reward(e, 0);
  }
  const auto& r = repeated.step(a);
  for (int e = 0; e < 2; ++e) {
    EXPECT_EQ(r.reward(e, 0), sum[e]) << "rewards summed in order";
    EXPECT_EQ(std::memcmp(r.obs.row(e).data(), single.batch().obs.row(e).data(),
                          r.obs.row(e).size_bytes()),
              0);
    EXPECT_EQ(r.episode_step(e, 0), 3);
    EXPECT_EQ(r.truncated(e, 0), 0);
  }
  // Control step 4 hits the time limit: the repeat stops there, with that step's reward only.
  const auto& last = single.step(a);
  const auto& cut = repeated.step(a);
  for (int e = 0; e < 2; ++e) {
    EXPECT_EQ(cut.truncated(e, 0), 1);
    EXPECT_EQ(cut.reward(e, 0), last.reward(e, 0));
    EXPECT_EQ(std::memcmp(cut.final_obs.row(e).data(), last.final_obs.row(e).data(),
                          cut.final_obs.row(e).size_bytes()),
              0);
    EXPECT_EQ(cut.episode_step(e, 0), 0) << "the next episode has started";
  }
  EXPECT_EQ(repeated.stats().steps, 2u * 4u);  // control steps
  config.action_repeat = 0;
  EXPECT_THROW(VectorEnv(pendulum(), config), Error);
}

TEST(VectorEnv, TaskTerminationIsNotTruncation) {
  // From the tilted keyframe with no push, the pole falls past 1 rad on its own.
  VectorEnv env(pendulum(),
                {.num_envs = 2, .seed = 3, .max_episode_steps = 1000, .task = balance_task()});
  const std::vector<float> zero(2, 0.0f);
  bool saw_end = false;
  for (int s = 0; s < 300 && !saw_end; ++s) {
    const auto& b = env.step(zero);
    EXPECT_NEAR(b.reward(0, 0), std::cos(b.terminated(0, 0) ? b.final_obs(0, 1) : b.obs(0, 1)),
                1e-6);
    if (b.terminated(0, 0)) {
      saw_end = true;
      EXPECT_EQ(b.truncated(0, 0), 0);
      EXPECT_GT(std::abs(b.final_obs(0, 1)), 1.0f);
      EXPECT_NEAR(b.obs(0, 1), 0.3f, 0.011f);  // back at the keyframe, plus noise
      EXPECT_LT(b.reward(0, 0), std::cos(1.0f));
    }
  }
  EXPECT_TRUE(saw_end);
}

TEST(VectorEnv, WrongActionShapeNamesTheField) {
  VectorEnv env(pendulum(), {.num_envs = 4});
  const std::vector<float> three(3, 0.0f);
  try {
    env.step(three);
    FAIL() << "no error for a wrong action shape";
  } catch (const Error& e) {
    EXPECT_EQ(e.where().field, "actions");
    EXPECT_NE(std::string(e.what()).find("expected [envs=4, action_dim=1] = 4 floats, got 3"),
              std::string::npos)
        << e.what();
  }
}

TEST(VectorEnv, NanActionResetsOnlyThatEnv) {
  std::ostringstream log;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  VectorEnvConfig config{.num_envs = 4, .seed = 11};
  VectorEnv env(pendulum(), config), reference(pendulum(), config);
  for (int s = 0; s < 10; ++s) {
    auto a = actions_at(s, 4, 1);
    const auto& ref = reference.step(a);
    std::vector<float> before(env.batch().obs.row(2).begin(), env.batch().obs.row(2).end());
    if (s == 6) a[2] = NAN;
    const auto& b = env.step(a);
    for (int e : {0, 1, 3})
      for (int k = 0; k < 7; ++k)
        ASSERT_EQ(b.obs(e, k), ref.obs(e, k)) << "env " << e << " step " << s;
    if (s == 6) {
      EXPECT_EQ(b.status(2, 0), static_cast<std::uint8_t>(StepStatus::kInvalidAction));
      EXPECT_EQ(b.truncated(2, 0), 1);
      EXPECT_EQ(b.reward(2, 0), 0.0f);
      for (int k = 0; k < 7; ++k) {
        EXPECT_EQ(b.final_obs(2, k), before[k]);  // the last good observation
        EXPECT_TRUE(std::isfinite(b.obs(2, k)));
      }
    }
  }
  spdlog::set_default_logger(previous);
  // One clear message naming the field, the env and the element.
  EXPECT_NE(log.str().find("actions[2][0] (ctrl/push) is nan: not applied, env 2 reset"),
            std::string::npos)
      << log.str();
  EXPECT_EQ(env.stats().invalid_actions, 1u);
  EXPECT_EQ(env.env_stats(2).invalid_actions, 1u);
  EXPECT_EQ(env.env_stats(1).invalid_actions, 0u);
}

TEST(VectorEnv, DivergedEnvIsResetAndCountedOthersUnaffected) {
  auto model = load_model(ModelSource::string(test::kExplodingXml, "exploding.xml"));
  VectorEnv env(model, {.num_envs = 3, .seed = 2, .frame_skip = 5});
  std::vector<float> a = {0.1f, 1e9f, -0.1f};
  const auto& b = env.step(a);
  EXPECT_EQ(b.status(1, 0), static_cast<std::uint8_t>(StepStatus::kDiverged));
  EXPECT_EQ(b.truncated(1, 0), 1);
  EXPECT_EQ(b.status(0, 0), 0);
  EXPECT_EQ(b.status(2, 0), 0);
  for (int e = 0; e < 3; ++e)
    for (int k = 0; k < b.obs.cols(); ++k)
      EXPECT_TRUE(std::isfinite(b.obs(e, k)));
  EXPECT_EQ(env.stats().diverged, 1u);
  // The reset env steps normally afterwards.
  a[1] = 0.0f;
  EXPECT_EQ(env.step(a).status(1, 0), 0);
}

// Run a humanoid rollout (contacts, resets every 15 steps) and record every field at every step.
std::vector<std::vector<float>> record(int threads, int envs, int steps) {
  tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 9);
  VectorEnv env(humanoid(),
                {.num_envs = envs,
                 .num_threads = threads,
                 .seed = 99,
                 .max_episode_steps = 15,
                 .task = {.reward = [](const physics::World& w, std::span<const float> act) {
                   float r = torso_height(w);
                   for (float x : act)
                     r -= 0.01f * x * x;
                   return r;
                 }}});
  EXPECT_EQ(env.num_threads(), threads);
  std::vector<std::vector<float>> out;
  const int act_dim = env.action_space().dim();
  for (int s = 0; s < steps; ++s) {
    const auto& b = env.step(actions_at(s, envs, act_dim));
    out.emplace_back(b.obs.flat().begin(), b.obs.flat().end());
    out.back().insert(out.back().end(), b.final_obs.flat().begin(), b.final_obs.flat().end());
    out.back().insert(out.back().end(), b.reward.flat().begin(), b.reward.flat().end());
  }
  return out;
}

bool bit_identical(const std::vector<std::vector<float>>& a,
                   const std::vector<std::vector<float>>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].size() != b[i].size() ||
        std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)) != 0)
      return false;
  return true;
}

TEST(VectorEnv, BitIdenticalForOneTwoAndEightThreadsAndAcrossRuns) {
  const auto one = record(1, 12, 40);
  EXPECT_TRUE(bit_identical(one, record(2, 12, 40)));
  EXPECT_TRUE(bit_identical(one, record(8, 12, 40)));
  EXPECT_TRUE(bit_identical(one, record(1, 12, 40)));
  // ...and the rollout is not trivially constant: the seed matters.
  tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 2);
  VectorEnv other(humanoid(), {.num_envs = 12, .num_threads = 1, .seed = 100});
  EXPECT_NE(std::vector<float>(other.batch().obs.flat().begin(), other.batch().obs.flat().end()),
            std::vector<float>(one[0].begin(), one[0].begin() + other.batch().obs.size()));
}

TEST(VectorEnv, AsyncRecvMatchesSyncPerEnv) {
  // 8 resets + 8 x 12 steps = 104 rows, a multiple of the batch size, so every recv() is full.
  constexpr int kEnvs = 8, kBatch = 4, kSteps = 12;
  VectorEnvConfig config{.num_envs = kEnvs,
                         .num_threads = 2,
                         .seed = 5,
                         .max_episode_steps = 7,
                         .batch_size = kBatch,
                         .task = balance_task()};
  auto row_of = [](const Batch& b, int r) {
    std::vector<float> row(b.obs.row(r).begin(), b.obs.row(r).end());
    row.push_back(b.reward(r, 0));
    row.push_back(b.truncated(r, 0));
    return row;
  };
  // Sync reference: per env, the observation after each of its steps.
  VectorEnv sync(pendulum(), config);
  std::map<int, std::vector<std::vector<float>>> expected, got;
  for (int s = 0; s < kSteps; ++s) {
    const auto& b = sync.step(actions_at(s, kEnvs, 1));
    for (int e = 0; e < kEnvs; ++e)
      expected[e].push_back(row_of(b, e));
  }
  // Async: whichever envs come back first get their next action, a function of (env, its step).
  VectorEnv async(pendulum(), config);
  async.async_reset();
  std::vector<int> steps_sent(kEnvs, 0);
  for (int received = 0; received < kEnvs * (kSteps + 1); received += kBatch) {
    const auto& b = async.recv();
    ASSERT_EQ(b.rows(), kBatch);
    std::vector<int> ids;
    std::vector<float> acts;
    for (int r = 0; r < kBatch; ++r) {
      const int e = b.env_id(r, 0);
      if (steps_sent[e] > 0) got[e].push_back(row_of(b, r));  // else: the first reset
      if (steps_sent[e] < kSteps) {
        ids.push_back(e);
        acts.push_back(action_for(e, steps_sent[e]++, 0));
      }
    }
    if (!ids.empty()) async.send(acts, ids);
  }
  for (int e = 0; e < kEnvs; ++e)
    EXPECT_EQ(got[e], expected[e]) << "env " << e;
  EXPECT_EQ(async.stats().steps, static_cast<std::uint64_t>(kEnvs * kSteps));
}

TEST(VectorEnv, AsyncMisuseIsAClearError) {
  VectorEnv env(pendulum(), {.num_envs = 4, .batch_size = 2});
  env.async_reset();
  const float a[] = {0.f};
  const int id[] = {1};
  EXPECT_THROW(env.send(a, id), Error);  // env 1 is waiting to be received
  env.recv();
  env.recv();
  EXPECT_THROW(env.recv(), Error);  // nothing in flight
  const int out_of_range[] = {9};
  EXPECT_THROW(env.send(a, out_of_range), Error);
}

TEST(VectorEnv, BadConfigIsRejected) {
  EXPECT_THROW(VectorEnv(pendulum(), {.num_envs = 0}), Error);
  EXPECT_THROW(VectorEnv(pendulum(), {.num_envs = 2, .frame_skip = 0}), Error);
  EXPECT_THROW(VectorEnv(pendulum(), {.num_envs = 2, .batch_size = 3}), Error);
  EXPECT_THROW(VectorEnv(pendulum(), {.num_envs = 2, .num_threads = -1}), Error);
}

TEST(VectorEnv, ReportsMemoryPerEnv) {
  VectorEnv env(humanoid(), {.num_envs = 2});
  EXPECT_GT(env.world_bytes_per_env(), 100000u);   // mjData with its stack
  EXPECT_LT(env.world_bytes_per_env(), 2000000u);  // sized by the model's <size>, not 4 MB
  EXPECT_EQ(env.batch_bytes_per_env(), env.batch().size_bytes() / 2);
}

}  // namespace
}  // namespace simlab::engine
