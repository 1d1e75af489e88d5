// MP4 video through FFmpeg's libraries (libavformat, libavcodec, libswscale): H.264 in YUV 4:2:0
// where the build of libavcodec has an H.264 encoder (Debian's does, through x264), MPEG-4 part 2
// otherwise. Frames are RGB, rows top to bottom, as the renderer and ImageGrid give them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace simlab::engine::io {

// Whether this build can write video (FFmpeg's libraries were found: SIMLAB_HAS_VIDEO).
bool video_available();

class VideoWriter {
 public:
  // `width` and `height` must be even (4:2:0 halves both); fps > 0. Throws simlab::Error naming
  // the file when it cannot be created or the sizes are wrong.
  VideoWriter(const std::filesystem::path& file, int width, int height, int fps);
  ~VideoWriter();  // closes the file if close() was not called (errors are then dropped)
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // One frame: width x height x 3 bytes.
  void add(const std::uint8_t* rgb);
  // One frame of another size, w x h x 3 bytes: placed at the top-left corner, cropped to the
  // video's size and padded with black (a window whose size is odd, or changed).
  void add(const std::uint8_t* rgb, int w, int h);
  // Flushes the encoder and writes the file's index; the file is complete once this returns.
  void close();

  int frames() const { return frames_; }
  const std::string& codec() const { return codec_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::filesystem::path file_;
  int width_ = 0, height_ = 0;
  int frames_ = 0;
  std::string codec_;
  std::vector<std::uint8_t> padded_;
};

// A video file decoded frame by frame (every frame, so a truncated file shows as fewer).
struct VideoInfo {
  int width = 0, height = 0;
  int frames = 0;
  double fps = 0;
  std::string codec;
};
VideoInfo probe_video(const std::filesystem::path& file);

// An even size for a frame of width x height: each rounded up, so a grid can be padded to it.
inline int even(int n) {
  return n + (n & 1);
}

}  // namespace simlab::engine::io
