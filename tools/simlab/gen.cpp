// simlab gen: synthetic datasets at scale. One shard of a job per process: its episodes rolled out
// (tools/simlab/gen_job.h) while a writer thread writes them into crash-safe HDF5 parts, which
// become the shard's file when every episode is in (engine/io/shard.h). `simlab gen merge DIR`
// writes one manifest over all shards.
//
// Signals: SIGINT or SIGTERM (Slurm's warning before a time limit) stop the run: finished episodes
// are written and committed, episodes in flight are dropped (--resume simulates them again,
// identically), and the process exits with code 130. A second SIGINT ends it at once.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/core/paths.h"
#include "engine/io/manifest.h"
#include "engine/io/pipeline.h"
#include "engine/io/shard.h"
#include "tools/app/gen_job.h"
#include "tools/simlab/commands.h"
#include "tools/simlab/progress.h"

namespace simlab::tools {
namespace {

namespace fs = std::filesystem;
namespace io = engine::io;
using nlohmann::json;

struct Options {
  app::GenOptions gen;
  std::string out;
  std::string shard;
  int shards = 0;
  bool resume = false, overwrite = false;
  int chunk_episodes = 16;
  int queue_mb = 256;
  bool json = false;
};

// Set by SIGINT/SIGTERM; the simulation loop polls it. A signal handler can only set a flag.
std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int sig) {
  if (g_stop.exchange(true)) {  // the second one: stop now
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  const char msg[] =
      "\nsimlab gen: stopping: writing the finished episodes (again to abort at once)\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
}

// Installs the handlers for one run and puts the previous ones back. SIGXFSZ is ignored so that a
// file size limit (`ulimit -f`) fails a write with EFBIG, which is reported, instead of killing
// the process.
class SignalScope {
 public:
  SignalScope() {
    g_stop = false;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &ignore, &old_xfsz_);
  }
  ~SignalScope() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGXFSZ, &old_xfsz_, nullptr);
  }

 private:
  struct sigaction old_int_ {
  }, old_term_{}, old_xfsz_{};
};

// After the last shard finishes, the manifest over all of them; otherwise say how to make it.
std::string try_manifest(const fs::path& dir) {
  try {
    io::merge_manifest(dir, SIMLAB_VERSION, false);
    return (dir / "manifest.json").string();
  } catch (const Error&) {
    return "";
  }
}

void run_gen(const Options& o) {
  if (o.out.empty())
    throw Error(SourceLocation{.field = "--out"}, "required: the dataset folder to write");
  if (o.resume && o.overwrite)
    throw Error(SourceLocation{.field = "--resume"}, "and --overwrite exclude each other");
  if (o.chunk_episodes < 1)
    throw Error(SourceLocation{.field = "--chunk-episodes"}, "must be >= 1");
  if (o.queue_mb < 1) throw Error(SourceLocation{.field = "--queue-mb"}, "must be >= 1");
  const auto shard =
      io::resolve_shard(o.shard, o.shards, [](const char* n) { return std::getenv(n); });
  const app::GenSpec spec = app::prepare_gen(o.gen);
  io::ShardStore store(o.out, shard, spec.layout, spec.env_args, spec.job, SIMLAB_VERSION,
                       o.chunk_episodes);
  store.open(o.resume      ? io::Existing::kResume
             : o.overwrite ? io::Existing::kOverwrite
                           : io::Existing::kFail);
  if (const auto notice = store.lock_notice(); !notice.empty())
    std::fprintf(stderr, "simlab gen: %s\n", notice.c_str());

  const auto mine = io::shard_episodes(o.gen.episodes, shard);
  std::vector<std::int64_t> todo;
  for (auto k : mine)
    if (!store.committed().count(k)) todo.push_back(k);
  const std::string where = "shard " + std::to_string(shard.index) + " of " +
                            std::to_string(shard.count) +
                            (shard.source == "default" ? "" : " (" + shard.source + ")");
  if (!o.json)
    std::printf(
        "simlab gen: %s%s, %s: %zu of %lld episodes, %zu committed already, %zu to go -> %s\n",
        spec.scene.spec.name.c_str(),
        o.gen.run.backend == engine::physics::BackendKind::kMuJoCo
            ? ""
            : (std::string(" on ") + engine::physics::backend_name(o.gen.run.backend)).c_str(),
        where.c_str(), mine.size(), static_cast<long long>(o.gen.episodes),
        store.committed().size(), todo.size(), o.out.c_str());

  // A write that failed (a full disk) loses nothing committed before it: say so, and how to go on.
  auto kept = [&](const Error& e) {
    return Error(e.where(), e.message() + "; the " + std::to_string(store.committed().size()) +
                                " episodes committed before are intact in " + o.out +
                                ": make room and run the same command with --resume");
  };
  app::GenStats stats;
  double backpressure = 0, writer_busy = 0;
  std::size_t peak = 0;
  SignalScope signals;  // through the shard's assembly too: a full disk can strike there
  if (!store.finished()) {
    io::BackgroundWriter writer(static_cast<std::size_t>(o.queue_mb) << 20,
                                [&store](std::unique_ptr<io::Episode> e) { store.write(*e); });
    try {
      stats = app::simulate(
          spec, todo, [&writer](std::unique_ptr<io::Episode> e) { writer.push(std::move(e)); },
          &g_stop,
          progress_bar("gen " + std::to_string(shard.index) + "/" + std::to_string(shard.count)));
      writer.finish();
      backpressure = writer.queue().blocked_seconds();
      writer_busy = writer.busy_seconds();
      peak = writer.queue().peak_bytes();
      if (stats.interrupted) store.commit_part();
    } catch (const Error& e) {
      // The writer's own error (a full disk) reaches here through push() or finish().
      try {
        writer.finish();
      } catch (...) {
      }
      throw kept(e);
    }
    if (stats.interrupted) {
      try {
        store.write_partial_record();
      } catch (const Error&) {
      }
      std::fprintf(stderr,
                   "simlab gen: interrupted: %zu of %zu episodes of %s are committed in %s; run "
                   "the same command with --resume to continue\n",
                   store.committed().size(), mine.size(), where.c_str(), o.out.c_str());
      std::fflush(stdout);
      std::exit(130);
    }
  }
  io::ShardRecord record;
  const auto assemble_start = std::chrono::steady_clock::now();
  try {
    record = store.finish();
  } catch (const Error& e) {
    throw kept(e);
  }
  const double assemble_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - assemble_start).count();
  const std::string manifest = try_manifest(o.out);
  const double rate = stats.seconds > 0 ? stats.env_steps / stats.seconds : 0;
  json summary = {{"scene", spec.scene.spec.name},
                  {"shard", {{"index", shard.index}, {"count", shard.count}}},
                  {"file", store.file().string()},
                  {"episodes", record.episodes.size()},
                  {"steps", record.steps},
                  {"bytes", record.bytes},
                  {"episodes_simulated", stats.episodes},
                  {"env_steps_simulated", stats.env_steps},
                  {"seconds", stats.seconds},
                  {"env_steps_per_s", rate},
                  {"writer_busy_seconds", writer_busy},
                  {"assemble_seconds", assemble_s},
                  {"backpressure_seconds", backpressure},
                  {"queue_peak_bytes", peak},
                  {"manifest", manifest}};
  if (o.gen.run.backend != engine::physics::BackendKind::kMuJoCo)
    summary["backend"] = engine::physics::backend_name(o.gen.run.backend);
  if (o.json) {
    std::printf("%s\n", summary.dump(2).c_str());
    return;
  }
  std::printf(
      "wrote %s: %zu episodes, %lld steps, %.1f MB (%.0f B/step)\n"
      "  simulated %lld episodes, %lld env-steps in %.2f s: %.0f env-steps/s; writer busy %.2f s, "
      "simulation waited %.2f s for it (back-pressure), queue peak %.1f MB; shard file assembled "
      "in %.2f s\n",
      store.file().c_str(), record.episodes.size(), static_cast<long long>(record.steps),
      record.bytes / 1e6, record.steps > 0 ? static_cast<double>(record.bytes) / record.steps : 0.0,
      static_cast<long long>(stats.episodes), static_cast<long long>(stats.env_steps),
      stats.seconds, rate, writer_busy, backpressure, peak / 1e6, assemble_s);
  if (!manifest.empty())
    std::printf("wrote %s (every shard of the job is in)\n", manifest.c_str());
  else
    std::printf("when all %d shards have finished: simlab gen merge %s\n", shard.count,
                o.out.c_str());
}

struct MergeOptions {
  std::string dir;
  bool verify = false;
  std::string into;  // one HDF5 file with every demo and robomimic's masks
  double valid = 0.1;
  std::uint64_t split_seed = 0;
  bool against_copy = false;
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void run_merge(const MergeOptions& o) {
  if (!(o.valid >= 0 && o.valid < 1))
    throw Error(
        SourceLocation{.field = "--valid"},
        "must be in [0, 1) (the fraction of demos in mask/valid), got " + std::to_string(o.valid));
  const auto m = io::merge_manifest(o.dir, SIMLAB_VERSION, o.verify);
  std::printf("wrote %s: %d shards, %lld episodes, %lld steps, %.1f MB%s\n",
              (fs::path(o.dir) / "manifest.json").c_str(), m["shard_count"].get<int>(),
              m["episodes"].get<long long>(), m["steps"].get<long long>(),
              m["bytes"].get<double>() / 1e6, o.verify ? ", CRC-32 of every file verified" : "");
  if (o.into.empty()) return;
  std::error_code ec;
  std::vector<fs::path> files;
  std::uintmax_t bytes = 0;
  for (const auto& shard : m["shards"]) {
    files.push_back(fs::path(o.dir) / shard.at("file").get<std::string>());
    bytes += fs::file_size(files.back());
  }
  const fs::path into = o.into;
  for (const auto& f : files)
    if (engine::path_exists(into) && fs::equivalent(into, f, ec))
      throw Error(SourceLocation{.field = "--into"},
                  "'" + o.into + "' is a shard of the dataset; name a new file");
  // Written beside, then renamed: a merge that fails leaves no half file under the name.
  const fs::path partial = into.string() + ".partial";
  const auto start = std::chrono::steady_clock::now();
  io::MergeResult r;
  try {
    r = io::merge_files(files, partial,
                        {.masks = true, .valid_fraction = o.valid, .seed = o.split_seed});
  } catch (...) {
    std::error_code ec;
    fs::remove(partial, ec);
    throw;
  }
  fs::rename(partial, into);
  io::sync_dir(into.parent_path());
  const double merge_s = seconds_since(start);
  const double mb = static_cast<double>(bytes) / 1e6;
  std::printf(
      "wrote %s: %d demos (mask/train %d, mask/valid %d: validation fraction %g, split seed "
      "%llu), %lld steps; %.1f MB in %.2f s, %.0f MB/s\n",
      into.c_str(), r.demos, r.train, r.valid, o.valid,
      static_cast<unsigned long long>(o.split_seed), static_cast<long long>(r.total), mb, merge_s,
      mb / merge_s);
  if (o.against_copy) {
    // The same bytes copied as plain files, in the same run: what the merge costs over a copy.
    const fs::path scratch = into.string() + ".copy-benchmark";
    fs::create_directories(scratch);
    const auto t = std::chrono::steady_clock::now();
    for (const auto& f : files)
      fs::copy_file(f, scratch / f.filename(), fs::copy_options::overwrite_existing);
    for (const auto& f : files)
      io::sync_file(scratch / f.filename());
    const double copy_s = seconds_since(t);
    fs::remove_all(scratch);
    std::printf(
        "  plain copy of the shard files: %.2f s, %.0f MB/s; merge / copy throughput "
        "%.2f (target >= 0.5)\n",
        copy_s, mb / copy_s, copy_s / merge_s);
  }
}

}  // namespace

void add_gen_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "gen",
      "Generate a dataset: a scene's episodes rolled out by a policy, written as sharded HDF5\n"
      "files in robomimic's layout (data/demo_K/{obs,next_obs,actions,rewards,dones,states}).\n"
      "Episode k depends on the seed and k only, so shards can run anywhere, in any number.");
  auto& g = o->gen;
  cmd->add_option("--scene", g.run.scene, "Built-in scene name or spec file (required)");
  cmd->add_option("--envs", g.run.envs, "Episodes simulated at once")->capture_default_str();
  cmd->add_option("--episodes", g.episodes, "Episodes in the whole job (all shards)")
      ->capture_default_str();
  cmd->add_option("--policy", g.policy,
                  "random (uniform over the action space), zero, or an exported policy.pt\n"
                  "(`simlab export`; its card must match the scene's observation and action)")
      ->capture_default_str();
  cmd->add_option("--obs", g.obs, "Observations to record: state,rgb,depth,seg")
      ->capture_default_str();
  cmd->add_option("--res", g.res, "Image resolution WIDTHxHEIGHT (rgb, depth, seg)")
      ->capture_default_str();
  cmd->add_option("--camera", g.camera, "A scene camera by name (default: the scene's first)");
  add_backend_option(*cmd, g.run.backend);
  cmd->add_option("--out", o->out, "Dataset folder (required)");
  cmd->add_option("--shard", o->shard,
                  "This process's shard INDEX/COUNT, e.g. 3/8 (default: from SLURM_ARRAY_TASK_ID\n"
                  "and SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX and SIMLAB_SHARD_COUNT,\n"
                  "else 0/1)");
  cmd->add_option("--shards", o->shards,
                  "The shard count alone, for schedulers that give only the index");
  cmd->add_flag("--resume", o->resume,
                "Continue this shard in --out: keep committed episodes, simulate the rest");
  cmd->add_flag("--overwrite", o->overwrite, "Remove this shard's files in --out and start over");
  cmd->add_option("--seed", g.run.seed, "Seed of the scene, randomization and policy")
      ->capture_default_str();
  cmd->add_option("--threads", g.run.threads, "Simulation threads (0: all cores)")
      ->capture_default_str();
  cmd->add_option("--max-steps", g.max_steps, "Cap on episode length (0: the scene's own)")
      ->capture_default_str();
  cmd->add_option("--chunk-episodes", o->chunk_episodes,
                  "Episodes per committed part: at most this much work is lost to a SIGKILL")
      ->capture_default_str();
  cmd->add_option("--compression", g.compression, "Deflate level 0-9 (0: none)")
      ->capture_default_str();
  cmd->add_option("--queue-mb", o->queue_mb,
                  "Memory for finished episodes waiting for the writer; the simulation waits\n"
                  "when it is full")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Print a JSON summary");

  auto* merge = cmd->add_subcommand(
      "merge",
      "Write DIR/manifest.json over all shards of a job (checks that all are there); with\n"
      "--into FILE, also one HDF5 file with every demo and robomimic's mask/train and mask/valid");
  auto m = std::make_shared<MergeOptions>();
  merge->add_option("dir", m->dir, "Dataset folder")->required();
  merge->add_flag("--verify", m->verify, "Also check every file's CRC-32 against its record");
  merge->add_option("--into", m->into,
                    "Also write one file with every shard's demos (raw chunks, no re-encoding)\n"
                    "and the train/validation masks robomimic reads");
  merge
      ->add_option("--valid", m->valid,
                   "Fraction of the demos in mask/valid (chosen from the split seed and the\n"
                   "episode indices: the same whatever the shards)")
      ->capture_default_str();
  merge->add_option("--split-seed", m->split_seed, "Seed of the train/validation split")
      ->capture_default_str();
  merge->add_flag("--against-copy", m->against_copy,
                  "Also time a plain copy of the shard files in the same run and print the "
                  "ratio");
  merge->callback([m] { run_merge(*m); });
  cmd->callback([o, merge] {
    if (merge->parsed()) return;
    run_gen(*o);
  });
}

}  // namespace simlab::tools
