// Refused handler arguments: FastAPI's 422 errors ({"type", "loc", "msg", "input", "ctx"}, every refusal of a
// request listed, the body's after the parameters') and Robyn's 400 naming the first plain typed parameter refused.
#pragma once

#include <memory>
#include <string>

#include "bindings/arguments.h"

namespace tiercel::py {

/// The refusals found while one call's arguments are made.
struct Refusals {
  nb::object errors;       // FastAPI's errors of the parameters (path, query, header, cookie), or null
  nb::object body_errors;  // ... and of the body (JSON, form fields, files), listed after them
  nb::object body;         // the data a refused body was (bytes, or the form), for RequestValidationError.body
  std::string plain_message, plain_name;  // the first plain typed parameter refused (a 400), or empty

  /// Adds one of FastAPI's errors (to the body's when its loc starts with "body").
  void add(nb::handle error);
};

/// A ValueCheck from the plan's check dict (tiercel/params.py value_check); ValueError when malformed.
std::shared_ptr<const ValueCheck> make_check(nb::handle d);

/// Adds the refusal of the text `text` by `a`'s conversion (kInt, kFloat, kBool, kLookup, kCall). `index`: its
/// place in a repeated query parameter, or -1.
void refuse_conversion(Refusals& st, const ArgSpec& a, std::string_view text, Py_ssize_t index);

/// Checks `value` (converted from `text`) against `a`'s rules, adding what they refuse; false when refused.
bool check_rules(Refusals& st, const ArgSpec& a, nb::handle value, std::string_view text, Py_ssize_t index);

/// Adds "Field required" for the value `c` describes.
void refuse_missing(Refusals& st, const ValueCheck& c);

/// Adds "Field required" at ("body"[, key]).
void missing_body(Refusals& st, nb::handle key);

/// The current Python error, raised by a codec on `data`, described by `refusal` (tiercel/models.py Codec.errors, or
/// (that, pydantic's ValidationError, members): the common pydantic refusals are then worded here) and added;
/// false (the error left set, a bug to answer 500) when it is not a refusal.
bool refused_body(Refusals& st, nb::handle refusal, nb::handle data);

/// Raises param_error(message, name) for a plain parameter refused, else RequestValidationError(errors, body):
/// true then, false when nothing was refused.
bool raise_refusals(Refusals& st, nb::handle param_error);

}  // namespace tiercel::py
