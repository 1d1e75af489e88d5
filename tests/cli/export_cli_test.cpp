// simlab export and simlab eval as a user runs them: a tiny PPO run exported and evaluated, the
// JSON fields, the sweep plot, and bad input exiting 2 with the field named; a tiny dreamer run
// exported (recurrent) and evaluated.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/io/event_file.h"
#include "tests/support/cli.h"

namespace simlab::test {
namespace {

namespace fs = std::filesystem;

TEST(ExportCli, TrainExportEvaluate) {
  const fs::path dir =
      fs::temp_directory_path() / ("simlab_export_cli_" + std::to_string(getpid()));
  fs::remove_all(dir);
  const std::string run_dir = (dir / "run").string(), out = (dir / "policy").string();
  auto r =
      run("train --scene cartpole-balance --envs 4 --steps 512 --horizon 32 --threads 1 "
          "--seed 2 --out " +
          run_dir);
  ASSERT_EQ(r.code, 0) << r.out;

  r = run("export --run " + run_dir + " --format torchscript,onnx --eval-episodes 2 --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "policy.pt")) << r.out;
  EXPECT_TRUE(fs::exists(fs::path(out) / "policy_card.json"));
  EXPECT_TRUE(fs::exists(fs::path(out) / "policy.pt"));

  const std::string policy = out + "/policy.pt", json = (dir / "eval.json").string();
  r = run("eval --policy " + policy +
          " --scene cartpole-balance --randomization none --episodes 3 "
          "--out " +
          json + " --sweep body_mass");
  ASSERT_EQ(r.code, 2) << r.out;  // nothing is randomized without randomization
  EXPECT_TRUE(contains(r.out, "--sweep: 'body_mass' is not randomized")) << r.out;

  r = run("eval --policy " + policy + " --randomization train --episodes 3 --out " + json +
          " --sweep body_mass:pole");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "| mean return (95% interval) |")) << r.out;
  EXPECT_TRUE(contains(r.out, "| success rate | n/a |")) << r.out;
  const auto j = nlohmann::json::parse(std::ifstream(json));
  EXPECT_EQ(j["episodes"], 3);
  EXPECT_EQ(j["randomization"], "train");
  for (const char* key :
       {"joint_limit_share", "saturation_share", "unwanted_contacts_per_step", "jerk"})
    EXPECT_TRUE(j["safety"].contains(key)) << key;
  EXPECT_TRUE(fs::exists(dir / "sweep_body_mass_pole.png"));
  // The sweep for TensorBoard: each episode's value and return, in order of the value, and the
  // report as text; the records' CRCs check out.
  ASSERT_TRUE(fs::is_directory(dir / "sweep_body_mass_pole")) << r.out;
  std::vector<simlab::engine::io::EventValue> values;
  for (const auto& f : fs::directory_iterator(dir / "sweep_body_mass_pole"))
    for (const auto& record : simlab::engine::io::read_records(f.path()))
      for (auto& v : simlab::engine::io::decode_event(record))
        values.push_back(std::move(v));
  std::vector<double> swept, returns;
  bool report = false;
  for (const auto& v : values) {
    if (v.tag == "sweep/body_mass:pole/value") swept.push_back(v.scalar);
    if (v.tag == "sweep/body_mass:pole/return") returns.push_back(v.scalar);
    report = report || (v.is_text && v.text.find("mean return") != std::string::npos);
  }
  ASSERT_EQ(swept.size(), 3u);
  EXPECT_TRUE(std::is_sorted(swept.begin(), swept.end()));
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_FLOAT_EQ(swept[i], j["sweep"]["values"][i].get<double>());  // float32 in events
    EXPECT_NEAR(returns[i], j["sweep"]["returns"][i].get<double>(), 1e-3);
  }
  EXPECT_TRUE(report);

  // Bad input: exit 2, naming what is wrong.
  r = run("eval --policy " + policy + " --scene reacher --episodes 1");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "policy_card.json: observation.dim")) << r.out;
  r = run("eval --policy " + policy + " --scene cartpole-swingup --randomization heldout");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "declares no held-out ranges")) << r.out;
  r = run("eval --policy " + policy + " --backend bulet");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "--backend: 'bulet': expected mujoco or bullet")) << r.out;
  r = run("eval --policy " + (dir / "nothing.pt").string());
  EXPECT_EQ(r.code, 2) << r.out;
  fs::create_directories(dir / "empty");
  std::ofstream(dir / "empty" / "config.json") << "{\"algo\": \"ppo\"}";
  r = run("export --run " + (dir / "empty").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "has no finished policy")) << r.out;
  fs::remove_all(dir);
}

TEST(ExportCli, DreamerTrainExportEvaluate) {
  const fs::path dir =
      fs::temp_directory_path() / ("simlab_export_cli_dreamer_" + std::to_string(getpid()));
  fs::remove_all(dir);
  const std::string run_dir = (dir / "run").string(), out = (dir / "policy").string();
  auto r =
      run("train --algo dreamer --scene cartpole-balance --envs 2 --steps 240 --horizon 20 "
          "--hidden 32 --deter 32 --batch 8 --seq-len 16 --prefill 80 --train-ratio 16 --imagine 5 "
          "--checkpoint-every 3 --threads 1 --seed 2 --out " +
          run_dir);
  ASSERT_EQ(r.code, 0) << r.out;

  r = run("export --run " + run_dir + " --format torchscript,onnx --eval-episodes 1 --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "state [B, 289]")) << r.out;  // 32 + 16 x 16 + 1
  EXPECT_TRUE(contains(r.out, "initial state: zeros")) << r.out;
  EXPECT_TRUE(fs::exists(fs::path(out) / "policy.onnx"));

  const std::string json = (dir / "eval.json").string();
  r = run("eval --policy " + out + "/policy.pt --episodes 2 --out " + json);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(std::ifstream(json));
  EXPECT_EQ(j["episodes"], 2);
  EXPECT_TRUE(j["return"]["mean"].is_number());
  EXPECT_EQ(j["safety"]["guard_flags"], 0.0);

  // A card that says feed-forward for a recurrent policy: exit 2, naming the field.
  const fs::path card_file = fs::path(out) / "policy_card.json";
  auto card = nlohmann::json::parse(std::ifstream(card_file));
  card["interface"].erase("recurrent");
  std::ofstream(card_file) << card.dump();
  r = run("eval --policy " + out + "/policy.pt --episodes 1");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "interface.recurrent")) << r.out;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace simlab::test
