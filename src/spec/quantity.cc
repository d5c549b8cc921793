#include "spec/quantity.h"

#include <charconv>
#include <cmath>
#include <system_error>

namespace drover::spec {
namespace {

constexpr std::size_t kShownChars = 64;
constexpr int64_t kMaxCpus = 1'000'000;
constexpr int64_t kMaxMemoryMib = int64_t{1} << 30;  // 1 PiB
constexpr double kMaxDurationSeconds = 1e9;          // ~31 years: "never", in practice

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// True when `text` is [+-]? digits [. digits?]? or [+-]? . digits, then an optional
// exponent: the only forms ParseDecimal accepts. from_chars alone would also take
// "inf", "nan" and hex floats.
bool LooksDecimal(std::string_view text) {
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  std::size_t digits = 0;
  while (i < text.size() && IsDigit(text[i])) ++i, ++digits;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && IsDigit(text[i])) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    std::size_t exp_digits = 0;
    while (i < text.size() && IsDigit(text[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == text.size();
}

// Splits "16Gi" into the leading number text and the rest.
std::pair<std::string_view, std::string_view> SplitNumber(std::string_view text) {
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  while (i < text.size() && (IsDigit(text[i]) || text[i] == '.')) ++i;
  return {text.substr(0, i), text.substr(i)};
}

}  // namespace

std::string Quote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  std::size_t shown = 0;
  for (char c : text) {
    if (shown++ == kShownChars) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string Shorten(std::string_view text) {
  if (text.size() <= kShownChars) return std::string(text);
  return std::string(text.substr(0, kShownChars)) + "...";
}

Result<int64_t> ParseInteger(std::string_view text) {
  std::string_view digits = text;
  if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  bool whole = !digits.empty() && end == digits.data() + digits.size();
  // "+-1" would otherwise pass: from_chars takes the '-' after our '+'.
  if (whole && digits.data() != text.data() && digits[0] == '-') whole = false;
  if (whole && ec == std::errc()) return value;
  if (whole && ec == std::errc::result_out_of_range) {
    return InvalidArgument(Shorten(text) + " is out of range");
  }
  if (!LooksDecimal(text)) return InvalidArgument(Quote(text) + " is not a number");
  // "4.0" and "1e3" are whole numbers written another way.
  Result<double> decimal = ParseDecimal(text);
  if (!decimal.ok()) return decimal.status();
  if (std::trunc(*decimal) != *decimal) {
    return InvalidArgument(Shorten(text) + " is not a whole number");
  }
  if (std::abs(*decimal) > 9.0e15) return InvalidArgument(Shorten(text) + " is out of range");
  return static_cast<int64_t>(*decimal);
}

Result<double> ParseDecimal(std::string_view text) {
  if (!LooksDecimal(text)) return InvalidArgument(Quote(text) + " is not a number");
  std::string_view body = text;
  if (body[0] == '+') body.remove_prefix(1);
  double value = 0;
  auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), value);
  if (ec == std::errc::result_out_of_range || !std::isfinite(value)) {
    return InvalidArgument(Shorten(text) + " is out of range");
  }
  if (ec != std::errc() || end != body.data() + body.size()) {
    return InvalidArgument(Quote(text) + " is not a number");
  }
  return value;
}

Result<int64_t> ParseCpuMillis(std::string_view text) {
  const std::string bad = Quote(text) + " is not a CPU count (write e.g. 4, 0.5 or 500m)";
  auto [number, unit] = SplitNumber(text);
  if (!unit.empty() && unit != "m") return InvalidArgument(bad);
  Result<double> value = ParseDecimal(number);
  if (!value.ok()) return InvalidArgument(bad);
  double millis = unit == "m" ? *value : *value * 1000;
  if (millis < 0) return InvalidArgument(Shorten(text) + " is negative");
  if (millis > kMaxCpus * 1000.0) {
    return InvalidArgument(Shorten(text) + " is above the maximum " + std::to_string(kMaxCpus) +
                           " CPUs");
  }
  double whole = std::round(millis);
  if (std::abs(millis - whole) > 1e-6) {
    return InvalidArgument(Shorten(text) + " is finer than a millicore (1m)");
  }
  return static_cast<int64_t>(whole);
}

Result<int64_t> ParseMemoryMib(std::string_view text) {
  const std::string bad = Quote(text) + " is not a memory size (write e.g. 512Mi, 16Gi or 16G)";
  auto [number, unit] = SplitNumber(text);
  struct Unit {
    std::string_view name;
    double mib;
  };
  static constexpr Unit kUnits[] = {
      {"", 1.0},
      {"Ki", 1.0 / 1024},
      {"Mi", 1.0},
      {"Gi", 1024.0},
      {"Ti", 1024.0 * 1024},
      {"k", 1e3 / 1048576},
      {"K", 1e3 / 1048576},
      {"M", 1e6 / 1048576},
      {"G", 1e9 / 1048576},
      {"T", 1e12 / 1048576},
  };
  const Unit* found = nullptr;
  for (const Unit& u : kUnits) {
    if (u.name == unit) found = &u;
  }
  if (found == nullptr) return InvalidArgument(bad);
  Result<double> value = ParseDecimal(number);
  if (!value.ok()) return InvalidArgument(bad);
  double mib = *value * found->mib;
  if (mib < 0) return InvalidArgument(Shorten(text) + " is negative");
  if (mib > static_cast<double>(kMaxMemoryMib)) {
    return InvalidArgument(Shorten(text) + " is above the maximum " +
                           std::to_string(kMaxMemoryMib) + " MiB");
  }
  // Round up, but forgive the last bits of binary rounding ("0.1Gi" is 102.4 MiB
  // however it is computed; 1.0000000001 MiB must not become 2).
  return static_cast<int64_t>(std::ceil(mib - 1e-9));
}

Result<double> ParseDurationSeconds(std::string_view text) {
  const std::string bad = Quote(text) + " is not a duration (write seconds, or e.g. 90s, 2m, 1h)";
  auto too_big = [&] {
    return InvalidArgument(Shorten(text) + " is above the maximum " +
                           std::to_string(static_cast<int64_t>(kMaxDurationSeconds)) + " seconds");
  };
  if (LooksDecimal(text)) {
    Result<double> seconds = ParseDecimal(text);
    if (!seconds.ok()) return seconds.status();
    if (*seconds < 0) return InvalidArgument(Shorten(text) + " is negative");
    if (*seconds > kMaxDurationSeconds) return too_big();
    return *seconds;
  }
  std::string_view rest = text;
  bool negative = !rest.empty() && rest[0] == '-';
  if (negative) rest.remove_prefix(1);
  if (rest.empty()) return InvalidArgument(bad);
  double total = 0;
  while (!rest.empty()) {
    std::size_t i = 0;
    while (i < rest.size() && (IsDigit(rest[i]) || rest[i] == '.')) ++i;
    std::string_view number = rest.substr(0, i);
    rest.remove_prefix(i);
    std::size_t j = 0;
    while (j < rest.size() && rest[j] >= 'a' && rest[j] <= 'z') ++j;
    std::string_view unit = rest.substr(0, j);
    rest.remove_prefix(j);
    double scale = 0;
    if (unit == "h") scale = 3600;
    else if (unit == "m") scale = 60;
    else if (unit == "s") scale = 1;
    else if (unit == "ms") scale = 0.001;
    else return InvalidArgument(bad);
    Result<double> value = ParseDecimal(number);
    if (!value.ok()) return InvalidArgument(bad);
    total += *value * scale;
  }
  // "-5m": say what is wrong rather than that it is unreadable.
  if (negative) return InvalidArgument(Shorten(text) + " is negative");
  if (total > kMaxDurationSeconds) return too_big();
  return total;
}

}  // namespace drover::spec
