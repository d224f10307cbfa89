// log_escape: what clients and model files send can never forge or reorder a log line.
#include "core/log.h"

#include <gtest/gtest.h>

namespace xervo {
namespace {

TEST(LogEscape, PlainTextAndUtf8StayAsTheyAre) {
  EXPECT_EQ(log_escape("embed/test"), "embed/test");
  EXPECT_EQ(log_escape("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(log_escape(""), "");
}

TEST(LogEscape, NewlinesQuotesAndControlBytesAreEscaped) {
  EXPECT_EQ(log_escape("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(log_escape("say \"hi\" \\ bye"), "say \\\"hi\\\" \\\\ bye");
  EXPECT_EQ(log_escape(std::string("nul\0bell\x07"
                                   "del\x7f",
                                   13)),
            "nul\\x00bell\\x07del\\x7f");
  EXPECT_EQ(log_escape("\x1b[31mred"), "\\x1b[31mred");
}

TEST(LogEscape, BytesThatAreNotUtf8AreEscaped) {
  EXPECT_EQ(log_escape("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(log_escape("\xc3"), "\\xc3");                             // truncated sequence
  EXPECT_EQ(log_escape("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(log_escape("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // a surrogate
  EXPECT_EQ(log_escape("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
}

TEST(LogEscape, SeparatorsAndBidiOverridesAreEscaped) {
  EXPECT_EQ(log_escape("a\xe2\x80\xa8"
                       "b"),
            "a\\u{2028}b");  // line separator
  EXPECT_EQ(log_escape("a\xc2\x85"
                       "b"),
            "a\\u{0085}b");  // NEL
  EXPECT_EQ(log_escape("\xe2\x80\xae"
                       "gpj"),
            "\\u{202e}gpj");  // right-to-left override
}

TEST(LogEscape, LongValuesAreCutWithTheirLength) {
  std::string out = log_escape(std::string(10000, 'x'));
  EXPECT_EQ(out, std::string(kLogEscapeMaxBytes, 'x') + "\xe2\x80\xa6[10000 bytes]");
  // Never cut inside an escape: 255 'x' then a newline would need 257 bytes.
  out = log_escape(std::string(kLogEscapeMaxBytes - 1, 'x') + "\n" + "tail");
  EXPECT_EQ(out, std::string(kLogEscapeMaxBytes - 1, 'x') + "\xe2\x80\xa6[" +
                     std::to_string(kLogEscapeMaxBytes + 4) + " bytes]");
  EXPECT_EQ(log_escape(std::string(kLogEscapeMaxBytes, 'y')), std::string(kLogEscapeMaxBytes, 'y'));
}

}  // namespace
}  // namespace xervo
