// PPO and the training loop: GAE by hand, the running normalizer, losses that fall on a tiny
// problem, bad input, and a resumed run that reproduces an uninterrupted one.
#include "learners/ppo.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/io/event_file.h"
#include "learners/threads.h"
#include "learners/trainer.h"
#include "tests/support/train.h"

namespace simlab::learners {
namespace {

// One compute thread, OpenBLAS's included: its spinning threads on a loaded machine (ctest -j) turn
// these tests' many small products into waits.
[[maybe_unused]] const bool kOneComputeThread = (set_compute_threads(1), true);

namespace fs = std::filesystem;

TEST(Ppo, GaeMatchesAHandComputation) {
  // Two steps, one env; the episode ends after the second step.
  const auto rewards = torch::tensor({{1.0f}, {2.0f}});
  const auto values = torch::tensor({{0.5f}, {0.25f}, {9.0f}});
  const auto dones = torch::tensor({{0.0f}, {1.0f}});
  const double g = 0.9, l = 0.8;
  const auto adv = gae(rewards, values, dones, g, l);
  const double d1 = 2.0 - 0.25;            // terminal: no bootstrap from 9.0
  const double d0 = 1.0 + g * 0.25 - 0.5;  // bootstraps from V(s1)
  EXPECT_NEAR(adv[1][0].item<double>(), d1, 1e-6);
  EXPECT_NEAR(adv[0][0].item<double>(), d0 + g * l * d1, 1e-6);
}

TEST(Ppo, NormalizerTracksMeanAndVarianceAcrossBatches) {
  torch::manual_seed(0);
  const auto data = torch::randn({1000, 3}) * torch::tensor({1.0f, 2.0f, 0.5f}) +
                    torch::tensor({3.0f, -1.0f, 0.0f});
  ObsNormalizer norm(3);
  for (int i = 0; i < 10; ++i)
    norm.update(data.slice(0, 100 * i, 100 * (i + 1)));
  EXPECT_TRUE(torch::allclose(norm.mean().to(torch::kFloat32), data.mean(0), 1e-3, 1e-3));
  EXPECT_TRUE(torch::allclose(norm.var().to(torch::kFloat32), data.var(0, false), 1e-2, 1e-3));
  const auto z = norm.normalize(data);
  EXPECT_NEAR(z.mean().item<double>(), 0.0, 1e-3);
  EXPECT_NEAR(z.std().item<double>(), 1.0, 1e-2);
}

TEST(Ppo, LearnsToMatchATargetAction) {
  // A one-step bandit: reward -(a - 0.5)^2 for any observation. The policy mean must move to 0.5.
  torch::manual_seed(1);
  PpoConfig config;
  config.horizon = 1;
  config.lr = 1e-2;
  Ppo ppo(2, 1, config, torch::kCPU);
  const int envs = 256;
  Rollout r(1, envs, 2, 1);
  double first_loss = 0, last_loss = 0;
  for (int it = 0; it < 60; ++it) {
    const auto obs = torch::randn({envs, 2});
    torch::Tensor log_prob, value;
    const auto a = ppo.act(obs, &log_prob, &value);
    r.obs[0] = obs;
    r.actions[0] = a;
    r.log_probs[0] = log_prob;
    r.values[0] = value;
    r.values[1] = torch::zeros({envs});
    r.rewards[0] = -(a.squeeze(1) - 0.5).square();
    r.dones[0] = torch::ones({envs});
    const auto stats = ppo.update(r);
    (it == 0 ? first_loss : last_loss) = stats.value_loss;
  }
  const auto mean = ppo.act_mean(torch::zeros({1, 2}));
  EXPECT_NEAR(mean.item<double>(), 0.5, 0.1);
  EXPECT_LT(last_loss, first_loss);  // the critic learned the reward too
}

fs::path fresh_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / name;
  fs::remove_all(dir);
  return dir;
}

TrainConfig tiny(const fs::path& out) {
  TrainConfig c;
  c.scene = "cartpole-balance";
  c.envs = 4;
  c.threads = 1;
  c.seed = 3;
  c.ppo.horizon = 16;
  c.ppo.epochs = 2;
  c.ppo.minibatches = 2;
  c.checkpoint_every = 2;
  c.steps = 4 * 16 * 4;  // 4 updates: 2 segments
  c.out = out;
  c.device = DeviceChoice::kCpu;
  return c;
}

std::vector<nlohmann::json> rows(const fs::path& dir) {
  std::vector<nlohmann::json> out;
  std::ifstream in(dir / "metrics.jsonl");
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(Trainer, AResumedRunReproducesAnUninterruptedOne) {
  const auto whole = fresh_dir("simlab_train_whole"), split = fresh_dir("simlab_train_split");
  simlab::test::train(tiny(whole));
  auto first = tiny(split);
  first.steps /= 2;  // stop at the first checkpoint
  simlab::test::train(first);
  ASSERT_TRUE(fs::exists(split / "checkpoint.pt"));
  ASSERT_EQ(rows(split).size(), 2u);
  auto second = tiny(split);
  second.resume = true;
  simlab::test::train(second);
  const auto a = rows(whole), b = rows(split);
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 4u);
  for (std::size_t i = 0; i < a.size(); ++i)
    for (const char* key : {"update", "env_steps", "episodes", "mean_return", "policy_loss",
                            "value_loss", "entropy", "approx_kl"})
      EXPECT_EQ(a[i][key], b[i][key]) << key << " at update " << i + 1;
  // The CSV has a header and one line per update.
  std::ifstream csv(split / "metrics.csv");
  int lines = 0;
  for (std::string line; std::getline(csv, line);)
    ++lines;
  EXPECT_EQ(lines, 5);
  EXPECT_GT(fs::file_size(split / "learning_curve.png"), 2000u);
  // TensorBoard: one event file (the resumed run replaced the first segment's), which mirrors
  // metrics.jsonl: the configuration as text, then each row's columns as train/COLUMN at its
  // env steps, every record's CRCs checked on the way.
  std::vector<fs::path> event_files;
  for (const auto& entry : fs::directory_iterator(split))
    if (entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0)
      event_files.push_back(entry.path());
  ASSERT_EQ(event_files.size(), 1u);
  const auto records = engine::io::read_records(event_files[0]);
  ASSERT_EQ(records.size(), 2u + b.size());  // file_version, config, one per row
  const auto config = engine::io::decode_event(records[1]);
  ASSERT_EQ(config.size(), 1u);
  EXPECT_TRUE(config[0].is_text);
  EXPECT_NE(config[0].text.find("\"cartpole-balance\""), std::string::npos) << config[0].text;
  for (std::size_t i = 0; i < b.size(); ++i) {
    const auto values = engine::io::decode_event(records[2 + i]);
    bool seen = false;
    for (const auto& v : values) {
      EXPECT_EQ(v.step, b[i]["env_steps"].get<std::int64_t>());
      if (v.tag != "train/value_loss") continue;
      seen = true;
      EXPECT_FLOAT_EQ(static_cast<float>(v.scalar), b[i]["value_loss"].get<float>());
    }
    EXPECT_TRUE(seen) << "row " << i;
  }
  fs::remove_all(whole);
  fs::remove_all(split);
}

std::string error_of(const TrainConfig& c) {
  try {
    simlab::test::train(c);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Trainer, BadInputIsNamed) {
  const auto dir = fresh_dir("simlab_train_bad");
  std::string algo;
  try {
    parse_algo("sac");
  } catch (const Error& e) {
    algo = e.what();
  }
  EXPECT_NE(algo.find("algo: 'sac'"), std::string::npos) << algo;
  auto c = tiny(dir);
  c.scene = "cartpole-balanse";
  EXPECT_NE(error_of(c).find("cartpole-balance"), std::string::npos) << error_of(c);
  c = tiny(dir);
  c.resume = true;
  EXPECT_NE(error_of(c).find("no checkpoint"), std::string::npos) << error_of(c);
  // A run folder of another configuration is refused, naming the key.
  c = tiny(dir);
  c.steps = 64;
  c.checkpoint_every = 1;
  simlab::test::train(c);
  c.resume = true;
  c.ppo.lr = 1e-3;
  EXPECT_NE(error_of(c).find("'ppo.lr' differs"), std::string::npos) << error_of(c);
  c.resume = false;  // and without --resume or --overwrite it is not touched
  EXPECT_NE(error_of(c).find("holds a run already"), std::string::npos) << error_of(c);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace simlab::learners
