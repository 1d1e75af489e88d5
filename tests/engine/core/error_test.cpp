#include "engine/core/error.h"

#include <gtest/gtest.h>

namespace simlab {
namespace {

TEST(Error, FormatsFileLineColumnAndField) {
  const Error e(
      SourceLocation{
          .file = "scenes/push.toml", .line = 12, .column = 5, .field = "randomize.mass"},
      "min > max");
  EXPECT_STREQ(e.what(), "scenes/push.toml:12:5: randomize.mass: min > max");
  EXPECT_EQ(e.message(), "min > max");
  EXPECT_EQ(e.where().line, 12);
}

TEST(Error, LeavesOutUnknownParts) {
  EXPECT_STREQ(Error(SourceLocation{.file = "a.xml"}, "no such file").what(),
               "a.xml: no such file");
  EXPECT_STREQ(Error(SourceLocation{.field = "actions"}, "bad shape").what(), "actions: bad shape");
  EXPECT_STREQ(Error(SourceLocation{.file = "a.xml", .line = 3}, "x").what(), "a.xml:3: x");
  EXPECT_STREQ(Error("plain").what(), "plain");
}

TEST(Check, ThrowsLogicErrorWithConditionAndMessage) {
  try {
    const int n = -1;
    SIMLAB_CHECK(n > 0) << "n=" << n;
    FAIL() << "SIMLAB_CHECK did not throw";
  } catch (const std::logic_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("n > 0"), std::string::npos) << what;
    EXPECT_NE(what.find("n=-1"), std::string::npos) << what;
    EXPECT_NE(what.find("error_test.cpp"), std::string::npos) << what;
  }
}

TEST(Check, PassingCheckDoesNothing) {
  EXPECT_NO_THROW(SIMLAB_CHECK(1 + 1 == 2) << "never");
}

}  // namespace
}  // namespace simlab
