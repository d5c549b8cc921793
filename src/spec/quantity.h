// Parsing the numbers and quantities people write in spec files.
//
// Each parser takes the text of one YAML scalar and returns the value, or an
// InvalidArgument whose message says what is wrong with the text alone
// (`"abc" is not a number`); the caller prefixes the file, line and field.
// Parsers accept the whole text or nothing: "4 GPUs" is an error, not 4.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace drover::spec {

//! A decimal integer with an optional sign: "32", "-1", "+4".
//! Errors: `"abc" is not a number`, `1.5 is not a whole number`,
//! `99999999999999999999 is out of range`.
Result<int64_t> ParseInteger(std::string_view text);

//! A finite decimal number: "2", "0.5", ".5", "1e3", "-1". No inf, nan, hex.
//! Errors: `"abc" is not a number`, `1e999 is out of range`.
Result<double> ParseDecimal(std::string_view text);

//! CPUs per worker in millicores: "4" and "4.0" -> 4000, "0.5" -> 500, "500m" -> 500.
//! Errors: `"four" is not a CPU count (write e.g. 4, 0.5 or 500m)`, `-1 is negative`,
//! `0.0001 is finer than a millicore (1m)`, `2000000 is above the maximum 1000000 CPUs`.
Result<int64_t> ParseCpuMillis(std::string_view text);

//! Memory in MiB, rounded up to a whole MiB. Suffixes: Ki Mi Gi Ti (powers of 1024)
//! and k M G T (powers of 1000, bytes); a plain number is MiB. "16Gi" -> 16384,
//! "1G" -> 954, "512" -> 512, "1.5Gi" -> 1536.
//! Errors: `"16GB" is not a memory size (write e.g. 512Mi, 16Gi or 16G)`,
//! `-1Gi is negative`, `2Pi is above the maximum 1073741824 MiB`.
Result<int64_t> ParseMemoryMib(std::string_view text);

//! A duration in seconds: a plain number of seconds ("90", "2.5"), or one or more
//! number-unit pairs with units h, m, s, ms ("90s", "2m", "1h", "1h30m", "1.5m").
//! Errors: `"soon" is not a duration (write seconds, or e.g. 90s, 2m, 1h)`,
//! `-5 is negative`, `100000000000 is above the maximum 1000000000 seconds`.
Result<double> ParseDurationSeconds(std::string_view text);

//! `text` in double quotes, with `"`, `\` and control characters escaped and anything
//! past 64 characters replaced by "...", for quoting user input in messages.
std::string Quote(std::string_view text);

//! `text` as is when it is at most 64 characters, else its first 64 and "...";
//! for echoing numbers, which need no quotes.
std::string Shorten(std::string_view text);

}  // namespace drover::spec
