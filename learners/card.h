// The policy card's contract, read without LibTorch: what a card says about the policy's
// observation and action layout, its action limits, the scene it was exported from, and the
// checksums of the model files beside it. A card is input like any other file: every reader here
// refuses what it cannot use with a simlab::Error naming the card and the field. (Built as its
// own library, simlab::card, so that the fuzz targets cover it in builds without LibTorch.)
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/spec.h"
#include "scenes/scene.h"

namespace simlab::learners {

// The action bounds and the safe action a policy card declares, per action element.
struct ActionLimits {
  std::vector<float> low, high;
  std::vector<float> safe;  // the card's `safe`, else 0 clamped into [low, high]
};

// The card's action.elements: low and high (missing: -1 and 1), finite with low <= high, and a
// safe action within them.
ActionLimits card_action_limits(const nlohmann::json& card, const std::string& card_file);

// Throw simlab::Error naming the first field where the card's observation or action layout
// differs from the scene's spaces (dimension, then element names).
void check_layout(const nlohmann::json& card, const std::string& card_file,
                  const engine::Space& observation, const engine::Space& action);

// The model file's content hash (FNV-1a 64 of its bytes, hex), as policy cards record it.
std::string model_hash(const std::filesystem::path& model);

// The scene a card was exported from: its embedded spec text, parsed as the file it came from (so
// its model resolves as it did, from any working folder), else the spec it names (older cards). A
// model whose bytes changed since the export is an Error naming the card's scene.model_hash.
scenes::SceneSpec card_scene(const nlohmann::json& card, const std::string& card_file);

// `file` (policy.pt or policy.onnx) against the checksum the card records for it
// (files.checksums), else against FILE.sum; nothing to check against: nothing checked. A mismatch
// is an Error naming the file, before anything parses it.
void verify_policy_file(const nlohmann::json& card, const std::string& card_file,
                        const std::filesystem::path& file);

}  // namespace simlab::learners
