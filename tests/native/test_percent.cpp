// GoogleTest suite for src/core/percent: %XX escapes (RFC 3986 §2.1), '+' as space in query strings only
// (application/x-www-form-urlencoded), malformed escapes kept as they are, and query-string splitting.
#include "core/percent.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace tiercel {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(PercentDecode, ValidEscapesEitherCase) {
  EXPECT_EQ(percent_decode("caf%C3%A9", false), "caf\xC3\xA9");  // UTF-8 of é, as bytes
  EXPECT_EQ(percent_decode("%41%62%7a", false), "Abz");
  EXPECT_EQ(percent_decode("%4a%4A", false), "JJ");  // hex digits are case-insensitive (RFC 3986 §2.1)
  EXPECT_EQ(percent_decode("a%20b", false), "a b");
  EXPECT_EQ(percent_decode("%2F", false), "/");
  EXPECT_EQ(percent_decode("%00", false), std::string("\0", 1));
  EXPECT_EQ(percent_decode("%FF", false), "\xFF");
  EXPECT_EQ(percent_decode("", false), "");
}

TEST(PercentDecode, PlusIsASpaceOnlyInQueries) {
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  EXPECT_EQ(percent_decode("a+b", false), "a+b");
  EXPECT_EQ(percent_decode("%2B", true), "+");  // an escaped plus stays a plus
  EXPECT_EQ(percent_decode("++", true), "  ");
}

TEST(PercentDecode, DecodesOnce) {
  EXPECT_EQ(percent_decode("%2541", false), "%41");
  EXPECT_EQ(percent_decode("%252F", false), "%2F");
}

TEST(PercentDecode, MalformedEscapesAreKept) {
  EXPECT_EQ(percent_decode("%", false), "%");
  EXPECT_EQ(percent_decode("100%", false), "100%");
  EXPECT_EQ(percent_decode("%4", false), "%4");     // truncated at the end
  EXPECT_EQ(percent_decode("a%4", true), "a%4");
  EXPECT_EQ(percent_decode("%zz", false), "%zz");
  EXPECT_EQ(percent_decode("%4g", false), "%4g");
  EXPECT_EQ(percent_decode("%g4", false), "%g4");
  EXPECT_EQ(percent_decode("% 41", false), "% 41");
  EXPECT_EQ(percent_decode("%%41", false), "%A");   // the first '%' is not an escape; the second is
  EXPECT_EQ(percent_decode("%+1", true), "% 1");    // not an escape, and its '+' is still a space
}

TEST(PercentDecode, BytesAreNotValidatedAsUtf8) {
  // An overlong encoding of '/' (C0 AF) and a lone continuation byte come out as the bytes they are: decoding
  // never turns them into the character they would spell, so "..%C0%AF" cannot become "../".
  EXPECT_EQ(percent_decode("..%C0%AF", false), "..\xC0\xAF");
  EXPECT_EQ(percent_decode("%80", false), "\x80");
  EXPECT_EQ(percent_decode("%E2%82", false), "\xE2\x82");  // a truncated sequence
}

TEST(PercentDecode, NeedsDecodeSaysWhetherAnythingChanges) {
  EXPECT_FALSE(needs_decode("plain/path", false));
  EXPECT_TRUE(needs_decode("a%20b", false));
  EXPECT_TRUE(needs_decode("a+b", true));
  EXPECT_FALSE(needs_decode("a+b", false));
  EXPECT_FALSE(needs_decode("", true));
  for (const char* s : {"x", "a+b", "%41", "q=1&r=2"}) {
    for (bool plus : {false, true}) {
      if (!needs_decode(s, plus)) {
        EXPECT_EQ(percent_decode(s, plus), s) << s;
      }
    }
  }
}

TEST(ParseQuery, PairsInOrderDecoded) {
  EXPECT_EQ(parse_query("a=1&b=2&a=3"), (Pairs{{"a", "1"}, {"b", "2"}, {"a", "3"}}));
  EXPECT_EQ(parse_query("q=a+b%26c"), (Pairs{{"q", "a b&c"}}));  // an escaped '&' does not split
  EXPECT_EQ(parse_query("a%3Db=c"), (Pairs{{"a=b", "c"}}));      // nor does an escaped '=' in the key
  EXPECT_EQ(parse_query("k=a=b"), (Pairs{{"k", "a=b"}}));        // the first '=' splits
  EXPECT_EQ(parse_query("na%C3%AFve=%E2%9C%93"), (Pairs{{"na\xC3\xAFve", "\xE2\x9C\x93"}}));
}

TEST(ParseQuery, FlagsEmptiesAndEmptyPieces) {
  EXPECT_EQ(parse_query("flag"), (Pairs{{"flag", ""}}));
  EXPECT_EQ(parse_query("a="), (Pairs{{"a", ""}}));
  EXPECT_EQ(parse_query("=v"), (Pairs{{"", "v"}}));
  EXPECT_EQ(parse_query("a=1&&b=2&"), (Pairs{{"a", "1"}, {"b", "2"}}));
  EXPECT_EQ(parse_query("&"), Pairs{});
  EXPECT_EQ(parse_query(""), Pairs{});
}

}  // namespace
}  // namespace tiercel
