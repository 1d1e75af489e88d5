// The simlab command line: one file per subcommand, each adding itself to the CLI11 app. A
// command's callback throws simlab::Error on bad input; main() prints it and exits with code 2.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "engine/physics/backend.h"

namespace simlab::tools {

// --backend mujoco|bullet, on every command that compiles a scene and steps it; the word goes into
// `backend` (scenes::SceneSpec::backend takes engine::physics::parse_backend(backend)). It is
// checked as it is parsed, by parse_backend: an unknown engine, or bullet in a build without it,
// is a simlab::Error naming --backend (exit 2), as the tool's other option errors are.
inline CLI::Option* add_backend_option(CLI::App& cmd, std::string& backend) {
  return cmd
      .add_option("--backend", backend,
                  "Physics engine: mujoco (default) or bullet, the same model on Bullet3's "
                  "Featherstone multibody")
      ->each([](const std::string& word) { engine::physics::parse_backend(word, "--backend"); })
      ->capture_default_str();
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
