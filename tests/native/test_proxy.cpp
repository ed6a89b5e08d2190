// GoogleTest suite for src/core/proxy: trusted networks and the client a proxy chain names.
#include "core/proxy.h"

#include <gtest/gtest.h>

namespace tiercel {
namespace {

TrustedProxies trusted(std::string_view list) {
  TrustedProxies t;
  std::string error;
  EXPECT_TRUE(t.parse(list, error)) << error;
  return t;
}

TEST(Proxy, Networks) {
  TrustedProxies t = trusted("127.0.0.1, 10.0.0.0/8, 192.168.1.128/25, 2001:db8::/32");
  EXPECT_TRUE(t.trusts("127.0.0.1"));
  EXPECT_TRUE(t.trusts("::ffff:127.0.0.1"));
  EXPECT_FALSE(t.trusts("127.0.0.2"));
  EXPECT_TRUE(t.trusts("10.255.1.2"));
  EXPECT_FALSE(t.trusts("11.0.0.1"));
  EXPECT_TRUE(t.trusts("192.168.1.200"));
  EXPECT_FALSE(t.trusts("192.168.1.100"));
  EXPECT_TRUE(t.trusts("2001:db8:1::5"));
  EXPECT_FALSE(t.trusts("2001:db9::1"));
  EXPECT_FALSE(t.trusts("not an ip"));
  EXPECT_FALSE(t.trusts(""));
  EXPECT_TRUE(trusted("*").trusts("8.8.8.8"));
}

TEST(Proxy, ParseErrors) {
  TrustedProxies t;
  std::string error;
  EXPECT_FALSE(t.parse("10.0.0.0/33", error));
  EXPECT_NE(error.find("prefix"), std::string::npos);
  EXPECT_FALSE(t.parse("localhost", error));
  EXPECT_FALSE(t.parse("10.0.0.0/x", error));
  EXPECT_FALSE(t.parse("::1/129", error));
}

TEST(Proxy, ResolveChains) {
  TrustedProxies t = trusted("127.0.0.1,10.0.0.0/8");
  auto r = resolve_forwarded({{"X-Forwarded-For", "1.2.3.4, 203.0.113.7, 10.0.0.5"}, {"X-Forwarded-Proto", "https"}}, t);
  EXPECT_EQ(r.ip, "203.0.113.7");
  EXPECT_EQ(r.scheme, "https");
  // Repeated headers form one list, in order.
  r = resolve_forwarded({{"x-forwarded-for", "1.2.3.4"}, {"X-FORWARDED-FOR", "10.0.0.9"}}, t);
  EXPECT_EQ(r.ip, "1.2.3.4");
  r = resolve_forwarded({{"Forwarded", "for=\"[2001:db8::1]:80\";proto=HTTPS, for=10.0.0.1;proto=http"}}, t);
  EXPECT_EQ(r.ip, "2001:db8::1");
  EXPECT_EQ(r.scheme, "https");
  r = resolve_forwarded({{"Forwarded", "for=unknown"}}, t);
  EXPECT_TRUE(r.ip.empty());
  r = resolve_forwarded({{"X-Forwarded-Proto", "ftp"}}, t);
  EXPECT_TRUE(r.scheme.empty());
  r = resolve_forwarded({}, t);
  EXPECT_TRUE(r.ip.empty() && r.scheme.empty());
}

}  // namespace
}  // namespace tiercel
