// Runs the simlab binary as a user would and checks output and exit codes.
#include "tests/support/cli.h"

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stb/stb_image.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/io/video.h"

namespace {

using simlab::test::contains;
using simlab::test::Result;
using simlab::test::run;

std::filesystem::path temp_file(const std::string& name, const std::string& text) {
  auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path) << text;
  return path;
}

TEST(Cli, VersionListsTheLibrariesItWasBuiltWith) {
  const auto r = run("version");
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* lib : {"simlab 0.", "MuJoCo    2.2.2", "Bullet", "Vulkan", "LibTorch", "oneTBB"})
    EXPECT_TRUE(contains(r.out, lib)) << lib << " missing from:\n" << r.out;
}

TEST(Cli, HelpTeachesTheCommands) {
  const auto r = run("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(contains(r.out, "bench")) << r.out;
  const auto b = run("bench physics --help");
  EXPECT_EQ(b.code, 0);
  EXPECT_TRUE(contains(b.out, "--envs")) << b.out;
  EXPECT_TRUE(contains(b.out, "physical limit")) << b.out;
}

TEST(Cli, NoCommandIsAnError) {
  EXPECT_EQ(run("").code, 2);
}

nlohmann::json bench_json(const std::string& extra) {
  const auto r =
      run("bench physics --model cartpole --envs 8 --steps 30 --repeats 1 --json " + extra);
  EXPECT_EQ(r.code, 0) << r.out;
  // The JSON object is the last thing printed (progress goes to stderr only on a terminal).
  return nlohmann::json::parse(r.out.substr(r.out.find('{')));
}

TEST(Cli, BenchPhysicsReportsRatiosMemoryAndADeterministicDigest) {
  const auto j = bench_json("--threads 2");
  EXPECT_EQ(j["envs"], 8);
  EXPECT_EQ(j["threads"], 2);
  EXPECT_GT(j["raw_env_steps_per_s"].get<double>(), 0);
  EXPECT_GT(j["batched_env_steps_per_s"].get<double>(), 0);
  EXPECT_GT(j["scaling_vs_threads_x_raw"].get<double>(), 0);
  EXPECT_GT(j["bytes_world_per_env"].get<double>(), 0);
  EXPECT_TRUE(j["deterministic"].get<bool>());
  EXPECT_EQ(j["digest"], j["digest_1t"]);
  // Same seed, another thread count, another process: the same rollout.
  EXPECT_EQ(bench_json("--threads 3")["digest"], j["digest"]);
  EXPECT_NE(bench_json("--threads 2 --seed 1")["digest"], j["digest"]);
}

TEST(Cli, BenchPhysicsHumanReadable) {
  const auto r = run("bench physics --model cartpole --envs 4 --steps 10 --repeats 1 --threads 1");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "raw mj_step loop")) << r.out;
  EXPECT_TRUE(contains(r.out, "x threads x raw")) << r.out;
  EXPECT_TRUE(contains(r.out, "memory per env")) << r.out;
  EXPECT_TRUE(contains(r.out, "identical")) << r.out;
}

TEST(Cli, MissingModelFileExitsTwoNamingTheFile) {
  const auto r = run("bench physics --model /tmp/simlab_no_such_dir/robot.xml --envs 2 --steps 2");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.out, "/tmp/simlab_no_such_dir/robot.xml: no such model file")) << r.out;
}

TEST(Cli, UnknownBuiltInListsTheBuiltIns) {
  const auto r = run("bench physics --model humanoidd --envs 2 --steps 2");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.out, "humanoidd")) << r.out;
  EXPECT_TRUE(contains(r.out, "built-ins: cartpole, cheetah, humanoid")) << r.out;
}

TEST(Cli, MalformedXmlExitsTwoNamingFileAndLine) {
  const auto path =
      temp_file("simlab_cli_malformed.xml", "<mujoco>\n<worldbody>\n<body>\n</mujoco>\n");
  const auto r = run("bench physics --model " + path.string() + " --envs 2 --steps 2");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.out, path.string() + ":3: element <body>")) << r.out;
  std::filesystem::remove(path);
}

// A <size> that MuJoCo cannot make data for (20000 contacts on the default 1000-number stack) is an
// error naming the model and its sizes, on every path that makes data: it was a segfault in the
// benchmark's raw loop and an uncaught std::bad_alloc in worlds (found by fuzz_model).
TEST(Cli, ASizeMuJoCoCannotMakeIsAnErrorNamingTheSizes) {
  const auto path = temp_file(
      "simlab_cli_size.xml",
      "<mujoco><size nconmax=\"20000\"/><worldbody><body pos=\"0 0 1\"><joint name=\"j\"/>"
      "<geom type=\"sphere\" size=\"0.1\"/></body></worldbody><actuator>"
      "<motor joint=\"j\"/></actuator></mujoco>");
  const auto spec =
      temp_file("simlab_cli_size.toml", "model = \"" + path.string() + "\"\nepisode_seconds = 1\n");
  for (const std::string& command :
       {"bench physics --envs 1 --steps 2 --repeats 1 --model " + path.string(),
        "scenes check " + spec.string()}) {
    const auto r = run(command);
    EXPECT_EQ(r.code, 2) << command << r.out;
    EXPECT_TRUE(contains(r.out,
                         "simlab_cli_size: size: MuJoCo could not allocate the simulation "
                         "data (nconmax 20000, njmax 80000, nstack 1000)"))
        << command << r.out;
  }
  std::filesystem::remove(spec);
  std::filesystem::remove(path);
}

// MuJoCo says only "file not found" for a missing <include>: simlab names the file it looked for.
TEST(Cli, AMissingIncludeNamesTheFileItLookedFor) {
  const auto path = temp_file("simlab_cli_include.xml",
                              "<mujoco>\n <include file=\"parts/arm.xml\"/>\n <worldbody/>\n"
                              "</mujoco>\n");
  const auto r = run("bench physics --model " + path.string() + " --envs 2 --steps 2");
  EXPECT_EQ(r.code, 2);
  const auto looked = (path.parent_path() / "parts" / "arm.xml").string();
  EXPECT_TRUE(contains(r.out, path.string() +
                                  ":2: element <include>: no such included file "
                                  "'parts/arm.xml' (looked for " +
                                  looked))
      << r.out;
  std::filesystem::remove(path);
}

TEST(Cli, UnknownElementExitsTwoNamingFileAndLine) {
  const auto path = temp_file("simlab_cli_unknown.xml",
                              "<mujoco>\n <worldbody>\n  <bogus/>\n </worldbody>\n</mujoco>\n");
  const auto r = run("bench physics --model " + path.string() + " --envs 2 --steps 2");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.out, path.string() + ":3: element <bogus>: Schema violation")) << r.out;
  std::filesystem::remove(path);
}

TEST(Cli, BadValuesExitTwoNamingTheFlag) {
  auto r = run("bench physics --model cartpole --envs 0 --steps 2");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.out, "--envs: must be >= 1")) << r.out;
  r = run("bench physics --model cartpole --envs many");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.out, "--envs")) << r.out;
  r = run("bench physics --bogus-flag");
  EXPECT_EQ(r.code, 2);
}

// Libraries name fields ("max_steps", "dreamer.action_repeat"); the CLI says them as the flags of
// the command that ran, and leaves fields that are not its flags as they are.
TEST(Cli, LibraryFieldsAreSaidAsTheCommandsFlags) {
  const auto out = (std::filesystem::temp_directory_path() / "simlab_cli_fields").string();
  auto r = run("gen --scene cartpole-balance --max-steps -1 --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.out, "--max-steps: must be >= 0")) << r.out;
  r = run("gen --scene cartpole-balance --obs state,depht --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.out, "--obs: unknown observation 'depht'")) << r.out;
  r = run("scenes show cartpole-swingup --randomization heldout");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.out, "cartpole-swingup.toml: --randomization: heldout")) << r.out;
  r = run("render --scene push --envs 1 --camera nope --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.out, "--camera")) << r.out;
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(Cli, ScenesListAndCheck) {
  auto r = run("scenes list");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "cartpole-balance")) << r.out;
  EXPECT_TRUE(contains(r.out, "cartpole-swingup")) << r.out;
  r = run("scenes check cartpole-balance");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "cartpole-balance.toml: ok")) << r.out;
  EXPECT_TRUE(contains(r.out, "episodes of 1000 steps")) << r.out;
  for (const char* scene :
       {"reacher", "push", "quadruped", "cheetah-run", "cheetah-trot", "humanoid-stand"}) {
    r = run(std::string("scenes check ") + scene);
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_TRUE(contains(r.out, "0 diverged")) << r.out;
  }
  EXPECT_TRUE(contains(run("scenes check push").out, "variants   64 structures")) << r.out;
}

TEST(Cli, ScenesShowPrintsOneEnvAndEmitsItsModel) {
  const auto dir = std::filesystem::temp_directory_path() / "simlab_cli_show";
  std::filesystem::remove_all(dir);
  const auto file = dir / "push-env70.xml";
  auto r = run("scenes show push --seed 2 --env 70 --emit-mjcf " + file.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "push, seed 2, env 70: variant 6 of 64")) << r.out;
  EXPECT_TRUE(contains(r.out, "body_mass              object0")) << r.out;
  EXPECT_TRUE(contains(r.out, "bodies_pos/object/object0.present")) << r.out;
  ASSERT_TRUE(std::filesystem::exists(file));
  // The same command prints the same env; the emitted model loads and steps.
  EXPECT_EQ(run("scenes show push --seed 2 --env 70").out.substr(0, 400), r.out.substr(0, 400));
  r = run("bench physics --model " + file.string() + " --envs 2 --steps 5 --repeats 1 --json");
  EXPECT_EQ(r.code, 0) << r.out;
  std::filesystem::remove_all(dir);
  EXPECT_EQ(run("scenes show push --env -1").code, 2);
}

TEST(Cli, BenchSpinupReportsVariantsTimeAndMemory) {
  const auto r = run("bench spinup --scene push --envs 128 --variants 16 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(j["variants"].get<int>(), 16);
  EXPECT_EQ(j["envs"].get<int>(), 128);
  EXPECT_GT(j["variants_per_s"].get<double>(), 0);
  EXPECT_GT(j["bytes_world_per_env"].get<double>(), 10000);
  EXPECT_GT(j["seconds_total"].get<double>(), 0);
}

TEST(Cli, BenchPhysicsOnASceneMeasuresRandomizationCost) {
  const auto r =
      run("bench physics --scene cartpole-balance --envs 8 --steps 150 --repeats 1 "
          "--threads 2 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  EXPECT_TRUE(j["randomized"].get<bool>());
  EXPECT_TRUE(j["randomize_cost"].is_number());
  EXPECT_GT(j["episodes"].get<int>(), 0);  // the scene's termination ends episodes
  EXPECT_TRUE(j["deterministic"].get<bool>());
  EXPECT_EQ(run("bench physics --scene cartpole-balance --frame-skip 2").code, 2);
  EXPECT_EQ(run("bench physics --scene no-such-scene").code, 2);
}

// An MP4 of a grid of envs: it decodes back (FFmpeg) with one frame per 1/fps of simulated time
// at an even size; a path that cannot be written exits 2.
TEST(Cli, RenderVideoWritesAnMp4ThatDecodes) {
  const auto file = std::filesystem::temp_directory_path() / "simlab_cli_render.mp4";
  std::filesystem::remove(file);
  auto r = run("render --scene cartpole-balance --envs 3 --res 48x30 --video " + file.string() +
               " --seconds 1 --fps 20");
  if (!simlab::engine::io::video_available()) {
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_TRUE(contains(r.out, "without FFmpeg")) << r.out;
    return;
  }
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "20 frames at 20 fps")) << r.out;
  const auto info = simlab::engine::io::probe_video(file);
  EXPECT_EQ(info.frames, 20);
  EXPECT_EQ(info.width % 2, 0);
  EXPECT_EQ(info.height % 2, 0);
  EXPECT_GT(info.width, 2 * 48);  // two columns of 48 and the gaps
  EXPECT_LT(info.height, 2 * 30 + 10);
  std::filesystem::remove(file);
  r = run("render --scene cartpole-balance --envs 1 --video /nonexistent/dir/v.mp4");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "/nonexistent/dir/v.mp4")) << r.out;
  EXPECT_EQ(run("render --scene cartpole-balance --video x.mp4 --fps 0").code, 2);
}

TEST(Cli, RenderWritesImagesAndAContactSheet) {
  const auto dir = std::filesystem::temp_directory_path() / "simlab_cli_render";
  std::filesystem::remove_all(dir);
  auto r =
      run("render --scene cartpole-balance --envs 3 --res 48x32 --steps 5 --out " + dir.string());
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"rgb_0000.png", "depth_0002.png", "seg_0001.png", "contact_sheet.png"})
    EXPECT_TRUE(std::filesystem::file_size(dir / f) > 100) << f;
  // A PNG of the requested size: width and height sit at bytes 16-23 of the IHDR chunk.
  std::ifstream png(dir / "rgb_0000.png", std::ios::binary);
  unsigned char header[24];
  png.read(reinterpret_cast<char*>(header), 24);
  EXPECT_EQ(header[19], 48);
  EXPECT_EQ(header[23], 32);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(run("render --scene cartpole-balance --res 64by64").code, 2);
  r = run("render --scene push --envs 1 --camera tabel --out " + dir.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.out, "has no camera 'tabel'; did you mean 'table'?")) << r.out;
  // No Vulkan driver: one clear message naming the package, exit 2.
  r = run("render --scene cartpole-balance --envs 1 --out " + dir.string() + " 2>&1",
          "VK_ICD_FILENAMES=/nonexistent.json ");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "mesa-vulkan-drivers")) << r.out;
}

TEST(Cli, RenderUsesTheModelsOwnCamerasWithTheirRandomizedPose) {
  const auto dir = std::filesystem::temp_directory_path() / "simlab_cli_cam";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "m.xml") << R"(<mujoco>
  <worldbody>
    <geom type="plane" size="2 2 0.1" rgba="0.4 0.4 0.4 1"/>
    <camera name="overhead" pos="0 0 3" fovy="60"/>
    <body pos="0 0 0.5"><freejoint/><geom type="box" size="0.2 0.2 0.2" rgba="1 0 0 1"/></body>
  </worldbody>
</mujoco>)";
  std::ofstream(dir / "s.toml")
      << "model = \"m.xml\"\n[[randomize]]\nparam = \"camera_pos\"\nmode = \"startup\"\n"
         "range = [-0.5, 0.5]\n";
  auto r = run("render --scene " + (dir / "s.toml").string() +
               " --camera overhead --envs 4 --steps 0 --res 32x32 --out " + (dir / "out").string());
  ASSERT_EQ(r.code, 0) << r.out;
  // Straight down from a jittered position: the box sits in a different place in each image.
  std::set<std::uintmax_t> sizes;
  for (int i = 0; i < 4; ++i)
    sizes.insert(
        std::filesystem::file_size(dir / "out" / ("rgb_000" + std::to_string(i) + ".png")));
  EXPECT_GT(sizes.size(), 1u);
  r = run("render --scene " + (dir / "s.toml").string() + " --camera overhaed --out " +
          (dir / "out").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.out, "did you mean 'overhead'?")) << r.out;
  std::filesystem::remove_all(dir);
}

TEST(Cli, RenderNamesAMeshFileItCannotRead) {
  const auto dir = std::filesystem::temp_directory_path() / "simlab_mesh_test";
  std::filesystem::create_directories(dir);
  temp_file("simlab_mesh_test/m.xml",
            "<mujoco><asset><mesh name=\"part\" file=\"part.stl\"/></asset><worldbody><body>"
            "<freejoint/><geom type=\"mesh\" mesh=\"part\"/></body></worldbody></mujoco>");
  temp_file("simlab_mesh_test/s.toml", "model = \"m.xml\"\n");
  const std::string args =
      "render --scene " + (dir / "s.toml").string() + " --envs 1 --out " + (dir / "out").string();
  auto r = run(args);  // no such file
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "could not open STL file '" + (dir / "part.stl").string())) << r.out;
  temp_file("simlab_mesh_test/part.stl", "solid truncated\n");  // not a mesh
  r = run(args);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, (dir / "part.stl").string())) << r.out;
  EXPECT_TRUE(contains(r.out, (dir / "m.xml").string())) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir / "out")) << "nothing is written on bad input";
  std::filesystem::remove_all(dir);
}

TEST(Cli, ViewerCapturesTheSceneUnderXvfbAndNeedsADisplay) {
  const auto shot = std::filesystem::temp_directory_path() / "simlab_view.png";
  const auto movie = std::filesystem::temp_directory_path() / "simlab_view.mp4";
  std::filesystem::remove(shot);
  std::filesystem::remove(movie);
  const bool video = simlab::engine::io::video_available();
  // A real window on a virtual X server, presented through a Vulkan swapchain.
  const auto [code, out] =
      run("view --scene push --envs 4 --res 96x72 --frames 5 --select 1 "
          "--first-variant 62 --screenshot " +
              shot.string() + (video ? " --record " + movie.string() : ""),
          "xvfb-run -a -s '-screen 0 1024x768x24' ");
  ASSERT_EQ(code, 0) << out;
  if (video) {  // every frame shown, at push's control rate (40 Hz), the window's size
    const auto v = simlab::engine::io::probe_video(movie);
    EXPECT_EQ(v.frames, 5);
    EXPECT_EQ(v.width, 2 * 96 + 380);
    EXPECT_EQ(v.height, 600);
    EXPECT_NEAR(v.fps, 40, 0.01);
    std::filesystem::remove(movie);
    // A path that cannot be written: refused before any window opens.
    const auto bad = run("view --envs 1 --frames 1 --record /nonexistent/dir/v.mp4",
                         "xvfb-run -a -s '-screen 0 1024x768x24' ");
    EXPECT_EQ(bad.code, 2) << bad.out;
    EXPECT_TRUE(contains(bad.out, "/nonexistent/dir/v.mp4")) << bad.out;
  }
  // Four envs with objects, arm and table: far from a blank image, which compresses to ~1 KB.
  ASSERT_TRUE(std::filesystem::exists(shot)) << out;
  EXPECT_GT(std::filesystem::file_size(shot), 4000u);
  // The panel reports on the selected env: push randomizes masses, friction and colours of its
  // objects, and has five reward terms.
  EXPECT_TRUE(contains(out, "panel on env 1, variant 63:")) << out;  // variants 62, 63, 0, 1
  EXPECT_TRUE(contains(out, "5 reward terms")) << out;
  EXPECT_FALSE(contains(out, " 0 randomized parameters")) << out;
  // The screenshot is read back from the window: a 2 x 2 grid of 96 x 72 tiles beside a 380
  // pixel panel, 600 pixels high; the selected tile (1: top right) is framed in amber; the panel
  // has text (many distinct colours), the area below the grid is plain.
  int w = 0, h = 0, n = 0;
  unsigned char* px = stbi_load(shot.string().c_str(), &w, &h, &n, 3);
  ASSERT_NE(px, nullptr);
  EXPECT_EQ(w, 2 * 96 + 380);
  EXPECT_EQ(h, 600);
  auto at = [&](int x, int y) {
    const unsigned char* p = px + (static_cast<std::size_t>(y) * w + x) * 3;
    return std::array<int, 3>{p[0], p[1], p[2]};
  };
  EXPECT_EQ(at(96 + 1, 1), (std::array<int, 3>{255, 200, 0}));
  EXPECT_NE(at(1, 1), (std::array<int, 3>{255, 200, 0}));
  std::set<std::array<int, 3>> panel, below;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      (x >= 192 ? panel : y >= 144 ? below : panel).insert(at(x, y));
  EXPECT_GT(panel.size(), 30u);
  EXPECT_EQ(below.size(), 1u);
  stbi_image_free(px);
  std::filesystem::remove(shot);
  // No display: one clear message, exit 2.
  const auto r = run("view --frames 1", "DISPLAY= WAYLAND_DISPLAY= ");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "no display")) << r.out;
  // Bad options fail before any window opens.
  const auto policy = run("view --policy brain.pt --frames 1", "DISPLAY= ");
  EXPECT_EQ(policy.code, 2) << policy.out;
  EXPECT_TRUE(contains(policy.out, "--policy: 'brain.pt'")) << policy.out;
  const auto select = run("view --envs 4 --select 4 --frames 1", "DISPLAY= ");
  EXPECT_EQ(select.code, 2) << select.out;
  EXPECT_TRUE(contains(select.out, "env 4 is not on screen (0 to 3)")) << select.out;
}

#if SIMLAB_HAS_LEARNERS
TEST(Cli, TwoProcessDataParallelTrainingKeepsParametersIdentical) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / "simlab_ddp_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string port = std::to_string(20000 + getpid() % 30000);
  // Two ranks on localhost, as torchrun would start them; each runs its own 4 envs.
  std::string cmd;
  for (int rank = 0; rank < 2; ++rank)
    cmd += "RANK=" + std::to_string(rank) + " WORLD_SIZE=2 LOCAL_RANK=" + std::to_string(rank) +
           " MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " " + SIMLAB_BIN +
           " train --scene cartpole-balance --envs 4 --steps 1024 --horizon 16 --threads 1 --out " +
           (dir / ("run" + std::to_string(rank))).string() + " > " +
           (dir / ("rank" + std::to_string(rank) + ".log")).string() + " 2>&1 & ";
  cmd += "wait";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto fingerprint = [&](int rank) {
    std::ifstream in(dir / ("rank" + std::to_string(rank) + ".log"));
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    const std::string key = "rank " + std::to_string(rank) + " of 2: parameters ";
    const auto at = text.find(key);
    return at == std::string::npos ? "missing in: " + text : text.substr(at + key.size(), 16);
  };
  const std::string a = fingerprint(0), b = fingerprint(1);
  EXPECT_EQ(a.size(), 16u) << a;
  EXPECT_EQ(a, b);  // the same averaged gradients on different data: identical parameters
  // Rank 0 writes the run, counting both ranks' env steps (8 updates of 2 x 4 x 16); rank 1
  // writes nothing.
  EXPECT_TRUE(fs::exists(dir / "run0" / "checkpoint.pt"));
  EXPECT_FALSE(fs::exists(dir / "run1"));
  std::ifstream metrics(dir / "run0" / "metrics.jsonl");
  int rows = 0;
  nlohmann::json last;
  for (std::string line; std::getline(metrics, line);)
    last = nlohmann::json::parse(line), ++rows;
  EXPECT_EQ(rows, 8);
  EXPECT_EQ(last["env_steps"], 1024);
  // Bad torchrun variables: named, exit 2.
  const auto bad = run("train --out " + (dir / "bad").string(), "RANK=2 WORLD_SIZE=2 ");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_TRUE(contains(bad.out, "RANK: 2 is not below WORLD_SIZE 2")) << bad.out;
  fs::remove_all(dir);
}
#endif

TEST(Cli, BenchRenderComparesWithMujocosRenderer) {
  const auto r =
      run("bench render --scene cartpole-balance --envs 8 --res 32x32 --repeats 1 "
          "--steps 0 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  EXPECT_GT(j["frames_per_s"].get<double>(), 0);
  EXPECT_GT(j["mjr_frames_per_s"].get<double>(), 0);
  EXPECT_GT(j["ratio_vs_mjr_plain"].get<double>(), 0);
}

TEST(Cli, ScenesCheckNamesTheBadLine) {
  const auto path = temp_file("simlab_cli_scene.toml",
                              "model = \"models/cartpole.xml\"\n[reset]\nqpos_nosie = 0.1\n");
  const auto r = run("scenes check " + path.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.out, path.string() + ":3:1: reset.qpos_nosie: unknown key; did you mean "
                                              "'qpos_noise'?"))
      << r.out;
  std::filesystem::remove(path);
}

}  // namespace

// A model without actuators has nothing to control: train, eval and gen --policy refuse it with a
// message that says how to add actuators, exit 2, and leave no run folder (it used to die by
// SIGFPE inside LibTorch's weight initialization, leaving config.json behind).
TEST(Cli, AModelWithoutActuatorsIsRefusedByTrainWithAFix) {
  const auto dir = std::filesystem::temp_directory_path() / "simlab_cli_noact";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "ball.xml")
      << "<mujoco model=\"ball\"><worldbody><geom type=\"plane\" size=\"2 2 0.1\"/>"
         "<body name=\"ball\" pos=\"0 0 1\"><joint name=\"slide\" type=\"slide\" axis=\"0 0 1\"/>"
         "<geom type=\"sphere\" size=\"0.1\" mass=\"1\"/></body></worldbody></mujoco>\n";
  std::ofstream(dir / "ball.toml") << "name = \"ball\"\nmodel = \"ball.xml\"\ncontrol_hz = 50\n"
                                      "episode_seconds = 2\n[[reward]]\nterm = \"alive\"\n";
  const std::string spec = (dir / "ball.toml").string();
  EXPECT_EQ(run("scenes check " + spec).code, 0);  // a passive scene is a valid scene
  for (const char* algo : {"ppo", "dreamer"}) {
    const auto out = dir / (std::string("run-") + algo);
    const auto r =
        run("train --scene " + spec + " --algo " + algo + " --steps 400 --out " + out.string());
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_TRUE(contains(r.out, "ball.toml: --scene: scene 'ball' has no action dimensions"))
        << r.out;
    EXPECT_TRUE(contains(r.out, "<motor joint=")) << r.out;
    EXPECT_FALSE(std::filesystem::exists(out)) << "no run folder left behind";
  }
  std::filesystem::remove_all(dir);
}

// The viewer looks through the scene's first camera by default (quadruped's follows its robot),
// through any scene or model camera by name, or through the free orbit camera; a camera the scene
// does not have is refused, listing those it has.
TEST(Cli, ViewerCamerasByNameFreeOrTheScenesFirst) {
  const auto dir = std::filesystem::temp_directory_path() / "simlab_view_cameras";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string xvfb = "xvfb-run -a -s '-screen 0 1024x768x24' ";
  const auto scene_cam = dir / "scene.png", free_cam = dir / "free.png";
  auto r = run(
      "view --scene quadruped --envs 1 --res 96x72 --frames 3 --screenshot " + scene_cam.string(),
      xvfb);
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("view --scene quadruped --envs 1 --res 96x72 --frames 3 --camera free --screenshot " +
              free_cam.string(),
          xvfb);
  ASSERT_EQ(r.code, 0) << r.out;
  int w = 0, h = 0, n = 0;
  unsigned char* a = stbi_load(scene_cam.string().c_str(), &w, &h, &n, 3);
  unsigned char* b = stbi_load(free_cam.string().c_str(), &w, &h, &n, 3);
  ASSERT_TRUE(a && b);
  // The tile (top left, 96 x 72) differs between the two cameras; the panel does not matter.
  int differing = 0;
  for (int y = 0; y < 72; ++y)
    for (int x = 0; x < 96 * 3; ++x)
      differing += a[(y * w) * 3 + x] != b[(y * w) * 3 + x];
  stbi_image_free(a);
  stbi_image_free(b);
  EXPECT_GT(differing, 1000);
  r = run("view --scene cartpole-balance --camera top --frames 1", xvfb);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out,
                       "--camera: scene 'cartpole-balance' has no camera 'top' (its "
                       "cameras: side)"))
      << r.out;
  std::filesystem::remove_all(dir);
}

// A URDF robot has no actuators MuJoCo reads; a spec's [[actuator]] entries add them, and the arm
// trains with PPO from the spec alone (position servos on both joints, reward: reach a pose).
TEST(Cli, AUrdfArmTrainsFromASpecWithActuators) {
  const auto dir = std::filesystem::temp_directory_path() / "simlab_cli_urdf_arm";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string body =
      "name = \"arm-reach\"\nmodel = \"models/planar-arm.urdf\"\ncontrol_hz = 50\n"
      "episode_seconds = 4\n"
      "[[observation]]\nterm = \"joint_pos\"\njoints = [\"*\"]\n"
      "[[observation]]\nterm = \"joint_vel\"\njoints = [\"*\"]\n"
      "[[reward]]\nterm = \"joint_position\"\njoint = \"shoulder\"\ntarget = 1.0\n"
      "[[reward]]\nterm = \"joint_position\"\njoint = \"elbow\"\ntarget = -0.8\n";
  std::ofstream(dir / "arm.toml") << body << "[[actuator]]\ntype = \"position\"\njoints = [\"*\"]\n"
                                  << "kp = 2.0\nctrl_range = [-2.5, 2.5]\n";
  std::ofstream(dir / "typo.toml") << body << "[[actuator]]\njoints = [\"sholder\"]\n";
  const std::string spec = (dir / "arm.toml").string();
  auto r = run("scenes check " + spec);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "nu 2")) << r.out;
  r = run("train --scene " + spec + " --steps 40000 --envs 32 --horizon 32 --threads 2 --out " +
          (dir / "run").string());
  ASSERT_EQ(r.code, 0) << r.out;
  // The mean return of the first finished episodes against the last: the arm learned the pose.
  std::ifstream csv(dir / "run" / "metrics.csv");
  std::string line;
  std::getline(csv, line);
  double first = 0, last = 0;
  bool seen = false;
  while (std::getline(csv, line)) {
    std::stringstream row(line);
    std::string cell;
    for (int k = 0; k < 4; ++k)
      std::getline(row, cell, ',');
    if (cell == "null" || cell.empty()) continue;
    last = std::stod(cell);
    if (!seen) first = last, seen = true;
  }
  ASSERT_TRUE(seen);
  EXPECT_LT(first, -150) << "random poses are far from the target";
  EXPECT_GT(last, 0.5 * first) << "first " << first << ", last " << last;
  // A joint the robot does not have is located, with the closest name.
  r = run("scenes check " + (dir / "typo.toml").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "typo.toml:")) << r.out;
  EXPECT_TRUE(contains(r.out,
                       "actuator[0].joints: no hinge or slide joint of 'planar-arm.urdf' "
                       "matches 'sholder'; did you mean 'shoulder'?"))
      << r.out;
  std::filesystem::remove_all(dir);
}

#if SIMLAB_HAS_LEARNERS
// A policy card carries its scene (the spec's text, where it was, the model's hash): eval works
// from any folder without --scene, and refuses a model that changed since the export.
TEST(Cli, APolicyCardEvaluatesFromAnyFolderAndRefusesAChangedModel) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / "simlab_cli_portable_card";
  fs::remove_all(dir);
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  fs::copy_file(fs::path(SIMLAB_TEST_ASSET_DIR) / "models" / "cartpole.xml", dir / "a" / "m.xml");
  {
    std::ifstream in(fs::path(SIMLAB_TEST_ASSET_DIR).parent_path() / "scenes" / "specs" /
                     "cartpole-balance.toml");
    std::stringstream text;
    text << in.rdbuf();
    std::string spec = text.str();
    const std::string from = "model = \"models/cartpole.xml\"";
    spec.replace(spec.find(from), from.size(), "model = \"m.xml\"");
    std::ofstream(dir / "a" / "mine.toml") << spec;
  }
  const std::string in_a = "cd " + (dir / "a").string() + " && ";
  auto r =
      run("train --scene mine.toml --steps 1024 --envs 8 --horizon 64 --threads 1 --out run", in_a);
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("export --run run --out exp --eval-episodes 0", in_a);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string in_b = "cd " + (dir / "b").string() + " && ";
  r = run("eval --policy ../a/exp/policy.pt --episodes 2", in_b);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "| cartpole-balance, randomization train, 2 episodes")) << r.out;
  std::ofstream(dir / "a" / "m.xml", std::ios::app) << "<!-- changed -->\n";
  r = run("eval --policy ../a/exp/policy.pt --episodes 2", in_b);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "policy_card.json: scene.model_hash: the model")) << r.out;
  EXPECT_TRUE(contains(r.out, "changed since the policy was exported")) << r.out;
  fs::remove_all(dir);
}
#endif
