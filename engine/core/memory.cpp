#include "engine/core/memory.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace simlab::engine {

namespace {

// A "Key:   123 kB" line of a /proc file, in bytes.
std::optional<std::size_t> proc_kb(const char* file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream fields(line.substr(key.size() + 1));
    std::size_t kb = 0;
    if (fields >> kb) return kb * 1024;
  }
  return std::nullopt;
}

// A file holding one number ("max" or missing: none).
std::optional<std::size_t> number_file(const std::string& file) {
  std::ifstream in(file);
  std::string text;
  if (!(in >> text) || text == "max") return std::nullopt;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (end == text.c_str()) return std::nullopt;
  return static_cast<std::size_t>(v);
}

// This process's cgroup v2 folder (from /proc/self/cgroup: "0::/path").
std::string cgroup_dir() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("0::", 0) == 0) return "/sys/fs/cgroup" + line.substr(3);
  return "";
}

std::size_t parse_size(const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  std::string unit(end ? end : "");
  unit.erase(
      std::remove_if(unit.begin(), unit.end(), [](unsigned char c) { return std::isspace(c); }),
      unit.end());
  for (auto& c : unit)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  if (unit == "K" || unit == "KB" || unit == "KIB") scale = 1024.0;
  if (unit == "M" || unit == "MB" || unit == "MIB") scale = 1024.0 * 1024;
  if (unit == "G" || unit == "GB" || unit == "GIB") scale = 1024.0 * 1024 * 1024;
  if (unit == "T" || unit == "TB" || unit == "TIB") scale = 1024.0 * 1024 * 1024 * 1024;
  if (end == text.c_str() || scale == 0 || !std::isfinite(v) || v <= 0 || v * scale > 1e18)
    throw Error(SourceLocation{.field = "SIMLAB_MEMORY_LIMIT"},
                "'" + text + "': expected a size such as 16G, 512M or a number of bytes");
  return static_cast<std::size_t>(v * scale);
}

}  // namespace

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) {
    bytes /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.3g %s", bytes, units[u]);
  return buf;
}

std::optional<MemoryBudget> memory_budget() {
  std::optional<MemoryBudget> best;
  auto consider = [&](std::optional<std::size_t> bytes, const std::string& source) {
    if (bytes && (!best || *bytes < best->bytes)) best = MemoryBudget{*bytes, source};
  };
  consider(proc_kb("/proc/meminfo", "MemAvailable"), "the machine's available memory");
  const std::string cg = cgroup_dir();
  if (!cg.empty()) {
    const auto max = number_file(cg + "/memory.max"), now = number_file(cg + "/memory.current");
    if (max && now) consider(*max > *now ? *max - *now : 0, "the room left under the cgroup limit");
  }
  if (const char* limit = std::getenv("SIMLAB_MEMORY_LIMIT"); limit && *limit) {
    const std::size_t cap = parse_size(limit);
    const std::size_t used = proc_kb("/proc/self/status", "VmRSS").value_or(0);
    consider(cap > used ? cap - used : 0, "SIMLAB_MEMORY_LIMIT=" + std::string(limit));
  }
  return best;
}

void require_memory(std::size_t per_item, std::int64_t count, const std::string& what,
                    const std::string& breakdown, const SourceLocation& where) {
  if (count <= 0 || per_item == 0) return;
  const auto budget = memory_budget();
  if (!budget) return;
  const double need = static_cast<double>(per_item) * static_cast<double>(count);
  if (need <= static_cast<double>(budget->bytes)) return;
  const auto fit = static_cast<std::int64_t>(budget->bytes / per_item);
  throw Error(where, std::to_string(count) + " " + what + " need about " + format_bytes(need) +
                         " (" + format_bytes(static_cast<double>(per_item)) + " each" +
                         (breakdown.empty() ? "" : ": " + breakdown) + "), more than the " +
                         format_bytes(static_cast<double>(budget->bytes)) + " that " +
                         budget->source + " allows; at most " + std::to_string(fit) +
                         " fit (SIMLAB_MEMORY_LIMIT=SIZE sets a budget of your own)");
}

}  // namespace simlab::engine
