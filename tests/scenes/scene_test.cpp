#include "scenes/scene.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numbers>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/scenes.h"

namespace simlab::scenes {
namespace {

constexpr const char* kHeader = "model = \"models/cartpole.xml\"\n";

TEST(Scenes, EveryBuiltInSceneCompilesAndSteps) {
  const auto files = builtin_scenes();
  ASSERT_GE(files.size(), 2u);
  for (const auto& file : files) {
    auto scene = compile_scene(load_scene(file));
    scene.config.num_envs = 3;
    engine::VectorEnv env(scene.model, scene.config);
    std::vector<float> actions(3 * env.action_space().dim(), 0.2f);
    for (int s = 0; s < 20; ++s) {
      const auto& b = env.step(actions);
      for (int e = 0; e < 3; ++e)
        ASSERT_TRUE(std::isfinite(b.reward(e, 0))) << file;
    }
    EXPECT_EQ(env.stats().diverged, 0u) << file;
  }
}

#ifdef SIMLAB_HAS_PHYSICS_BULLET
// Every built-in scene (procedural terrain, randomization, pushes and all) runs on Bullet too,
// without divergence, and bit-identically on one thread and on two.
TEST(Scenes, EveryBuiltInSceneRunsOnBulletDeterministically) {
  for (const auto& file : builtin_scenes()) {
    SCOPED_TRACE(file.string());
    const auto scene = compile_scene(
        load_scene(file),
        {.seed = 3, .max_variants = 4, .backend = engine::physics::BackendKind::kBullet});
    EXPECT_EQ(scene.model->backend(), engine::physics::BackendKind::kBullet);
    std::vector<std::vector<float>> runs;
    for (int threads : {1, 2}) {
      auto env = make_env(scene, 4, threads, /*seed=*/11);
      env->reset();
      const int act = env->action_space().dim();
      std::vector<float> actions(static_cast<std::size_t>(4 * act));
      std::vector<float> trace;
      for (int s = 0; s < 40; ++s) {
        for (std::size_t i = 0; i < actions.size(); ++i)
          actions[i] = static_cast<float>(0.8 * std::sin(0.3 * s + static_cast<double>(i)));
        const auto& b = env->step(actions);
        trace.insert(trace.end(), b.obs.data(), b.obs.data() + b.obs.size());
        trace.insert(trace.end(), b.reward.data(), b.reward.data() + b.reward.size());
      }
      EXPECT_EQ(env->stats().diverged, 0u);
      runs.push_back(std::move(trace));
    }
    EXPECT_TRUE(runs[0] == runs[1]) << "1 and 2 threads differ";
    for (float x : runs[0])
      ASSERT_TRUE(std::isfinite(x));
  }
}
#endif

TEST(Scenes, ControlRateAndEpisodeLengthBecomeFrameSkipAndSteps) {
  const auto scene = compile_scene(
      parse_scene(std::string(kHeader) + "control_hz = 50\nepisode_seconds = 4\n", "spec.toml"));
  EXPECT_EQ(scene.config.frame_skip, 2);  // the model steps at 100 Hz
  EXPECT_EQ(scene.config.max_episode_steps, 200);
}

// action_repeat is a hint for learners: it changes neither the env's rate nor its episodes.
TEST(Scenes, ActionRepeatIsALearnersHintThatLeavesTheTaskAlone) {
  const auto spec = parse_scene(std::string(kHeader) + "action_repeat = 4\n", "spec.toml");
  EXPECT_EQ(spec.action_repeat, 4);
  EXPECT_EQ(parse_scene(kHeader, "spec.toml").action_repeat, 0) << "unset: the learner's default";
  const auto scene = compile_scene(spec);
  EXPECT_EQ(scene.config.frame_skip, 2);  // the default 50 Hz on the 100 Hz model, as without it
  EXPECT_EQ(scene.config.action_repeat, 1);
  EXPECT_EQ(load_scene(resolve_scene("cartpole-swingup")).action_repeat, 4);
  EXPECT_EQ(error_of(std::string(kHeader) + "action_repeat = -1\n"),
            "spec.toml:2:17: action_repeat: must be >= 1 (or 0: the learner's default)");
  EXPECT_EQ(error_of(std::string(kHeader) + "action_repeat = 2.5\n"),
            "spec.toml:2:17: action_repeat: expected a whole number, got 2.5");
}

// The bad-input campaign's spec values: every non-finite number is refused where it is (all of
// them in one run), and finite values too large to mean anything are refused by their field.
TEST(Scenes, ImpossibleValuesAreRefusedWhereTheyAre) {
  const std::string e = error_of(std::string(kHeader) +
                                 "control_hz = inf\nepisode_seconds = nan\n[reset]\n"
                                 "qpos_noise = -inf\n");
  EXPECT_NE(e.find("spec.toml:2:14: control_hz: is inf: every spec value must be a finite number"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("spec.toml:3:19: episode_seconds: is nan"), std::string::npos) << e;
  EXPECT_NE(e.find("spec.toml:5:14: reset.qpos_noise: is -inf"), std::string::npos) << e;
  EXPECT_NE(e.find("3 errors"), std::string::npos) << e;  // each once, not again by its field
  EXPECT_EQ(error_of(std::string(kHeader) + "episode_seconds = 1e300\n"),
            "spec.toml:2:19: episode_seconds: must be > 0 and at most 1e9 control steps "
            "(episode_seconds x control_hz)");
  EXPECT_EQ(error_of(std::string(kHeader) + "action_repeat = 1e10\n"),
            "spec.toml:2:17: action_repeat: 1e+10 is out of range (at most 2147483647)");
  EXPECT_EQ(error_of("model = \"\"\n"),
            "spec.toml:1:9: model: is empty: name the robot's MJCF (.xml) or URDF (.urdf) file");
  EXPECT_NE(error_of("model = \"" + (std::filesystem::temp_directory_path()).string() + "\"\n")
                .find("is a folder, not a model file"),
            std::string::npos);
}

// memory_margin scales the arena of a model without <size> (cheetah.xml has none); the built-in
// cartpole sizes its own, which wins whatever the margin.
TEST(Scenes, MemoryMarginSizesTheArenaOfModelsWithoutSize) {
  const std::string cheetah = "model = \"models/cheetah.xml\"\n";
  const auto two = compile_scene(parse_scene(cheetah, "a.toml"));
  const auto four = compile_scene(parse_scene(cheetah + "memory_margin = 4\n", "b.toml"));
  const auto& a = two.model->info().arena;
  const auto& b = four.model->info().arena;
  EXPECT_TRUE(a.fitted());
  EXPECT_EQ(a.margin, 2.0);
  EXPECT_EQ(b.margin, 4.0);
  EXPECT_GT(b.nstack, a.nstack);
  const auto own =
      compile_scene(parse_scene(std::string(kHeader) + "memory_margin = 4\n", "c.toml"));
  EXPECT_FALSE(own.model->info().arena.fitted());
  EXPECT_EQ(own.model->info().arena.njmax, 16);
  EXPECT_EQ(error_of(std::string(kHeader) + "memory_margin = 0.5\n"),
            "spec.toml:2:17: memory_margin: must be >= 1 (the arena is this many times the probe's "
            "peak use) or 0 (MuJoCo's defaults)");
  const auto defaults = compile_scene(parse_scene(cheetah + "memory_margin = 0\n", "d.toml"));
  EXPECT_FALSE(defaults.model->info().arena.fitted());
  EXPECT_EQ(defaults.model->info().arena.njmax, 500);
}

// One run lists every error it can find, each located, in the order of the file: the spec's own
// (unknown keys, types, values, unknown words) and then what the model lacks.
TEST(Scenes, EveryErrorOfASpecIsReportedInOneRun) {
  const std::string bad = std::string(kHeader) +
                          "bogus = 1\n"                                      // line 2
                          "episode_seconds = \"ten\"\n"                      // 3
                          "[[reward]]\nterm = \"uprigt\"\n"                  // 5
                          "[[reward]]\nterm = \"alive\"\nweight = \"x\"\n";  // 8
  EXPECT_EQ(error_of(bad),
            "spec.toml:2:1: bogus: unknown key (known keys: name, description, model, control_hz, "
            "episode_seconds, action_repeat, memory_margin, reset, observation, reward, "
            "termination, randomize, procedural, corruption, camera, actuator, train)\n"
            "spec.toml:3:19: episode_seconds: expected a number, got string\n"
            "spec.toml:5:8: reward[0].term: unknown reward term 'uprigt'; did you mean 'upright'?\n"
            "spec.toml:8:10: reward[1].weight: expected a number, got string\n"
            "4 errors");
  const std::string names =
      std::string(kHeader) +
      "[[reward]]\nterm = \"upright\"\njoint = \"hinj\"\n"  // line 4
      "[[termination]]\nterm = \"body_below\"\nbody = \"cartt\"\nmin = 0\n"
      "[[randomize]]\nparam = \"body_mass\"\ntargets = [\"pol\"]\nrange = [0.9, 1.1]\n";
  const std::string e = error_of(names);
  EXPECT_NE(e.find("spec.toml:4:9: reward[0].joint: the model has no hinge or slide joint 'hinj'"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("\nspec.toml:7:8: termination[0].body: the model has no body 'cartt'"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("\nspec.toml:11:11: randomize[0].targets: the model has no element 'pol'"),
            std::string::npos)
      << e;
  EXPECT_TRUE(e.ends_with("\n3 errors")) << e;
  // A single error reads as before, and a flood stops at the limit.
  EXPECT_EQ(error_of(std::string(kHeader) + "bogus = 1\n").find('\n'), std::string::npos);
  std::string flood = kHeader;
  for (int i = 0; i < 30; ++i)
    flood += "bogus" + std::to_string(i) + " = 1\n";
  EXPECT_TRUE(error_of(flood).ends_with("20 errors (checking stopped at 20)")) << error_of(flood);
}

// A cartpole world with the cart at `slider` and the pole at `hinge` (0: upright).
std::unique_ptr<engine::physics::World> cartpole_at(const Scene& scene, double slider,
                                                    double hinge) {
  auto world = scene.model->make_world();
  const double q[] = {slider, hinge};
  world->write(engine::physics::Quantity::kJointPos, 0, std::span(q, 1));
  world->write(engine::physics::Quantity::kJointPos, 1, std::span(q + 1, 1));
  world->forward();
  return world;
}

TEST(Scenes, CartpoleUprightRewardIsHighestUprightAndLowerWhenFallen) {
  const auto scene = builtin("cartpole-balance");
  const auto& reward = scene.config.task.reward;
  ASSERT_TRUE(reward);
  const float still[] = {0.0f};
  auto at_angle = [&](double hinge) { return reward(*cartpole_at(scene, 0, hinge), still); };
  EXPECT_NEAR(at_angle(0.0), 1.0f, 1e-6);
  EXPECT_GT(at_angle(0.0), at_angle(0.5));
  EXPECT_GT(at_angle(0.5), at_angle(1.5));
  EXPECT_GT(at_angle(1.5), at_angle(std::numbers::pi));
  // Off-centre cart and effort cost something.
  const float push[] = {1.0f};
  EXPECT_LT(reward(*cartpole_at(scene, 1.0, 0), push), at_angle(0.0));
}

TEST(Scenes, BalanceTerminatesWhenThePoleFallsAndSwingupStartsHanging) {
  auto balance = builtin("cartpole-balance");
  ASSERT_TRUE(balance.config.task.terminated);
  EXPECT_FALSE(balance.config.task.terminated(*cartpole_at(balance, 0, 0)));
  EXPECT_TRUE(balance.config.task.terminated(*cartpole_at(balance, 0, 0.9)));

  auto swingup = builtin("cartpole-swingup");
  EXPECT_FALSE(swingup.config.task.terminated);
  swingup.config.num_envs = 2;
  engine::VectorEnv env(swingup.model, swingup.config);
  EXPECT_NEAR(env.batch().obs(0, 1), std::numbers::pi, 0.051);  // keyframe "down" plus noise
}

TEST(Scenes, RolloutsAreTheSameForOneAndTwoThreads) {
  auto run = [](int threads) {
    auto scene = builtin("cartpole-swingup");
    scene.config.num_envs = 6;
    scene.config.num_threads = threads;
    scene.config.seed = 3;
    engine::VectorEnv env(scene.model, scene.config);
    std::vector<float> rewards;
    std::vector<float> actions(6);
    for (int s = 0; s < 30; ++s) {
      for (int e = 0; e < 6; ++e)
        actions[e] = std::sin(0.3f * s + e);
      const auto& b = env.step(actions);
      rewards.insert(rewards.end(), b.reward.flat().begin(), b.reward.flat().end());
    }
    return rewards;
  };
  EXPECT_EQ(run(1), run(2));
}

TEST(SceneErrors, UnknownKeyNamesLocationAndSuggests) {
  EXPECT_EQ(error_of(std::string(kHeader) + "[reset]\nkeyframe = \"upright\"\nqpos_nosie = 0.1\n"),
            "spec.toml:4:1: reset.qpos_nosie: unknown key; did you mean 'qpos_noise'?");
  EXPECT_EQ(error_of(std::string(kHeader) + "episode_secs = 3\n"),
            "spec.toml:2:1: episode_secs: unknown key; did you mean 'episode_seconds'?");
}

TEST(SceneErrors, MissingJointIsNamedWithASuggestion) {
  EXPECT_EQ(error_of(std::string(kHeader) + "[[reward]]\nterm = \"upright\"\njoint = \"hinj\"\n"),
            "spec.toml:4:9: reward[0].joint: the model has no hinge or slide joint 'hinj'; did "
            "you mean 'hinge'?");
}

TEST(SceneErrors, ImpossibleValuesAreRejected) {
  EXPECT_EQ(error_of(std::string(kHeader) +
                     "[[termination]]\nterm = \"joint_out_of_range\"\njoint = \"hinge\"\nmin = 1\n"
                     "max = -1\n"),
            "spec.toml:5:7: termination[0].min: min (1) > max (-1)");
  EXPECT_EQ(error_of(std::string(kHeader) + "control_hz = 33\n"),
            "spec.toml:2:14: control_hz: 33 Hz is not the physics rate divided by a whole number "
            "(the model steps at 100 Hz; try 50)");
  EXPECT_EQ(error_of(std::string(kHeader) + "[reset]\nqpos_noise = -1\n"),
            "spec.toml:3:14: reset.qpos_noise: must be >= 0");
  EXPECT_EQ(error_of(std::string(kHeader) + "[reset]\nkeyframe = \"sideways\"\n"),
            "spec.toml:3:12: reset.keyframe: the model has no keyframe 'sideways' (it has: "
            "upright, down)");
  EXPECT_EQ(error_of(std::string(kHeader) + "[[reward]]\nterm = \"uprigt\"\njoint = \"hinge\"\n"),
            "spec.toml:3:8: reward[0].term: unknown reward term 'uprigt'; did you mean 'upright'?");
}

TEST(SceneErrors, WrongTypesMissingKeysAndSyntax) {
  EXPECT_EQ(error_of(std::string(kHeader) + "control_hz = \"fast\"\n"),
            "spec.toml:2:14: control_hz: expected a number, got string");
  EXPECT_EQ(error_of("name = \"x\"\n"), "spec.toml:1:1: model: missing required key");
  EXPECT_EQ(error_of("model = \"models/nope.xml\"\n")
                .rfind("spec.toml:1:9: model: model "
                       "'models/nope.xml' not found",
                       0),
            0u);
  const std::string syntax = error_of("model = [1,\n");
  EXPECT_EQ(syntax.rfind("spec.toml:1:", 0), 0u) << syntax;
}

TEST(SceneErrors, UnknownSceneNameSuggestsTheClosest) {
  try {
    resolve_scene("cartpole-balanse");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "cartpole-balanse: no such scene file or built-in scene; did you mean "
                 "'cartpole-balance'?");
  }
}

TEST(DidYouMean, SuggestsOnlyCloseWords) {
  EXPECT_EQ(did_you_mean("qpos_nosie", {"qpos_noise", "qvel_noise"}), "qpos_noise");
  EXPECT_EQ(did_you_mean("zzz", {"qpos_noise", "keyframe"}), "");
}

}  // namespace
}  // namespace simlab::scenes

namespace simlab::scenes {
namespace {

// SIMLAB_SCENE_PATH adds folders of user scenes in front of the built-ins: names resolve there
// first, the listing says where each scene comes from, and a user scene may shadow a built-in.
TEST(ScenePath, UserFoldersComeBeforeTheBuiltIns) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "simlab_scene_path";
  fs::remove_all(dir);
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  const auto builtin = resolve_scene("cartpole-balance");
  fs::copy_file(builtin, dir / "a" / "my-cart.toml");
  fs::copy_file(builtin, dir / "b" / "cartpole-balance.toml");
  const std::string path = (dir / "a").string() + ":" + (dir / "b").string();
  setenv("SIMLAB_SCENE_PATH", path.c_str(), 1);
  EXPECT_EQ(resolve_scene("my-cart"), dir / "a" / "my-cart.toml");
  EXPECT_EQ(resolve_scene("cartpole-balance"), dir / "b" / "cartpole-balance.toml");
  EXPECT_EQ(scene_path().size(), 3u);
  const auto entries = list_scenes();
  int shadowed = 0, user = 0;
  for (const auto& e : entries) {
    shadowed += e.shadowed;
    user += !e.builtin;
    if (e.shadowed) {
      EXPECT_EQ(e.name, "cartpole-balance");
      EXPECT_TRUE(e.builtin);
    }
  }
  EXPECT_EQ(shadowed, 1);
  EXPECT_EQ(user, 2);
  EXPECT_EQ(entries.size(), builtin_scenes().size() + 2);
  // A user scene compiles like a built-in (its model found the same way).
  EXPECT_EQ(compile_scene(load_scene(resolve_scene("my-cart"))).spec.name, "cartpole-balance");
  unsetenv("SIMLAB_SCENE_PATH");
  EXPECT_EQ(resolve_scene("cartpole-balance"), builtin);
  try {
    resolve_scene("my-cart");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("SIMLAB_SCENE_PATH"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace simlab::scenes
