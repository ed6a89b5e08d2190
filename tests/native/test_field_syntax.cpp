// GoogleTest suite for src/core/field_syntax: ASCII-only case folding, OWS trimming, comma-separated lists
// (RFC 9110 §5.6.1) and IMF-fixdate HTTP dates (RFC 9110 §5.6.7).
#include "core/field_syntax.h"

#include <gtest/gtest.h>

#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace tiercel {
namespace {

TEST(Text, AsciiIequalFoldsLettersOnly) {
  EXPECT_TRUE(ascii_iequal("Content-Type", "content-TYPE"));
  EXPECT_TRUE(ascii_iequal("", ""));
  EXPECT_FALSE(ascii_iequal("gzip", "gzip "));
  EXPECT_FALSE(ascii_iequal("gzi", "gzip"));
  // Bytes 0x20 apart that are not letters must stay different: '@' / '`', '[' / '{', '^' / '~'.
  EXPECT_FALSE(ascii_iequal("@", "`"));
  EXPECT_FALSE(ascii_iequal("[", "{"));
  EXPECT_FALSE(ascii_iequal("^", "~"));
  EXPECT_FALSE(ascii_iequal("\xC4", "\xE4"));  // Latin-1 Ä / ä: not ASCII, not folded
  EXPECT_FALSE(ascii_iequal("K", "\xE2\x84\xAA"));  // KELVIN SIGN is no 'k'
}

TEST(Text, AsciiLowerLeavesOtherBytes) {
  EXPECT_EQ(ascii_lower("HeLLo-World_09"), "hello-world_09");
  EXPECT_EQ(ascii_lower("@[`{\xC4\xD6"), "@[`{\xC4\xD6");
  EXPECT_EQ(ascii_lower(""), "");
}

TEST(Text, TrimOwsTrimsSpacesAndTabsOnly) {
  EXPECT_EQ(trim_ows(" \t a b \t "), "a b");
  EXPECT_EQ(trim_ows("   "), "");
  EXPECT_EQ(trim_ows(""), "");
  EXPECT_EQ(trim_ows("\r\nx\v"), "\r\nx\v");  // OWS is SP / HTAB (RFC 9110 §5.6.3)
}

std::vector<std::string> items(std::string_view list) {
  std::vector<std::string> out;
  each_list_item(list, [&](std::string_view item) {
    out.emplace_back(item);
    return true;
  });
  return out;
}

TEST(Text, ListItemsTrimmedEmptyOnesSkipped) {
  // RFC 9110 §5.6.1.2: recipients accept empty elements ("foo,,bar", ", foo") and ignore them.
  EXPECT_EQ(items("gzip, br ,zstd"), (std::vector<std::string>{"gzip", "br", "zstd"}));
  EXPECT_EQ(items(", foo,,\tbar ,"), (std::vector<std::string>{"foo", "bar"}));
  EXPECT_EQ(items(" , "), std::vector<std::string>{});
  EXPECT_EQ(items("a;q=0.5, b"), (std::vector<std::string>{"a;q=0.5", "b"}));
}

TEST(Text, ListWalkStopsWhenTold) {
  int calls = 0;
  bool all = each_list_item("a, stop, c", [&](std::string_view item) {
    ++calls;
    return item != "stop";
  });
  EXPECT_FALSE(all);
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(each_list_item("", [](std::string_view) { return false; }));  // nothing to stop at
}

TEST(Text, FormatsImfFixdate) {
  // RFC 9110 §5.6.7's example, 784111777 seconds after the epoch.
  EXPECT_EQ(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(http_date(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");  // a leap day
  EXPECT_EQ(http_date(1'700'000'000), "Tue, 14 Nov 2023 22:13:20 GMT");
  char buf[40];
  EXPECT_EQ(format_http_date(784111777, buf, sizeof buf), 29u);
  EXPECT_EQ(std::string(buf), "Sun, 06 Nov 1994 08:49:37 GMT");
  char small[10];
  EXPECT_EQ(format_http_date(784111777, small, sizeof small), 9u) << "what was written, not what would have been";
  EXPECT_EQ(std::string(small), "Sun, 06 N");
}

TEST(Text, ParsesImfFixdateOnly) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT\t"), 784111777);  // a field value's OWS
  EXPECT_EQ(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT"), 951782400);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), -1);  // obsolete RFC 850 form
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), -1);        // obsolete asctime() form
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37"), -1);       // no GMT
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT junk"), -1);
  EXPECT_EQ(parse_http_date(""), -1);
  EXPECT_EQ(parse_http_date("yesterday"), -1);
  for (std::time_t t : {std::time_t{0}, std::time_t{86399}, std::time_t{1'700'000'000}, std::time_t{4102444799}}) {
    EXPECT_EQ(parse_http_date(http_date(t)), t) << t;
  }
}

}  // namespace
}  // namespace tiercel
