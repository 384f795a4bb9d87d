// Errors raised by the core. The Python module translates ValueError and
// TypeError to the Python exceptions of the same name; every message starts with
// "twincore.<op>: argument '<arg>': " so users see which op and which argument.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace tc {

struct ValueError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct TypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename... Ts>
std::string cat(const Ts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

template <typename... Ts>
[[noreturn]] void value_error(const char* op, const char* arg, const Ts&... msg) {
  throw ValueError(cat("twincore.", op, ": argument '", arg, "': ", msg...));
}

template <typename... Ts>
[[noreturn]] void type_error(const char* op, const char* arg, const Ts&... msg) {
  throw TypeError(cat("twincore.", op, ": argument '", arg, "': ", msg...));
}

}  // namespace tc
