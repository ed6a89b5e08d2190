// multipart/form-data (RFC 7578, framing from RFC 2046 §5.1): a strict, incremental parser. Malformed input (no
// boundary, a truncated part, bad part headers) is refused.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tiercel {

struct MultipartPart {
  std::string name;          ///< the form field (Content-Disposition name=)
  std::string filename;      ///< the file name (filename=), when has_filename
  bool has_filename = false;
  std::string content_type;  ///< the part's Content-Type, or "" (text/plain by default for fields)
  std::string_view data;     ///< the part's body: a view into the parsed input
};

struct MultipartLimits {
  size_t max_parts = 1000;
  size_t max_part_header_bytes = 8 * 1024;
};

/// The boundary of a `multipart/form-data; boundary=...` Content-Type; false when there is none or it is invalid.
bool multipart_boundary(std::string_view content_type, std::string& boundary);

/// An incremental multipart/form-data parser: the body is fed in pieces as it arrives, and each part is reported
/// as it is read, its data in pieces, so a body of any size is parsed in a bounded amount of memory (the parser
/// keeps back at most a part's headers, or the few bytes that may begin a boundary).
class MultipartReader {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    /// A part begins: its headers are parsed (`part.data` is empty).
    virtual void on_part(const MultipartPart& part) = 0;
    /// The next piece of the current part's data, valid during the call only. False stops the parser with `error`.
    virtual bool on_data(std::string_view data, std::string& error) = 0;
    /// The current part's data is complete.
    virtual void on_part_end() = 0;
  };

  MultipartReader(std::string_view boundary, const MultipartLimits& limits);
  /// Parses the next piece of the body; false (and error()) once the body is known to be malformed.
  bool feed(std::string_view data, Handler& handler);
  /// The body ended: false (and error()) unless the closing boundary was read.
  bool finish();
  const std::string& error() const noexcept { return error_; }
  size_t parts() const noexcept { return parts_; }

 private:
  enum class State : uint8_t { kPreamble, kAfterDelimiter, kHeaders, kData, kDone, kFailed };
  /// Parses what `in` allows; `used` is how many of its bytes are done with.
  bool run(std::string_view in, size_t& used, Handler& handler);
  bool fail(std::string message);
  bool parse_part_head(std::string_view head, MultipartPart& part);

  std::string delimiter_;  // "\r\n--" boundary: the CRLF belongs to the delimiter (RFC 2046 §5.1.1)
  MultipartLimits limits_;
  State state_ = State::kPreamble;
  bool at_start_ = true;  // nothing consumed yet: the first delimiter may come without its CRLF
  size_t parts_ = 0;
  std::string held_;      // bytes kept back from earlier pieces (a partial head or a possible boundary prefix)
  std::string error_;
};

/// Parses a complete `body` into `parts` (their data views into `body`); false with `error` saying what is wrong.
bool parse_multipart(std::string_view body, std::string_view boundary, const MultipartLimits& limits,
                     std::vector<MultipartPart>& parts, std::string& error);

}  // namespace tiercel
