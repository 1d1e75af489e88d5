// The application layer: one typed run description yields the scene, the envs and episode k as
// the libraries define them; errors name fields, not flags; policy sources and dataset jobs.
#include <cmath>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "engine/episode_rollout.h"
#include "tests/support/errors.h"
#include "tools/app/gen_job.h"
#include "tools/app/policy.h"
#include "tools/app/run.h"

namespace simlab::app {
namespace {

using test::error_of;

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(RunSpec, BadFieldsAreNamedAsFieldsNotFlags) {
  RunSpec run{.scene = "cartpole-balance", .envs = 0};
  const auto envs = error_of([&] { build_scene(run); });
  EXPECT_TRUE(contains(envs, "envs: must be >= 1")) << envs;
  EXPECT_FALSE(contains(envs, "--")) << envs;
  run = RunSpec{.scene = ""};
  EXPECT_TRUE(contains(error_of([&] { load_spec(run); }), "scene: required"));
  run = RunSpec{.scene = "cartpole-balanse"};
  EXPECT_TRUE(contains(error_of([&] { load_spec(run); }), "cartpole-balance"))
      << "an unknown scene suggests the close one";
  // Held-out ranges on a scene that declares none: the field, and the spec file.
  run = RunSpec{.scene = "cartpole-swingup", .randomization = scenes::Randomization::kHeldout};
  const auto heldout = error_of([&] { load_spec(run); });
  EXPECT_TRUE(contains(heldout, "randomization: heldout")) << heldout;
  EXPECT_TRUE(contains(heldout, "cartpole-swingup.toml")) << heldout;
}

TEST(RunSpec, YieldsTheScenesEnvsAndEpisodes) {
  const RunSpec run{.scene = "cartpole-balance", .seed = 9, .envs = 3, .threads = 1};
  const auto scene = build_scene(run);
  EXPECT_EQ(scene.backend, engine::physics::BackendKind::kMuJoCo);
  auto envs = make_envs(run, scene);
  ASSERT_EQ(envs->num_envs(), 3);
  const auto config = episode_config(run, scene);
  for (int k = 0; k < 3; ++k) {
    // Episode k is the first episode of env k.
    engine::EpisodeRollout episode(scene.variants, config, k);
    const auto row = envs->batch().obs.row(k);
    ASSERT_EQ(episode.obs().size(), row.size());
    EXPECT_EQ(std::memcmp(episode.obs().data(), row.data(), row.size() * sizeof(float)), 0)
        << "episode " << k;
  }
  // The randomization is applied: none drops the parameter randomization the spec declares.
  RunSpec none = run;
  none.randomization = scenes::Randomization::kNone;
  EXPECT_LT(load_spec(none).randomize.size(), load_spec(run).randomize.size());
}

#ifdef SIMLAB_HAS_PHYSICS_BULLET
TEST(RunSpec, TheBackendIsTheRunsChoiceNotTheSpecs) {
  const RunSpec run{.scene = "cartpole-balance", .backend = engine::physics::BackendKind::kBullet};
  const auto scene = build_scene(run);
  EXPECT_EQ(scene.backend, engine::physics::BackendKind::kBullet);
  EXPECT_EQ(scene.model->backend(), engine::physics::BackendKind::kBullet);
}
#endif

TEST(PolicySource, RandomDrawsWithinTheBoundsAndZeroIsZero) {
  const auto scene = build_scene(RunSpec{.scene = "reacher"});
  const auto& action = scene.variants[0].model->info().action;
  const auto& obs = scene.variants[0].task.observation;
  auto random = PolicySource::parse("random");
  random.bind(obs, action);
  EXPECT_EQ(random.kind(), PolicySource::Kind::kRandom);
  EXPECT_EQ(random.safe_action(), std::vector<float>(static_cast<std::size_t>(action.dim()), 0));
  std::vector<float> o(static_cast<std::size_t>(obs.dim()));
  std::vector<float> prev(static_cast<std::size_t>(2 * action.dim())), a(prev.size());
  engine::Rng rng(1, 2, 3, 4), copy(1, 2, 3, 4);
  random.act(o, prev, a, rng, action);
  std::vector<float> expected(a.size());
  PolicySource::uniform(action, copy, expected);
  EXPECT_EQ(a, expected);
  bool moved = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const int j = static_cast<int>(i) % action.dim();
    EXPECT_GE(a[i], action.low()[j]);
    EXPECT_LE(a[i], action.high()[j]);
    moved = moved || a[i] != 0;
  }
  EXPECT_TRUE(moved);
  auto zero = PolicySource::parse("zero");
  zero.bind(obs, action);
  zero.act(o, prev, a, rng, action);
  EXPECT_EQ(a, std::vector<float>(a.size(), 0.0f));
  const auto missing = error_of([] { PolicySource::parse("no/such/policy.pt"); });
  EXPECT_TRUE(contains(missing, "policy: 'no/such/policy.pt': no such policy file")) << missing;
}

TEST(GenJob, OptionsAreCheckedByFieldAndProgressReachesTheEnd) {
  GenOptions o;
  o.run.scene = "cartpole-balance";
  o.run.envs = 2;
  o.run.threads = 1;
  o.episodes = 3;
  o.max_steps = 7;
  o.obs = "state,depht";
  const auto obs = error_of([&] { prepare_gen(o); });
  EXPECT_TRUE(contains(obs, "obs: unknown observation 'depht'; did you mean 'depth'?")) << obs;
  o.obs = "state";
  o.max_steps = -1;
  EXPECT_TRUE(contains(error_of([&] { prepare_gen(o); }), "max_steps: must be >= 0"));
  o.max_steps = 7;
  const GenSpec spec = prepare_gen(o);
  std::vector<std::int64_t> todo = {0, 1, 2};
  std::vector<std::unique_ptr<engine::io::Episode>> got;
  std::int64_t last = -1, finals = 0, total = 0;
  const GenStats stats = simulate(
      spec, todo, [&](std::unique_ptr<engine::io::Episode> e) { got.push_back(std::move(e)); },
      nullptr,
      [&](std::int64_t done, std::int64_t all, const char* unit, bool final) {
        EXPECT_GE(done, last) << "progress only grows";
        EXPECT_STREQ(unit, "env-steps");
        last = done;
        total = all;
        finals += final;
      });
  EXPECT_EQ(stats.episodes, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(total, 3 * 7);
  EXPECT_EQ(finals, 1);
  EXPECT_EQ(last, stats.env_steps);
}

}  // namespace
}  // namespace simlab::app
