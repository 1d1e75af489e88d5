#include "tests/fuzz/targets.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <unistd.h>
#include <vector>

#include <climits>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/io/checksum.h"
#include "engine/io/dataset.h"
#include "engine/io/event_file.h"
#include "engine/io/manifest.h"
#include "engine/physics/backend.h"
#include "learners/card.h"
#include "scenes/scene.h"

namespace simlab::fuzz {
namespace {

namespace fs = std::filesystem;
namespace io = engine::io;
namespace physics = engine::physics;

// This process's scratch folder for the files a target reads back, removed at exit.
struct Scratch {
  fs::path dir = fs::temp_directory_path() / ("simlab-fuzz-" + std::to_string(::getpid()));
  Scratch() { fs::create_directories(dir); }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};
const fs::path& scratch() {
  static const Scratch s;
  return s.dir;
}

void write_file(const fs::path& file, const std::uint8_t* data, std::size_t size) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

void quiet_logs() {
  // VectorEnv warns about every bad action and overflow; the fuzzer's own output is what matters.
  static const bool once = (spdlog::set_level(spdlog::level::err), true);
  (void)once;
}

// Physics steps a scene may take per input before stepping it is skipped: a spec may ask for a
// slow control rate on purpose, and a slow input is not a finding.
constexpr long kMaxPhysicsSteps = 2000;

}  // namespace

void scene_spec(const std::uint8_t* data, std::size_t size) {
  quiet_logs();
  const std::string text(reinterpret_cast<const char*>(data), size);
  // Named as a built-in spec, so that model paths resolve as theirs do.
  const scenes::SceneSpec parsed = scenes::parse_scene(text, scenes::scene_dir() / "fuzz.toml");
  for (const auto mode : {scenes::Randomization::kTrain, scenes::Randomization::kHeldout,
                          scenes::Randomization::kNone}) {
    try {
      (void)scenes::with_randomization(parsed, mode);
    } catch (const Error&) {  // kHeldout without held-out ranges
    }
  }
  // MuJoCo's default arena: fitting it runs a probe rollout of seconds per input.
  scenes::SceneSpec spec = parsed;
  spec.memory_margin = 0;
  const scenes::Scene scene = scenes::compile_scene(spec, {.seed = 7, .max_variants = 2});

  // A compiled scene's episode length is the spec's, in control steps.
  const auto& config = scene.config;
  const double steps = spec.episode_seconds * spec.control_hz;
  SIMLAB_CHECK(config.frame_skip >= 1) << "frame_skip " << config.frame_skip;
  SIMLAB_CHECK(std::isfinite(steps) && steps < INT_MAX &&
               config.max_episode_steps == std::max(1L, std::lround(steps)))
      << "episode_seconds " << spec.episode_seconds << " x control_hz " << spec.control_hz
      << " compiled to max_episode_steps " << config.max_episode_steps;

  if (static_cast<long>(config.frame_skip) * 3 > kMaxPhysicsSteps) return;
  const auto env = scenes::make_env(scene, 2, 1, 7);
  const std::vector<float> zero(static_cast<std::size_t>(2 * env->action_space().dim()), 0.0f);
  for (int s = 0; s < 3; ++s)
    env->step(zero);
  for (int c = 0; c < static_cast<int>(spec.cameras.size()); ++c)
    (void)scenes::camera_view(scene, c, env->world(0), 0, 7);
  (void)scenes::randomized_params(*scene.variants[0].model, env->world(0));
}

void model(const std::uint8_t* data, std::size_t size) {
  const fs::path file = scratch() / "model.xml";
  write_file(file, data, size);
  const auto source = physics::ModelSource::file(file);
  // The shortest probe (load_model runs at least 300 steps): fitting stays covered, inputs fast.
  const auto model = physics::load_model(source, physics::BackendKind::kMuJoCo,
                                         {.fit = true, .margin = 2.0, .probe_seconds = 0.1});
  const auto& info = model->info();
  for (const auto element :
       {physics::Element::kBody, physics::Element::kJoint, physics::Element::kGeom,
        physics::Element::kSite, physics::Element::kSensor, physics::Element::kActuator,
        physics::Element::kLight, physics::Element::kCamera})
    (void)model->names(element);
  (void)model->visual();
  auto world = model->make_world({});
  engine::Rng rng(1, 0, 0);
  world->reset(rng);
  const std::vector<float> ctrl(static_cast<std::size_t>(info.nu), 0.0f);
  std::vector<float> obs(static_cast<std::size_t>(info.observation.dim()));
  for (int s = 0; s < 5; ++s) {
    if (world->step(ctrl, 1) != engine::StepStatus::kOk) world->reset(rng);
    world->observe(obs);
  }
  // What scenes do to a URDF before adding actuators to it.
  physics::write_mjcf(source, *world, scratch() / "written.xml");
}

void event_file(const std::uint8_t* data, std::size_t size) {
  const fs::path file = scratch() / "events.out.tfevents.0.fuzz";
  write_file(file, data, size);
  std::vector<std::string> records;
  try {
    records = io::read_records(file);
  } catch (const Error&) {
  }
  for (const auto& r : records) {
    try {
      (void)io::decode_event(r);
    } catch (const Error&) {
    }
  }
  (void)io::decode_event(std::string(reinterpret_cast<const char*>(data), size));
}

void records(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // The readers that take parsed JSON.
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    std::optional<io::ShardRecord> record;
    try {
      record = io::ShardRecord::from_json(j, "fuzz");
    } catch (const Error&) {
    }
    if (record) {  // what simlab writes, it reads back as it was
      const auto once = record->to_json();
      nlohmann::json again;
      try {
        again = io::ShardRecord::from_json(once, "fuzz").to_json();
      } catch (const Error& e) {
        SIMLAB_CHECK(false) << "a shard record's own JSON is refused: " << e.what();
      }
      SIMLAB_CHECK(again == once) << "a shard record changes through to_json and from_json";
    }
    try {
      (void)io::FileSum::from_json(j, "fuzz");
    } catch (const Error&) {
    }
  }
  try {
    (void)io::parse_obs_terms(text, "fuzz.hdf5");
  } catch (const Error&) {
  }

  // The readers that take files: the text as the only shard record of a dataset folder, whose
  // data file (data.bin, 12 bytes, CRC-32 bce27fde) a seed can name, and as data.bin's checksum.
  const fs::path dir = scratch() / "records";
  static const bool made = [&] {
    fs::create_directories(dir);
    std::ofstream(dir / "data.bin", std::ios::binary) << "simlab fuzz\n";
    return true;
  }();
  (void)made;
  std::error_code ec;
  fs::remove(dir / "manifest.json", ec);
  write_file(dir / "shard-00000-of-00001.json", data, size);
  write_file(dir / "data.bin.sum", data, size);
  try {
    (void)io::read_shard_records(dir);
  } catch (const Error&) {
  }
  try {
    (void)io::merge_manifest(dir, "fuzz", /*verify=*/true);
  } catch (const Error&) {
  }
  (void)io::verify_sum_file(dir / "data.bin", "checkpoint");
}

void policy_card(const std::uint8_t* data, std::size_t size) {
  const auto card = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(data), size),
                                          nullptr, /*allow_exceptions=*/false);
  if (card.is_discarded()) return;  // not JSON: load_exported_policy refuses it before these
  // cartpole-balance's layout, which the seeds' card was exported with.
  static const auto spaces = [] {
    std::pair<engine::Space, engine::Space> s;
    s.first.add_group("joint_pos", 2, {"slider", "hinge"});
    s.first.add_group("joint_vel", 2, {"slider", "hinge"});
    s.second.add_group("ctrl", 1, {"slide"});
    return s;
  }();
  try {
    learners::check_layout(card, "card.json", spaces.first, spaces.second);
  } catch (const Error&) {
  }
  try {
    const auto limits = learners::card_action_limits(card, "card.json");
    for (std::size_t k = 0; k < limits.low.size(); ++k)
      SIMLAB_CHECK(limits.low[k] <= limits.high[k] && limits.safe[k] >= limits.low[k] &&
                   limits.safe[k] <= limits.high[k])
          << "action limits out of order at " << k;
  } catch (const Error&) {
  }
  try {
    (void)learners::card_scene(card, "card.json");
  } catch (const Error&) {
  }
  const auto policy = scratch() / "policy.pt";
  if (!fs::exists(policy)) std::ofstream(policy) << "not a module";
  learners::verify_policy_file(card, "card.json", policy);
}

std::span<const Target> targets() {
  static const Target all[] = {{"scene_spec", scene_spec},
                               {"model", model},
                               {"event_file", event_file},
                               {"records", records},
                               {"policy_card", policy_card}};
  return all;
}

}  // namespace simlab::fuzz
