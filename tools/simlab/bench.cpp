// simlab bench: performance measurements. Each reports ratios against a baseline measured in the
// same run, because the machines it runs on are shared and noisy.
#include "tools/simlab/commands.h"

namespace simlab::tools {

void add_bench_command(CLI::App& app) {
  auto* bench = app.add_subcommand(
      "bench", "Benchmarks (physics, spinup); ratios against same-run baselines");
  bench->require_subcommand(1);
  add_bench_physics_command(*bench);
  add_bench_spinup_command(*bench);
#ifdef SIMLAB_HAS_RENDER
  add_bench_render_command(*bench);
#endif
}

}  // namespace simlab::tools
