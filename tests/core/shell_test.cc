#include "core/shell.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace orbit {
namespace {

TEST(ShellQuoteTest, QuotesSpacesAndSingleQuotes) {
  EXPECT_EQ(ShellQuote("plain"), "'plain'");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote(""), "''");
}

TEST(ShellQuoteTest, ShellReadsQuotedTextBackUnchanged) {
  const std::string tricky = "x y 'q' $HOME `id` \"d\" \\ ;|&";
  FILE* pipe = ::popen(("printf %s " + ShellQuote(tricky)).c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string echoed;
  char buffer[256];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) echoed += buffer;
  ASSERT_EQ(::pclose(pipe), 0);
  EXPECT_EQ(echoed, tricky);
}

}  // namespace
}  // namespace orbit
