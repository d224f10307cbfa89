#include "net/sse.h"

#include <gtest/gtest.h>

#include <vector>

namespace xervo::net {
namespace {

struct Collected {
  std::vector<SseEvent> events;
  SseParser parser{[this](const SseEvent& e) {
    events.push_back(e);
    return true;
  }};
};

TEST(Sse, ParsesEventsFedByteByByte) {
  const std::string stream = "data: one\n\ndata: two\r\n\r\nevent: done\ndata: [DONE]\n\n";
  Collected c;
  for (char ch : stream) ASSERT_TRUE(c.parser.feed(std::string_view(&ch, 1)));
  ASSERT_EQ(c.events.size(), 3u);
  EXPECT_EQ(c.events[0].data, "one");
  EXPECT_EQ(c.events[1].data, "two");
  EXPECT_EQ(c.events[2].event, "done");
  EXPECT_EQ(c.events[2].data, "[DONE]");
}

TEST(Sse, CrLfSplitAcrossPiecesIsOneLineEnd) {
  Collected c;
  ASSERT_TRUE(c.parser.feed("data: a\r"));
  ASSERT_TRUE(c.parser.feed("\ndata: b\r"));
  ASSERT_TRUE(c.parser.feed("\n\r"));
  ASSERT_TRUE(c.parser.feed("\n"));
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].data, "a\nb");
}

TEST(Sse, BareCarriageReturnsEndLines) {
  Collected c;
  ASSERT_TRUE(c.parser.feed("data: x\r\rdata: y\r\r"));
  ASSERT_EQ(c.events.size(), 2u);
  EXPECT_EQ(c.events[1].data, "y");
}

TEST(Sse, JoinsMultiLineDataAndSkipsComments) {
  Collected c;
  ASSERT_TRUE(c.parser.feed(": keep-alive\n\ndata: {\"a\":\ndata:1}\nid: 7\nretry: 10\nunknown: z\n\n"));
  ASSERT_EQ(c.events.size(), 1u);  // the comment-only block dispatches nothing
  EXPECT_EQ(c.events[0].data, "{\"a\":\n1}");
  EXPECT_EQ(c.events[0].id, "7");
}

TEST(Sse, KeepsOnlyOneLeadingSpaceAndAcceptsFieldsWithoutColon) {
  Collected c;
  ASSERT_TRUE(c.parser.feed("data:  two spaces\n\ndata\n\n"));
  ASSERT_EQ(c.events.size(), 2u);
  EXPECT_EQ(c.events[0].data, " two spaces");
  EXPECT_EQ(c.events[1].data, "");
}

TEST(Sse, StripsAByteOrderMark) {
  Collected c;
  ASSERT_TRUE(c.parser.feed("\xEF\xBB"));
  ASSERT_TRUE(
      c.parser.feed("\xBF"
                    "data: x\n\n"));
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].data, "x");
}

TEST(Sse, UnterminatedLastEventIsDroppedAndReported) {
  Collected c;
  ASSERT_TRUE(c.parser.feed("data: complete\n\ndata: cut off"));
  c.parser.finish();
  EXPECT_EQ(c.events.size(), 1u);
  EXPECT_TRUE(c.parser.has_partial_event());
}

TEST(Sse, CallbackCanStopTheStream) {
  int seen = 0;
  SseParser parser([&](const SseEvent&) { return ++seen < 2; });
  EXPECT_FALSE(parser.feed("data: 1\n\ndata: 2\n\ndata: 3\n\n"));
  EXPECT_EQ(seen, 2);
  EXPECT_FALSE(parser.feed("data: 4\n\n"));
  EXPECT_EQ(seen, 2);
}

TEST(Sse, OversizedEventFailsInsteadOfGrowingWithoutBound) {
  SseParser parser([](const SseEvent&) { return true; }, 1024);
  const std::string line(600, 'x');
  bool ok = true;
  for (int i = 0; i < 4 && ok; ++i) ok = parser.feed("data: " + line + "\n");
  EXPECT_FALSE(ok);
  EXPECT_TRUE(parser.overflowed());
  SseParser no_newline([](const SseEvent&) { return true; }, 1024);
  EXPECT_FALSE(no_newline.feed(std::string(5000, 'y')));
}

}  // namespace
}  // namespace xervo::net
