// simlab export: a PPO or dreamer run folder -> policy.pt (TorchScript), policy.onnx and
// policy_card.json (learners::export_policy), with where the files went and a first evaluation.
#include "learners/export.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tools/simlab/commands.h"

namespace simlab::tools {
namespace {

struct ExportArgs {
  std::string run, out, formats = "torchscript,onnx";
  learners::ExportOptions options;
};

void run_export(ExportArgs& a) {
  auto& o = a.options;
  o.formats.clear();
  for (std::size_t start = 0; start <= a.formats.size();) {
    const auto comma = a.formats.find(',', start);
    const auto end = comma == std::string::npos ? a.formats.size() : comma;
    if (end > start) o.formats.push_back(a.formats.substr(start, end - start));
    start = end + 1;
  }
  o.out = a.out.empty() ? std::filesystem::path(a.run) / "export" : std::filesystem::path(a.out);
  o.simlab_version = SIMLAB_VERSION;
  const auto r = learners::export_policy(a.run, o);
  std::printf("exported %s in %.2f s:\n", a.run.c_str(), r.seconds);
  for (const auto& f : r.files)
    std::printf("  %s (%llu bytes)\n", f.string().c_str(),
                static_cast<unsigned long long>(std::filesystem::file_size(f)));
  const int obs_dim = r.card["observation"]["dim"].get<int>();
  const int act_dim = r.card["action"]["dim"].get<int>();
  if (r.card["interface"].contains("recurrent")) {
    const int s = r.card["interface"]["recurrent"]["state_dim"].get<int>();
    std::printf(
        "  forward(obs [B, %d], prev_action [B, %d], state [B, %d]) -> (action [B, %d], flag "
        "[B], next_state [B, %d]); initial state: zeros [B, %d]\n",
        obs_dim, act_dim, s, act_dim, s, s);
  } else {
    std::printf("  forward(obs [B, %d], prev_action [B, %d]) -> (action [B, %d], flag [B])\n",
                obs_dim, act_dim, act_dim);
  }
  const auto& e = r.card["evaluation"];
  if (!e.is_null())
    std::printf(
        "  evaluation (%d episodes, training randomization, %.1f s): mean return %.2f "
        "(95%% interval %.2f to %.2f), written into the card\n",
        e["episodes"].get<int>(), r.eval_seconds, e["return"]["mean"].get<double>(),
        e["return"]["ci95"][0].is_number() ? e["return"]["ci95"][0].get<double>() : NAN,
        e["return"]["ci95"][1].is_number() ? e["return"]["ci95"][1].get<double>() : NAN);
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  auto* cmd = app.add_subcommand(
      "export",
      "Export a trained PPO or dreamer policy for robot stacks: TorchScript (policy.pt), ONNX\n"
      "(policy.onnx) and a policy card (policy_card.json), with normalization, action limits, a\n"
      "rate bound and a NaN/Inf guard inside the models. Dreamer policies are recurrent:\n"
      "forward(obs, prev_action, state) -> (action, flag, next_state), initial state zeros.");
  cmd->add_option("--run", a->run, "Run folder of `simlab train` (--algo ppo or dreamer)")
      ->required();
  cmd->add_option("--format", a->formats, "torchscript and/or onnx, comma-separated")
      ->capture_default_str();
  cmd->add_option("--out", a->out, "Output folder (default: RUN/export)");
  cmd->add_option("--max-delta", a->options.max_delta,
                  "Largest action change per control step, as a fraction of each action's "
                  "range (0: no bound)")
      ->capture_default_str();
  cmd->add_option("--eval-episodes", a->options.eval_episodes,
                  "Episodes of a first evaluation written into the card (0: none)")
      ->capture_default_str();
  cmd->add_flag("--allow-unfinished", a->options.allow_unfinished,
                "Export a run that has not reached its --steps");
  cmd->footer(
      "Example:\n  simlab export --run runs/cartpole-balance --format torchscript,onnx --out "
      "policies/cartpole");
  cmd->callback([a] { run_export(*a); });
}

}  // namespace simlab::tools
