// Reading drover's YAML spec files with errors that point at the line and field at fault.
//
// Every error a SpecReader returns is kInvalidArgument with the message
//   "<file>:<line>: <field path>: <what is wrong>"
// e.g. `plan.yaml:7: consumers[2].owned: -1 is negative`. Lines are 1-based; the
// line is left out when unknown and the path for errors about the whole document.
//
// yaml-cpp reports syntax errors by throwing. LoadDocument is the only place that
// calls into yaml-cpp's parser and catches everything it throws; the readers below
// only use node members that do not throw on the nodes it returns. Reading never
// recurses on its own: callers walk the document, so they bound its depth.
// Thread safety: SpecReader is immutable; its methods may run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/status.h"

namespace drover::spec {

//! Inputs larger than this are refused before yaml-cpp sees them.
inline constexpr std::size_t kMaxSpecBytes = std::size_t{1} << 20;

//! A value in the document and where to point when it is wrong.
struct Field {
  YAML::Node node;   //!< the value; Null when the key was given no value
  std::string path;  //!< "consumers[0].owned"; empty for the document itself
  int line = 0;      //!< 1-based line to report; 0 when unknown
  int key_line = 0;  //!< line of the key naming it (for list elements, `line`)
};

//! "consumers" + "owned" -> "consumers.owned"; "" + "name" -> "name".
std::string FieldPath(std::string_view parent, std::string_view key);
//! "consumers" + 2 -> "consumers[2]".
std::string IndexPath(std::string_view parent, std::size_t index);

//! The fields of one YAML map, in document order; each key known and present once.
class FieldMap {
 public:
  //! The field named `key`, or nullptr when the map does not have it.
  const Field* Find(std::string_view key) const;
  void Add(std::string key, Field field) { fields_.emplace_back(std::move(key), std::move(field)); }

 private:
  std::vector<std::pair<std::string, Field>> fields_;
};

class SpecReader {
 public:
  //! `file_name` starts every message ("plan.yaml", or a path).
  explicit SpecReader(std::string_view file_name) : file_(file_name) {}
  const std::string& file_name() const { return file_; }

  //! "file:line: path: what" as kInvalidArgument.
  Status Error(int line, std::string_view path, std::string_view what) const;
  Status Error(const Field& at, std::string_view what) const { return Error(at.line, at.path, what); }

  //! Parses `text` as exactly one YAML document, returned as a Field with an empty
  //! path at the document's first line. Errors: `file: the file is larger than 1 MiB (1048576 bytes)`,
  //! `file:LINE: syntax error: MESSAGE` (yaml-cpp's message),
  //! `file:LINE: syntax error: nesting is too deep`, `file:LINE: syntax error:
  //! unexpected ","` (input yaml-cpp cannot step past), `file:1: the file is empty`,
  //! `file:LINE: a second YAML document; put everything in one`.
  Result<Field> LoadDocument(std::string_view text) const;

  //! `at` as a map whose keys are all in `known`. Errors: `path: expected a map,
  //! got a list`, `path.key: unknown field; did you mean "owned"?`, `path.key:
  //! unknown field (expected one of: a, b)`, `path.key: duplicate field (first at
  //! line N)`, `path: field names must be plain words, got a map`.
  Result<FieldMap> ReadMap(const Field& at, std::span<const std::string_view> known) const;

  //! The elements of a list, each with its path ("consumers[3]") and line.
  //! Error: `path: expected a list, got a map`.
  Result<std::vector<Field>> ReadList(const Field& at) const;

  //! The text of a scalar. Error: `path: expected EXPECTED, got a list` (or a map,
  //! or nothing), EXPECTED being e.g. "a number" or "a string".
  Result<std::string> ReadScalar(const Field& at, std::string_view expected) const;

  //! An integer in [min, max]. Errors: those of ParseInteger, `-1 is negative`
  //! (when min is 0), `0 must be at least 1`, `5000 is above the maximum 4096`.
  Result<int64_t> ReadInt(const Field& at, int64_t min, int64_t max) const;

  //! A decimal number. Errors: those of ParseDecimal.
  Result<double> ReadDecimal(const Field& at) const;

  //! true/false (also yes/no, any case). Error: `"maybe" is not true or false`.
  Result<bool> ReadBool(const Field& at) const;

  //! A scalar's text, at most `max_bytes` long. Errors: those of ReadScalar,
  //! `"aaaa..." is longer than N characters`.
  Result<std::string> ReadString(const Field& at, std::size_t max_bytes) const;

  //! A scalar run through one of the quantity parsers, its error located at `at`.
  template <typename T>
  Result<T> ReadQuantity(const Field& at, std::string_view expected,
                         Result<T> (*parse)(std::string_view)) const {
    Result<std::string> text = ReadScalar(at, expected);
    if (!text.ok()) return text.status();
    Result<T> value = parse(*text);
    if (!value.ok()) return Error(at, value.status().message());
    return value;
  }

 private:
  std::string file_;
};

//! "a map", "a list", "nothing", or the scalar quoted: what a value is, for messages.
std::string Describe(const YAML::Node& node);

//! The contents of the file at `path`. Errors: kNotFound `path: no such file`,
//! kInvalidArgument `path: is a directory`, `path: cannot read: REASON`,
//! `path: the file is larger than 1 MiB (1048576 bytes)`.
Result<std::string> ReadSpecFile(const std::string& path);

}  // namespace drover::spec
