#include "cli/plan_command.h"

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "spec/plan_parser.h"

namespace drover::cli {
namespace {

void PrintTree(const ConsumerTree& t) {
  std::printf("%-32s %6s %6s %6s %5s %6s %8s\n", "CONSUMER", "OWNED", "SHARE", "LIMIT", "LEND", "BORROW", "GRACE");
  // Depth-first, children in file order, indented by depth.
  std::vector<std::pair<int, int>> stack{{0, -1}};
  while (!stack.empty()) {
    auto [n, depth] = stack.back();
    stack.pop_back();
    const ConsumerNode& node = t.node(n);
    for (auto it = node.children.rbegin(); it != node.children.rend(); ++it) stack.push_back({*it, depth + 1});
    if (n == 0) continue;
    const ConsumerPlan& p = node.plan;
    std::string name = std::string(2 * depth, ' ') + node.path;
    std::printf("%-32s %6lld %6g %6s %5s %6s %7gs\n", name.c_str(), static_cast<long long>(p.owned), p.share,
                p.limit ? std::to_string(*p.limit).c_str() : "-", p.lend ? "yes" : "no", p.borrow ? "yes" : "no",
                p.reclaim_grace);
  }
}

}  // namespace

void AddPlanCommand(CLI::App& app, int& exit_code) {
  CLI::App* plan = app.add_subcommand("plan", "Consumer plans (the tree of teams and their GPUs)");
  plan->require_subcommand(1);
  auto file = std::make_shared<std::string>();
  CLI::App* check = plan->add_subcommand("check", "Validate a plan file and print its tree");
  check->add_option("-f,--file", *file, "plan YAML")->required();
  check->callback([file, &exit_code]() {
    auto tree = LoadPlanFile(*file);
    if (!tree.ok()) {
      std::cerr << "drover plan check: " << tree.status().message() << "\n";
      exit_code = 2;
      return;
    }
    PrintTree(*tree);
    std::printf("\n%s: valid, %d consumers\n", file->c_str(), tree->size() - 1);
  });
}

}  // namespace drover::cli
