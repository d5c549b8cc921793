#include "hpo/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace drover::hpo {
namespace {

SearchSpace Space(std::vector<Param> params) {
  auto s = SearchSpace::Make(std::move(params));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

Param Range(const std::string& name, ParamType t, double lo, double hi) {
  Param p;
  p.name = name;
  p.type = t;
  p.min = lo;
  p.max = hi;
  return p;
}

Param Ordinal(const std::string& name, int n) {
  Param p;
  p.name = name;
  p.type = ParamType::kOrdinal;
  for (int i = 0; i < n; ++i) p.values.push_back(std::to_string(i));
  return p;
}

// The best loss `sampler` finds in `trials` sequential trials of `f`.
double BestOf(const std::string& sampler, const SearchSpace& space, const std::function<double(const Config&)>& f,
              int trials, uint64_t seed) {
  auto s = MakeSampler(sampler, space, {.seed = seed});
  EXPECT_TRUE(s.ok());
  Rng rng(seed);
  History h;
  double best = INFINITY;
  for (int t = 0; t < trials; ++t) {
    Result<Config> c = (*s)->Suggest(h, rng);
    if (!c.ok()) break;
    EXPECT_TRUE(space.Contains(*c));
    ++h.suggested;
    double v = f(*c);
    best = std::min(best, v);
    h.done.push_back({*c, v, 1});
  }
  return best;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

TEST(SamplerTest, UnknownNamesAndContinuousGridsAreRefused) {
  SearchSpace s = Space({Range("lr", ParamType::kLog, 1e-3, 0.5)});
  EXPECT_NE(MakeSampler("bayes", s).status().message().find("unknown sampler \"bayes\""), std::string::npos);
  EXPECT_NE(MakeSampler("grid", s).status().message().find("parameters.lr"), std::string::npos);
  EXPECT_TRUE(MakeSampler("tpe", s).ok());
}

TEST(SamplerTest, AGridWalksEveryPointOnceInAnOrderSetByTheSeed) {
  SearchSpace s = Space({Ordinal("a", 3), Ordinal("b", 4)});
  auto walk = [&](uint64_t seed) {
    auto g = MakeSampler("grid", s, {.seed = seed});
    Rng rng(0);
    History h;
    std::vector<Config> out;
    for (;; ++h.suggested) {
      Result<Config> c = (*g)->Suggest(h, rng);
      if (!c.ok()) {
        EXPECT_EQ(c.status().code(), StatusCode::kResourceExhausted);
        break;
      }
      out.push_back(*c);
    }
    return out;
  };
  std::vector<Config> a = walk(1);
  EXPECT_EQ(a.size(), 12u);
  EXPECT_EQ(std::set<Config>(a.begin(), a.end()).size(), 12u);
  EXPECT_EQ(walk(1), a);  // rebuilt after a restart: the same order
  EXPECT_NE(walk(2), a);  // the control: another seed, another order
}

TEST(SamplerTest, InADiscreteSpaceNoPointIsSuggestedTwice) {
  SearchSpace s = Space({Ordinal("a", 4), Ordinal("b", 5)});
  for (const char* name : {"random", "tpe"}) {
    auto sampler = MakeSampler(name, s);
    Rng rng(3);
    History h;
    std::set<Config> seen;
    for (int t = 0; t < 20; ++t) {
      Config c = *(*sampler)->Suggest(h, rng);
      EXPECT_TRUE(seen.insert(c).second) << name << ": trial " << t << " repeats a point";
      // Half still running: the sampler must not hand out a running point either.
      if (t % 2) h.pending.push_back(c);
      else h.done.push_back({c, c[0] + c[1], 1});
    }
  }
}

// On a smooth function of correlated parameters TPE finds better points than
// random search with the same budget (median over seeds); random is the control.
TEST(SamplerTest, TpeBeatsRandomSearchOnASmoothFunction) {
  SearchSpace s = Space({Range("x", ParamType::kDouble, -5, 5), Range("y", ParamType::kDouble, -5, 5),
                         Range("lr", ParamType::kLog, 1e-4, 1)});
  auto f = [](const Config& c) {
    double lr = std::log10(c[2]) + 2;  // best at 1e-2
    return (c[0] - 1) * (c[0] - 1) + (c[1] - c[0]) * (c[1] - c[0]) + lr * lr;
  };
  std::vector<double> tpe, random;
  for (uint64_t seed = 0; seed < 9; ++seed) {
    tpe.push_back(BestOf("tpe", s, f, 80, seed));
    random.push_back(BestOf("random", s, f, 80, seed));
  }
  std::printf("median best over 9 seeds at 80 trials: tpe %.4f, random %.4f\n", Median(tpe), Median(random));
  EXPECT_LT(Median(tpe), 0.5 * Median(random));
}

// Parallel suggestions: with the first suggestion still running, the
// constant liar sends the next one elsewhere.
TEST(SamplerTest, TpeSpreadsParallelSuggestions) {
  SearchSpace s = Space({Range("x", ParamType::kDouble, 0, 1)});
  auto tpe = MakeSampler("tpe", s, {.startup = 10});
  Rng rng(5);
  History h;
  for (int i = 0; i < 20; ++i) {
    double x = (i + 0.5) / 20;
    h.done.push_back({{x}, std::abs(x - 0.3), 1});
  }
  std::vector<double> picks;
  for (int i = 0; i < 4; ++i) {
    Config c = *(*tpe)->Suggest(h, rng);
    picks.push_back(c[0]);
    h.pending.push_back(c);
  }
  for (double p : picks) EXPECT_NEAR(p, 0.3, 0.25) << "suggestions stay near the good region";
  std::sort(picks.begin(), picks.end());
  EXPECT_GT(picks.back() - picks.front(), 0.01) << "four running trials at the same point";
}

}  // namespace
}  // namespace drover::hpo
