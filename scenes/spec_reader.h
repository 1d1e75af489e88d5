// Internal to scenes/: reading a spec's TOML with every error located. A Reader wraps one table
// and the path of keys that leads to it ("reward[2]."), so each error names file:line:column and
// the full key ("reward[2].joint"); unknown keys and unknown words get the closest known one.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <toml++/toml.h>
#include <utility>
#include <vector>

#include "engine/core/error.h"
#include "scenes/terms.h"

namespace simlab::scenes::detail {

// Where `region` of `file` is, with `key` as the field.
SourceLocation at(const std::filesystem::path& file, const toml::source_region& region,
                  std::string key);

// A number as errors print it ("0.5", "1e+300").
std::string num(double x);

// The TOML type of `node` as errors name it ("string", "array").
std::string type_name(const toml::node& node);

// The value named `word` in `options`, or an error at `where` naming it and the closest option.
template <class T>
T pick(const std::vector<std::pair<std::string, T>>& options, const std::string& word,
       const SourceLocation& where, const std::string& what) {
  std::vector<std::string> names;
  for (const auto& [name, value] : options) {
    if (name == word) return value;
    names.push_back(name);
  }
  throw Error(where, "unknown " + what + " '" + word + "'" + suggest(word, names, "one of"));
}

// The errors found in one spec, so that one run reports them all: attempt() runs one part of the
// reading (a key, a [[table]] entry) and keeps its error instead of stopping. throw_if_any() then
// throws one Error with every one of them, each located, the first's location first; the
// kLimit-th error throws at once.
class Errors {
 public:
  static constexpr std::size_t kLimit = 20;
  template <class F>
  void attempt(F&& read) {
    try {
      read();
    } catch (const Error& e) {
      add(e);
    }
  }
  void add(const Error& e);
  void throw_if_any() const;
  bool empty() const { return errors_.empty(); }

 private:
  std::vector<Error> errors_;
};

// Every non-finite number (nan, inf) in a parsed spec, each an error at its place: no spec value
// means anything as one.
void check_finite(const std::filesystem::path& file, const toml::node& node, const std::string& key,
                  Errors& errors);

// Reads one table, remembering the path of keys ("reward[2].joint") for errors. With an Errors,
// unknown keys and [[table]] entries are checked one by one, every error kept.
class Reader {
 public:
  Reader(const std::filesystem::path& file, const toml::table& table, std::string prefix,
         Errors* errors = nullptr)
      : file_(file), table_(table), prefix_(std::move(prefix)), errors_(errors) {}

  // Every key must be one of `allowed`; an unknown one is named, with the closest known key.
  void only(const std::vector<std::string>& allowed) const;

  double number(const std::string& key, double fallback, SourceLocation* where = nullptr) const;

  std::string text(const std::string& key, const std::string& fallback,
                   SourceLocation* where = nullptr) const;

  std::string required_text(const std::string& key) const;

  SourceLocation where(const std::string& key) const;

  // A [low, high] pair, or one number for both; low > high is an error at the key.
  std::pair<double, double> range(const std::string& key, std::pair<double, double> fallback) const;

  // A whole number.
  int integer(const std::string& key, int fallback) const;

  // true or false (TOML's booleans; a string or number is an error at the key).
  bool flag(const std::string& key, bool fallback) const;

  // An array of strings; a single string is an array of one.
  std::vector<std::string> names(const std::string& key, std::vector<std::string> fallback) const;

  // A sub-table ([key]), or null when absent.
  const toml::table* table(const std::string& key) const;

  // An array of tables ([[key]]), each read with its path "key[i].".
  template <class F>
  void each(const std::string& key, F&& read) const {
    const toml::node* node = table_.get(key);
    if (!node) return;
    const toml::array* array = node->as_array();
    if (!array)
      throw Error(where(key), "expected an array of tables ([[" + prefix_ + key + "]]), got " +
                                  type_name(*node));
    for (std::size_t i = 0; i < array->size(); ++i) {
      auto one = [&] {
        const toml::table* t = (*array)[i].as_table();
        if (!t) throw Error(at(file_, (*array)[i].source(), prefix_ + key), "expected a table");
        read(Reader(file_, *t, prefix_ + key + "[" + std::to_string(i) + "].", errors_), i);
      };
      if (errors_)
        errors_->attempt(one);
      else
        one();
    }
  }

  // An array, or null when absent or not an array.
  const toml::array* array(const std::string& key) const;

  // Three numbers [x, y, z] into `out` (left as is when the key is absent).
  void vec3(const std::string& key, double out[3]) const;

  bool has(const std::string& key) const { return table_.get(key) != nullptr; }
  const std::filesystem::path& file() const { return file_; }
  Errors* errors() const { return errors_; }

 private:
  const std::filesystem::path& file_;
  const toml::table& table_;
  std::string prefix_;
  Errors* errors_;
};

}  // namespace simlab::scenes::detail
