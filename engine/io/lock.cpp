#include "engine/io/lock.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <sys/file.h>
#include <unistd.h>

#include "engine/core/error.h"

namespace simlab::engine::io {

namespace fs = std::filesystem;

namespace {

std::string read_all(int fd) {
  std::string text;
  char buf[1024];
  ::lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<std::size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0'))
    text.pop_back();
  return text;
}

std::string host_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

std::string now_text() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
  return buf;
}

}  // namespace

std::string this_command() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (auto& c : raw)
    if (c == '\0') c = ' ';
  while (!raw.empty() && raw.back() == ' ')
    raw.pop_back();
  return raw;
}

FileLock::FileLock(fs::path file, const std::string& what, const std::string& command)
    : file_(std::move(file)) {
  fd_ = ::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw Error(SourceLocation{.file = file_.string(), .field = "out"},
                std::string("cannot create the lock file: ") + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string holder = read_all(fd_);
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw Error(SourceLocation{.field = "out"},
                  what + " is being written by another simlab" +
                      (holder.empty() ? std::string() : " (" + holder + ")") +
                      ": one writer at a time. Wait for it to finish, stop it, or write "
                      "elsewhere (lock: " +
                      file_.string() + ")");
    throw Error(SourceLocation{.file = file_.string(), .field = "out"},
                std::string("cannot lock: ") + std::strerror(err));
  }
  // Ours. Anything in the file is from a holder that died without emptying it.
  const std::string left = read_all(fd_);
  if (!left.empty())
    notice_ = "a run that ended without releasing " + what + " (" + left +
              ") is not running any more: its lock is taken over";
  const std::string me = "PID " + std::to_string(::getpid()) + " on " + host_name() + ", since " +
                         now_text() + ": " + command + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) < 0) {
    // The lock holds without the note; only the refusal message of another writer is poorer.
  }
}

FileLock::~FileLock() {
  if (fd_ < 0) return;
  // Emptied, not removed: see the header.
  if (::ftruncate(fd_, 0) != 0) {
  }
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
}

}  // namespace simlab::engine::io
