// GoogleTest suite for RouteTable (core/route_table.h): route ids, entries, and the stream limit per route.
// follow registration order with no gap for a refused route, and entry()/stream_limit() answer for any id.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/route_table.h"

namespace tiercel {
namespace {

RouteMatch match(const RouteTable& t, Method m, std::string_view path) {
  std::vector<PathParam> params;
  return t.router.match(m, path, params);
}

TEST(RouteTable, IdsFollowRegistrationAndTheRouterMatchesThem) {
  RouteTable t;
  std::string error;
  EXPECT_EQ(t.add(Method::kGet, "/", error), 0u);
  EXPECT_EQ(t.add(Method::kGet, "/users/:id", error), 1u);
  EXPECT_EQ(t.add(Method::kPost, "/users/:id", error), 2u);
  EXPECT_TRUE(error.empty()) << error;
  ASSERT_EQ(t.entries.size(), 3u);
  RouteMatch m = match(t, Method::kPost, "/users/7");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(m.route_id, 2u);
  EXPECT_EQ(match(t, Method::kGet, "/users/7").route_id, 1u);
  EXPECT_EQ(match(t, Method::kGet, "/").route_id, 0u);
}

TEST(RouteTable, RefusedRouteTakesNoIdAndSaysWhy) {
  RouteTable t;
  std::string error;
  ASSERT_EQ(t.add(Method::kGet, "/a", error), 0u);
  EXPECT_EQ(t.add(Method::kGet, "/a", error), UINT32_MAX) << "a clash";
  EXPECT_NE(error.find("already registered"), std::string::npos) << error;
  error.clear();
  EXPECT_EQ(t.add(Method::kGet, "b", error), UINT32_MAX) << "not starting with '/'";
  EXPECT_NE(error.find("must start with '/'"), std::string::npos) << error;
  EXPECT_EQ(t.entries.size(), 1u);
  error.clear();
  EXPECT_EQ(t.add(Method::kGet, "/b", error), 1u) << "the next route gets the next id: no gap";
  EXPECT_EQ(match(t, Method::kGet, "/b").route_id, 1u);
}

TEST(RouteTable, EntriesAnswerForEveryId) {
  RouteTable t;
  std::string error;
  uint32_t plain = t.add(Method::kGet, "/plain", error);
  uint32_t upload = t.add(Method::kPost, "/upload", error);
  t.entries[upload].stream_body_limit = 1 << 20;
  const RouteEntry* e = t.entry(plain);
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->const_answer) << "a new route is dispatched per request";
  EXPECT_EQ(e->stream_body_limit, 0u);
  EXPECT_EQ(t.entry(upload), &t.entries[upload]);
  EXPECT_EQ(t.stream_limit(plain), 0u) << "gets its body whole";
  EXPECT_EQ(t.stream_limit(upload), 1u << 20);
  EXPECT_EQ(t.entry(2), nullptr) << "past the last id";
  EXPECT_EQ(t.entry(UINT32_MAX), nullptr);
  EXPECT_EQ(t.stream_limit(UINT32_MAX), 0u) << "an unknown route streams nothing";
}

}  // namespace
}  // namespace tiercel
