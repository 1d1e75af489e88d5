// Reading a spec's TOML with located errors (spec_reader.h), and did_you_mean (scene.h).
#include "scenes/spec_reader.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include <climits>

#include "scenes/scene.h"

namespace simlab::scenes {
namespace detail {

namespace fs = std::filesystem;

SourceLocation at(const fs::path& file, const toml::source_region& region, std::string key) {
  return {file.string(), static_cast<int>(region.begin.line), static_cast<int>(region.begin.column),
          std::move(key)};
}

std::string num(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

std::string type_name(const toml::node& node) {
  std::ostringstream out;
  out << node.type();
  return out.str();
}

void Errors::add(const Error& e) {
  // One error per place: a value refused as not finite is not refused again by its field's check.
  const auto& w = e.where();
  for (const auto& seen : errors_)
    if (w.line > 0 && seen.where().file == w.file && seen.where().line == w.line &&
        seen.where().column == w.column)
      return;
  errors_.push_back(e);
  if (errors_.size() >= kLimit) throw_if_any();
}

void Errors::throw_if_any() const {
  if (errors_.empty()) return;
  if (errors_.size() == 1) throw errors_.front();
  // In the order of the file (errors without a line last), as an editor lists them.
  std::vector<const Error*> sorted;
  for (const auto& e : errors_)
    sorted.push_back(&e);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Error* a, const Error* b) {
    const int la = a->where().line > 0 ? a->where().line : INT_MAX;
    const int lb = b->where().line > 0 ? b->where().line : INT_MAX;
    return la < lb;
  });
  std::ostringstream message;
  message << sorted.front()->message();
  for (std::size_t i = 1; i < sorted.size(); ++i)
    message << '\n' << sorted[i]->what();
  message << '\n' << errors_.size() << " errors";
  if (errors_.size() >= kLimit) message << " (checking stopped at " << kLimit << ")";
  throw Error(sorted.front()->where(), message.str());
}

void Reader::only(const std::vector<std::string>& allowed) const {
  for (auto&& [key, value] : table_) {
    const std::string k(key.str());
    if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
    Error unknown(at(file_, key.source(), prefix_ + k),
                  "unknown key" + suggest(k, allowed, "known keys"));
    if (!errors_) throw unknown;
    errors_->add(unknown);
  }
}

double Reader::number(const std::string& key, double fallback, SourceLocation* where) const {
  const toml::node* node = table_.get(key);
  if (!node) return fallback;
  if (where) *where = at(file_, node->source(), prefix_ + key);
  if (auto v = node->value<double>()) return *v;
  throw Error(at(file_, node->source(), prefix_ + key),
              "expected a number, got " + type_name(*node));
}

std::string Reader::text(const std::string& key, const std::string& fallback,
                         SourceLocation* where) const {
  const toml::node* node = table_.get(key);
  if (!node) return fallback;
  if (where) *where = at(file_, node->source(), prefix_ + key);
  if (auto v = node->value<std::string>()) return *v;
  throw Error(at(file_, node->source(), prefix_ + key),
              "expected a string, got " + type_name(*node));
}

std::string Reader::required_text(const std::string& key) const {
  if (!table_.get(key))
    throw Error(at(file_, table_.source(), prefix_ + key), "missing required key");
  return text(key, "");
}

SourceLocation Reader::where(const std::string& key) const {
  const toml::node* node = table_.get(key);
  return at(file_, node ? node->source() : table_.source(), prefix_ + key);
}

std::pair<double, double> Reader::range(const std::string& key,
                                        std::pair<double, double> fallback) const {
  const toml::node* node = table_.get(key);
  if (!node) return fallback;
  if (auto v = node->value<double>()) return {*v, *v};
  const toml::array* pair = node->as_array();
  if (!pair || pair->size() != 2 || !(*pair)[0].value<double>() || !(*pair)[1].value<double>())
    throw Error(where(key), "expected [low, high] (two numbers) or one number");
  const double lo = *(*pair)[0].value<double>(), hi = *(*pair)[1].value<double>();
  if (lo > hi) throw Error(where(key), "low (" + num(lo) + ") > high (" + num(hi) + ")");
  return {lo, hi};
}

int Reader::integer(const std::string& key, int fallback) const {
  const double x = number(key, fallback);
  if (!std::isfinite(x) || x != std::floor(x))
    throw Error(where(key), "expected a whole number, got " + num(x));
  if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max())
    throw Error(where(key), num(x) + " is out of range (at most " +
                                std::to_string(std::numeric_limits<int>::max()) + ")");
  return static_cast<int>(x);
}

bool Reader::flag(const std::string& key, bool fallback) const {
  const toml::node* node = table_.get(key);
  if (!node) return fallback;
  if (const auto* b = node->as_boolean()) return b->get();
  throw Error(where(key), "expected true or false, got " + type_name(*node));
}

void check_finite(const fs::path& file, const toml::node& node, const std::string& key,
                  Errors& errors) {
  if (const auto* t = node.as_table()) {
    for (auto&& [k, v] : *t)
      check_finite(file, v, key.empty() ? std::string(k.str()) : key + "." + std::string(k.str()),
                   errors);
  } else if (const auto* a = node.as_array()) {
    for (std::size_t i = 0; i < a->size(); ++i)
      check_finite(file, (*a)[i], key + "[" + std::to_string(i) + "]", errors);
  } else if (const auto* f = node.as_floating_point()) {
    if (!std::isfinite(f->get()))
      errors.add(Error(at(file, node.source(), key),
                       "is " + num(f->get()) + ": every spec value must be a finite number"));
  }
}

std::vector<std::string> Reader::names(const std::string& key,
                                       std::vector<std::string> fallback) const {
  const toml::node* node = table_.get(key);
  if (!node) return fallback;
  if (auto v = node->value<std::string>()) return {*v};
  const toml::array* array = node->as_array();
  if (!array) throw Error(where(key), "expected an array of names, e.g. [\"a\", \"b\"]");
  std::vector<std::string> out;
  for (const auto& n : *array) {
    auto name = n.value<std::string>();
    if (!name) throw Error(where(key), "expected a name (string), got " + type_name(n));
    out.push_back(*name);
  }
  return out;
}

const toml::table* Reader::table(const std::string& key) const {
  const toml::node* node = table_.get(key);
  if (!node) return nullptr;
  if (const toml::table* t = node->as_table()) return t;
  throw Error(where(key), "expected a table ([" + prefix_ + key + "])");
}

const toml::array* Reader::array(const std::string& key) const {
  const toml::node* node = table_.get(key);
  return node ? node->as_array() : nullptr;
}

void Reader::vec3(const std::string& key, double out[3]) const {
  const toml::node* node = table_.get(key);
  if (!node) return;
  const toml::array* a = node->as_array();
  if (!a || a->size() != 3 || !(*a)[0].value<double>() || !(*a)[1].value<double>() ||
      !(*a)[2].value<double>())
    throw Error(where(key), "expected [x, y, z] (three numbers)");
  for (std::size_t k = 0; k < 3; ++k)
    out[k] = *(*a)[k].value<double>();
}

}  // namespace detail

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  // Levenshtein distance; a suggestion must be within a third of the word's length (at least 2).
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
      row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      std::size_t diag = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        const std::size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diag = up;
      }
    }
    return row[b.size()];
  };
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    const std::size_t d = distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

}  // namespace simlab::scenes
