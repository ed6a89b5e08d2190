// Router: a prefix tree over path segments with per-method route slots, plus a hash table that
// answers fully static paths in one probe. Built by add() at startup, read-only (and thread-safe) after.
//
// Matching rules, beyond what router.h states:
// * Each tree edge is one whole segment. A node therefore sits at a fixed segment depth and is visited
//   at most once per lookup, so backtracking costs at most the size of the tree, never exponential.
// * Empty segments never match: patterns with "//" are rejected, a request "/a//b" matches neither
//   "/a/b" nor "/a/:x/b", and a catch-all never starts with '/' ("/files//etc" does not match
//   "/files/*rest", so a handler joining `rest` onto a directory never receives an absolute path).
//   Exactly one trailing slash is dropped ("/a/" is "/a"; "/a//" is "/a" plus an empty segment).
// * A request's static segments are compared after percent-decoding, one segment at a time, so
//   "/caf%C3%A9" reaches "/café" while "/a%2Fb" stays one segment and cannot reach "/a/b". A segment
//   with a malformed escape ("%zz", "%4") matches no static segment. Parameter and catch-all values
//   are handed back raw. Pattern text is taken literally: a '%' in a pattern is a plain '%'.
// * Lookup is method-aware: the first route in priority order that accepts the method wins, so
//   "GET /users/me" and "DELETE /users/:id" both work for "/users/me". 405 only comes when no
//   matching route takes the method; its mask is the union over every route matching the path.
#include "core/router.h"

#include <algorithm>
#include <array>
#include <deque>
#include <limits>

namespace tiercel {

namespace {

constexpr size_t kMethodCount = static_cast<size_t>(Method::kCount);
constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

constexpr std::array<std::string_view, kMethodCount> kMethodNames = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"};

constexpr uint16_t bit(Method m) { return static_cast<uint16_t>(1u << static_cast<unsigned>(m)); }

/// -1 for a byte that is not a hex digit.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// True when every '%' in `raw` starts a full "%XX" escape.
bool escapes_valid(std::string_view raw) {
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '%') continue;
    if (i + 2 >= raw.size()) return false;
    if (hex_value(raw[i + 1]) < 0 || hex_value(raw[i + 2]) < 0) return false;
    i += 2;
  }
  return true;
}

/// Three-way comparison of percent-decoded `raw` (escapes already validated) against `decoded`,
/// byte-wise as unsigned char to agree with std::string ordering. Decodes on the fly: no buffer.
int compare_decoded(std::string_view raw, std::string_view decoded) {
  size_t i = 0;
  size_t j = 0;
  while (i < raw.size() && j < decoded.size()) {
    unsigned char a;
    if (raw[i] == '%') {
      a = static_cast<unsigned char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2]));
      i += 3;
    } else {
      a = static_cast<unsigned char>(raw[i]);
      ++i;
    }
    const auto b = static_cast<unsigned char>(decoded[j++]);
    if (a != b) return a < b ? -1 : 1;
  }
  if (i < raw.size()) return 1;
  if (j < decoded.size()) return -1;
  return 0;
}

/// Drops one trailing slash, except from "/" itself and from a path ending in "//", whose last
/// segment is empty and must stay visible so that it fails to match.
std::string_view strip_trailing_slash(std::string_view path) {
  if (path.size() > 1 && path.back() == '/' && path[path.size() - 2] != '/') path.remove_suffix(1);
  return path;
}

/// FNV-1a: the keys are the application's own routes, not attacker input, so flooding is moot.
uint64_t hash_path(std::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

enum class SegmentKind : uint8_t { kStatic, kParam, kCatchAll };

struct PatternSegment {
  SegmentKind kind;
  std::string_view text;  ///< the static text, or the name without ':' / '*'
};

}  // namespace

struct Router::Impl {
  struct StaticChild {
    std::string segment;  ///< decoded text, compared against decoded request segments
    uint32_t node;
  };

  struct Node {
    std::vector<StaticChild> statics;  ///< sorted by segment, for binary search
    uint32_t param = kNone;
    uint32_t catch_all = kNone;
    /// The pattern that introduced the catch-all child, to name both sides of a conflict.
    std::string catch_all_pattern;
    std::string catch_all_name;
    std::array<uint32_t, kMethodCount> slots;  ///< index into routes, or kNone
    uint16_t methods = 0;                      ///< registered methods, without the implied HEAD

    Node() { slots.fill(kNone); }
  };

  struct Route {
    uint32_t id;
    uint32_t first_name;  ///< into param_names; one name per ':' / '*' segment, in path order
    uint32_t name_count;
    std::string pattern;  ///< as registered, for error messages
  };

  /// Open-addressing table from a normalised static path to its node; power-of-two capacity,
  /// at most half full so that misses end quickly.
  struct StaticEntry {
    std::string path;
    uint64_t hash = 0;
    uint32_t node = kNone;
  };

  std::vector<Node> nodes = std::vector<Node>(1);  ///< nodes[0] is the root
  std::vector<Route> routes;
  std::deque<std::string> name_storage;  ///< deque: PathParam::name views must never move
  std::vector<std::string_view> param_names;
  std::vector<StaticEntry> static_table;
  size_t static_count = 0;

  uint32_t find_static(const Node& node, std::string_view decoded) const {
    auto it = std::lower_bound(node.statics.begin(), node.statics.end(), decoded,
                               [](const StaticChild& c, std::string_view s) { return c.segment < s; });
    return it != node.statics.end() && it->segment == decoded ? it->node : kNone;
  }

  /// Like find_static, but `raw` is a request segment that may carry percent-escapes.
  uint32_t find_static_raw(const Node& node, std::string_view raw) const {
    if (node.statics.empty()) return kNone;
    if (raw.find('%') == std::string_view::npos) return find_static(node, raw);
    if (!escapes_valid(raw)) return kNone;
    auto it = std::lower_bound(
        node.statics.begin(), node.statics.end(), raw,
        [](const StaticChild& c, std::string_view r) { return compare_decoded(r, c.segment) > 0; });
    return it != node.statics.end() && compare_decoded(raw, it->segment) == 0 ? it->node : kNone;
  }

  uint32_t new_node() {
    nodes.emplace_back();
    return static_cast<uint32_t>(nodes.size() - 1);
  }

  void static_insert(std::string_view path, uint32_t node) {
    if ((static_count + 1) * 2 > static_table.size()) {
      std::vector<StaticEntry> old = std::move(static_table);
      static_table.assign(std::max<size_t>(16, old.size() * 2), StaticEntry{});
      for (StaticEntry& e : old)
        if (e.node != kNone) place(std::move(e));
    }
    const uint64_t h = hash_path(path);
    const size_t mask = static_table.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      StaticEntry& e = static_table[i];
      if (e.node == kNone) break;
      if (e.hash == h && e.path == path) return;  // node already listed
    }
    place(StaticEntry{std::string(path), h, node});
    ++static_count;
  }

  void place(StaticEntry&& entry) {
    const size_t mask = static_table.size() - 1;
    size_t i = entry.hash & mask;
    while (static_table[i].node != kNone) i = (i + 1) & mask;
    static_table[i] = std::move(entry);
  }

  uint32_t static_lookup(std::string_view path) const {
    if (static_table.empty()) return kNone;
    const uint64_t h = hash_path(path);
    const size_t mask = static_table.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      const StaticEntry& e = static_table[i];
      if (e.node == kNone) return kNone;
      if (e.hash == h && e.path == path) return e.node;
    }
  }

  /// The route for `m` at `node`, with HEAD answered by GET when no HEAD route exists.
  static uint32_t slot_for(const Node& node, Method m) {
    uint32_t r = node.slots[static_cast<size_t>(m)];
    if (r == kNone && m == Method::kHead) r = node.slots[static_cast<size_t>(Method::kGet)];
    return r;
  }

  static uint16_t allowed(const Node& node) {
    uint16_t mask = node.methods;
    if (mask & bit(Method::kGet)) mask |= bit(Method::kHead);
    return mask;
  }

  /// Depth-first search state for one lookup; lives on the caller's stack.
  struct Search {
    std::string_view path;
    Method method;
    std::vector<PathParam>& params;
    uint32_t found_node = kNone;
    uint32_t found_route = kNone;
    uint16_t seen_methods = 0;  ///< union over terminal nodes that matched the path
  };

  /// Checks a node reached with the whole path consumed; true ends the search.
  bool accept(Search& s, uint32_t node_index) const {
    const Node& node = nodes[node_index];
    if (node.methods == 0) return false;
    const uint32_t r = slot_for(node, s.method);
    if (r == kNone) {
      s.seen_methods |= allowed(node);
      return false;
    }
    s.found_node = node_index;
    s.found_route = r;
    return true;
  }

  /// `start` is the offset of the next segment in s.path (just past its '/').
  bool visit(Search& s, uint32_t node_index, size_t start) const {
    const Node& node = nodes[node_index];
    size_t end = s.path.find('/', start);
    if (end == std::string_view::npos) end = s.path.size();
    const std::string_view segment = s.path.substr(start, end - start);
    const bool last = end == s.path.size();

    // Static first: at most one static child can equal the decoded segment.
    if (!segment.empty()) {
      const uint32_t child = find_static_raw(node, segment);
      if (child != kNone && (last ? accept(s, child) : visit(s, child, end + 1))) return true;
    }
    if (node.param != kNone && !segment.empty()) {
      s.params.push_back(PathParam{{}, segment});
      if (last ? accept(s, node.param) : visit(s, node.param, end + 1)) return true;
      s.params.pop_back();
    }
    // The catch-all takes the rest, slashes included, but must not begin with an empty segment.
    if (node.catch_all != kNone && !segment.empty()) {
      s.params.push_back(PathParam{{}, s.path.substr(start)});
      if (accept(s, node.catch_all)) return true;
      s.params.pop_back();
    }
    return false;
  }

  /// Splits and validates `pattern`; fills `error` and returns false on the first problem.
  static bool parse_pattern(std::string_view pattern, std::vector<PatternSegment>& out, std::string& error) {
    const std::string quoted = "'" + std::string(pattern) + "'";
    if (pattern.empty() || pattern.front() != '/') {
      error = "route pattern " + quoted + " must start with '/'";
      return false;
    }
    if (pattern.find_first_of("?#") != std::string_view::npos) {
      error = "route pattern " + quoted + " contains '?' or '#'; the query and fragment are not part of a route";
      return false;
    }
    const std::string_view body = strip_trailing_slash(pattern);
    if (body == "/") return true;
    size_t start = 1;
    while (start <= body.size()) {
      size_t end = body.find('/', start);
      if (end == std::string_view::npos) end = body.size();
      const std::string_view seg = body.substr(start, end - start);
      if (seg.empty()) {
        error = "route pattern " + quoted + " has an empty segment; remove the extra '/'";
        return false;
      }
      if (!out.empty() && out.back().kind == SegmentKind::kCatchAll) {
        error = "catch-all '*" + std::string(out.back().text) + "' must be the last segment in " + quoted;
        return false;
      }
      if (seg.front() == ':' || seg.front() == '*') {
        const bool param = seg.front() == ':';
        const std::string_view name = seg.substr(1);
        if (name.empty()) {
          error = std::string(param ? "parameter" : "catch-all") + " name is empty in " + quoted + "; write '" +
                  (param ? ":" : "*") + "name'";
          return false;
        }
        for (const PatternSegment& prev : out) {
          if (prev.kind != SegmentKind::kStatic && prev.text == name) {
            error = "parameter name '" + std::string(name) + "' is used twice in " + quoted + "; rename one";
            return false;
          }
        }
        out.push_back({param ? SegmentKind::kParam : SegmentKind::kCatchAll, name});
      } else if (seg.find_first_of("{}") != std::string_view::npos) {
        // FastAPI's {name} spelling is translated to :name before a route gets here (tiercel/routing.py); a brace
        // left in a segment is a mistake, and could never match (a request's path carries braces percent-encoded).
        error = "route pattern " + quoted + " has a brace in '" + std::string(seg) +
                "'; write a parameter as ':name' (or {name} through the Python API)";
        return false;
      } else {
        out.push_back({SegmentKind::kStatic, seg});
      }
      start = end + 1;
    }
    return true;
  }
};

std::optional<Method> parse_method(std::string_view name) noexcept {
  for (size_t i = 0; i < kMethodCount; ++i)
    if (kMethodNames[i] == name) return static_cast<Method>(i);
  return std::nullopt;
}

std::string_view method_name(Method m) noexcept {
  const auto i = static_cast<size_t>(m);
  return i < kMethodCount ? kMethodNames[i] : std::string_view{};
}

Router::Router() : impl_(std::make_unique<Impl>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

bool Router::add(Method method, std::string_view pattern, uint32_t route_id, std::string& error) {
  if (static_cast<size_t>(method) >= kMethodCount) {
    error = "route method is not a valid Method value";
    return false;
  }
  if (!impl_) impl_ = std::make_unique<Impl>();  // a moved-from router becomes usable again
  Impl& im = *impl_;

  std::vector<PatternSegment> segments;
  if (!Impl::parse_pattern(pattern, segments, error)) return false;

  // Conflicts are found before anything is created, so a failed add() leaves the router unchanged.
  // Walk as far as the existing tree goes first.
  uint32_t node = 0;
  size_t depth = 0;
  for (; depth < segments.size(); ++depth) {
    const PatternSegment& seg = segments[depth];
    const Impl::Node& n = im.nodes[node];
    uint32_t next = kNone;
    switch (seg.kind) {
      case SegmentKind::kStatic: next = im.find_static(n, seg.text); break;
      case SegmentKind::kParam: next = n.param; break;
      case SegmentKind::kCatchAll:
        if (n.catch_all != kNone && n.catch_all_name != seg.text) {
          error = "catch-all '*" + std::string(seg.text) + "' in '" + std::string(pattern) + "' conflicts with '*" +
                  n.catch_all_name + "' at the same position in '" + n.catch_all_pattern +
                  "'; use one name for both";
          return false;
        }
        next = n.catch_all;
        break;
    }
    if (next == kNone) break;
    node = next;
  }
  if (depth == segments.size()) {
    const uint32_t existing = im.nodes[node].slots[static_cast<size_t>(method)];
    if (existing != kNone) {
      const std::string& prev = im.routes[existing].pattern;
      error = "route " + std::string(method_name(method)) + " " + std::string(pattern) + " is already registered";
      if (prev != pattern) error += " (as " + std::string(method_name(method)) + " " + prev + ")";
      return false;
    }
  }

  for (; depth < segments.size(); ++depth) {
    const PatternSegment& seg = segments[depth];
    const uint32_t child = im.new_node();  // may reallocate `nodes`: index, never hold references
    Impl::Node& n = im.nodes[node];
    switch (seg.kind) {
      case SegmentKind::kStatic: {
        auto it = std::lower_bound(n.statics.begin(), n.statics.end(), seg.text,
                                   [](const Impl::StaticChild& c, std::string_view s) { return c.segment < s; });
        n.statics.insert(it, Impl::StaticChild{std::string(seg.text), child});
        break;
      }
      case SegmentKind::kParam: n.param = child; break;
      case SegmentKind::kCatchAll:
        n.catch_all = child;
        n.catch_all_name = std::string(seg.text);
        n.catch_all_pattern = std::string(pattern);
        break;
    }
    node = child;
  }

  Impl::Route route{route_id, static_cast<uint32_t>(im.param_names.size()), 0, std::string(pattern)};
  bool all_static = true;
  for (const PatternSegment& seg : segments) {
    if (seg.kind == SegmentKind::kStatic) continue;
    all_static = false;
    im.param_names.push_back(im.name_storage.emplace_back(seg.text));
    ++route.name_count;
  }
  im.routes.push_back(std::move(route));
  Impl::Node& target = im.nodes[node];
  target.slots[static_cast<size_t>(method)] = static_cast<uint32_t>(im.routes.size() - 1);
  target.methods |= bit(method);
  if (all_static) im.static_insert(strip_trailing_slash(pattern), node);
  return true;
}

RouteMatch Router::match(Method method, std::string_view path, std::vector<PathParam>& params) const {
  params.clear();
  RouteMatch result;
  if (!impl_ || static_cast<size_t>(method) >= kMethodCount || path.empty() || path.front() != '/') return result;
  const Impl& im = *impl_;
  path = strip_trailing_slash(path);

  // Fast path: a fully static route is the first candidate in priority order, so a hit that accepts
  // the method is the answer. Escaped paths take the tree, which decodes per segment.
  if (path.find('%') == std::string_view::npos) {
    const uint32_t node = im.static_lookup(path);
    if (node != kNone) {
      const uint32_t r = Impl::slot_for(im.nodes[node], method);
      if (r != kNone) {
        result.kind = RouteMatch::Kind::kFound;
        result.route_id = im.routes[r].id;
        result.allowed_methods = Impl::allowed(im.nodes[node]);
        return result;
      }
    }
  }

  Impl::Search s{path, method, params};
  const bool found = path == "/" ? im.accept(s, 0) : im.visit(s, 0, 1);
  if (found) {
    const Impl::Route& route = im.routes[s.found_route];
    for (uint32_t i = 0; i < route.name_count; ++i) params[i].name = im.param_names[route.first_name + i];
    result.kind = RouteMatch::Kind::kFound;
    result.route_id = route.id;
    result.allowed_methods = Impl::allowed(im.nodes[s.found_node]);
    return result;
  }
  params.clear();
  if (s.seen_methods != 0) {
    result.kind = RouteMatch::Kind::kMethodNotAllowed;
    result.allowed_methods = s.seen_methods;
  }
  return result;
}

std::string Router::allow_header(uint16_t allowed_methods) {
  if (allowed_methods & bit(Method::kGet)) allowed_methods |= bit(Method::kHead);
  std::string out;
  for (size_t i = 0; i < kMethodCount; ++i) {
    if (!(allowed_methods & (1u << i))) continue;
    if (!out.empty()) out += ", ";
    out += kMethodNames[i];
  }
  return out;
}

}  // namespace tiercel
