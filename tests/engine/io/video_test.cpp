// MP4 video: frames in, the same number of frames decoded back at the same size; bad sizes and
// paths refused naming the file.
#include "engine/io/video.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/core/error.h"

namespace simlab::engine::io {
namespace {

namespace fs = std::filesystem;

TEST(Video, FramesComeBackDecodedAtTheirSize) {
  if (!video_available()) GTEST_SKIP() << "built without FFmpeg";
  const auto file = fs::temp_directory_path() / "simlab_video_test.mp4";
  fs::remove(file);
  const int w = 64, h = 48, frames = 30;
  {
    VideoWriter video(file, w, h, 30);
    std::vector<std::uint8_t> rgb(static_cast<std::size_t>(w) * h * 3);
    for (int f = 0; f < frames; ++f) {
      // A white square moving over a dark blue background.
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
          const bool square = x >= f && x < f + 12 && y >= 16 && y < 28;
          std::uint8_t* p = rgb.data() + (static_cast<std::size_t>(y) * w + x) * 3;
          p[0] = square ? 255 : 20;
          p[1] = square ? 255 : 30;
          p[2] = square ? 255 : 90;
        }
      video.add(rgb.data());
    }
    video.close();
    EXPECT_EQ(video.frames(), frames);
    EXPECT_FALSE(video.codec().empty());
  }
  const auto info = probe_video(file);
  EXPECT_EQ(info.width, w);
  EXPECT_EQ(info.height, h);
  EXPECT_EQ(info.frames, frames);
  EXPECT_NEAR(info.fps, 30.0, 0.01);
  EXPECT_EQ(info.codec, "h264");  // Debian's libavcodec encodes H.264 through x264
  fs::remove(file);
}

TEST(Video, BadSizesAndPathsAreRefusedNamingTheFile) {
  if (!video_available()) GTEST_SKIP() << "built without FFmpeg";
  const auto file = fs::temp_directory_path() / "simlab_video_odd.mp4";
  try {
    VideoWriter video(file, 63, 48, 30);
    FAIL() << "an odd width was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("even width and height"), std::string::npos) << e.what();
  }
  const auto missing = fs::temp_directory_path() / "simlab_no_such_folder" / "v.mp4";
  EXPECT_THROW(VideoWriter(missing, 64, 48, 30), Error);
  EXPECT_FALSE(fs::exists(missing));
  const auto garbage = fs::temp_directory_path() / "simlab_video_garbage.mp4";
  std::ofstream(garbage) << "not a video";
  EXPECT_THROW(probe_video(garbage), Error);
  fs::remove(garbage);
}

}  // namespace
}  // namespace simlab::engine::io
