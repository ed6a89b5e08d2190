// GoogleTest suite for src/core/router: matching priority, backtracking, 404 vs 405, normalisation,
// percent-encoded segments and the messages add() gives for bad routes.
#include "core/router.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tiercel {
namespace {

using Kind = RouteMatch::Kind;

constexpr uint16_t bit(Method m) { return static_cast<uint16_t>(1u << static_cast<unsigned>(m)); }

/// Registers routes and asserts each add() succeeds, so tests read as route tables.
class RouterTest : public ::testing::Test {
 protected:
  void add(Method m, std::string_view pattern, uint32_t id) {
    std::string error;
    ASSERT_TRUE(router_.add(m, pattern, id, error)) << pattern << ": " << error;
    EXPECT_TRUE(error.empty());
  }

  /// The add() error for a pattern expected to be rejected.
  std::string add_error(Method m, std::string_view pattern, uint32_t id = 999) {
    std::string error;
    EXPECT_FALSE(router_.add(m, pattern, id, error)) << pattern << " was accepted";
    EXPECT_FALSE(error.empty());
    return error;
  }

  /// Keeps its own copy of `path`, since parameter values are views into it.
  RouteMatch match(Method m, std::string_view path) {
    path_ = path;
    return router_.match(m, path_, params_);
  }

  /// Route id for a path expected to be found, or -1 (so failures print something readable).
  int64_t found(Method m, std::string_view path) {
    const RouteMatch r = match(m, path);
    return r.kind == Kind::kFound ? static_cast<int64_t>(r.route_id) : -1;
  }
  int64_t get(std::string_view path) { return found(Method::kGet, path); }

  std::map<std::string, std::string> param_map() const {
    std::map<std::string, std::string> out;
    for (const PathParam& p : params_) out.emplace(std::string(p.name), std::string(p.value));
    return out;
  }

  Router router_;
  std::string path_;
  std::vector<PathParam> params_;
};

using Params = std::map<std::string, std::string>;

TEST(RouterMethodTest, ParseMethodIsExactAndCaseSensitive) {
  EXPECT_EQ(parse_method("GET"), Method::kGet);
  EXPECT_EQ(parse_method("HEAD"), Method::kHead);
  EXPECT_EQ(parse_method("POST"), Method::kPost);
  EXPECT_EQ(parse_method("PUT"), Method::kPut);
  EXPECT_EQ(parse_method("DELETE"), Method::kDelete);
  EXPECT_EQ(parse_method("PATCH"), Method::kPatch);
  EXPECT_EQ(parse_method("OPTIONS"), Method::kOptions);
  EXPECT_EQ(parse_method("CONNECT"), Method::kConnect);
  EXPECT_EQ(parse_method("TRACE"), Method::kTrace);
  EXPECT_EQ(parse_method("get"), std::nullopt);
  EXPECT_EQ(parse_method("Get"), std::nullopt);
  EXPECT_EQ(parse_method("GETX"), std::nullopt);
  EXPECT_EQ(parse_method("GE"), std::nullopt);
  EXPECT_EQ(parse_method(""), std::nullopt);
  EXPECT_EQ(parse_method("PROPFIND"), std::nullopt);
  EXPECT_EQ(parse_method(std::string_view("GET\0", 4)), std::nullopt);
}

TEST(RouterMethodTest, MethodNameRoundTrips) {
  for (int i = 0; i < static_cast<int>(Method::kCount); ++i) {
    const auto m = static_cast<Method>(i);
    EXPECT_EQ(parse_method(method_name(m)), m);
  }
}

TEST(RouterMethodTest, AllowHeaderUsesFixedOrderAndImpliesHead) {
  EXPECT_EQ(Router::allow_header(0), "");
  EXPECT_EQ(Router::allow_header(bit(Method::kGet)), "GET, HEAD");
  EXPECT_EQ(Router::allow_header(bit(Method::kGet) | bit(Method::kHead)), "GET, HEAD");
  EXPECT_EQ(Router::allow_header(bit(Method::kHead)), "HEAD");
  EXPECT_EQ(Router::allow_header(bit(Method::kTrace) | bit(Method::kPost) | bit(Method::kGet)), "GET, HEAD, POST, TRACE");
  uint16_t all = 0;
  for (int i = 0; i < static_cast<int>(Method::kCount); ++i) all |= bit(static_cast<Method>(i));
  EXPECT_EQ(Router::allow_header(all), "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT, TRACE");
}

TEST_F(RouterTest, EmptyRouterFindsNothing) {
  EXPECT_EQ(match(Method::kGet, "/").kind, Kind::kNotFound);
  EXPECT_EQ(match(Method::kGet, "/a").kind, Kind::kNotFound);
  EXPECT_EQ(match(Method::kGet, "").kind, Kind::kNotFound);
}

TEST_F(RouterTest, RootRoute) {
  add(Method::kGet, "/", 1);
  EXPECT_EQ(get("/"), 1);
  EXPECT_TRUE(params_.empty());
  EXPECT_EQ(get("/x"), -1);
  EXPECT_EQ(get("//"), -1);  // an empty segment, not the root
  EXPECT_EQ(get(""), -1);
  EXPECT_EQ(get("*"), -1);  // asterisk-form is not a path
}

TEST_F(RouterTest, StaticRoutes) {
  add(Method::kGet, "/a", 1);
  add(Method::kGet, "/a/b", 2);
  add(Method::kGet, "/a/b/c", 3);
  add(Method::kGet, "/about", 4);
  add(Method::kPost, "/a/b", 5);
  EXPECT_EQ(get("/a"), 1);
  EXPECT_EQ(get("/a/b"), 2);
  EXPECT_EQ(get("/a/b/c"), 3);
  EXPECT_EQ(get("/about"), 4);
  EXPECT_EQ(found(Method::kPost, "/a/b"), 5);
  EXPECT_EQ(get("/ab"), -1);
  EXPECT_EQ(get("/a/b/c/d"), -1);
  EXPECT_EQ(get("/A"), -1);  // case-sensitive
  EXPECT_EQ(get("/"), -1);
  EXPECT_EQ(get("a"), -1);  // must start with '/'
}

TEST_F(RouterTest, IntermediateNodeWithoutRouteIsNotFound) {
  add(Method::kGet, "/a/b/c", 1);
  const RouteMatch r = match(Method::kGet, "/a/b");
  EXPECT_EQ(r.kind, Kind::kNotFound);
  EXPECT_EQ(r.allowed_methods, 0);
}

TEST_F(RouterTest, ParamsCaptureRawValues) {
  add(Method::kGet, "/users/:id", 1);
  add(Method::kGet, "/users/:id/posts/:post_id", 2);
  EXPECT_EQ(get("/users/42"), 1);
  EXPECT_EQ(param_map(), (Params{{"id", "42"}}));
  EXPECT_EQ(get("/users/42/posts/7"), 2);
  EXPECT_EQ(param_map(), (Params{{"id", "42"}, {"post_id", "7"}}));
  ASSERT_EQ(params_.size(), 2u);
  EXPECT_EQ(params_[0].name, "id");  // in path order
  EXPECT_EQ(params_[1].name, "post_id");
  // Values are views into the request path, still encoded.
  const std::string path = "/users/a%20b%2Fc";
  EXPECT_EQ(router_.match(Method::kGet, path, params_).kind, Kind::kFound);
  ASSERT_EQ(params_.size(), 1u);
  EXPECT_EQ(params_[0].value, "a%20b%2Fc");
  EXPECT_EQ(params_[0].value.data(), path.data() + 7);
  // A parameter needs a non-empty segment.
  EXPECT_EQ(get("/users"), -1);
  EXPECT_EQ(get("/users//posts/7"), -1);
  EXPECT_EQ(get("/users/42/posts"), -1);
}

TEST_F(RouterTest, ParamsSurviveTrailingSlashAndAreClearedOnMiss) {
  add(Method::kGet, "/users/:id", 1);
  EXPECT_EQ(get("/users/42/"), 1);
  EXPECT_EQ(param_map(), (Params{{"id", "42"}}));
  EXPECT_EQ(get("/nope"), -1);
  EXPECT_TRUE(params_.empty());
}

TEST_F(RouterTest, ParamNamesMayDifferBetweenRoutesAtOnePosition) {
  add(Method::kGet, "/u/:id", 1);
  add(Method::kGet, "/u/:uid/posts", 2);
  add(Method::kPut, "/u/:user", 3);
  EXPECT_EQ(get("/u/5"), 1);
  EXPECT_EQ(param_map(), (Params{{"id", "5"}}));
  EXPECT_EQ(get("/u/5/posts"), 2);
  EXPECT_EQ(param_map(), (Params{{"uid", "5"}}));
  EXPECT_EQ(found(Method::kPut, "/u/5"), 3);
  EXPECT_EQ(param_map(), (Params{{"user", "5"}}));
}

TEST_F(RouterTest, CatchAll) {
  add(Method::kGet, "/files/*rest", 1);
  EXPECT_EQ(get("/files/a"), 1);
  EXPECT_EQ(param_map(), (Params{{"rest", "a"}}));
  EXPECT_EQ(get("/files/a/b/c.txt"), 1);
  EXPECT_EQ(param_map(), (Params{{"rest", "a/b/c.txt"}}));
  EXPECT_EQ(get("/files/a/b/"), 1);  // trailing slash dropped before matching
  EXPECT_EQ(param_map(), (Params{{"rest", "a/b"}}));
  EXPECT_EQ(get("/files/a//b"), 1);  // inner empty segments stay in the raw value
  EXPECT_EQ(param_map(), (Params{{"rest", "a//b"}}));
  EXPECT_EQ(get("/files/%2E%2E"), 1);
  EXPECT_EQ(param_map(), (Params{{"rest", "%2E%2E"}}));
  // Needs at least one character, and never starts with '/'.
  EXPECT_EQ(get("/files"), -1);
  EXPECT_EQ(get("/files/"), -1);
  EXPECT_EQ(get("/files//etc/passwd"), -1);
  EXPECT_EQ(get("/filesx"), -1);
}

TEST_F(RouterTest, CatchAllAtRootAndAfterParam) {
  add(Method::kGet, "/", 1);
  add(Method::kGet, "/*path", 2);
  add(Method::kGet, "/repos/:owner/*rest", 3);
  EXPECT_EQ(get("/"), 1);
  EXPECT_EQ(get("/anything/at/all"), 2);
  EXPECT_EQ(param_map(), (Params{{"path", "anything/at/all"}}));
  EXPECT_EQ(get("/repos/me/x/y"), 3);
  EXPECT_EQ(param_map(), (Params{{"owner", "me"}, {"rest", "x/y"}}));
  EXPECT_EQ(get("/repos/me"), 2);  // no rest for route 3: the root catch-all takes it
  EXPECT_EQ(param_map(), (Params{{"path", "repos/me"}}));
}

TEST_F(RouterTest, StaticBeatsParamBeatsCatchAll) {
  add(Method::kGet, "/users/*rest", 3);
  add(Method::kGet, "/users/:id", 2);
  add(Method::kGet, "/users/me", 1);
  EXPECT_EQ(get("/users/me"), 1);
  EXPECT_TRUE(params_.empty());
  EXPECT_EQ(get("/users/42"), 2);
  EXPECT_EQ(param_map(), (Params{{"id", "42"}}));
  EXPECT_EQ(get("/users/42/extra"), 3);
  EXPECT_EQ(param_map(), (Params{{"rest", "42/extra"}}));
}

TEST_F(RouterTest, BacktracksFromStaticToParam) {
  add(Method::kGet, "/users/me", 1);
  add(Method::kGet, "/users/:id/posts", 2);
  EXPECT_EQ(get("/users/me/posts"), 2);
  EXPECT_EQ(param_map(), (Params{{"id", "me"}}));
  EXPECT_EQ(get("/users/me"), 1);
  EXPECT_TRUE(params_.empty());
}

TEST_F(RouterTest, BacktracksSeveralLevelsAndDropsAbandonedParams) {
  add(Method::kGet, "/a/:x/c/d", 1);
  add(Method::kGet, "/a/:x/:y/e", 2);
  add(Method::kGet, "/a/b/c/f", 3);
  add(Method::kGet, "/*all", 4);
  EXPECT_EQ(get("/a/b/c/d"), 1);  // "/a/b" subtree has no "d": back up to ":x"
  EXPECT_EQ(param_map(), (Params{{"x", "b"}}));
  EXPECT_EQ(get("/a/b/c/e"), 2);  // then "c" has no "e": back up to ":y"
  EXPECT_EQ(param_map(), (Params{{"x", "b"}, {"y", "c"}}));
  EXPECT_EQ(get("/a/b/c/f"), 3);
  EXPECT_TRUE(params_.empty());
  EXPECT_EQ(get("/a/b/c/g"), 4);  // everything fails until the root catch-all
  EXPECT_EQ(param_map(), (Params{{"all", "a/b/c/g"}}));
  ASSERT_EQ(params_.size(), 1u);
}

TEST_F(RouterTest, BacktrackingIsMethodAware) {
  add(Method::kGet, "/users/me", 1);
  add(Method::kDelete, "/users/:id", 2);
  EXPECT_EQ(get("/users/me"), 1);
  EXPECT_EQ(found(Method::kDelete, "/users/me"), 2);
  EXPECT_EQ(param_map(), (Params{{"id", "me"}}));
  // The mask of a found route is that of its own node.
  EXPECT_EQ(match(Method::kDelete, "/users/me").allowed_methods, bit(Method::kDelete));
  EXPECT_EQ(match(Method::kGet, "/users/me").allowed_methods, bit(Method::kGet) | bit(Method::kHead));
}

TEST_F(RouterTest, NotFoundVersusMethodNotAllowed) {
  add(Method::kGet, "/items", 1);
  add(Method::kPost, "/items", 2);
  add(Method::kDelete, "/items/:id", 3);

  RouteMatch r = match(Method::kPut, "/items");
  EXPECT_EQ(r.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(Router::allow_header(r.allowed_methods), "GET, HEAD, POST");
  EXPECT_TRUE(params_.empty());

  r = match(Method::kGet, "/items/9");
  EXPECT_EQ(r.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(Router::allow_header(r.allowed_methods), "DELETE");
  EXPECT_TRUE(params_.empty());

  r = match(Method::kGet, "/nothing");
  EXPECT_EQ(r.kind, Kind::kNotFound);
  EXPECT_EQ(r.allowed_methods, 0);

  r = match(Method::kPost, "/items/");
  EXPECT_EQ(r.kind, Kind::kFound);
  EXPECT_EQ(r.route_id, 2u);
  EXPECT_EQ(Router::allow_header(r.allowed_methods), "GET, HEAD, POST");
}

TEST_F(RouterTest, MethodNotAllowedListsEveryRouteMatchingThePath) {
  add(Method::kGet, "/users/me", 1);
  add(Method::kDelete, "/users/:id", 2);
  add(Method::kPatch, "/users/*rest", 3);
  const RouteMatch r = match(Method::kPost, "/users/me");
  EXPECT_EQ(r.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(Router::allow_header(r.allowed_methods), "GET, HEAD, DELETE, PATCH");
  const RouteMatch other = match(Method::kPost, "/users/7");
  EXPECT_EQ(Router::allow_header(other.allowed_methods), "DELETE, PATCH");
}

TEST_F(RouterTest, HeadFallsBackToGet) {
  add(Method::kGet, "/page", 1);
  add(Method::kGet, "/users/:id", 2);
  EXPECT_EQ(found(Method::kHead, "/page"), 1);
  EXPECT_EQ(found(Method::kHead, "/users/3"), 2);
  EXPECT_EQ(param_map(), (Params{{"id", "3"}}));
  const RouteMatch r = match(Method::kPost, "/page");
  EXPECT_EQ(r.kind, Kind::kMethodNotAllowed);
  EXPECT_TRUE(r.allowed_methods & bit(Method::kHead));
}

TEST_F(RouterTest, ExplicitHeadRouteWins) {
  add(Method::kGet, "/page", 1);
  add(Method::kHead, "/page", 2);
  EXPECT_EQ(found(Method::kHead, "/page"), 2);
  EXPECT_EQ(get("/page"), 1);
}

TEST_F(RouterTest, HeadOnlyRouteDoesNotAnswerGet) {
  add(Method::kHead, "/ping", 1);
  const RouteMatch r = match(Method::kGet, "/ping");
  EXPECT_EQ(r.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(Router::allow_header(r.allowed_methods), "HEAD");
}

TEST_F(RouterTest, HeadPrefersGetOnStaticOverHeadOnParam) {
  // Priority is by path first: the static node answers HEAD through its GET route.
  add(Method::kGet, "/a/b", 1);
  add(Method::kHead, "/a/:x", 2);
  EXPECT_EQ(found(Method::kHead, "/a/b"), 1);
  EXPECT_EQ(found(Method::kHead, "/a/c"), 2);
}

TEST_F(RouterTest, TrailingSlashIsNormalisedOnBothSides) {
  add(Method::kGet, "/a/", 1);
  add(Method::kGet, "/b", 2);
  EXPECT_EQ(get("/a"), 1);
  EXPECT_EQ(get("/a/"), 1);
  EXPECT_EQ(get("/b"), 2);
  EXPECT_EQ(get("/b/"), 2);
  EXPECT_EQ(get("/b//"), -1);  // only one slash is dropped
  EXPECT_EQ(add_error(Method::kGet, "/b/"), "route GET /b/ is already registered (as GET /b)");
  EXPECT_EQ(add_error(Method::kGet, "/a"), "route GET /a is already registered (as GET /a/)");
}

TEST_F(RouterTest, EmptySegmentsNeverMatch) {
  add(Method::kGet, "/a/b", 1);
  add(Method::kGet, "/c/:x/d", 2);
  EXPECT_EQ(get("/a//b"), -1);
  EXPECT_EQ(get("//a/b"), -1);
  EXPECT_EQ(get("/c//d"), -1);
  EXPECT_EQ(add_error(Method::kGet, "/a//b"), "route pattern '/a//b' has an empty segment; remove the extra '/'");
  EXPECT_EQ(add_error(Method::kGet, "//"), "route pattern '//' has an empty segment; remove the extra '/'");
}

TEST_F(RouterTest, PercentEncodedStaticSegmentMatchesDecodedRoute) {
  add(Method::kGet, "/café", 1);
  add(Method::kGet, "/a b/c", 2);
  add(Method::kGet, "/100%", 3);
  add(Method::kGet, "/café/:x", 4);
  EXPECT_EQ(get("/caf%C3%A9"), 1);
  EXPECT_EQ(get("/caf%c3%a9"), 1);  // hex digits in either case
  EXPECT_EQ(get("/%63%61%66%C3%A9/"), 1);
  EXPECT_EQ(get("/café"), 1);
  EXPECT_EQ(get("/a%20b/c"), 2);
  EXPECT_EQ(get("/100%25"), 3);  // a '%' in a pattern is literal
  EXPECT_EQ(get("/caf%C3%A9/x%20y"), 4);
  EXPECT_EQ(param_map(), (Params{{"x", "x%20y"}}));
  EXPECT_EQ(get("/caf%C3"), -1);
  EXPECT_EQ(get("/caf%C3%A9%00"), -1);
}

TEST_F(RouterTest, MalformedEscapesMatchNoStaticSegment) {
  add(Method::kGet, "/100%", 1);
  add(Method::kGet, "/x/%zz", 2);
  add(Method::kGet, "/p/:v", 3);
  EXPECT_EQ(get("/100%"), -1);
  EXPECT_EQ(get("/x/%zz"), -1);
  EXPECT_EQ(get("/x/%2"), -1);
  // A parameter still takes them: its value is raw and decoding is the caller's job.
  EXPECT_EQ(get("/p/%zz"), 3);
  EXPECT_EQ(param_map(), (Params{{"v", "%zz"}}));
  EXPECT_EQ(get("/p/%"), 3);
}

TEST_F(RouterTest, EncodedSlashStaysInsideOneSegment) {
  add(Method::kGet, "/a/b", 1);
  add(Method::kGet, "/x/:name", 2);
  EXPECT_EQ(get("/a%2Fb"), -1);
  EXPECT_EQ(get("/a%2fb"), -1);
  EXPECT_EQ(get("/a/b"), 1);
  EXPECT_EQ(get("/x/a%2Fb"), 2);
  EXPECT_EQ(param_map(), (Params{{"name", "a%2Fb"}}));
}

TEST_F(RouterTest, StaticWinsOverParamEvenWhenEncoded) {
  add(Method::kGet, "/users/me", 1);
  add(Method::kGet, "/users/:id", 2);
  EXPECT_EQ(get("/users/%6De"), 1);
  EXPECT_TRUE(params_.empty());
}

TEST_F(RouterTest, ManyGeneratedRoutesAllMatch) {
  constexpr uint32_t kRoutes = 1000;
  for (uint32_t i = 0; i < kRoutes; ++i) {
    const std::string n = std::to_string(i);
    switch (i % 4) {
      case 0: add(Method::kGet, "/static/" + n + "/leaf", i); break;
      case 1: add(Method::kPost, "/api/v" + std::to_string(i % 7) + "/res" + n + "/:id", i); break;
      case 2: add(Method::kGet, "/api/v" + std::to_string(i % 7) + "/res" + n + "/:id/sub/:sub", i); break;
      case 3: add(Method::kPut, "/f" + n + "/*rest", i); break;
    }
  }
  for (uint32_t i = 0; i < kRoutes; ++i) {
    const std::string n = std::to_string(i);
    const std::string v = "/api/v" + std::to_string(i % 7) + "/res" + n;
    switch (i % 4) {
      case 0:
        EXPECT_EQ(get("/static/" + n + "/leaf"), i);
        EXPECT_EQ(get("/static/" + n + "/leaf/"), i);
        EXPECT_EQ(match(Method::kPost, "/static/" + n + "/leaf").kind, Kind::kMethodNotAllowed);
        break;
      case 1:
        EXPECT_EQ(found(Method::kPost, v + "/abc"), i);
        EXPECT_EQ(param_map(), (Params{{"id", "abc"}}));
        break;
      case 2:
        EXPECT_EQ(get(v + "/abc/sub/def"), i);
        EXPECT_EQ(param_map(), (Params{{"id", "abc"}, {"sub", "def"}}));
        break;
      case 3:
        EXPECT_EQ(found(Method::kPut, "/f" + n + "/x/y"), i);
        EXPECT_EQ(param_map(), (Params{{"rest", "x/y"}}));
        break;
    }
  }
  EXPECT_EQ(get("/static/1000/leaf"), -1);
  EXPECT_EQ(get("/static/1/leaf"), -1);  // 1 is a POST-param route, not a static one
}

TEST_F(RouterTest, DuplicateRegistrationIsAnError) {
  add(Method::kGet, "/users/:id", 1);
  EXPECT_EQ(add_error(Method::kGet, "/users/:id"), "route GET /users/:id is already registered");
  EXPECT_EQ(add_error(Method::kGet, "/users/:uid"), "route GET /users/:uid is already registered (as GET /users/:id)");
  add(Method::kPost, "/users/:id", 2);  // another method is fine
  add(Method::kGet, "/", 3);
  EXPECT_EQ(add_error(Method::kGet, "/"), "route GET / is already registered");
  // The original registration is untouched.
  EXPECT_EQ(get("/users/5"), 1);
}

TEST_F(RouterTest, BadPatternsSayWhatToChange) {
  EXPECT_EQ(add_error(Method::kGet, ""), "route pattern '' must start with '/'");
  EXPECT_EQ(add_error(Method::kGet, "users"), "route pattern 'users' must start with '/'");
  EXPECT_EQ(add_error(Method::kGet, "/a/*rest/b"), "catch-all '*rest' must be the last segment in '/a/*rest/b'");
  EXPECT_EQ(add_error(Method::kGet, "/a/:/b"), "parameter name is empty in '/a/:/b'; write ':name'");
  EXPECT_EQ(add_error(Method::kGet, "/a/*"), "catch-all name is empty in '/a/*'; write '*name'");
  EXPECT_EQ(add_error(Method::kGet, "/a/:id/b/:id"), "parameter name 'id' is used twice in '/a/:id/b/:id'; rename one");
  EXPECT_EQ(add_error(Method::kGet, "/a?b=1"),
            "route pattern '/a?b=1' contains '?' or '#'; the query and fragment are not part of a route");
  EXPECT_EQ(add_error(Method::kGet, "/b/{id:int}"),
            "route pattern '/b/{id:int}' has a brace in '{id:int}'; write a parameter as ':name' (or {name} through "
            "the Python API)");
  EXPECT_NE(add_error(Method::kGet, "/b/x}"), "") << "a stray closing brace too";
  add(Method::kGet, "/a/*x", 1);
  EXPECT_EQ(add_error(Method::kPost, "/a/*y"),
            "catch-all '*y' in '/a/*y' conflicts with '*x' at the same position in '/a/*x'; use one name for both");
  add(Method::kPost, "/a/*x", 2);  // same name, another method: fine
  EXPECT_EQ(found(Method::kPost, "/a/q"), 2);
}

TEST_F(RouterTest, RejectedAddLeavesRouterUnchanged) {
  add(Method::kGet, "/a/*x", 1);
  add_error(Method::kGet, "/a/*y");
  add_error(Method::kGet, "/b/c/*r/d");
  add_error(Method::kGet, "/a/*x");
  EXPECT_EQ(get("/a/1"), 1);
  EXPECT_EQ(param_map(), (Params{{"x", "1"}}));
  EXPECT_EQ(match(Method::kGet, "/b/c").kind, Kind::kNotFound);
}

TEST_F(RouterTest, MatchReusesParamsCapacity) {
  add(Method::kGet, "/a/:x/b/:y/*z", 1);
  add(Method::kGet, "/a/:x/b/:y/c", 2);
  params_.reserve(8);
  const PathParam* data = params_.data();
  const size_t capacity = params_.capacity();
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(get("/a/1/b/2/c"), 2);
    EXPECT_EQ(get("/a/1/b/2/c/d"), 1);
    EXPECT_EQ(params_.size(), 3u);
    EXPECT_EQ(get("/a/1/b"), -1);
    EXPECT_EQ(params_.data(), data);
    EXPECT_EQ(params_.capacity(), capacity);
  }
}

TEST_F(RouterTest, MovedRouterKeepsRoutesAndParamNames) {
  add(Method::kGet, "/users/:id", 1);
  Router other = std::move(router_);
  std::vector<PathParam> params;
  const RouteMatch r = other.match(Method::kGet, "/users/3", params);
  EXPECT_EQ(r.kind, Kind::kFound);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].name, "id");
  router_ = std::move(other);
  EXPECT_EQ(get("/users/4"), 1);
}

TEST_F(RouterTest, ParamNamesOutliveManyLaterRegistrations) {
  add(Method::kGet, "/first/:name", 0);
  for (uint32_t i = 1; i < 300; ++i) add(Method::kGet, "/r" + std::to_string(i) + "/:p" + std::to_string(i), i);
  EXPECT_EQ(get("/first/x"), 0);
  EXPECT_EQ(param_map(), (Params{{"name", "x"}}));
  EXPECT_EQ(get("/r299/y"), 299);
  EXPECT_EQ(param_map(), (Params{{"p299", "y"}}));
}

/// A slice of GitHub's REST API: deep trees, static siblings of parameters, repeated prefixes.
TEST_F(RouterTest, GitHubLikeApi) {
  const std::vector<std::pair<Method, std::string>> routes = {
      {Method::kGet, "/"},
      {Method::kGet, "/user"},
      {Method::kPatch, "/user"},
      {Method::kGet, "/user/repos"},
      {Method::kPost, "/user/repos"},
      {Method::kGet, "/user/emails"},
      {Method::kGet, "/users"},
      {Method::kGet, "/users/:username"},
      {Method::kGet, "/users/:username/repos"},
      {Method::kGet, "/users/:username/followers"},
      {Method::kGet, "/users/:username/following/:target"},
      {Method::kGet, "/orgs/:org"},
      {Method::kGet, "/orgs/:org/repos"},
      {Method::kPost, "/orgs/:org/repos"},
      {Method::kGet, "/orgs/:org/members"},
      {Method::kGet, "/orgs/:org/members/:username"},
      {Method::kDelete, "/orgs/:org/members/:username"},
      {Method::kGet, "/repos/:owner/:repo"},
      {Method::kPatch, "/repos/:owner/:repo"},
      {Method::kDelete, "/repos/:owner/:repo"},
      {Method::kGet, "/repos/:owner/:repo/issues"},
      {Method::kPost, "/repos/:owner/:repo/issues"},
      {Method::kGet, "/repos/:owner/:repo/issues/comments"},
      {Method::kGet, "/repos/:owner/:repo/issues/:number"},
      {Method::kPatch, "/repos/:owner/:repo/issues/:number"},
      {Method::kGet, "/repos/:owner/:repo/issues/:number/comments"},
      {Method::kPost, "/repos/:owner/:repo/issues/:number/comments"},
      {Method::kGet, "/repos/:owner/:repo/pulls"},
      {Method::kGet, "/repos/:owner/:repo/pulls/:number"},
      {Method::kGet, "/repos/:owner/:repo/pulls/:number/files"},
      {Method::kPut, "/repos/:owner/:repo/pulls/:number/merge"},
      {Method::kGet, "/repos/:owner/:repo/branches"},
      {Method::kGet, "/repos/:owner/:repo/branches/:branch"},
      {Method::kGet, "/repos/:owner/:repo/contents/*path"},
      {Method::kPut, "/repos/:owner/:repo/contents/*path"},
      {Method::kGet, "/repos/:owner/:repo/git/refs/*ref"},
      {Method::kGet, "/search/repositories"},
      {Method::kGet, "/search/code"},
      {Method::kGet, "/search/issues"},
      {Method::kGet, "/gists"},
      {Method::kGet, "/gists/public"},
      {Method::kGet, "/gists/starred"},
      {Method::kGet, "/gists/:gist_id"},
      {Method::kPut, "/gists/:gist_id/star"},
      {Method::kDelete, "/gists/:gist_id/star"},
      {Method::kGet, "/gists/:gist_id/:sha"},
      {Method::kGet, "/rate_limit"},
  };
  std::map<std::pair<Method, std::string>, uint32_t> ids;
  for (uint32_t i = 0; i < routes.size(); ++i) {
    add(routes[i].first, routes[i].second, i);
    ids[routes[i]] = i;
  }
  auto id = [&](Method m, const std::string& pattern) { return static_cast<int64_t>(ids.at({m, pattern})); };

  EXPECT_EQ(get("/"), id(Method::kGet, "/"));
  EXPECT_EQ(get("/user"), id(Method::kGet, "/user"));
  EXPECT_EQ(found(Method::kPatch, "/user/"), id(Method::kPatch, "/user"));
  EXPECT_EQ(found(Method::kPost, "/user/repos"), id(Method::kPost, "/user/repos"));
  EXPECT_EQ(get("/users/octocat"), id(Method::kGet, "/users/:username"));
  EXPECT_EQ(param_map(), (Params{{"username", "octocat"}}));
  EXPECT_EQ(get("/users/octocat/following/hubot"), id(Method::kGet, "/users/:username/following/:target"));
  EXPECT_EQ(param_map(), (Params{{"username", "octocat"}, {"target", "hubot"}}));
  EXPECT_EQ(found(Method::kDelete, "/orgs/github/members/octocat"), id(Method::kDelete, "/orgs/:org/members/:username"));
  EXPECT_EQ(param_map(), (Params{{"org", "github"}, {"username", "octocat"}}));
  EXPECT_EQ(get("/repos/rust-lang/rust"), id(Method::kGet, "/repos/:owner/:repo"));
  EXPECT_EQ(param_map(), (Params{{"owner", "rust-lang"}, {"repo", "rust"}}));
  EXPECT_EQ(get("/repos/a/b/issues/comments"), id(Method::kGet, "/repos/:owner/:repo/issues/comments"));
  EXPECT_EQ(param_map(), (Params{{"owner", "a"}, {"repo", "b"}}));
  EXPECT_EQ(get("/repos/a/b/issues/42"), id(Method::kGet, "/repos/:owner/:repo/issues/:number"));
  EXPECT_EQ(param_map(), (Params{{"owner", "a"}, {"repo", "b"}, {"number", "42"}}));
  EXPECT_EQ(found(Method::kPost, "/repos/a/b/issues/42/comments"),
            id(Method::kPost, "/repos/:owner/:repo/issues/:number/comments"));
  EXPECT_EQ(found(Method::kPut, "/repos/a/b/pulls/7/merge"), id(Method::kPut, "/repos/:owner/:repo/pulls/:number/merge"));
  EXPECT_EQ(get("/repos/a/b/contents/src/main.rs"), id(Method::kGet, "/repos/:owner/:repo/contents/*path"));
  EXPECT_EQ(param_map(), (Params{{"owner", "a"}, {"repo", "b"}, {"path", "src/main.rs"}}));
  EXPECT_EQ(found(Method::kPut, "/repos/a/b/contents/README.md"), id(Method::kPut, "/repos/:owner/:repo/contents/*path"));
  EXPECT_EQ(get("/repos/a/b/git/refs/heads/feature/x"), id(Method::kGet, "/repos/:owner/:repo/git/refs/*ref"));
  EXPECT_EQ(param_map(), (Params{{"owner", "a"}, {"repo", "b"}, {"ref", "heads/feature/x"}}));
  // A repository literally named "issues" is still a repository.
  EXPECT_EQ(get("/repos/a/issues"), id(Method::kGet, "/repos/:owner/:repo"));
  EXPECT_EQ(get("/search/code"), id(Method::kGet, "/search/code"));
  EXPECT_EQ(get("/gists/public"), id(Method::kGet, "/gists/public"));
  EXPECT_EQ(get("/gists/abc123"), id(Method::kGet, "/gists/:gist_id"));
  EXPECT_EQ(get("/gists/starred/deadbeef"), id(Method::kGet, "/gists/:gist_id/:sha"));  // backtracks
  EXPECT_EQ(param_map(), (Params{{"gist_id", "starred"}, {"sha", "deadbeef"}}));
  EXPECT_EQ(found(Method::kDelete, "/gists/abc/star"), id(Method::kDelete, "/gists/:gist_id/star"));
  EXPECT_EQ(get("/gists/abc/star"), id(Method::kGet, "/gists/:gist_id/:sha"));  // GET falls through to :sha
  EXPECT_EQ(found(Method::kHead, "/rate_limit"), id(Method::kGet, "/rate_limit"));

  RouteMatch r = match(Method::kPost, "/repos/a/b");
  EXPECT_EQ(r.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(Router::allow_header(r.allowed_methods), "GET, HEAD, DELETE, PATCH");
  r = match(Method::kDelete, "/user/repos");
  EXPECT_EQ(Router::allow_header(r.allowed_methods), "GET, HEAD, POST");
  EXPECT_EQ(match(Method::kGet, "/repos/a").kind, Kind::kNotFound);
  EXPECT_EQ(match(Method::kGet, "/repos/a/b/contents").kind, Kind::kNotFound);
  EXPECT_EQ(match(Method::kGet, "/search").kind, Kind::kNotFound);
  EXPECT_EQ(match(Method::kGet, "/repos/a/b/pulls/7/merge").kind, Kind::kMethodNotAllowed);
}

}  // namespace
}  // namespace tiercel
