// Memory checked before it is allocated: a run whose envs cannot fit is refused at once with the
// figures, instead of growing for a minute until an allocation fails or the OOM killer strikes.
//
// The budget is the least of: the machine's MemAvailable (/proc/meminfo), the room left under
// this process's cgroup limit (containers, Slurm), and SIMLAB_MEMORY_LIMIT ("16G", "512M",
// bytes) minus what the process already uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "engine/core/error.h"

namespace simlab::engine {

struct MemoryBudget {
  std::size_t bytes = 0;
  std::string source;  // which limit set it: "MemAvailable", "cgroup memory.max", ...
};

// What this process may still allocate; nullopt when nothing can be read (then nothing is
// refused). SIMLAB_MEMORY_LIMIT that does not parse is an Error naming it.
std::optional<MemoryBudget> memory_budget();

// "1.5 GB", "380 KB".
std::string format_bytes(double bytes);

// Throws an Error at `where` when `count` items of `per_item` bytes do not fit the budget: the
// total, each item's share as `breakdown` says it ("MuJoCo data 320 KB, ..."), the budget and its
// source, and how many items would fit. `what` names the items ("envs of push").
void require_memory(std::size_t per_item, std::int64_t count, const std::string& what,
                    const std::string& breakdown, const SourceLocation& where);

}  // namespace simlab::engine
