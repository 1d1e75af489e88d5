// The simlab command line: one file per subcommand, each adding itself to the CLI11 app. A
// command's callback throws simlab::Error on bad input; main() prints it and exits with code 2.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "engine/physics/backend.h"
#include "scenes/scene.h"

namespace simlab::tools {

// Typed options: each word is parsed into its enum once, here, as CLI11 reads it. An unknown word
// (or bullet in a build without it) is a simlab::Error naming the flag (exit 2), as the tool's
// other option errors are.

// --backend mujoco|bullet, on every command that compiles a scene and steps it.
// Whether the user set `--KEY` on `cmd` (false for keys it has no flag for): which settings a
// scene's recipe may fill in (app::apply_scene_recipe).
inline std::function<bool(std::string_view)> flag_given(const CLI::App* cmd) {
  return [cmd](std::string_view key) {
    const auto* option = cmd->get_option_no_throw("--" + std::string(key));
    return option != nullptr && option->count() > 0;
  };
}

inline CLI::Option* add_backend_option(CLI::App& cmd, engine::physics::BackendKind& backend) {
  return cmd
      .add_option_function<std::string>(
          "--backend",
          [&backend](const std::string& word) {
            backend = engine::physics::parse_backend(word, "--backend");
          },
          "Physics engine: mujoco (default) or bullet, the same model on Bullet3's "
          "Featherstone multibody")
      ->default_str(engine::physics::backend_name(backend));
}

// --randomization train|heldout|none (`help` says which a command takes).
inline CLI::Option* add_randomization_option(CLI::App& cmd, scenes::Randomization& randomization,
                                             const std::string& help) {
  return cmd
      .add_option_function<std::string>(
          "--randomization",
          [&randomization](const std::string& word) {
            randomization = scenes::parse_randomization(word, "--randomization");
          },
          help)
      ->default_str(scenes::randomization_name(randomization));
}

void add_version_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_bench_physics_command(CLI::App& bench);
void add_bench_spinup_command(CLI::App& bench);
void add_scenes_command(CLI::App& app);
void add_gen_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_bench_gen_command(CLI::App& bench);
#ifdef SIMLAB_HAS_RENDER
void add_render_command(CLI::App& app);
void add_bench_render_command(CLI::App& bench);
#endif
#ifdef SIMLAB_HAS_LEARNERS
void add_train_command(CLI::App& app);
void add_bench_dreamer_command(CLI::App& bench);
void add_bench_transfer_command(CLI::App& bench);
void add_export_command(CLI::App& app);
void add_eval_command(CLI::App& app);
#endif
#ifdef SIMLAB_HAS_VIEWER
void add_view_command(CLI::App& app);
#endif

}  // namespace simlab::tools
