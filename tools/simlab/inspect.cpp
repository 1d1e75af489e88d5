// simlab inspect: what a dataset holds. A file, or a dataset folder (its finished shards, else
// its committed parts): counts, array shapes and types, statistics per field (and per element of
// obs/state and actions), episode lengths and returns; --sheet draws frames of several episodes
// in one PNG (rows: episodes, columns: frames spread over each episode).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/io/checksum.h"
#include "engine/io/dataset.h"
#include "engine/io/image.h"
#include "engine/io/manifest.h"
#include "tools/simlab/commands.h"

namespace simlab::tools {
namespace {

namespace fs = std::filesystem;
namespace io = engine::io;
using nlohmann::json;

struct Options {
  std::string path;
  std::string sheet;
  int sheet_episodes = 6;
  int sheet_frames = 8;
  int max_episodes = 200;
  bool json = false;
};

struct Stat {
  std::int64_t n = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  double sum = 0, sumsq = 0;
  void add(double x) {
    ++n;
    min = std::min(min, x);
    max = std::max(max, x);
    sum += x;
    sumsq += x * x;
  }
  double mean() const { return n ? sum / n : 0; }
  double std() const { return n ? std::sqrt(std::max(0.0, sumsq / n - mean() * mean())) : 0; }
  json to_json() const {
    return {
        {"count", n}, {"min", n ? min : 0}, {"max", n ? max : 0}, {"mean", mean()}, {"std", std()}};
  }
};

// The HDF5 files a path stands for, and what they are.
std::pair<std::vector<fs::path>, std::string> dataset_files(const fs::path& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return {{path}, "file"};
  if (!fs::is_directory(path, ec))
    throw Error(SourceLocation{.file = path.string()}, "no such file or folder");
  static const std::regex shard(R"(shard-\d+-of-\d+\.hdf5)"),
      part(R"(shard-\d+-of-\d+\.part-\d+\.hdf5)"), any(R"(.*\.(hdf5|h5))");
  std::vector<fs::path> shards, parts, other;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    const auto name = e.path().filename().string();
    if (std::regex_match(name, shard))
      shards.push_back(e.path());
    else if (std::regex_match(name, part))
      parts.push_back(e.path());
    else if (std::regex_match(name, any))
      other.push_back(e.path());
  }
  for (auto* v : {&shards, &parts, &other})
    std::sort(v->begin(), v->end());
  if (!shards.empty()) return {shards, "finished shards"};
  if (!parts.empty()) return {parts, "committed parts of unfinished shards"};
  if (!other.empty()) return {other, "HDF5 files"};
  throw Error(SourceLocation{.file = path.string()},
              "no dataset files (shard-*.hdf5, committed parts, or *.hdf5) in this folder");
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + (i == 0 ? std::string("T") : std::to_string(shape[i]));
  return s + "]";
}

// Rows: episodes; columns: frames spread evenly over each episode; 2-pixel white gaps.
void write_sheet(const std::vector<std::unique_ptr<io::DatasetReader>>& files, const Options& o,
                 json& report) {
  struct Pick {
    const io::DatasetReader* file;
    const io::DemoInfo* demo;
  };
  std::vector<Pick> all;
  for (const auto& f : files)
    for (const auto& d : f->demos())
      all.push_back({f.get(), &d});
  if (all.empty()) throw Error(SourceLocation{.field = "--sheet"}, "the dataset has no episodes");
  // Colour if recorded, else depth, else segmentation (both drawn in false colour).
  std::string key;
  int width = 0, height = 0;
  const auto arrays = all[0].file->arrays(all[0].demo->name);
  for (const char* want : {"obs/rgb", "obs/depth", "obs/seg"}) {
    for (const auto& a : arrays)
      if (a.key == want && a.shape.size() >= 3) {
        key = a.key;
        height = static_cast<int>(a.shape[1]);
        width = static_cast<int>(a.shape[2]);
      }
    if (!key.empty()) break;
  }
  if (key.empty())
    throw Error(SourceLocation{.field = "--sheet"},
                "the dataset has no images (obs/rgb, obs/depth or obs/seg); generate with "
                "--obs state,rgb");
  const int rows = std::min<int>(std::max(1, o.sheet_episodes), static_cast<int>(all.size()));
  const int cols = std::max(1, o.sheet_frames), gap = 2;
  const int W = cols * width + (cols + 1) * gap, H = rows * height + (rows + 1) * gap;
  std::vector<std::uint8_t> sheet(static_cast<std::size_t>(W) * H * 3, 255);
  const std::size_t px = static_cast<std::size_t>(width) * height;
  json shown = json::array();
  for (int r = 0; r < rows; ++r) {
    const auto& pick = all[static_cast<std::size_t>(r) * all.size() / rows];
    const auto& d = *pick.demo;
    std::vector<std::uint8_t> rgb;
    if (key == "obs/rgb") {
      rgb = pick.file->read_u8(d.name, key);
    } else {
      const auto values = pick.file->read(d.name, key);
      if (key == "obs/depth") {
        std::vector<float> depth(values.begin(), values.end());
        float far = 0;
        for (float z : depth)
          if (std::isfinite(z)) far = std::max(far, z);
        rgb = io::depth_to_rgb(depth, far > 0 ? far : 1.0f);
      } else {
        std::vector<std::int32_t> ids(values.begin(), values.end());
        rgb = io::segmentation_to_rgb(ids);
      }
    }
    const std::int64_t T = static_cast<std::int64_t>(rgb.size() / (px * 3));
    for (int c = 0; c < cols && T > 0; ++c) {
      const std::int64_t t = cols == 1 ? 0 : c * (T - 1) / (cols - 1);
      const std::uint8_t* frame = rgb.data() + t * px * 3;
      for (int y = 0; y < height; ++y) {
        const int Y = gap + r * (height + gap) + y, X = gap + c * (width + gap);
        std::copy_n(frame + static_cast<std::size_t>(y) * width * 3, width * 3,
                    sheet.data() + (static_cast<std::size_t>(Y) * W + X) * 3);
      }
    }
    shown.push_back(d.index);
  }
  io::write_png(o.sheet, W, H, sheet.data());
  report["sheet"] = {{"file", o.sheet}, {"key", key}, {"episodes", shown}, {"frames", cols}};
}

// Finished shards against their records (size and CRC-32), before anything reads them: damage
// that HDF5's own checksums miss (raw chunks) is an error here, not statistics of garbage.
int verify_against_records(const fs::path& dir, const std::vector<fs::path>& files) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  int verified = 0;
  for (const auto& r : io::read_shard_records(dir)) {
    if (!r.complete) continue;
    const fs::path file = dir / r.file;
    if (std::find(files.begin(), files.end(), file) == files.end()) continue;
    io::verify_sum(file, io::FileSum{.bytes = r.bytes, .crc32 = r.crc32}, "dataset shard");
    ++verified;
  }
  return verified;
}

void run_inspect(const Options& o) {
  const auto [files, kind] = dataset_files(o.path);
  const int verified = verify_against_records(o.path, files);
  std::vector<std::unique_ptr<io::DatasetReader>> readers;
  std::uintmax_t bytes = 0;
  for (const auto& f : files) {
    readers.push_back(std::make_unique<io::DatasetReader>(f));
    std::error_code ec;
    bytes += fs::file_size(f, ec);
  }
  json report = {{"path", o.path},  {"kind", kind},        {"files", json::array()},
                 {"bytes", bytes},   {"verified_files", verified}};
  for (const auto& f : files)
    report["files"].push_back(f.filename().string());

  // What the generator said about the job (robomimic's env_args).
  json env;
  try {
    env = json::parse(readers[0]->env_args());
  } catch (const json::exception&) {
  }
  const json kwargs = env.is_object() ? env.value("env_kwargs", json::object()) : json::object();
  // A field as text whatever its JSON type ("" when absent): foreign files hold anything.
  auto field = [](const json& j, const char* key) -> std::string {
    if (!j.is_object() || !j.contains(key)) return "";
    return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
  };
  // What simlab records about the job: env_args.simlab (before schema 2: env_kwargs).
  const json about = env.is_object() && env.contains("simlab") && env["simlab"].is_object()
                         ? env["simlab"]
                         : kwargs;

  std::int64_t episodes = 0, steps = 0, terminated = 0, read_episodes = 0;
  Stat length, ret;
  std::map<std::string, Stat> stats;
  std::map<std::string, std::vector<Stat>> columns;  // obs/<term> and actions, per element
  std::map<std::string, io::ArrayInfo> shapes;
  std::vector<std::string> order;
  for (const auto& r : readers) {
    for (const auto& d : r->demos()) {
      ++episodes;
      steps += d.num_samples;
      terminated += d.terminated;
      length.add(static_cast<double>(d.num_samples));
      if (o.max_episodes > 0 && read_episodes >= o.max_episodes) continue;
      ++read_episodes;
      for (const auto& a : r->arrays(d.name)) {
        if (!shapes.count(a.key)) {
          shapes[a.key] = a;
          order.push_back(a.key);
        }
        const auto values = r->read(d.name, a.key);
        auto& s = stats[a.key];
        for (double v : values)
          s.add(v);
        if (a.key == "rewards") {
          double sum = 0;
          for (double v : values)
            sum += v;
          ret.add(sum);
        }
        if ((a.key.rfind("obs/", 0) == 0 || a.key == "actions") && a.shape.size() == 2 &&
            a.shape[1] > 0 && a.dtype.rfind("float", 0) == 0) {
          auto& cols = columns[a.key];
          const std::size_t dim = static_cast<std::size_t>(a.shape[1]);
          cols.resize(dim);
          for (std::size_t i = 0; i < values.size(); ++i)
            cols[i % dim].add(values[i]);
        }
      }
    }
  }
  report["episodes"] = episodes;
  report["steps"] = steps;
  report["terminated"] = terminated;
  report["episodes_read_for_statistics"] = read_episodes;
  report["episode_length"] = length.to_json();
  report["return"] = ret.to_json();
  report["scene"] = field(about, "scene");
  report["seed"] = about.is_object() && about.contains("seed") ? about["seed"] : json(nullptr);
  report["policy"] = field(about, "policy");
  report["env_name"] = field(env, "env_name");
  json keys = json::object();
  for (const auto& k : order) {
    std::vector<std::int64_t> shape = shapes[k].shape;
    if (!shape.empty()) shape[0] = -1;  // T varies per episode
    keys[k] = stats[k].to_json();
    keys[k]["dtype"] = shapes[k].dtype;
    keys[k]["shape"] = shape;
  }
  report["keys"] = keys;
  for (const auto& [key, cols] : columns) {
    json per = json::array();
    for (const auto& c : cols)
      per.push_back(c.to_json());
    report["elements"][key] = per;
  }
  const fs::path manifest = fs::path(o.path) / "manifest.json";
  std::error_code ec;
  if (fs::is_directory(o.path, ec) && fs::exists(manifest)) {
    const auto m = io::read_json(manifest);
    report["manifest"] = {{"shard_count", m.value("shard_count", 0)},
                          {"episodes", m.value("episodes", 0)},
                          {"steps", m.value("steps", 0)},
                          {"simlab_version", m.value("simlab_version", "")}};
  }
  if (!o.sheet.empty()) {
    write_sheet(readers, o, report);
  }
  if (o.json) {
    std::printf("%s\n", report.dump(2).c_str());
    return;
  }

  std::printf("%s: %zu %s, %lld episodes, %lld steps, %.2f MB%s\n", o.path.c_str(), files.size(),
              kind.c_str(), static_cast<long long>(episodes), static_cast<long long>(steps),
              bytes / 1e6,
              verified > 0 ? (" (" + std::to_string(verified) + " checked against their records)")
                                 .c_str()
                           : "");
  if (!about.empty())
    std::printf("  scene %s, seed %s, policy %s; robomimic env %s\n", field(about, "scene").c_str(),
                field(about, "seed").c_str(), field(about, "policy").c_str(),
                field(env, "env_name").c_str());
  if (report.contains("manifest"))
    std::printf("  manifest.json: %d shards, %lld episodes (simlab %s)\n",
                report["manifest"]["shard_count"].get<int>(),
                report["manifest"]["episodes"].get<long long>(),
                report["manifest"]["simlab_version"].get<std::string>().c_str());
  std::printf(
      "  episode length  min %.0f  mean %.1f  max %.0f; %lld ended by the task, %lld by "
      "the time limit\n",
      length.n ? length.min : 0, length.mean(), length.n ? length.max : 0,
      static_cast<long long>(terminated), static_cast<long long>(episodes - terminated));
  if (ret.n)
    std::printf("  return          min %.4g  mean %.4g  max %.4g\n", ret.min, ret.mean(), ret.max);
  std::printf("  statistics over %lld episodes%s:\n", static_cast<long long>(read_episodes),
              read_episodes < episodes ? " (--max-episodes 0 for all)" : "");
  std::printf("    %-28s %-8s %-14s %11s %11s %11s %11s\n", "key", "dtype", "shape", "min", "max",
              "mean", "std");
  for (const auto& k : order) {
    const auto& s = stats[k];
    std::printf("    %-28s %-8s %-14s %11.4g %11.4g %11.4g %11.4g\n", k.c_str(),
                shapes[k].dtype.c_str(), shape_text(shapes[k].shape).c_str(), s.n ? s.min : 0,
                s.n ? s.max : 0, s.mean(), s.std());
  }
  // Element names: the writer's observation terms, and the actions' names from env_args.
  std::map<std::string, std::vector<std::string>> element_names;
  auto names_of = [](const json& j, const char* key) {
    try {
      return j.value(key, std::vector<std::string>{});
    } catch (const json::exception&) {
      return std::vector<std::string>{};
    }
  };
  element_names["actions"] = names_of(about, "action_names");
  for (const auto& t : readers[0]->obs_terms())
    element_names["obs/" + t.key] = t.names;
  if (element_names["obs/state"].empty()) element_names["obs/state"] = names_of(about, "obs_names");
  for (const auto& [key, cols] : columns) {
    const auto& names = element_names[key];
    if (cols.size() > 64) continue;
    std::printf("  %s per element:\n", key.c_str());
    for (std::size_t i = 0; i < cols.size(); ++i)
      std::printf("    %-34s %11.4g %11.4g %11.4g %11.4g\n",
                  (i < names.size() ? names[i] : std::to_string(i)).c_str(), cols[i].min,
                  cols[i].max, cols[i].mean(), cols[i].std());
  }
  if (report.contains("sheet"))
    std::printf("wrote %s: %s of episodes %s, %d frames each\n", o.sheet.c_str(),
                report["sheet"]["key"].get<std::string>().c_str(),
                report["sheet"]["episodes"].dump().c_str(), o.sheet_frames);
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "inspect",
      "What a dataset holds (a file, or a `simlab gen` folder): counts, shapes, statistics per\n"
      "field; --sheet draws frames of several episodes into one PNG");
  cmd->add_option("path", o->path, "HDF5 file or dataset folder")->required();
  cmd->add_option("--sheet", o->sheet, "Write a PNG grid: rows are episodes, columns frames");
  cmd->add_option("--sheet-episodes", o->sheet_episodes, "Episodes (rows) on the sheet")
      ->capture_default_str();
  cmd->add_option("--sheet-frames", o->sheet_frames, "Frames (columns) per episode")
      ->capture_default_str();
  cmd->add_option("--max-episodes", o->max_episodes,
                  "Episodes read for statistics (0: all); counts cover every episode")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Print the report as JSON");
  cmd->callback([o] { run_inspect(*o); });
}

}  // namespace simlab::tools
