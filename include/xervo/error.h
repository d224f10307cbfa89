// Errors for every layer of xervo: one `Error` (a code from a small fixed set plus a message that
// says what to do) and `Result<T>`, a value or an Error. The public API reports every failure as a
// Result, never by throwing. Inside the CLI and config parsing, `Exception` carries the same Error
// across a few frames. Reading the value of a Result that holds an error (or the error of one that
// holds a value) is a programming error: it throws `Exception` carrying the Error (internal for the
// latter), never bad_variant_access or undefined behaviour. Check ok() first, or call
// value_or_throw() where throwing is the intent. Error and Result are values; copy them across threads.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace xervo {

// Each code has one meaning and maps to exactly one HTTP status (see http_status()).
enum class ErrorCode {
  invalid_input,        // the caller sent something malformed or out of range (400)
  config_invalid,       // a config file or spec is wrong (400)
  alias_not_found,      // no alias or model id by that name (404)
  provider_not_found,   // no provider registered under that id (404)
  model_not_found,      // the provider or library has no such model (404)
  capability_mismatch,  // the model cannot do the asked task (400)
  context_overflow,     // input longer than the model's context (400)
  model_load_failed,    // the model exists but could not be loaded (500)
  inference_failed,     // the engine or remote API failed while running (500)
  not_ready,            // requirements of a model are not met (409)
  timeout,              // a deadline passed (504)
  rate_limited,         // too many requests; retry later (429)
  unavailable,          // a service or queue is down or full; retry later (503)
  insufficient_memory,  // a model does not fit the memory budget even after evicting idle models (503)
  unauthorized,         // missing or wrong credentials (401)
  forbidden,            // credentials valid but not allowed (403)
  cancelled,            // the caller cancelled (499)
  io_error,             // a file system operation failed (500)
  internal,             // a bug in xervo (500)
};

std::string_view to_string(ErrorCode code);
std::optional<ErrorCode> parse_error_code(std::string_view name);
// The one HTTP status for each code.
int http_status(ErrorCode code);
// Whether a caller may try again (same or other backend) and expect a different outcome.
bool is_retryable(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "model_load_failed: cannot open /x.gguf: No such file"
  std::string to_string() const;

 private:
  ErrorCode code_;
  std::string message_;
};

// An Error thrown at the edges (CLI, config parsing) where unwinding is simpler than returning.
class Exception : public std::runtime_error {
 public:
  explicit Exception(Error error) : std::runtime_error(error.to_string()), error_(std::move(error)) {}
  const Error& error() const { return error_; }

 private:
  Error error_;
};

namespace detail {
// What error() of a Result that holds no error throws.
[[noreturn]] inline void throw_no_error() {
  throw Exception(
      Error(ErrorCode::internal, "error() called on a Result that holds no error; check ok() first"));
}
}  // namespace detail

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // The value; on an error, throws Exception carrying it (a programming error: check ok() first).
  T& value() & { return *checked(); }
  const T& value() const& { return *checked(); }
  T&& value() && { return std::move(*checked()); }
  T* operator->() { return checked(); }
  const T* operator->() const { return checked(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // The error; on a value, throws Exception (internal).
  const Error& error() const {
    if (ok()) detail::throw_no_error();
    return *std::get_if<1>(&v_);
  }

  // The value, or throws Exception: the explicit form, for the edges (CLI, examples).
  T value_or_throw() && { return std::move(*checked()); }

 private:
  T* checked() {
    if (!ok()) throw Exception(*std::get_if<1>(&v_));
    return std::get_if<0>(&v_);
  }
  const T* checked() const {
    if (!ok()) throw Exception(*std::get_if<1>(&v_));
    return std::get_if<0>(&v_);
  }

  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  // The error; on success, throws Exception (internal).
  const Error& error() const {
    if (!error_) detail::throw_no_error();
    return *error_;
  }
  void value_or_throw() const {
    if (error_) throw Exception(*error_);
  }

 private:
  std::optional<Error> error_;
};

}  // namespace xervo
