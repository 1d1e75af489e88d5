// Memory sized to the model: a model without <size> gets an arena fitted to what a probe rollout
// uses, its own <size> always wins, fitting never changes a rollout, and a buffer that still fills
// up is an overflow the env is reset for, counted and named, never a silent warning.
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/physics/backend.h"
#include "engine/vector_env.h"

namespace simlab::engine::physics {
namespace {

// Three capsules on hinges above a floor, no <size>: contacts, limits, a keyframe-free reset.
std::string chain_xml(const std::string& size = "") {
  return R"(<mujoco model="chain">
  <option timestep="0.005"/>)" +
         size + R"(
  <worldbody>
    <geom name="floor" type="plane" size="5 5 0.1"/>
    <body name="a" pos="0 0 0.3">
      <joint name="x" type="slide" axis="1 0 0" limited="false"/>
      <joint name="z" type="slide" axis="0 0 1" limited="false"/>
      <joint name="r" type="hinge" axis="0 1 0" limited="false"/>
      <geom type="capsule" fromto="-0.2 0 0 0.2 0 0" size="0.05" contype="1" conaffinity="0"/>
      <body name="b" pos="0.2 0 0">
        <joint name="j1" type="hinge" axis="0 1 0" range="-1 1" limited="true"/>
        <geom type="capsule" fromto="0 0 0 0.2 0 -0.2" size="0.04" contype="1" conaffinity="0"/>
        <body name="c" pos="0.2 0 -0.2">
          <joint name="j2" type="hinge" axis="0 1 0" range="-1 1" limited="true"/>
          <geom type="capsule" fromto="0 0 0 0.2 0 0" size="0.04" contype="1" conaffinity="0"/>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor joint="j1" gear="20" ctrllimited="true" ctrlrange="-1 1"/>
    <motor joint="j2" gear="20" ctrllimited="true" ctrlrange="-1 1"/>
  </actuator>
</mujoco>)";
}

std::shared_ptr<const Model> load(const std::string& xml, ArenaOptions arena = {}) {
  return load_model(ModelSource::string(xml, "chain.xml"), BackendKind::kMuJoCo, arena);
}

TEST(Arena, AModelWithoutSizeIsFittedToItsProbeAndFarSmallerThanMuJoCosDefault) {
  const auto fitted = load(chain_xml());
  const auto unfitted = load(chain_xml(), {.fit = false});
  const ArenaInfo& a = fitted->info().arena;
  EXPECT_TRUE(a.fitted_con && a.fitted_efc && a.fitted_stack);
  EXPECT_GT(a.probe_steps, 0);
  // The probe saw the chain on the floor, and the capacities hold the margin over the peaks.
  EXPECT_GT(a.peak_con, 0);
  EXPECT_GT(a.peak_efc, 0);
  EXPECT_GE(a.nconmax, 2 * a.peak_con);
  EXPECT_GE(a.njmax, 2 * a.peak_efc);
  EXPECT_GE(a.nstack, 2 * a.peak_stack);
  // Structural floors: three moving colliding geoms; each contact's 4 rows plus 2 limits.
  EXPECT_GE(a.nconmax, 3);
  EXPECT_GE(a.njmax, a.nconmax * 4 + 2);
  const ArenaInfo& d = unfitted->info().arena;
  EXPECT_FALSE(d.fitted());
  EXPECT_EQ(d.nconmax, 100);  // MuJoCo 2.2's defaults
  EXPECT_EQ(d.njmax, 500);
  const auto small = fitted->make_world()->bytes(), big = unfitted->make_world()->bytes();
  EXPECT_LT(small * 20, big) << small << " B against " << big << " B";
}

TEST(Arena, TheModelsOwnSizeWinsFieldByField) {
  const auto all = load(chain_xml(R"(<size nconmax="7" njmax="33" nstack="7777"/>)"));
  EXPECT_FALSE(all->info().arena.fitted());
  EXPECT_EQ(all->info().arena.nconmax, 7);
  EXPECT_EQ(all->info().arena.njmax, 33);
  EXPECT_EQ(all->info().arena.nstack, 7777);
  const auto some = load(chain_xml(R"(<size njmax="33"/>)"));
  const ArenaInfo& a = some->info().arena;
  EXPECT_EQ(a.njmax, 33);
  EXPECT_FALSE(a.fitted_efc);
  EXPECT_TRUE(a.fitted_con);
  EXPECT_TRUE(a.fitted_stack);
}

TEST(Arena, ALargerMarginGivesMoreRoomAndTheFitIsAFunctionOfTheModel) {
  const auto two = load(chain_xml()), ten = load(chain_xml(), {.margin = 10.0});
  EXPECT_GT(ten->info().arena.nstack, two->info().arena.nstack);
  EXPECT_GT(ten->info().arena.njmax, two->info().arena.njmax);
  const auto again = load(chain_xml());
  EXPECT_EQ(again->info().arena.nstack, two->info().arena.nstack);
  EXPECT_EQ(again->info().arena.njmax, two->info().arena.njmax);
  EXPECT_EQ(again->info().arena.nconmax, two->info().arena.nconmax);
}

std::vector<float> rollout(std::shared_ptr<const Model> model, int steps) {
  VectorEnvConfig config{.num_envs = 4, .num_threads = 1, .seed = 11, .frame_skip = 4};
  VectorEnv env(std::move(model), config);
  env.reset();
  std::vector<float> out, actions(4 * 2);
  Rng rng(1, 0, 0, 0);
  for (int s = 0; s < steps; ++s) {
    for (auto& a : actions)
      a = static_cast<float>(rng.uniform(-1.0, 1.0));
    const auto& b = env.step(actions);
    out.insert(out.end(), b.obs.data(), b.obs.data() + b.obs.size());
  }
  EXPECT_EQ(env.stats().overflows, 0u);
  return out;
}

TEST(Arena, FittingNeverChangesARollout) {
  const auto a = rollout(load(chain_xml()), 200),
             b = rollout(load(chain_xml(), {.fit = false}), 200);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

TEST(Arena, AFullContactBufferIsAnOverflowThatNamesTheBufferAndHowToRaiseIt) {
  // Room for one contact while the chain lies on the floor with two or three.
  const auto model = load(chain_xml(R"(<size nconmax="1" njmax="60" nstack="20000"/>)"));
  VectorEnvConfig config{.num_envs = 2, .num_threads = 1, .seed = 0, .frame_skip = 10};
  VectorEnv env(model, config);
  env.reset();
  std::vector<float> zero(2 * 2, 0.0f);
  bool seen = false;
  for (int s = 0; s < 100 && !seen; ++s) {
    const auto& b = env.step(zero);
    for (int e = 0; e < 2; ++e) {
      if (b.status(e, 0) != static_cast<std::uint8_t>(StepStatus::kOverflow)) continue;
      seen = true;
      EXPECT_TRUE(b.truncated(e, 0));
      const std::string fault = env.world(e).fault();
      EXPECT_NE(fault.find("contact buffer"), std::string::npos) << fault;
      EXPECT_NE(fault.find("nconmax 1"), std::string::npos) << fault;
      EXPECT_NE(fault.find("<size nconmax=\"2\"/>"), std::string::npos) << fault;
    }
  }
  EXPECT_TRUE(seen);
  EXPECT_GT(env.stats().overflows, 0u);
  EXPECT_EQ(env.stats().diverged, 0u);
}

TEST(Arena, AStackThatRunsOutIsAnOverflowNamingNstack) {
  // Enough stack to compile the chain and step it in the air, not for its contacts (about 200).
  const auto model = load(chain_xml(R"(<size nconmax="20" njmax="80" nstack="150"/>)"));
  VectorEnvConfig config{.num_envs = 1, .num_threads = 1, .seed = 0, .frame_skip = 10};
  VectorEnv env(model, config);
  env.reset();
  std::vector<float> zero(2, 0.0f);
  bool seen = false;
  for (int s = 0; s < 100 && !seen; ++s) {
    const auto& b = env.step(zero);
    if (b.status(0, 0) != static_cast<std::uint8_t>(StepStatus::kOverflow)) continue;
    seen = true;
    const std::string fault = env.world(0).fault();
    EXPECT_NE(fault.find("MuJoCo's stack"), std::string::npos) << fault;
    EXPECT_NE(fault.find("nstack 150"), std::string::npos) << fault;
    EXPECT_NE(fault.find("<size nstack=\"300\"/>"), std::string::npos) << fault;
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(env.stats().diverged, 0u);
}

}  // namespace
}  // namespace simlab::engine::physics
