#include "learners/card.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>

#include "engine/core/error.h"
#include "engine/io/checksum.h"
#include "engine/io/hash.h"

namespace simlab::learners {

namespace fs = std::filesystem;

namespace {

// card[key...] as a string, or an Error naming the field.
const nlohmann::json& field(const nlohmann::json& j, const char* key, const std::string& card_file,
                            const std::string& path) {
  if (!j.is_object() || !j.contains(key))
    throw Error(SourceLocation{.file = card_file, .field = path}, "missing from the policy card");
  return j[key];
}

std::string text(const nlohmann::json& j, const std::string& card_file, const std::string& path) {
  if (!j.is_string())
    throw Error(SourceLocation{.file = card_file, .field = path},
                "expected a string, got " + j.dump().substr(0, 60));
  return j.get<std::string>();
}

}  // namespace

ActionLimits card_action_limits(const nlohmann::json& card, const std::string& card_file) {
  const auto& elements =
      field(field(card, "action", card_file, "action"), "elements", card_file, "action.elements");
  if (!elements.is_array())
    throw Error(SourceLocation{.file = card_file, .field = "action.elements"}, "expected a list");
  ActionLimits l;
  for (std::size_t k = 0; k < elements.size(); ++k) {
    const auto& e = elements[k];
    const std::string at = "action.elements[" + std::to_string(k) + "]";
    auto number = [&](const char* key, double fallback) {
      if (!e.is_object() || !e.contains(key) || e[key].is_null()) return fallback;
      if (!e[key].is_number() || !std::isfinite(e[key].get<double>()) ||
          std::abs(e[key].get<double>()) > 3e38)
        throw Error(SourceLocation{.file = card_file, .field = at + "." + key},
                    "expected a finite number, got " + e[key].dump().substr(0, 60));
      return e[key].get<double>();
    };
    const double low = number("low", -1), high = number("high", 1);
    if (low > high)
      throw Error(SourceLocation{.file = card_file, .field = at},
                  "low " + std::to_string(low) + " > high " + std::to_string(high));
    const double safe = number("safe", std::clamp(0.0, low, high));
    if (safe < low || safe > high)
      throw Error(SourceLocation{.file = card_file, .field = at + ".safe"}, "outside [low, high]");
    l.low.push_back(static_cast<float>(low));
    l.high.push_back(static_cast<float>(high));
    l.safe.push_back(static_cast<float>(safe));
  }
  return l;
}

void check_layout(const nlohmann::json& card, const std::string& card_file,
                  const engine::Space& observation, const engine::Space& action) {
  for (const auto& [key, space] :
       {std::pair<std::string, const engine::Space*>{"observation", &observation},
        std::pair<std::string, const engine::Space*>{"action", &action}}) {
    auto where = [&](const std::string& f) {
      return SourceLocation{.file = card_file.empty() ? "policy card" : card_file, .field = f};
    };
    if (!card.is_object() || !card.contains(key) || !card[key].is_object() ||
        !card[key].contains("elements") || !card[key]["elements"].is_array())
      throw Error(where(key), "the card has no " + key + " layout");
    const auto& elements = card[key]["elements"];
    const int dim = static_cast<int>(elements.size());
    if (dim != space->dim())
      throw Error(where(key + ".dim"), "the policy takes " + std::to_string(dim) + " " + key +
                                           " elements; the scene has " +
                                           std::to_string(space->dim()));
    for (int k = 0; k < dim; ++k) {
      const auto& e = elements[k];
      const std::string name = e.is_object() && e.contains("name") && e["name"].is_string()
                                   ? e["name"].get<std::string>()
                                   : "";
      if (name != space->names()[k])
        throw Error(where(key + ".elements[" + std::to_string(k) + "].name"),
                    "the policy's " + key + " element " + std::to_string(k) + " is '" + name +
                        "'; the scene's is '" + space->names()[k] + "'");
    }
  }
}

std::string model_hash(const fs::path& model) {
  std::ifstream in(model, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  engine::io::Fnv1a64 h;
  h.add(bytes.data(), bytes.size());
  return h.hex();
}

scenes::SceneSpec card_scene(const nlohmann::json& card, const std::string& card_file) {
  const auto& scene = field(card, "scene", card_file, "scene");
  if (!scene.is_object())
    throw Error(SourceLocation{.file = card_file, .field = "scene"}, "expected an object");
  if (!scene.contains("spec_text"))
    return scenes::load_scene(scenes::resolve_scene(
        text(field(scene, "spec", card_file, "scene.spec"), card_file, "scene.spec")));
  const std::string spec_text = text(scene["spec_text"], card_file, "scene.spec_text");
  std::string spec_file;
  if (scene.contains("spec_file"))
    spec_file = text(scene["spec_file"], card_file, "scene.spec_file");
  else if (scene.contains("spec"))
    spec_file = text(scene["spec"], card_file, "scene.spec");
  auto spec = scenes::parse_scene(spec_text, spec_file);
  if (scene.contains("model_hash")) {
    const std::string want = text(scene["model_hash"], card_file, "scene.model_hash");
    const std::string have = model_hash(spec.model);
    if (have != want)
      throw Error(SourceLocation{.file = card_file, .field = "scene.model_hash"},
                  "the model " + spec.model.string() +
                      " changed since the policy was exported: its hash is " + have +
                      ", the card's " + want +
                      " (pass --scene to evaluate on the changed model anyway)");
  }
  return spec;
}

void verify_policy_file(const nlohmann::json& card, const std::string& card_file,
                        const fs::path& file) {
  const std::string name = file.filename().string();
  const nlohmann::json* sums = nullptr;
  if (card.is_object() && card.contains("files") && card["files"].is_object() &&
      card["files"].contains("checksums") && card["files"]["checksums"].is_object())
    sums = &card["files"]["checksums"];
  if (sums && sums->contains(name))
    engine::io::verify_sum(
        file, engine::io::FileSum::from_json((*sums)[name], card_file + ": files.checksums"),
        "exported policy");
  else
    engine::io::verify_sum_file(file, "exported policy");
}

}  // namespace simlab::learners
