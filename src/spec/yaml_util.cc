#include "spec/yaml_util.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>

#include "spec/quantity.h"
#include "spec/suggest.h"

namespace drover::spec {
namespace {

const char kTooLarge[] = "the file is larger than 1 MiB (1048576 bytes)";

int LineOf(const YAML::Mark& mark) { return mark.line >= 0 ? mark.line + 1 : 0; }
int LineOf(const YAML::Node& node) { return node.IsDefined() ? LineOf(node.Mark()) : 0; }

// A key as it appears in a path: bare when it is a plain word, else quoted, so
// that a key holding newlines or dots cannot make the path misleading.
std::string KeyForPath(std::string_view key) {
  bool plain = !key.empty() && key.size() <= 64 && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
  });
  return plain ? std::string(key) : Quote(key);
}

std::string Join(std::span<const std::string_view> words) {
  std::string out;
  for (std::string_view w : words) {
    if (!out.empty()) out += ", ";
    out += w;
  }
  return out;
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

// Where a document starts; the nodes in it are not kept.
class DocumentProbe : public YAML::EventHandler {
 public:
  YAML::Mark start;

  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

std::string FieldPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string out(parent);
  out += '.';
  out += key;
  return out;
}

std::string IndexPath(std::string_view parent, std::size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

const Field* FieldMap::Find(std::string_view key) const {
  for (const auto& [name, field] : fields_) {
    if (name == key) return &field;
  }
  return nullptr;
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Scalar: return Quote(node.Scalar());
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return "nothing";
  }
  return "nothing";
}

Status SpecReader::Error(int line, std::string_view path, std::string_view what) const {
  std::string m = file_;
  if (line > 0) m += ":" + std::to_string(line);
  m += ": ";
  if (!path.empty()) {
    m += path;
    m += ": ";
  }
  m += what;
  return InvalidArgument(std::move(m));
}

Result<Field> SpecReader::LoadDocument(std::string_view text) const {
  if (text.size() > kMaxSpecBytes) return Error(0, "", kTooLarge);
  const std::string input(text);
  YAML::Node root;
  try {
    // yaml-cpp 0.7's LoadAll never returns on some malformed input: a stray ','
    // at the top level reads as an endless run of empty documents. So walk at
    // most two documents with the event parser first, then build the first one.
    std::istringstream stream(input);
    YAML::Parser parser(stream);
    DocumentProbe first;
    if (!parser.HandleNextDocument(first)) return Error(1, "", "the file is empty");
    DocumentProbe second;
    if (parser.HandleNextDocument(second)) {
      if (second.start.pos == first.start.pos) {
        // No progress: the parser is stuck on a token no document can start with.
        std::string what = "syntax error: unexpected ";
        auto pos = static_cast<std::size_t>(first.start.pos);
        what += pos < input.size() ? Quote(input.substr(pos, 1)) : std::string("input");
        return Error(LineOf(first.start), "", what);
      }
      return Error(LineOf(second.start), "", "a second YAML document; put everything in one");
    }
    root = YAML::Load(input);
  } catch (const YAML::DeepRecursion& e) {
    return Error(LineOf(e.mark), "", "syntax error: nesting is too deep");
  } catch (const YAML::Exception& e) {
    return Error(LineOf(e.mark), "", "syntax error: " + e.msg);
  } catch (const std::exception& e) {
    // yaml-cpp promises only its own exceptions, but nothing may escape a parser.
    return Error(0, "", std::string("cannot parse: ") + e.what());
  }
  if (root.IsNull()) return Error(1, "", "the file is empty");
  int line = std::max(LineOf(root), 1);
  return Field{root, "", line, line};
}

Result<FieldMap> SpecReader::ReadMap(const Field& at, std::span<const std::string_view> known) const {
  if (!at.node.IsMap()) return Error(at, "expected a map, got " + Describe(at.node));
  FieldMap fields;
  for (auto it = at.node.begin(); it != at.node.end(); ++it) {
    // Copies: the iterator's operator-> hands out a temporary proxy.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    int key_line = LineOf(key);
    if (key_line == 0) key_line = at.line;
    if (!key.IsScalar()) {
      return Error(key_line, at.path, "field names must be plain words, got " + Describe(key));
    }
    const std::string& name = key.Scalar();
    std::string path = FieldPath(at.path, KeyForPath(name));
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string_view guess = ClosestMatch(name, known);
      if (!guess.empty()) {
        return Error(key_line, path, "unknown field; did you mean \"" + std::string(guess) + "\"?");
      }
      return Error(key_line, path, "unknown field (expected one of: " + Join(known) + ")");
    }
    if (const Field* first = fields.Find(name)) {
      return Error(key_line, path,
                   "duplicate field (first at line " + std::to_string(first->key_line) + ")");
    }
    int line = value.IsNull() ? 0 : LineOf(value);
    fields.Add(name, Field{value, std::move(path), line > 0 ? line : key_line, key_line});
  }
  return fields;
}

Result<std::vector<Field>> SpecReader::ReadList(const Field& at) const {
  if (!at.node.IsSequence()) return Error(at, "expected a list, got " + Describe(at.node));
  std::vector<Field> items;
  // Iterators, not size() and operator[]: yaml-cpp recounts a sequence on size().
  for (auto it = at.node.begin(); it != at.node.end(); ++it) {
    const YAML::Node item = *it;
    int line = item.IsNull() ? 0 : LineOf(item);
    if (line == 0) line = at.line;
    items.push_back(Field{item, IndexPath(at.path, items.size()), line, line});
  }
  return items;
}

Result<std::string> SpecReader::ReadScalar(const Field& at, std::string_view expected) const {
  if (!at.node.IsScalar()) {
    return Error(at, "expected " + std::string(expected) + ", got " + Describe(at.node));
  }
  return at.node.Scalar();
}

Result<int64_t> SpecReader::ReadInt(const Field& at, int64_t min, int64_t max) const {
  Result<std::string> text = ReadScalar(at, "a number");
  if (!text.ok()) return text.status();
  Result<int64_t> value = ParseInteger(*text);
  if (!value.ok()) return Error(at, value.status().message());
  if (*value < min) {
    if (min == 0) return Error(at, std::to_string(*value) + " is negative");
    return Error(at, std::to_string(*value) + " must be at least " + std::to_string(min));
  }
  if (*value > max) {
    return Error(at, std::to_string(*value) + " is above the maximum " + std::to_string(max));
  }
  return value;
}

Result<double> SpecReader::ReadDecimal(const Field& at) const {
  return ReadQuantity<double>(at, "a number", &ParseDecimal);
}

Result<bool> SpecReader::ReadBool(const Field& at) const {
  Result<std::string> text = ReadScalar(at, "true or false");
  if (!text.ok()) return text.status();
  for (std::string_view yes : {"true", "yes", "on"}) {
    if (EqualsIgnoringCase(*text, yes)) return true;
  }
  for (std::string_view no : {"false", "no", "off"}) {
    if (EqualsIgnoringCase(*text, no)) return false;
  }
  return Error(at, Quote(*text) + " is not true or false");
}

Result<std::string> SpecReader::ReadString(const Field& at, std::size_t max_bytes) const {
  if (at.node.IsScalar() && at.node.Scalar().size() > max_bytes) {
    return Error(at, Quote(at.node.Scalar()) + " is longer than " + std::to_string(max_bytes) +
                         " characters");
  }
  return ReadScalar(at, "a string");
}

Result<std::string> ReadSpecFile(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) return NotFound(path + ": no such file");
  if (fs::is_directory(st)) return InvalidArgument(path + ": is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(path + ": cannot read: " + std::strerror(errno));
  std::string text(kMaxSpecBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return InvalidArgument(path + ": cannot read: " + std::strerror(errno));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxSpecBytes) return InvalidArgument(path + ": " + kTooLarge);
  return text;
}

}  // namespace drover::spec
