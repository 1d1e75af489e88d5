// One writer per output: an advisory lock (flock) on a lock file, held for the life of the object.
//
// The lock file holds its holder's PID, host, start time and command. A second writer is refused
// at once with an Error naming them. The kernel drops a flock when its process dies however it
// dies, so a lock file left by a killed run is simply taken over, with a notice naming the run
// that left it. The file is emptied on release, never removed: removing it would let two
// processes hold locks on two different files of the same name.
//
// Where simlab takes one: `simlab train` (DIR/.simlab.lock, the writing rank only), `simlab
// export` (DIR/.simlab.lock) and `simlab gen` (DIR/STEM.lock per shard, so that the shards of one
// job still run side by side in one folder).
#pragma once

#include <filesystem>
#include <string>

namespace simlab::engine::io {

class FileLock {
 public:
  // Locks `file` (created if missing). `what` says what is locked in messages ("run folder
  // runs/x", "shard 2 of 8 in data/push"); `command` is recorded for whoever is refused. Throws
  // simlab::Error (field "out") when another process holds it or the file cannot be created.
  FileLock(std::filesystem::path file, const std::string& what, const std::string& command);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  // "" or what the lock file said about a run that ended without releasing it (killed).
  const std::string& notice() const { return notice_; }
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  int fd_ = -1;
  std::string notice_;
};

// The command line of this process (from /proc/self/cmdline), for lock files and records.
std::string this_command();

}  // namespace simlab::engine::io
