// Building request.form_data and request.files from a body, whole or as it arrives (streamed bodies).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bindings/py_types.h"
#include "core/multipart.h"

namespace tiercel::py {

class UploadFile;

/// A 400 HTTPException saying "Bad form: <message>" (a ValueError when tiercel.HTTPException is not known).
nb::object bad_form_error(std::string_view message, int status = 400);

/// Collects the fields and files of a urlencoded or multipart body fed in pieces: fields in memory, files in
/// memory up to form_spill_size and in a temporary file beyond. Malformed input stops it with error().
class FormBuilder : MultipartReader::Handler {
 public:
  /// `content_type` is the request's; `max_field` bounds a field that is not a file (and a whole urlencoded body),
  /// 0 for no bound (a body read whole is already bounded by max_body).
  FormBuilder(std::string_view content_type, size_t max_field);
  ~FormBuilder() override;
  FormBuilder(const FormBuilder&) = delete;
  FormBuilder& operator=(const FormBuilder&) = delete;

  bool feed(std::string_view data);
  /// The body ended: true when it was a complete form.
  bool finish();
  const std::string& error() const noexcept { return error_; }
  int error_status() const noexcept { return error_status_; }
  /// (form_data, files, every file by field) as dicts, the first of a repeated name winning in the first two.
  std::tuple<nb::dict, nb::dict, nb::dict> build();

 private:
  void on_part(const MultipartPart& part) override;
  bool on_data(std::string_view data, std::string& error) override;
  void on_part_end() override;
  bool fail(std::string message, int status = 400);

  enum class Kind : uint8_t { kNone, kUrlencoded, kMultipart } kind_ = Kind::kNone;
  std::unique_ptr<MultipartReader> reader_;
  size_t max_field_;
  std::string urlencoded_;
  struct Field {
    std::string name, value;
  };
  std::vector<Field> fields_;
  std::vector<std::unique_ptr<UploadFile>> files_;
  bool in_file_ = false;
  std::string error_;
  int error_status_ = 400;
  int data_error_status_ = 400;  // what on_data's refusal means (413 too large, 500 the disk refused)
};

}  // namespace tiercel::py
