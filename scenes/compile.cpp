// From a SceneSpec to what runs: the structural variants, compiled in parallel, with their tasks
// and randomizers, and the VectorEnv configuration; make_env builds the envs of a compiled scene.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fnmatch.h>
#include <fstream>
#include <memory>
#include <oneapi/tbb/parallel_for.h>
#include <sstream>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include "engine/core/error.h"
#include "engine/physics/backend.h"
#include "engine/vector_env.h"
#include "scenes/procedural.h"
#include "scenes/scene.h"
#include "scenes/spec_reader.h"
#include "scenes/terms.h"

namespace simlab::scenes {
namespace {

namespace fs = std::filesystem;
using detail::num;

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw Error(SourceLocation{.file = file.string()}, "model file is not readable");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "<motor .../>" lines for every joint an [[actuator]] entry matches (glob patterns, fnmatch).
std::string actuator_xml(const SceneSpec& spec, const engine::physics::Model& model) {
  const auto joints = model.names(engine::physics::Element::kJoint);
  std::ostringstream xml;
  xml.precision(17);
  xml << "<actuator>\n";
  for (const auto& a : spec.actuators) {
    for (const auto& pattern : a.joints) {
      const bool glob = pattern.find_first_of("*?[") != std::string::npos;
      int matched = 0;
      for (std::size_t j = 0; j < joints.size(); ++j) {
        if (fnmatch(pattern.c_str(), joints[j].c_str(), 0) != 0) continue;
        // Actuators drive hinge and slide joints (one degree of freedom).
        if (model.quantity_dim(engine::physics::Quantity::kJointPos, static_cast<int>(j)) != 1) {
          if (glob) continue;
          throw Error(a.joints_where, "joint '" + joints[j] +
                                          "' is a free or ball joint: actuators drive hinge and "
                                          "slide joints");
        }
        ++matched;
        const char* tag = a.type == ActuatorSpec::Type::kMotor      ? "motor"
                          : a.type == ActuatorSpec::Type::kPosition ? "position"
                                                                    : "velocity";
        xml << "  <" << tag << " name=\"" << tag << "_" << joints[j] << "\" joint=\"" << joints[j]
            << "\" gear=\"" << (a.type == ActuatorSpec::Type::kMotor ? a.gear : 1.0)
            << "\" ctrllimited=\"true\" ctrlrange=\"" << a.ctrl_min << " " << a.ctrl_max << "\"";
        if (a.type == ActuatorSpec::Type::kPosition) xml << " kp=\"" << a.kp << "\"";
        if (a.type == ActuatorSpec::Type::kVelocity) xml << " kv=\"" << a.kv << "\"";
        if (a.force_limited)
          xml << " forcelimited=\"true\" forcerange=\"" << a.force_min << " " << a.force_max
              << "\"";
        xml << "/>\n";
      }
      if (matched == 0)
        throw Error(a.joints_where, "no hinge or slide joint of '" +
                                        spec.model.filename().string() + "' matches '" + pattern +
                                        "'" + suggest(pattern, joints, "its joints"));
    }
  }
  xml << "</actuator>\n";
  return xml.str();
}

// The model's MJCF with the spec's [[actuator]]s added: a URDF is converted to MJCF first (through
// MuJoCo's own importer), then the actuators go before </mujoco>.
std::string actuated_mjcf(const SceneSpec& spec) {
  const auto base = engine::physics::ModelSource::file(spec.model);
  // Only its joints are read: no arena to fit.
  const auto model = engine::physics::load_model(base, engine::physics::BackendKind::kMuJoCo,
                                                 engine::physics::ArenaOptions{.fit = false});
  std::string text = read_text(spec.model);
  if (text.find("<mujoco") == std::string::npos) {  // a URDF: MuJoCo's MJCF of it
    const fs::path tmp = fs::temp_directory_path() / ("simlab-" + std::to_string(::getpid()) + "-" +
                                                      spec.model.stem().string() + ".xml");
    auto world = model->make_world({});
    engine::physics::write_mjcf(base, *world, tmp);
    text = read_text(tmp);
    std::error_code ec;
    fs::remove(tmp, ec);
  }
  const auto end = text.rfind("</mujoco>");
  if (end == std::string::npos)
    throw Error(spec.actuators.front().where,
                "cannot add actuators: '" + spec.model.string() + "' has no </mujoco>");
  return text.insert(end, actuator_xml(spec, *model));
}

// Each term and randomization resolved against `model` on its own, its error kept, so that one
// run names every unknown joint, body or actuator, not only the first. Returns how many failed.
int check_terms(const SceneSpec& spec, const engine::physics::Model& model,
                detail::Errors& errors) {
  int failed = 0;
  SceneSpec none = spec;
  none.observations.clear();
  none.rewards.clear();
  none.terminations.clear();
  none.randomize.clear();
  auto each = [&](const auto& terms, auto set, auto compile) {
    for (const auto& t : terms)
      try {
        SceneSpec one = none;
        set(one, t);
        compile(one);
      } catch (const Error& e) {
        ++failed;
        errors.add(e);
      }
  };
  auto task = [&](const SceneSpec& one) { compile_task(one, model, nullptr); };
  each(
      spec.observations, [](SceneSpec& one, const TermSpec& t) { one.observations = {t}; }, task);
  each(
      spec.rewards, [](SceneSpec& one, const TermSpec& t) { one.rewards = {t}; }, task);
  each(
      spec.terminations, [](SceneSpec& one, const TermSpec& t) { one.terminations = {t}; }, task);
  each(
      spec.randomize, [](SceneSpec& one, const RandomizeSpec& t) { one.randomize = {t}; },
      [&](const SceneSpec& one) { compile_randomizer(one, model); });
  return failed;
}

}  // namespace

Scene compile_scene(const SceneSpec& spec, std::uint64_t seed, int max_variants) {
  return compile_scene(spec, CompileOptions{.seed = seed, .max_variants = max_variants});
}

Scene build_scene(const std::string& name_or_path, Randomization randomization,
                  const CompileOptions& options) {
  return compile_scene(with_randomization(load_scene(resolve_scene(name_or_path)), randomization),
                       options);
}

Scene compile_scene(const SceneSpec& spec, const CompileOptions& options) {
  const std::uint64_t seed = options.seed;
  const int max_variants = options.max_variants;
  const auto start = std::chrono::steady_clock::now();
  Scene scene{.spec = spec};
  scene.backend = options.backend;
  const ProceduralSpec& procedural = spec.procedural;
  int count = procedural.empty() ? 1 : procedural.variants;
  if (max_variants > 0) count = std::min(count, max_variants);

  // Variants: generated and compiled in parallel (MuJoCo's parser itself takes one at a time).
  std::vector<engine::physics::ModelSource> sources(static_cast<std::size_t>(count));
  scene.variants.resize(static_cast<std::size_t>(count));
  // With [[actuator]]s the model is compiled from its text with them added, named beside the
  // original so that its relative asset paths still resolve.
  const std::string actuated = spec.actuators.empty() ? "" : actuated_mjcf(spec);
  const engine::physics::ArenaOptions arena{.fit = spec.memory_margin > 0,
                                            .margin = spec.memory_margin};
  if (procedural.empty()) {
    sources[0] = engine::physics::ModelSource::file(spec.model);
    if (!actuated.empty()) {
      sources[0].path =
          spec.model.parent_path() / (spec.model.stem().string() + "-" + spec.name + ".xml");
      sources[0].text = actuated;
    }
    scene.variants[0].model = engine::physics::load_model(sources[0], options.backend, arena);
  } else {
    const std::string base = actuated.empty() ? read_text(spec.model) : actuated;
    scene.variant_summary.resize(static_cast<std::size_t>(count));
    tbb::parallel_for(0, count, [&](int v) {
      auto generated = generate_variant(procedural, base, seed, v);
      // Named beside the base model so that its relative asset paths still resolve.
      auto& source = sources[v];
      source.path = spec.model.parent_path() / (spec.model.stem().string() + "-" + spec.name +
                                                "-v" + std::to_string(v) + ".xml");
      source.text = std::move(generated.mjcf);
      source.heightfields = std::move(generated.heightfields);
      try {
        scene.variants[v].model = engine::physics::load_model(source, options.backend, arena);
      } catch (const Error& e) {
        throw Error(procedural.where, "variant " + std::to_string(v) + " (" + generated.summary +
                                          ") does not compile: " + e.what());
      }
      scene.variant_summary[v] = std::move(generated.summary);
    });
  }
  scene.sources = std::move(sources);
  scene.model = scene.variants[0].model;
  const auto& info = scene.model->info();

  // What the spec says against what the model has, every error kept: one run names them all.
  detail::Errors errors;
  // Control rate: a whole number of physics steps per control step.
  const double ratio = 1.0 / (spec.control_hz * info.timestep);
  const int frame_skip =
      std::isfinite(ratio) && ratio < 1e9 ? static_cast<int>(std::lround(ratio)) : 0;
  if (!(info.timestep > 0 && std::isfinite(info.timestep)))
    errors.add(Error(SourceLocation{.file = spec.model.string(), .field = "option.timestep"},
                     "the model's timestep is " + num(info.timestep) +
                         ": it must be a positive number of seconds (e.g. 0.002)"));
  else if (frame_skip < 1 || std::abs(ratio - frame_skip) > 1e-6)
    errors.add(Error(spec.control_where,
                     num(spec.control_hz) +
                         " Hz is not the physics rate divided by a whole number (the model steps "
                         "at " +
                         num(1.0 / info.timestep) + " Hz; try " + num(1.0 / info.timestep / 2) +
                         ")"));
  scene.config.frame_skip = frame_skip;
  scene.config.max_episode_steps =
      std::max(1, static_cast<int>(std::lround(spec.episode_seconds * spec.control_hz)));

  scene.config.reset = spec.reset;
  if (!spec.reset_keyframe.empty()) {
    const auto& keys = info.keyframes;
    const auto it = std::find(keys.begin(), keys.end(), spec.reset_keyframe);
    if (it == keys.end())
      errors.add(Error(spec.keyframe_where, "the model has no keyframe '" + spec.reset_keyframe +
                                                "'" +
                                                suggest(spec.reset_keyframe, keys, "it has")));
    else
      scene.config.reset.keyframe = static_cast<int>(it - keys.begin());
  }

  // Cameras that follow a body need it in every variant.
  for (const auto& cam : spec.cameras) {
    if (cam.track.empty()) continue;
    for (const auto& v : scene.variants) {
      const auto bodies = v.model->names(engine::physics::Element::kBody);
      if (std::find(bodies.begin(), bodies.end(), cam.track) == bodies.end()) {
        errors.add(Error(cam.track_where, "the model has no body '" + cam.track + "' to track" +
                                              suggest(cam.track, bodies)));
        break;
      }
    }
  }
  // Terms and randomization, resolved against each variant's names. When variant 0's fail, each
  // term is resolved on its own so that the error lists every unknown name, not the first.
  std::vector<float> obs_noise;
  auto& first = scene.variants[0];
  try {
    first.task = compile_task(spec, *first.model, &obs_noise);
    first.randomize = compile_randomizer(spec, *first.model);
  } catch (const Error& e) {
    if (check_terms(spec, *first.model, errors) == 0) errors.add(e);
  }
  errors.throw_if_any();
  for (int v = 1; v < count; ++v) {
    auto& variant = scene.variants[v];
    variant.task = compile_task(spec, *variant.model, nullptr);
    variant.randomize = compile_randomizer(spec, *variant.model);
  }
  scene.config.task = scene.variants[0].task;
  scene.config.randomize = scene.variants[0].randomize;
  scene.config.randomize_interval =
      std::any_of(spec.randomize.begin(), spec.randomize.end(),
                  [](const RandomizeSpec& r) { return r.mode == RandomizeSpec::Mode::kInterval; });
  scene.config.corruption.obs_noise = std::move(obs_noise);
  scene.config.corruption.obs_dropout = static_cast<float>(spec.obs_dropout);
  scene.config.corruption.action_delay_min = spec.action_delay_min;
  scene.config.corruption.action_delay_max = spec.action_delay_max;
  scene.config.seed = seed;
  scene.compile_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return scene;
}

std::unique_ptr<engine::VectorEnv> make_env(const Scene& scene, int num_envs, int num_threads,
                                            std::uint64_t seed, bool snapshots, int action_repeat,
                                            int batch_size) {
  auto config = scene.config;
  config.num_envs = num_envs;
  config.num_threads = num_threads;
  config.seed = seed;
  config.snapshots = snapshots;
  config.action_repeat = action_repeat;
  config.batch_size = batch_size;
  return std::make_unique<engine::VectorEnv>(scene.variants, std::move(config));
}

std::vector<std::shared_ptr<const engine::physics::Model>> variant_models(const Scene& scene) {
  std::vector<std::shared_ptr<const engine::physics::Model>> models;
  for (const auto& v : scene.variants)
    models.push_back(v.model);
  return models;
}

void require_actions(const Scene& scene, const std::string& field) {
  if (scene.model && scene.model->info().action.dim() > 0) return;
  throw Error(SourceLocation{.file = scene.spec.file.string(), .field = field},
              "scene '" + scene.spec.name + "' has no action dimensions: its model '" +
                  scene.spec.model.filename().string() +
                  "' declares no actuators, so there is nothing for a policy to control. Add "
                  "actuators to the model (MJCF: <actuator><motor joint=\"NAME\" gear=\"1\" "
                  "ctrlrange=\"-1 1\"/></actuator>; a URDF's <transmission> elements are not "
                  "read: include the URDF from an MJCF that adds them)");
}

}  // namespace simlab::scenes
