// simlab eval: an exported policy (policy.pt) on a scene: returns with a 95% interval, success,
// safety figures, as JSON (--out) and a markdown table; --sweep plots return against one
// randomized parameter (learners::evaluate_policy).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "engine/core/error.h"
#include "learners/evaluate.h"
#include "tools/app/learn.h"
#include "tools/simlab/commands.h"

namespace simlab::tools {
namespace {

struct EvalArgs {
  std::string policy, out, sweep_out, allowed;
  learners::EvalOptions options;
};

void run_eval(EvalArgs& a) {
  auto& o = a.options;
  if (!a.allowed.empty()) {
    o.allowed_contacts.clear();
    for (std::size_t start = 0; start <= a.allowed.size();) {
      const auto comma = a.allowed.find(',', start);
      const auto end = comma == std::string::npos ? a.allowed.size() : comma;
      if (end > start) o.allowed_contacts.push_back(a.allowed.substr(start, end - start));
      start = end + 1;
    }
  }
  if (!o.sweep.empty()) {
    std::string stem = o.sweep;
    for (auto& c : stem)
      if (c == ':' || c == '/') c = '_';
    o.sweep_png = !a.sweep_out.empty() ? std::filesystem::path(a.sweep_out)
                  : !a.out.empty()
                      ? std::filesystem::path(a.out).parent_path() / ("sweep_" + stem + ".png")
                      : std::filesystem::path("sweep_" + stem + ".png");
  }
  auto policy = learners::load_exported_policy(a.policy);
  const auto r = app::evaluate(policy, o);
  std::printf("%s\n", r.markdown.c_str());
  if (!a.out.empty()) {
    std::ofstream out(a.out);
    out << r.json.dump(2) << "\n";
    if (!out) throw Error(SourceLocation{.field = "--out"}, "cannot write " + a.out);
    std::printf("wrote %s\n", a.out.c_str());
  }
  if (r.json.contains("sweep"))
    std::printf("wrote %s (return against %s)\n", o.sweep_png.string().c_str(), o.sweep.c_str());
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand(
      "eval",
      "Evaluate an exported policy (policy.pt from `simlab export`) on a scene: mean return with\n"
      "a 95% interval, success rate, and safety figures (joint limits, actuator saturation,\n"
      "unwanted contacts, action jerk).");
  cmd->add_option("--policy", a->policy,
                  "policy.pt written by simlab export (its "
                  "policy_card.json beside it)")
      ->required();
  cmd->add_option("--scene", a->options.scene, "Built-in scene or spec file (default: the card's)");
  add_randomization_option(*cmd, a->options.randomization,
                           "train (the scene's ranges), heldout (its wider held-out ranges, values "
                           "training never saw), none (no parameter randomization or pushes)");
  cmd->add_option("--episodes", a->options.episodes, "Episodes")->capture_default_str();
  cmd->add_option("--seed", a->options.seed, "Seed of the episodes")->capture_default_str();
  add_backend_option(*cmd, a->options.backend);
  cmd->add_option("--out", a->out, "Write the results as JSON");
  cmd->add_option("--sweep", a->options.sweep,
                  "Plot return against a randomized parameter: PARAM or PARAM:ELEMENT, e.g. "
                  "body_mass:pole");
  cmd->add_option("--sweep-out", a->sweep_out,
                  "The sweep's PNG (default: sweep_PARAM.png beside --out)");
  cmd->add_option("--allowed-contacts", a->allowed,
                  "Comma-separated words: bodies whose names contain one may touch things "
                  "(default: foot,feet,toe,shin,hand,finger,grip,wheel,tip)");
  cmd->footer(
      "Examples:\n  simlab eval --policy policies/cartpole/policy.pt --scene cartpole-balance "
      "--episodes 20 --out eval.json\n"
      "  simlab eval --policy policies/cartpole/policy.pt --randomization none --episodes 20\n"
      "  simlab eval --policy policies/cartpole/policy.pt --episodes 50 --sweep body_mass:pole");
  cmd->callback([a] { run_eval(*a); });
}

}  // namespace simlab::tools
