// What each fuzz target does with one input, shared by the libFuzzer entry point
// (fuzz_main.cpp) and by regression_test.cpp, which replays the saved reproducers and seeds in
// every build.
//
// Each function hands the bytes to simlab's own readers and returns normally when they are
// accepted or refused with simlab::Error, the expected answer to bad input. Anything else is a
// finding: another exception escapes (std::logic_error from SIMLAB_CHECK when an invariant the
// target checks fails), or the process crashes, hangs or draws a sanitizer report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace simlab::fuzz {

// A scene spec (TOML): scenes::parse_scene, with_randomization in every mode, then compile_scene
// (at most two variants, no arena probe) and a few steps of two envs when the scene compiles.
void scene_spec(const std::uint8_t* data, std::size_t size);
// A model file (MJCF or URDF) written to a temporary file: engine::physics::load_model (with a
// short arena probe), a world reset, stepped and observed, and the model written back as MJCF.
void model(const std::uint8_t* data, std::size_t size);
// A TensorBoard event file written to a temporary file: engine::io::read_records and decode_event
// on each record; decode_event on the raw bytes too (the CRCs would stop most mutations first).
void event_file(const std::uint8_t* data, std::size_t size);
// JSON simlab reads back: a shard record (ShardRecord::from_json, and as the only record of a
// dataset folder: read_shard_records, merge_manifest), a checksum record (FileSum::from_json,
// verify_sum_file) and a dataset's observation terms (parse_obs_terms).
void records(const std::uint8_t* data, std::size_t size);

// A policy card (JSON): the layout check against cartpole-balance's spaces, the action limits,
// the card's scene (its embedded spec parsed) and the checksum check of a policy file beside it.
void policy_card(const std::uint8_t* data, std::size_t size);

struct Target {
  std::string_view name;  // the folder under corpus/ and regressions/
  void (*run)(const std::uint8_t* data, std::size_t size);
};
std::span<const Target> targets();

}  // namespace simlab::fuzz
