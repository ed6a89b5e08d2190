// Radix-tree router compiled once at startup: static segments, `:name` parameters, `*name` catch-all,
// per method, with 404 vs 405+Allow and HEAD answered by GET routes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tiercel {

/// The methods the router knows. Requests with another token method get 501 from the connection
/// layer (RFC 9110 §9.1), unless the router has a route for it — it does not, by construction.
enum class Method : uint8_t { kGet, kHead, kPost, kPut, kDelete, kPatch, kOptions, kConnect, kTrace, kCount };

/// "GET" -> kGet, case-sensitive (methods are case-sensitive tokens); nullopt for anything else.
std::optional<Method> parse_method(std::string_view name) noexcept;
/// kGet -> "GET".
std::string_view method_name(Method m) noexcept;

/// One captured path parameter; `value` is a view into the matched path, still percent-encoded.
struct PathParam {
  std::string_view name;   ///< points into the router's own storage (valid for the router's lifetime)
  std::string_view value;
};

/// Result of a lookup.
struct RouteMatch {
  enum class Kind : uint8_t { kFound, kNotFound, kMethodNotAllowed };
  Kind kind = Kind::kNotFound;
  uint32_t route_id = 0;        ///< valid when kFound
  uint16_t allowed_methods = 0; ///< bit (1 << Method) per method the path accepts; set for kFound and 405
};

class Router {
 public:
  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;

  /// Registers `pattern` for `method`. Pattern syntax: "/", "/a/b", "/users/:id", "/files/*rest"
  /// (catch-all only as the last segment, matches one or more remaining segments including '/'),
  /// trailing slash normalised ("/a/" == "/a"). Returns false and fills `error` with a message that says
  /// what to change for: a duplicate method+pattern, a pattern not starting with '/', an empty
  /// parameter name, a catch-all that is not last, or the same position using two different syntaxes
  /// that would be ambiguous to match (e.g. "/a/*x" and "/a/*y"). Parameter names may differ between
  /// routes at the same position ("/u/:id" and "/u/:uid/posts" both work).
  bool add(Method method, std::string_view pattern, uint32_t route_id, std::string& error);

  /// Looks up `path` (raw, percent-encoded, without the query). Static segments win over parameters,
  /// which win over catch-alls, with backtracking ("/users/me/posts" falls back to
  /// "/users/:id/posts" when "/users/me" has no "/posts" child). A trailing slash on `path` is ignored.
  /// HEAD matches the GET route when no HEAD route exists. `params` is cleared and filled on kFound.
  RouteMatch match(Method method, std::string_view path, std::vector<PathParam>& params) const;

  /// "GET, HEAD, POST" for an allowed_methods mask (HEAD listed whenever GET is), for the Allow header.
  static std::string allow_header(uint16_t allowed_methods);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tiercel
