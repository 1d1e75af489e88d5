// The libFuzzer entry point of one target (targets.h), chosen by SIMLAB_FUZZ_TARGET at compile
// time: fuzz_scene_spec, fuzz_model, fuzz_event_file, fuzz_records.
#include <cstddef>
#include <cstdint>

#include "engine/core/error.h"
#include "tests/fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    simlab::fuzz::SIMLAB_FUZZ_TARGET(data, size);
  } catch (const simlab::Error&) {  // bad input, refused as it should be
  }
  return 0;
}
