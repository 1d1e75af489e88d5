// Typed options as words: an enum's words in one table, for the name of a value and the value of
// a word. Front ends parse words once, at the edge; run folders and JSON record the words.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace simlab {

template <class E>
struct Choice {
  const char* word;
  E value;
};

// The word of `value` in `table` ("?" if it has none).
template <class E, std::size_t N>
const char* choice_name(const Choice<E> (&table)[N], E value) {
  for (const auto& c : table)
    if (c.value == value) return c.word;
  return "?";
}

// The value of `word`, or nothing.
template <class E, std::size_t N>
std::optional<E> choice_value(const Choice<E> (&table)[N], const std::string& word) {
  for (const auto& c : table)
    if (word == c.word) return c.value;
  return std::nullopt;
}

// "a, b or c": the words, for "expected ..." messages.
template <class E, std::size_t N>
std::string choice_words(const Choice<E> (&table)[N]) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i)
    out += (i == 0 ? "" : i + 1 == N ? " or " : ", ") + std::string(table[i].word);
  return out;
}

}  // namespace simlab
