// Static files: safe path resolution under a root, Content-Type by extension, validators (ETag, Last-Modified)
// with 304s, byte ranges (single, multiple as multipart/byteranges, 416), precompressed .br/.gz siblings. The
// body is described as pieces read from the open file in chunks by the caller, never loaded whole.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/http1_parser.h"

namespace tiercel {

/// A piece of a file answer's body: literal bytes (multipart boundaries), or `length` bytes of the file at `offset`.
struct FilePiece {
  std::string literal;
  uint64_t offset = 0;
  uint64_t length = 0;
};

/// What to send for one file request. On success `fd` is an open file the caller reads the pieces from and closes.
struct FileAnswer {
  int status = 200;
  std::string header_lines;   ///< "Name: value\r\n"*, without Content-Length
  uint64_t content_length = 0;
  std::vector<FilePiece> pieces;
  int fd = -1;
  std::string text;           ///< the body of a short text answer (404, 416, a listing) when fd is -1
};

/// `rel` (a decoded path below the root: "css/site.css") as a path inside `root_real` (a realpath). False for
/// anything that could leave it: "..", NUL, a backslash, or a symlink pointing outside.
bool resolve_under(const std::string& root_real, std::string_view rel, std::string& out);

/// The Content-Type for a file name, by its extension.
std::string_view content_type_for(std::string_view name) noexcept;

/// Answers a GET/HEAD for the file at `path`: 200, 206, 304, 404 or 416, honouring If-None-Match,
/// If-Modified-Since, Range and If-Range, and (with `precompressed`) serving a .br/.gz sibling the client accepts.
/// `download_name`: a Content-Disposition attachment name.
FileAnswer answer_file(const std::string& path, const std::vector<http1::Header>& headers, bool precompressed,
                       std::string_view download_name);

/// An HTML listing of the directory `dir` for the URL path `url_path` (names escaped).
std::string directory_listing(const std::string& dir, std::string_view url_path);

}  // namespace tiercel
