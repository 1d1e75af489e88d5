// HDF5 files in robomimic's layout: what is written reads back, image frames written once for obs
// and next_obs decode to both, parts merge without re-encoding, and failures name the file.
#include "engine/io/dataset.h"

#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include "engine/core/error.h"

namespace simlab::engine::io {
namespace {

namespace fs = std::filesystem;

DatasetLayout layout(int compression = 4) {
  DatasetLayout L;
  L.obs_dim = 3;
  L.act_dim = 2;
  L.obs_names = {"a", "b", "c"};
  L.act_names = {"x", "y"};
  L.rgb = L.depth = L.seg = true;
  L.width = 5;
  L.height = 4;
  L.compression = compression;
  return L;
}

// An episode whose every value tells where it came from.
Episode episode(std::int64_t index, int steps, const DatasetLayout& L) {
  Episode e;
  e.index = index;
  e.variant = static_cast<int>(index % 3);
  e.steps = steps;
  e.terminated = index % 2 == 1;
  e.state_dim = 4;
  const int px = L.width * L.height;
  for (int t = 0; t <= steps; ++t) {
    for (int i = 0; i < L.obs_dim; ++i)
      e.obs.push_back(static_cast<float>(index * 1000 + t * 10 + i));
    for (int p = 0; p < px; ++p) {
      for (int c = 0; c < 3; ++c)
        e.rgb.push_back(static_cast<std::uint8_t>((index * 50 + t * 7 + p + c) % 256));
      e.depth.push_back(0.5f + 0.01f * static_cast<float>(t * px + p));
      e.seg.push_back((p + t) % 5 - 1);
    }
    if (t == steps) break;
    for (int j = 0; j < L.act_dim; ++j)
      e.actions.push_back(static_cast<float>(-t - j));
    e.rewards.push_back(0.25f * static_cast<float>(t));
    e.dones.push_back(t == steps - 1);
    for (int s = 0; s < e.state_dim; ++s)
      e.states.push_back(index + 0.001 * t + 0.1 * s);
  }
  e.env_args = R"({"episode": )" + std::to_string(index) + "}";
  return e;
}

fs::path temp(const std::string& name) {
  const auto dir = fs::temp_directory_path() / "simlab_dataset_test";
  fs::create_directories(dir);
  return dir / name;
}

std::string write_file(const fs::path& file, const std::vector<Episode>& episodes,
                       const DatasetLayout& L) {
  DatasetWriter w(file, L, R"({"env_name": "test"})", R"({"seed": 1})");
  for (const auto& e : episodes)
    w.write(e, episode_hash(e));
  w.close();
  return file.string();
}

TEST(Dataset, WhatIsWrittenReadsBack) {
  for (int level : {0, 4}) {
    SCOPED_TRACE(level);
    const auto L = layout(level);
    const auto file = temp("roundtrip.hdf5");
    const std::vector<Episode> eps = {episode(12, 3, L), episode(2, 5, L)};
    write_file(file, eps, L);

    DatasetReader r(file);
    EXPECT_EQ(r.total(), 8);
    EXPECT_EQ(r.env_args(), R"({"env_name": "test"})");
    EXPECT_EQ(r.job(), R"({"seed": 1})");
    ASSERT_EQ(r.demos().size(), 2u);
    EXPECT_EQ(r.demos()[0].name, "demo_2");  // by episode index, not by name
    EXPECT_EQ(r.demos()[1].name, "demo_12");
    const auto& d = r.demos()[0];
    const Episode& e = eps[1];
    EXPECT_EQ(d.index, 2);
    EXPECT_EQ(d.num_samples, 5);
    EXPECT_EQ(d.variant, 2);
    EXPECT_FALSE(d.terminated);
    EXPECT_EQ(d.hash, episode_hash(e));
    EXPECT_EQ(d.env_args, e.env_args);

    std::map<std::string, std::pair<std::string, std::vector<std::int64_t>>> arrays;
    for (const auto& a : r.arrays("demo_2"))
      arrays[a.key] = {a.dtype, a.shape};
    using Shape = std::vector<std::int64_t>;
    EXPECT_EQ(arrays["obs/state"], std::make_pair(std::string("float32"), Shape{5, 3}));
    EXPECT_EQ(arrays["next_obs/state"], std::make_pair(std::string("float32"), Shape{5, 3}));
    EXPECT_EQ(arrays["obs/rgb"], std::make_pair(std::string("uint8"), Shape{5, 4, 5, 3}));
    EXPECT_EQ(arrays["next_obs/depth"], std::make_pair(std::string("float32"), Shape{5, 4, 5}));
    EXPECT_EQ(arrays["obs/seg"], std::make_pair(std::string("int32"), Shape{5, 4, 5}));
    EXPECT_EQ(arrays["actions"], std::make_pair(std::string("float32"), Shape{5, 2}));
    EXPECT_EQ(arrays["rewards"], std::make_pair(std::string("float32"), Shape{5}));
    EXPECT_EQ(arrays["dones"], std::make_pair(std::string("uint8"), Shape{5}));
    EXPECT_EQ(arrays["states"], std::make_pair(std::string("float64"), Shape{5, 4}));

    // obs rows 0..T-1, next_obs rows 1..T, for state and every image key.
    const auto obs = r.read("demo_2", "obs/state"), next = r.read("demo_2", "next_obs/state");
    for (std::size_t i = 0; i < obs.size(); ++i) {
      EXPECT_EQ(obs[i], e.obs[i]);
      EXPECT_EQ(next[i], e.obs[i + 3]);
    }
    const auto rgb = r.read_u8("demo_2", "obs/rgb"), rgb_next = r.read_u8("demo_2", "next_obs/rgb");
    const std::size_t frame = 4 * 5 * 3;
    EXPECT_EQ(rgb, std::vector<std::uint8_t>(e.rgb.begin(), e.rgb.end() - frame));
    EXPECT_EQ(rgb_next, std::vector<std::uint8_t>(e.rgb.begin() + frame, e.rgb.end()));
    const auto depth = r.read("demo_2", "next_obs/depth");
    for (std::size_t i = 0; i < depth.size(); ++i)
      ASSERT_EQ(static_cast<float>(depth[i]), e.depth[i + 20]);
    const auto seg = r.read("demo_2", "obs/seg");
    for (std::size_t i = 0; i < seg.size(); ++i)
      ASSERT_EQ(seg[i], e.seg[i]);
    EXPECT_EQ(r.read("demo_2", "dones"), (std::vector<double>{0, 0, 0, 0, 1}));
    EXPECT_EQ(r.read("demo_2", "states")[5], e.states[5]);
    fs::remove(file);
  }
}

TEST(Dataset, CompressionShrinksRepetitiveData) {
  auto L = layout(6);
  const auto a = temp("c6.hdf5"), b = temp("c0.hdf5");
  Episode e = episode(0, 40, L);
  std::fill(e.rgb.begin(), e.rgb.end(), 77);
  write_file(a, {e}, L);
  L.compression = 0;
  write_file(b, {e}, L);
  EXPECT_LT(fs::file_size(a), fs::file_size(b));
  fs::remove(a);
  fs::remove(b);
}

TEST(Dataset, EpisodeHashSeesEveryByte) {
  const auto L = layout();
  const Episode e = episode(4, 3, L);
  Episode f = e;
  EXPECT_EQ(episode_hash(e), episode_hash(f));
  EXPECT_EQ(episode_hash(e).size(), 16u);
  f.rgb.back() ^= 1;
  EXPECT_NE(episode_hash(e), episode_hash(f));
  f = e;
  f.rewards[1] = 0.5f;
  EXPECT_NE(episode_hash(e), episode_hash(f));
  f = e;
  f.states[0] += 1e-12;
  EXPECT_NE(episode_hash(e), episode_hash(f));
}

TEST(Dataset, MergeCopiesEveryDemoOnceAndSumsTotals) {
  const auto L = layout();
  const auto p0 = temp("p0.hdf5"), p1 = temp("p1.hdf5"), out = temp("merged.hdf5");
  write_file(p0, {episode(0, 3, L), episode(2, 4, L)}, L);
  write_file(p1, {episode(1, 2, L)}, L);
  merge_files({p0, p1}, out);
  DatasetReader r(out);
  ASSERT_EQ(r.demos().size(), 3u);
  EXPECT_EQ(r.total(), 9);
  EXPECT_EQ(r.job(), R"({"seed": 1})");
  for (std::int64_t k = 0; k < 3; ++k) {
    EXPECT_EQ(r.demos()[k].index, k);
    EXPECT_EQ(r.demos()[k].hash, episode_hash(episode(k, k == 0 ? 3 : k == 1 ? 2 : 4, L)));
  }
  EXPECT_EQ(r.read_u8("demo_1", "next_obs/rgb"),
            DatasetReader(p1).read_u8("demo_1", "next_obs/rgb"));
  // The same episode in two inputs is a mistake, not something to pick from.
  EXPECT_THROW(merge_files({p0, p0}, temp("dup.hdf5")), Error);
  for (const auto& f : {p0, p1, out, temp("dup.hdf5")})
    fs::remove(f);
}

TEST(Dataset, ObservationTermsGetTheirOwnKeysAndReadBackAsOneVector) {
  Space space;
  space.add_group("joint_pos", 2, {"a", "b"});
  space.add_group("sensor", 0, {});  // empty: no key
  space.add_group("offset/hand->cube", 1, {"d"});
  space.add_group("offset_hand_to_cube", 1, {"e"});  // clashes once made a key
  const auto terms = obs_terms(space);
  ASSERT_EQ(terms.size(), 3u);
  EXPECT_EQ(terms[0].key, "joint_pos");
  EXPECT_EQ(terms[1].key, "offset_hand_to_cube");
  EXPECT_EQ(terms[1].term, "offset/hand->cube");
  EXPECT_EQ(terms[2].key, "offset_hand_to_cube_2");
  EXPECT_EQ(terms[2].offset, 3);
  EXPECT_EQ(terms[0].names, (std::vector<std::string>{"joint_pos/a", "joint_pos/b"}));

  auto L = layout();
  L.obs_dim = 4;
  L.obs_names = space.names();
  L.terms = terms;
  L.rgb = L.depth = L.seg = false;
  const auto file = temp("terms.hdf5");
  const auto e = episode(5, 3, L);
  write_file(file, {e}, L);
  DatasetReader r(file);
  std::map<std::string, std::vector<std::int64_t>> shapes;
  for (const auto& a : r.arrays("demo_5"))
    shapes[a.key] = a.shape;
  EXPECT_EQ(shapes["obs/joint_pos"], (std::vector<std::int64_t>{3, 2}));
  EXPECT_EQ(shapes["next_obs/offset_hand_to_cube_2"], (std::vector<std::int64_t>{3, 1}));
  EXPECT_FALSE(shapes.count("obs/state"));
  ASSERT_EQ(r.obs_terms().size(), 3u);
  EXPECT_EQ(r.obs_terms()[2].names, std::vector<std::string>{"offset_hand_to_cube/e"});
  // Side by side, the terms are the observations the episode recorded: rows 0..T-1 and 1..T.
  const auto obs = r.read_obs("demo_5"), next = r.read_obs("demo_5", "next_obs");
  ASSERT_EQ(obs.size(), 12u);
  for (std::size_t i = 0; i < obs.size(); ++i) {
    EXPECT_EQ(obs[i], e.obs[i]) << i;
    EXPECT_EQ(next[i], e.obs[i + 4]) << i;
  }
  fs::remove(file);
}

TEST(Dataset, MergeRefusesPartsOfAnotherJobNamingTheFileAndField) {
  const auto L = layout();
  const auto a = temp("job_a.hdf5"), b = temp("job_b.hdf5"), out = temp("mixed.hdf5");
  write_file(a, {episode(0, 2, L)}, L);
  {
    DatasetWriter w(b, L, "{}", R"({"seed": 1, "scene": "push"})");
    const auto e = episode(1, 2, L);
    w.write(e, episode_hash(e));
    w.close();
  }
  try {
    merge_files({a, b}, out);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(b.string()), std::string::npos) << what;
    EXPECT_NE(what.find("simlab_job.scene"), std::string::npos) << what;
  }
  // Another observation layout: refused too.
  auto other = L;
  other.terms = {ObsTerm{.key = "x", .offset = 0, .size = 3}};
  write_file(b, {episode(1, 2, other)}, other);
  try {
    merge_files({a, b}, out);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("simlab_obs_terms"), std::string::npos) << e.what();
  }
  for (const auto& f : {a, b, out})
    fs::remove(f);
}

TEST(Dataset, FailuresNameTheFile) {
  const auto L = layout();
  const fs::path missing = temp("no_such_dir") / "x.hdf5";
  try {
    DatasetWriter w(missing, L, "{}", "{}");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
  const auto junk = temp("junk.hdf5");
  std::ofstream(junk) << "not hdf5";
  try {
    DatasetReader r(junk);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a readable HDF5 file"), std::string::npos)
        << e.what();
  }
  fs::remove(junk);
}

}  // namespace
}  // namespace simlab::engine::io
