// Static files.
#include "core/static_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "core/cors.h"
#include "core/field_syntax.h"

namespace tiercel {

namespace {

constexpr size_t kMaxRanges = 16;  // more ranges than this and the whole file is sent (RFC 9110 §14.2 allows it)





bool parse_u64(std::string_view s, uint64_t& v) {
  if (s.empty() || s.size() > 19) return false;
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

struct Range {
  uint64_t first, last;
};

/// Parses `bytes=...` for a file of `size`. Returns 0 when the header is to be ignored (malformed, not bytes,
/// too many ranges), 1 with satisfiable `out`, 2 when no range is satisfiable (416).
int parse_ranges(std::string_view value, uint64_t size, std::vector<Range>& out) {
  value = trim_ows(value);
  if (value.size() < 6 || !ascii_iequal(value.substr(0, 6), "bytes=")) return 0;
  value.remove_prefix(6);
  size_t count = 0;
  bool ok = each_list_item(value, [&](std::string_view spec) {
    if (++count > kMaxRanges) return false;
    size_t dash = spec.find('-');
    if (dash == std::string_view::npos) return false;
    std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
    uint64_t first = 0, last = 0;
    if (a.empty()) {  // suffix: the last N bytes
      uint64_t n = 0;
      if (!parse_u64(b, n)) return false;
      if (n == 0 || size == 0) return true;
      first = n >= size ? 0 : size - n;
      last = size - 1;
    } else {
      if (!parse_u64(a, first)) return false;
      if (b.empty()) {
        last = size ? size - 1 : 0;
      } else if (!parse_u64(b, last) || last < first) {
        return false;
      }
      if (first >= size) return true;  // unsatisfiable on its own
      last = std::min(last, size - 1);
    }
    out.push_back({first, last});
    return true;
  });
  if (!ok) return 0;
  return out.empty() ? 2 : 1;
}

/// Whether `etag` is among the entity-tags of an If-None-Match value (weak comparison), or it is "*".
bool etag_matches(std::string_view list, std::string_view etag) {
  if (trim_ows(list) == "*") return true;
  return !each_list_item(list, [&](std::string_view t) {
    if (t.size() > 2 && t.substr(0, 2) == "W/") t.remove_prefix(2);
    return t != etag;  // false (stop) at a match
  });
}

/// The q-value Accept-Encoding gives `coding` (0 when absent or refused).
bool accepts(std::string_view accept, std::string_view coding) {
  bool accepted = false;
  each_list_item(accept, [&](std::string_view item) {
    size_t semi = item.find(';');
    if (!ascii_iequal(trim_ows(item.substr(0, semi)), coding)) return true;
    std::string_view q = semi == std::string_view::npos ? std::string_view{} : trim_ows(item.substr(semi + 1));
    accepted = !(q == "q=0" || q == "q=0.0" || q == "q=0.00" || q == "q=0.000");
    return false;  // the first mention decides
  });
  return accepted;
}

void html_escape(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
}

void url_escape(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
}

FileAnswer not_found() {
  FileAnswer a;
  a.status = 404;
  a.text = "Not Found\n";
  return a;
}

}  // namespace

bool resolve_under(const std::string& root_real, std::string_view rel, std::string& out) {
  if (rel.find('\0') != std::string_view::npos || rel.find('\\') != std::string_view::npos) return false;
  std::string joined = root_real;
  for (std::string_view rest = rel; !rest.empty();) {
    size_t slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    rest.remove_prefix(slash == std::string_view::npos ? rest.size() : slash + 1);
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") return false;
    joined.append("/").append(seg);
  }
  char buf[PATH_MAX];
  if (!realpath(joined.c_str(), buf)) {
    out = joined;  // missing: the caller answers 404 (nothing outside could be read through it)
    return errno == ENOENT || errno == ENOTDIR;
  }
  std::string real = buf;
  // A symlink may point anywhere: what it resolves to must still be under the root.
  if (real != root_real && real.compare(0, root_real.size() + 1, root_real + "/") != 0) return false;
  out = real;
  return true;
}

std::string_view content_type_for(std::string_view name) noexcept {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"}, {".csv", "text/csv; charset=utf-8"},
      {".md", "text/markdown; charset=utf-8"}, {".xml", "application/xml"}, {".svg", "image/svg+xml"},
      {".png", "image/png"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"}, {".gif", "image/gif"},
      {".webp", "image/webp"}, {".avif", "image/avif"}, {".ico", "image/x-icon"}, {".pdf", "application/pdf"},
      {".wasm", "application/wasm"}, {".woff", "font/woff"}, {".woff2", "font/woff2"}, {".ttf", "font/ttf"},
      {".otf", "font/otf"}, {".mp4", "video/mp4"}, {".webm", "video/webm"}, {".mp3", "audio/mpeg"},
      {".ogg", "audio/ogg"}, {".wav", "audio/wav"}, {".zip", "application/zip"}, {".gz", "application/gzip"},
      {".tar", "application/x-tar"}, {".map", "application/json"}, {".webmanifest", "application/manifest+json"},
  };
  size_t dot = name.rfind('.');
  size_t slash = name.rfind('/');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) {
    return "application/octet-stream";
  }
  std::string_view ext = name.substr(dot);
  for (auto& [e, t] : kTypes) {
    if (ascii_iequal(ext, e)) return t;
  }
  return "application/octet-stream";
}

FileAnswer answer_file(const std::string& path, const std::vector<http1::Header>& headers, bool precompressed,
                       std::string_view download_name) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return not_found();
  FileAnswer a;
  std::string served = path;
  std::string_view encoding;
  const std::string_view* range_header = find_header(headers, "range");
  if (precompressed && !range_header) {
    if (const std::string_view* ae = find_header(headers, "accept-encoding")) {
      struct stat cst {};
      for (auto [coding, suffix] : {std::pair<std::string_view, std::string_view>{"br", ".br"}, {"gzip", ".gz"}}) {
        std::string candidate = path + std::string(suffix);
        if (accepts(*ae, coding) && stat(candidate.c_str(), &cst) == 0 && S_ISREG(cst.st_mode)) {
          served = candidate;
          encoding = coding;
          st = cst;
          break;
        }
      }
    }
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  char etag[64];
  std::snprintf(etag, sizeof etag, "\"%llx-%llx%s\"", static_cast<unsigned long long>(size),
                static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ull +
                    static_cast<unsigned long long>(st.st_mtim.tv_nsec),
                encoding.empty() ? "" : encoding == "br" ? "-br" : "-gz");
  std::string validators = std::string("ETag: ") + etag + "\r\nLast-Modified: " + http_date(st.st_mtim.tv_sec) + "\r\n";
  if (precompressed) validators += "Vary: Accept-Encoding\r\n";
  // Conditional requests (RFC 9110 §13.2.2): If-None-Match wins over If-Modified-Since.
  const std::string_view* inm = find_header(headers, "if-none-match");
  const std::string_view* ims = find_header(headers, "if-modified-since");
  bool not_modified = false;
  if (inm) {
    not_modified = etag_matches(*inm, etag);
  } else if (ims) {
    std::time_t since = parse_http_date(*ims);
    not_modified = since >= 0 && st.st_mtim.tv_sec <= since;
  }
  if (not_modified) {
    a.status = 304;
    a.header_lines = validators;
    return a;
  }
  std::string_view type = content_type_for(path);
  std::vector<Range> ranges;
  int range_kind = 0;
  if (range_header) {
    bool use_range = true;
    if (const std::string_view* if_range = find_header(headers, "if-range")) {
      // The range applies only to the representation the client has (RFC 9110 §13.1.5): the same entity-tag, or
      // exactly the same modification date.
      std::string_view v = trim_ows(*if_range);
      use_range = !v.empty() && (v.front() == '"' ? v == etag : parse_http_date(v) == st.st_mtim.tv_sec);
    }
    if (use_range) range_kind = parse_ranges(*range_header, size, ranges);
  }
  if (range_kind == 2) {
    a.status = 416;
    a.header_lines = "Content-Range: bytes */" + std::to_string(size) + "\r\n";
    a.text = "Range Not Satisfiable\n";
    return a;
  }
  a.fd = ::open(served.c_str(), O_RDONLY | O_CLOEXEC);
  if (a.fd < 0) return not_found();
  a.header_lines = validators + "Accept-Ranges: bytes\r\n";
  if (!encoding.empty()) a.header_lines += "Content-Encoding: " + std::string(encoding) + "\r\n";
  if (!download_name.empty()) {
    std::string quoted;
    for (char c : download_name) {
      if (c == '"' || c == '\\') quoted.push_back('\\');
      if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) quoted.push_back(c);
    }
    std::string encoded;
    url_escape(encoded, download_name);
    a.header_lines += "Content-Disposition: attachment; filename=\"" + quoted + "\"; filename*=UTF-8''" + encoded + "\r\n";
  }
  if (range_kind == 1 && ranges.size() == 1) {
    a.status = 206;
    const Range& r = ranges[0];
    a.header_lines += "Content-Type: " + std::string(type) + "\r\nContent-Range: bytes " + std::to_string(r.first) + "-" +
                      std::to_string(r.last) + "/" + std::to_string(size) + "\r\n";
    a.pieces.push_back({{}, r.first, r.last - r.first + 1});
    a.content_length = r.last - r.first + 1;
    return a;
  }
  if (range_kind == 1) {
    a.status = 206;
    char boundary[40];
    std::snprintf(boundary, sizeof boundary, "tiercel-%016llx", static_cast<unsigned long long>(
                                                                     st.st_mtim.tv_nsec ^ (size * 0x9e3779b97f4a7c15ull)));
    a.header_lines += std::string("Content-Type: multipart/byteranges; boundary=") + boundary + "\r\n";
    for (const Range& r : ranges) {
      std::string part = std::string("--") + boundary + "\r\nContent-Type: " + std::string(type) +
                         "\r\nContent-Range: bytes " + std::to_string(r.first) + "-" + std::to_string(r.last) + "/" +
                         std::to_string(size) + "\r\n\r\n";
      a.content_length += part.size() + (r.last - r.first + 1) + 2;
      a.pieces.push_back({std::move(part), 0, 0});
      a.pieces.push_back({{}, r.first, r.last - r.first + 1});
      a.pieces.push_back({"\r\n", 0, 0});
    }
    std::string end = std::string("--") + boundary + "--\r\n";
    a.content_length += end.size();
    a.pieces.push_back({std::move(end), 0, 0});
    return a;
  }
  a.header_lines += "Content-Type: " + std::string(type) + "\r\n";
  a.pieces.push_back({{}, 0, size});
  a.content_length = size;
  return a;
}

std::string directory_listing(const std::string& dir, std::string_view url_path) {
  std::vector<std::pair<std::string, bool>> entries;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st {};
      bool is_dir = stat((dir + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
      entries.emplace_back(std::move(name), is_dir);
    }
    closedir(d);
  }
  std::sort(entries.begin(), entries.end());
  std::string base(url_path);
  if (base.empty() || base.back() != '/') base.push_back('/');
  std::string out = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ";
  html_escape(out, base);
  out += "</title></head><body><h1>Index of ";
  html_escape(out, base);
  out += "</h1><ul>\n";
  for (auto& [name, is_dir] : entries) {
    out += "<li><a href=\"";
    std::string href;
    url_escape(href, name);
    html_escape(out, href + (is_dir ? "/" : ""));
    out += "\">";
    html_escape(out, name + (is_dir ? "/" : ""));
    out += "</a></li>\n";
  }
  out += "</ul></body></html>\n";
  return out;
}

}  // namespace tiercel
