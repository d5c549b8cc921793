// Percent-encoding for URL paths and query values: letters, digits and
// "/_-." pass; every other byte becomes %XX.
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace drover {

inline std::string PercentEncode(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '/' || c == '_' || c == '-' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace drover
