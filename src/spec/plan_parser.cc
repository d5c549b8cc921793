#include "spec/plan_parser.h"

#include <cctype>
#include <algorithm>
#include <exception>
#include <unordered_map>

#include "spec/consumer_path.h"
#include "spec/quantity.h"
#include "spec/yaml_util.h"

namespace drover {
namespace {

using spec::Field;
using spec::FieldMap;

constexpr int64_t kMaxGpus = 1'000'000;
constexpr double kMaxShare = 1e6;
constexpr std::string_view kTopFields[] = {"consumers"};
constexpr std::string_view kConsumerFields[] = {"name",   "owned",  "share",         "limit",   "lend",
                                                "borrow", "reclaim_grace", "run_as", "children"};

// A user name as useradd accepts it: [a-z_][a-z0-9_-]*, at most 32 characters.
bool IsUserName(const std::string& s) {
  if (s.empty() || s.size() > 32 || !(std::islower(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_' ||
           c == '-';
  });
}

class PlanParser {
 public:
  explicit PlanParser(std::string_view file_name) : reader_(file_name) {}

  Result<ConsumerTree> Parse(std::string_view text) {
    Result<Field> doc = reader_.LoadDocument(text);
    if (!doc.ok()) return doc.status();
    if (!doc->node.IsMap()) {
      return reader_.Error(*doc, "expected a map with a \"consumers\" list, got " +
                                     spec::Describe(doc->node));
    }
    Result<FieldMap> top = reader_.ReadMap(*doc, kTopFields);
    if (!top.ok()) return top.status();
    const Field* consumers = top->Find("consumers");
    if (consumers == nullptr) return reader_.Error(*doc, "missing required field \"consumers\"");
    int64_t owned_sum = 0;
    DROVER_RETURN_IF_ERROR(ParseList(*consumers, 0, 1, &owned_sum));
    // Everything Validate checks was checked above with a location; this is the backstop.
    Status valid = tree_.Validate();
    if (!valid.ok()) return reader_.Error(0, "", valid.message());
    return std::move(tree_);
  }

 private:
  // Adds the consumers listed in `list` under tree node `parent`, `level` levels
  // below the root, and adds up their owned GPUs into `owned_sum`.
  Status ParseList(const Field& list, int parent, int level, int64_t* owned_sum) {
    Result<std::vector<Field>> items = reader_.ReadList(list);
    if (!items.ok()) return items.status();
    if (level > spec::kMaxConsumerDepth && !items->empty()) {
      return reader_.Error(list.key_line, list.path,
                           "consumers nest deeper than " + std::to_string(spec::kMaxConsumerDepth) +
                               " levels");
    }
    std::unordered_map<std::string, int> sibling_lines;
    for (const Field& item : *items) {
      if (++count_ > kMaxPlanConsumers) {
        return reader_.Error(item, "more than " + std::to_string(kMaxPlanConsumers) + " consumers");
      }
      DROVER_RETURN_IF_ERROR(ParseConsumer(item, parent, level, &sibling_lines, owned_sum));
    }
    return Status::Ok();
  }

  Status ParseConsumer(const Field& item, int parent, int level,
                       std::unordered_map<std::string, int>* sibling_lines, int64_t* owned_sum) {
    Result<FieldMap> fields = reader_.ReadMap(item, kConsumerFields);
    if (!fields.ok()) return fields.status();

    const Field* name_field = fields->Find("name");
    if (name_field == nullptr) return reader_.Error(item, "missing required field \"name\"");
    Result<std::string> name = reader_.ReadString(*name_field, spec::kMaxConsumerNameLength);
    if (!name.ok()) return name.status();
    Status name_ok = spec::CheckConsumerName(*name);
    if (!name_ok.ok()) return reader_.Error(*name_field, name_ok.message());
    auto [first, inserted] = sibling_lines->emplace(*name, name_field->line);
    if (!inserted) {
      return reader_.Error(*name_field, "duplicate consumer " + spec::Quote(*name) + " under " +
                                            tree_.node(parent).path + " (first at line " +
                                            std::to_string(first->second) + ")");
    }

    ConsumerPlan plan;
    if (const Field* f = fields->Find("owned")) {
      Result<int64_t> v = reader_.ReadInt(*f, 0, kMaxGpus);
      if (!v.ok()) return v.status();
      plan.owned = *v;
    }
    if (const Field* f = fields->Find("share")) {
      Result<double> v = reader_.ReadDecimal(*f);
      if (!v.ok()) return v.status();
      const std::string shown = spec::Shorten(f->node.Scalar());
      if (!(*v > 0)) return reader_.Error(*f, shown + " must be positive");
      if (*v > kMaxShare) return reader_.Error(*f, shown + " is above the maximum 1000000");
      plan.share = *v;
    }
    if (const Field* f = fields->Find("limit")) {
      Result<int64_t> v = reader_.ReadInt(*f, 0, kMaxGpus);
      if (!v.ok()) return v.status();
      if (*v < plan.owned) {
        return reader_.Error(*f, std::to_string(*v) + " is below owned " + std::to_string(plan.owned));
      }
      plan.limit = *v;
    }
    if (const Field* f = fields->Find("lend")) {
      Result<bool> v = reader_.ReadBool(*f);
      if (!v.ok()) return v.status();
      plan.lend = *v;
    }
    if (const Field* f = fields->Find("borrow")) {
      Result<bool> v = reader_.ReadBool(*f);
      if (!v.ok()) return v.status();
      plan.borrow = *v;
    }
    if (const Field* f = fields->Find("reclaim_grace")) {
      Result<double> v = reader_.ReadQuantity<double>(*f, "a duration", &spec::ParseDurationSeconds);
      if (!v.ok()) return v.status();
      plan.reclaim_grace = *v;
    }
    if (const Field* f = fields->Find("run_as")) {
      Result<std::string> v = reader_.ReadString(*f, 64);
      if (!v.ok()) return v.status();
      if (!IsUserName(*v)) {
        return reader_.Error(*f, spec::Quote(*v) + " is not a user name (lower-case letters, digits, _ and -, "
                                 "at most 32, not starting with a digit or -)");
      }
      plan.run_as = *v;
    }

    Result<int> index = tree_.Add(parent, *name, plan);
    if (!index.ok()) return reader_.Error(*name_field, index.status().message());
    *owned_sum += plan.owned;

    const Field* children = fields->Find("children");
    if (children == nullptr) return Status::Ok();
    int64_t children_owned = 0;
    DROVER_RETURN_IF_ERROR(ParseList(*children, *index, level + 1, &children_owned));
    if (children_owned > plan.owned) {
      return reader_.Error(children->key_line, children->path,
                           "children own " + std::to_string(children_owned) +
                               " GPUs in total, more than the " + std::to_string(plan.owned) +
                               " owned by " + tree_.node(*index).path);
    }
    return Status::Ok();
  }

  spec::SpecReader reader_;
  ConsumerTree tree_;
  int count_ = 0;
};

}  // namespace

Result<ConsumerTree> ParsePlan(std::string_view yaml_text, std::string_view file_name) {
  try {
    return PlanParser(file_name).Parse(yaml_text);
  } catch (const std::exception& e) {
    // Only a bug gets here: LoadDocument catches yaml-cpp's exceptions.
    return Internal(std::string(file_name) + ": internal error while reading the plan: " + e.what());
  }
}

Result<ConsumerTree> LoadPlanFile(const std::string& path) {
  Result<std::string> text = spec::ReadSpecFile(path);
  if (!text.ok()) return text.status();
  return ParsePlan(*text, path);
}

}  // namespace drover
