#include "engine/io/video.h"

#include <algorithm>

#include "engine/core/error.h"

#ifdef SIMLAB_HAS_VIDEO
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}
#endif

namespace simlab::engine::io {

#ifdef SIMLAB_HAS_VIDEO
namespace {

std::string av_message(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof text);
  return text;
}

}  // namespace

bool video_available() {
  return true;
}

struct VideoWriter::Impl {
  AVFormatContext* format = nullptr;
  AVCodecContext* codec = nullptr;
  AVStream* stream = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* packet = nullptr;
  SwsContext* sws = nullptr;
  int width = 0, height = 0;
  bool open = false;

  ~Impl() {
    sws_freeContext(sws);
    av_packet_free(&packet);
    av_frame_free(&frame);
    avcodec_free_context(&codec);
    if (format) {
      if (format->pb) avio_closep(&format->pb);
      avformat_free_context(format);
    }
  }

  // Send `f` (null: flush) and write every packet the encoder has ready. Returns an AVERROR.
  int encode(const AVFrame* f) {
    int status = avcodec_send_frame(codec, f);
    if (status < 0) return status;
    while ((status = avcodec_receive_packet(codec, packet)) >= 0) {
      // Every frame lasts one tick: without it the MP4's edit list ends before the last frame,
      // which decoders then drop.
      if (packet->duration <= 0) packet->duration = 1;
      av_packet_rescale_ts(packet, codec->time_base, stream->time_base);
      packet->stream_index = stream->index;
      status = av_interleaved_write_frame(format, packet);
      if (status < 0) return status;
    }
    return status == AVERROR(EAGAIN) || status == AVERROR_EOF ? 0 : status;
  }
};

VideoWriter::VideoWriter(const std::filesystem::path& file, int width, int height, int fps)
    : impl_(std::make_unique<Impl>()), file_(file) {
  auto fail = [&](const std::string& what) {
    return Error(SourceLocation{.file = file.string()}, what);
  };
  if (width < 2 || height < 2 || width % 2 || height % 2)
    throw fail("video frames must have an even width and height, got " + std::to_string(width) +
               "x" + std::to_string(height));
  if (fps < 1) throw fail("frames per second must be >= 1");
  av_log_set_level(AV_LOG_FATAL);  // FFmpeg's own messages: the errors below say what failed
  Impl& v = *impl_;
  v.width = width_ = width;
  v.height = height_ = height;
  if (avformat_alloc_output_context2(&v.format, nullptr, "mp4", file.c_str()) < 0 || !v.format)
    throw fail("cannot make an MP4 container");
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_H264);
  if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
  if (!codec) throw fail("this FFmpeg has neither an H.264 nor an MPEG-4 encoder");
  codec_ = codec->name;
  v.stream = avformat_new_stream(v.format, nullptr);
  v.codec = avcodec_alloc_context3(codec);
  if (!v.stream || !v.codec) throw std::bad_alloc();
  v.codec->width = width;
  v.codec->height = height;
  v.codec->time_base = AVRational{1, fps};
  v.codec->framerate = AVRational{fps, 1};
  v.codec->pix_fmt = AV_PIX_FMT_YUV420P;
  v.codec->gop_size = 2 * fps;
  if (codec->id == AV_CODEC_ID_H264) {
    av_opt_set(v.codec->priv_data, "preset", "veryfast", 0);
    av_opt_set(v.codec->priv_data, "crf", "20", 0);
  } else {
    v.codec->bit_rate = static_cast<std::int64_t>(width) * height * fps / 4;
  }
  if (v.format->oformat->flags & AVFMT_GLOBALHEADER) v.codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (const int s = avcodec_open2(v.codec, codec, nullptr); s < 0)
    throw fail("cannot open the " + codec_ + " encoder: " + av_message(s));
  avcodec_parameters_from_context(v.stream->codecpar, v.codec);
  v.stream->time_base = v.codec->time_base;
  if (const int s = avio_open(&v.format->pb, file.c_str(), AVIO_FLAG_WRITE); s < 0)
    throw fail("cannot write the video: " + av_message(s));
  if (const int s = avformat_write_header(v.format, nullptr); s < 0)
    throw fail("cannot write the MP4 header: " + av_message(s));
  v.open = true;
  v.frame = av_frame_alloc();
  v.packet = av_packet_alloc();
  if (!v.frame || !v.packet) throw std::bad_alloc();
  v.frame->format = AV_PIX_FMT_YUV420P;
  v.frame->width = width;
  v.frame->height = height;
  if (av_frame_get_buffer(v.frame, 0) < 0) throw std::bad_alloc();
  v.sws = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, AV_PIX_FMT_YUV420P,
                         SWS_BILINEAR, nullptr, nullptr, nullptr);
  if (!v.sws) throw fail("cannot convert RGB to YUV 4:2:0");
}

VideoWriter::~VideoWriter() {
  try {
    close();
  } catch (const Error&) {  // a destructor does not throw; close() reports errors
  }
}

void VideoWriter::add(const std::uint8_t* rgb) {
  Impl& v = *impl_;
  SIMLAB_CHECK(v.open) << "VideoWriter::add after close";
  if (av_frame_make_writable(v.frame) < 0) throw std::bad_alloc();
  const std::uint8_t* src[1] = {rgb};
  const int stride[1] = {3 * v.width};
  sws_scale(v.sws, src, stride, 0, v.height, v.frame->data, v.frame->linesize);
  v.frame->pts = frames_;
  if (const int s = v.encode(v.frame); s < 0)
    throw Error(SourceLocation{.file = file_.string()},
                "cannot encode frame " + std::to_string(frames_) + ": " + av_message(s));
  ++frames_;
}

void VideoWriter::close() {
  Impl& v = *impl_;
  if (!v.open) return;
  v.open = false;
  int s = v.encode(nullptr);
  if (s >= 0) s = av_write_trailer(v.format);
  if (s >= 0) s = avio_closep(&v.format->pb);
  if (s < 0)
    throw Error(SourceLocation{.file = file_.string()},
                "cannot finish the video: " + av_message(s));
}

void VideoWriter::add(const std::uint8_t* rgb, int w, int h) {
  if (w == width_ && h == height_) return add(rgb);
  padded_.assign(static_cast<std::size_t>(width_) * height_ * 3, 0);
  const int cols = std::min(w, width_), rows = std::min(h, height_);
  for (int y = 0; y < rows; ++y)
    std::copy_n(rgb + static_cast<std::size_t>(y) * w * 3, static_cast<std::size_t>(cols) * 3,
                padded_.data() + static_cast<std::size_t>(y) * width_ * 3);
  add(padded_.data());
}

VideoInfo probe_video(const std::filesystem::path& file) {
  auto fail = [&](const std::string& what) {
    return Error(SourceLocation{.file = file.string()}, what);
  };
  av_log_set_level(AV_LOG_FATAL);
  AVFormatContext* format = nullptr;
  if (const int s = avformat_open_input(&format, file.c_str(), nullptr, nullptr); s < 0)
    throw fail("cannot open the video: " + av_message(s));
  std::unique_ptr<AVFormatContext, void (*)(AVFormatContext*)> guard(
      format, [](AVFormatContext* f) { avformat_close_input(&f); });
  if (avformat_find_stream_info(format, nullptr) < 0) throw fail("no stream information");
  const AVCodec* decoder = nullptr;
  const int index = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0);
  if (index < 0 || !decoder) throw fail("no video stream");
  const AVStream* stream = format->streams[index];
  std::unique_ptr<AVCodecContext, void (*)(AVCodecContext*)> codec(
      avcodec_alloc_context3(decoder), [](AVCodecContext* c) { avcodec_free_context(&c); });
  avcodec_parameters_to_context(codec.get(), stream->codecpar);
  if (avcodec_open2(codec.get(), decoder, nullptr) < 0) throw fail("cannot open the decoder");
  VideoInfo info;
  info.width = stream->codecpar->width;
  info.height = stream->codecpar->height;
  info.fps = av_q2d(stream->r_frame_rate);  // the stream's base rate (avg_frame_rate counts the
                                            // last frame's duration out)
  info.codec = decoder->name;
  AVPacket* packet = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  auto drain = [&] {
    while (avcodec_receive_frame(codec.get(), frame) >= 0)
      ++info.frames;
  };
  while (av_read_frame(format, packet) >= 0) {
    if (packet->stream_index == index && avcodec_send_packet(codec.get(), packet) >= 0) drain();
    av_packet_unref(packet);
  }
  avcodec_send_packet(codec.get(), nullptr);
  drain();
  av_frame_free(&frame);
  av_packet_free(&packet);
  return info;
}

#else  // no FFmpeg in this build

bool video_available() {
  return false;
}

struct VideoWriter::Impl {};

VideoWriter::VideoWriter(const std::filesystem::path& file, int, int, int) : file_(file) {
  throw Error(SourceLocation{.file = file.string()},
              "this simlab was built without FFmpeg's libraries (libavcodec-dev, "
              "libavformat-dev, libswscale-dev): run tools/install-deps.sh and rebuild");
}
VideoWriter::~VideoWriter() = default;
void VideoWriter::add(const std::uint8_t*) {}
void VideoWriter::add(const std::uint8_t*, int, int) {}
void VideoWriter::close() {}
VideoInfo probe_video(const std::filesystem::path& file) {
  throw Error(SourceLocation{.file = file.string()}, "this simlab was built without FFmpeg");
}

#endif

}  // namespace simlab::engine::io
