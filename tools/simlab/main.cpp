// simlab: the command-line entry point. Errors in what the user gave us (simlab::Error, bad flags)
// print one clear message and exit 2; anything else is a bug and exits 1.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "engine/core/error.h"
#include "tools/simlab/commands.h"
#ifdef SIMLAB_HAS_LEARNERS
#include "learners/threads.h"
#endif

namespace {

// OpenBLAS picks its kernels when it loads, from the CPUs it knows (see
// learners::better_openblas_core): where it fell back to generic ones on a CPU with AVX2 or
// AVX-512, this process is started again with OPENBLAS_CORETYPE naming the fitting kernels. The
// user's own OPENBLAS_CORETYPE wins, and under valgrind (its preload library in LD_PRELOAD) the
// process is not replaced.
void use_fitting_blas_kernels([[maybe_unused]] char** argv) {
#ifdef SIMLAB_HAS_LEARNERS
  if (std::getenv("OPENBLAS_CORETYPE")) return;
  if (const char* preload = std::getenv("LD_PRELOAD"); preload && std::strstr(preload, "vgpreload"))
    return;
  const std::string core = simlab::learners::better_openblas_core();
  if (core.empty()) return;
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  execv("/proc/self/exe", argv);  // returns only if that failed: go on with the generic kernels
#endif
}

// The command that ran: the deepest subcommand the parser took.
const CLI::App* command_of(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands())
    if (sub->parsed()) return command_of(*sub);
  return &app;
}

// Libraries name fields ("envs", "dreamer.action_repeat"); say them as the command's flags where
// the command has one of that name ("--envs", "--action-repeat").
simlab::Error as_flags(const simlab::Error& e, const CLI::App& app) {
  const auto& field = e.where().field;
  if (field.empty() || field.rfind("--", 0) == 0) return e;
  std::string flag = "--" + field.substr(field.rfind('.') + 1);
  std::replace(flag.begin(), flag.end(), '_', '-');
  const CLI::App* command = command_of(app);
  if (command->get_option_no_throw(flag) == nullptr) return e;
  auto where = e.where();
  where.field = flag;
  return simlab::Error(where, e.message());
}

}  // namespace

int main(int argc, char** argv) {
  // Past the file size limit (`ulimit -f`) a write fails with EFBIG, which every writer reports
  // with the file's name, instead of killing the process mid-write.
  std::signal(SIGXFSZ, SIG_IGN);
  use_fitting_blas_kernels(argv);
  CLI::App app{
      "simlab: a sim-first robot learning platform.\n"
      "Batched MuJoCo simulation on oneTBB; see `simlab COMMAND --help` for each command.",
      "simlab"};
  app.require_subcommand(1);
  app.footer(
      "Examples:\n  simlab version\n  simlab scenes list\n  simlab scenes check cartpole-balance\n"
      "  simlab scenes show push --seed 1 --env 17 --emit-mjcf env17.xml\n"
      "  simlab bench physics --model humanoid --envs 256 --steps 200 --threads 2\n"
      "  simlab bench physics --scene quadruped --envs 256\n"
      "  simlab bench physics --model humanoid --envs 256 --backend bullet\n"
      "  simlab bench spinup --scene push --envs 4096\n"
      "  simlab gen --scene push --episodes 100 --obs state,rgb --out data/push\n"
      "  simlab inspect data/push --sheet sheet.png");
  simlab::tools::add_version_command(app);
  simlab::tools::add_bench_command(app);
  simlab::tools::add_scenes_command(app);
  simlab::tools::add_gen_command(app);
  simlab::tools::add_inspect_command(app);
  simlab::tools::add_bench_gen_command(*app.get_subcommand("bench"));
#ifdef SIMLAB_HAS_RENDER
  simlab::tools::add_render_command(app);
#endif
#ifdef SIMLAB_HAS_VIEWER
  simlab::tools::add_view_command(app);
#endif
#ifdef SIMLAB_HAS_LEARNERS
  simlab::tools::add_train_command(app);
  simlab::tools::add_bench_dreamer_command(*app.get_subcommand("bench"));
  simlab::tools::add_bench_transfer_command(*app.get_subcommand("bench"));
  simlab::tools::add_export_command(app);
  simlab::tools::add_eval_command(app);
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const simlab::Error& e) {
    std::fprintf(stderr, "simlab: error: %s\n", as_flags(e, app).what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "simlab: internal error (please report it): %s\n", e.what());
    return 1;
  }
  return 0;
}
