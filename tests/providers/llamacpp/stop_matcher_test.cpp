#include <gtest/gtest.h>

#include "providers/llamacpp/stop_matcher.h"
#include "providers/llamacpp/text.h"

namespace xervo::llamacpp {
namespace {

// Feeds pieces; returns what was emitted and whether a stop was hit.
std::pair<std::string, bool> feed(StopMatcher& m, const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) {
    auto s = m.push(p);
    out += s.emit;
    if (s.stopped) return {out, true};
  }
  return {out + m.flush(), false};
}

TEST(StopMatcher, StopInsideOnePieceIsCutAndNeverEmitted) {
  StopMatcher m({"END"});
  auto [out, stopped] = feed(m, {"hello ", "worldEND and more"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(out, "hello world");
}

TEST(StopMatcher, StopSpanningPiecesIsHeldBackThenCut) {
  StopMatcher m({"<|end|>"});
  auto s1 = m.push("answer <|");
  EXPECT_EQ(s1.emit, "answer ");  // "<|" may start the stop string
  auto s2 = m.push("en");
  EXPECT_EQ(s2.emit, "");
  auto s3 = m.push("d|> tail");
  EXPECT_TRUE(s3.stopped);
  EXPECT_EQ(s3.emit, "");
}

TEST(StopMatcher, HeldTextIsReleasedWhenItTurnsOutNotToBeAStop) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.push("ab ST").emit, "ab ");
  EXPECT_EQ(m.push("ART").emit, "START");
  EXPECT_EQ(m.push("x ST").emit, "x ");
  EXPECT_EQ(m.flush(), "ST");
}

TEST(StopMatcher, EarliestOfSeveralStopsWins) {
  StopMatcher m({"two", "one"});
  auto [out, stopped] = feed(m, {"zero one two"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(out, "zero ");
}

TEST(StopMatcher, NamesTheStopStringItFound) {
  StopMatcher m({"two", "one"});
  auto step = m.push("zero one two");
  EXPECT_TRUE(step.stopped);
  EXPECT_EQ(step.matched, "one");
  EXPECT_EQ(StopMatcher({"x"}).push("abc").matched, "");
}

TEST(StopMatcher, NoStopsPassesEverythingThrough) {
  StopMatcher m({"", ""});
  EXPECT_EQ(m.push("abc").emit, "abc");
  EXPECT_EQ(m.flush(), "");
}

TEST(Utf8, IncompleteTrailingSequenceIsHeldBack) {
  const std::string euro = "\xE2\x82\xAC";  // 3 bytes
  EXPECT_EQ(utf8_complete_prefix("ab"), 2u);
  EXPECT_EQ(utf8_complete_prefix("a" + euro), 4u);
  EXPECT_EQ(utf8_complete_prefix("a" + euro.substr(0, 2)), 1u);
  EXPECT_EQ(utf8_complete_prefix("a" + euro.substr(0, 1)), 1u);
  EXPECT_EQ(utf8_complete_prefix("\xF0\x9F\x98"), 0u);
  EXPECT_EQ(utf8_complete_prefix("\xF0\x9F\x98\x80"), 4u);
}

TEST(Utf8, InvalidBytesBecomeReplacementCharacters) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(utf8_sanitize("plain \xE2\x82\xAC"), "plain \xE2\x82\xAC");
  EXPECT_EQ(utf8_sanitize("a\xFF"
                          "b"),
            "a" + fffd + "b");
  EXPECT_EQ(utf8_sanitize("\xC0\x80"), fffd + fffd);             // overlong NUL
  EXPECT_EQ(utf8_sanitize("\xED\xA0\x80"), fffd + fffd + fffd);  // a surrogate
  EXPECT_EQ(utf8_sanitize("\xE2\x82x"), fffd + fffd + "x");      // cut short
}

}  // namespace
}  // namespace xervo::llamacpp
