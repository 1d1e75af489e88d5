// Every input a fuzzer found a bug with (tests/fuzz/regressions/TARGET/) and every seed of the
// corpus (tests/fuzz/corpus/TARGET/) through the code its fuzz target runs (targets.h), in every
// build: each is accepted, or refused with simlab::Error; any other exception fails the test
// (crashes fail it too, and sanitizer builds see what the fuzzers saw).
//
// tests/fuzz/open/TARGET/ holds the reproducers of findings not fixed yet: their test is disabled
// (run it with --gtest_also_run_disabled_tests); a fix moves its file to regressions/.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "tests/fuzz/targets.h"

namespace simlab::fuzz {
namespace {

namespace fs = std::filesystem;

// Runs every file under SIMLAB_FUZZ_DIR/folder/TARGET/ through TARGET; returns how many ran.
int replay(const std::string& folder) {
  int ran = 0;
  for (const auto& target : targets()) {
    const fs::path dir = fs::path(SIMLAB_FUZZ_DIR) / folder / std::string(target.name);
    if (!fs::is_directory(dir)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      std::ifstream in(file, std::ios::binary);
      const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      try {
        target.run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      } catch (const Error&) {  // refused, as bad input should be
      } catch (const std::exception& e) {
        ADD_FAILURE() << file.string() << ": " << e.what();
      }
      ++ran;
    }
  }
  return ran;
}

TEST(FuzzRegressions, EveryReproducerIsAcceptedOrRefusedWithAnError) {
  replay("regressions");
}

TEST(FuzzOpenFindings, DISABLED_EveryOpenReproducerIsAcceptedOrRefusedWithAnError) {
  replay("open");
}

TEST(FuzzSeeds, EverySeedIsAcceptedOrRefusedWithAnError) {
  EXPECT_GT(replay("corpus"), 0) << "no seeds under " << SIMLAB_FUZZ_DIR << "/corpus";
}

}  // namespace
}  // namespace simlab::fuzz
