// Infer body speed: ParseInferRequest on one Fashion-MNIST image (1x1x28x28
// FP32, 784 values: the replica's common request, parsed once per request on
// its HTTP threads) and EncodeInferResponse on the model's 10 logits.
//
// Two bodies, both generated here so the run needs no files:
//   fp32_text   every pixel a float32 printed with 8 significant digits
//               ("0.0039215689"), as a client that formats float32 sends it;
//   python_repr a Fashion-MNIST-like image as bench/infer/make_body.py writes
//               it: two thirds exact zeros ("0.0"), the rest pixel / 255 in
//               Python's shortest round-trip form, up to 17 digits.
// OIP_BENCH_BODY=FILE adds a third, read from FILE (e.g. make_body.py's).
//
// Peers from the same run, on the same bodies: nlohmann::json::parse into a
// DOM (the first step of the DOM-walking parser this one replaced), and
// nlohmann's SAX pass with a handler that keeps nothing (its lexer alone, the
// floor for any parser built on nlohmann::json).
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "serve/oip.h"

namespace drover::serve {
namespace {

using nlohmann::json;

constexpr int kPixels = 28 * 28;

Signature Fmnist() {
  Signature s;
  s.model = "fmnist";
  s.input_shape = {1, 28, 28};
  s.output_shape = {10};
  return s;
}

std::string WithData(const std::string& data) {
  return R"({"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":[)" + data + "]}]}";
}

std::string Fp32TextBody() {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> pixel(1, 255);
  std::string data;
  char buf[32];
  for (int i = 0; i < kPixels; ++i) {
    const float v = static_cast<float>(pixel(rng)) / 255.0f;
    std::snprintf(buf, sizeof buf, "%s%.8g", i ? "," : "", static_cast<double>(v));
    data += buf;
  }
  return WithData(data);
}

std::string PythonReprBody() {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> pixel(0, 255);
  std::bernoulli_distribution background(0.66);  // test image 0 has 517 of 784 zero
  std::string data;
  char buf[32];
  for (int i = 0; i < kPixels; ++i) {
    if (i) data += ',';
    if (background(rng)) {
      data += "0.0";
      continue;
    }
    // std::to_chars without a precision is the shortest round-trip form, as Python's repr.
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, pixel(rng) / 255.0);
    data.append(buf, end);
  }
  return WithData(data);
}

// A SAX handler that accepts everything and keeps nothing.
struct NullSax : json::json_sax_t {
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

void Count(benchmark::State& st, const std::string& body) {
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * body.size()));
  st.counters["values/s"] = benchmark::Counter(static_cast<double>(st.iterations()) * kPixels, benchmark::Counter::kIsRate);
  st.counters["body_bytes"] = static_cast<double>(body.size());
}

void BM_ParseInferRequest(benchmark::State& st, const std::string& body) {
  const Signature sig = Fmnist();
  Result<InferRequest> check = ParseInferRequest(body, sig);
  if (!check.ok()) {
    st.SkipWithError(check.status().ToString().c_str());
    return;
  }
  for (auto _ : st) {
    Result<InferRequest> r = ParseInferRequest(body, sig);
    benchmark::DoNotOptimize(r);
  }
  Count(st, body);
}

void BM_PeerJsonDom(benchmark::State& st, const std::string& body) {
  for (auto _ : st) {
    json doc = json::parse(body);
    benchmark::DoNotOptimize(doc);
  }
  Count(st, body);
}

void BM_PeerJsonSaxLexer(benchmark::State& st, const std::string& body) {
  NullSax sax;
  for (auto _ : st) {
    bool ok = json::sax_parse(body, &sax);
    benchmark::DoNotOptimize(ok);
  }
  Count(st, body);
}

void BM_EncodeInferResponse(benchmark::State& st) {
  const Signature sig = Fmnist();
  Tensor out;
  out.name = "output";
  out.shape = {1, 10};
  const float logits[10] = {-3.1415927f, 0.5f, 12.25f, -0.0012345678f, 7.0f, 1e-7f, -2.7182817f, 4.5f, 0.33333334f, 9.875f};
  out.data.assign(reinterpret_cast<const uint8_t*>(logits), reinterpret_cast<const uint8_t*>(logits) + sizeof logits);
  for (auto _ : st) {
    std::string body = EncodeInferResponse(sig, "7", out);
    benchmark::DoNotOptimize(body);
  }
}
BENCHMARK(BM_EncodeInferResponse);

std::string ReadFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void Register(const std::string& label, const std::string& body) {
  benchmark::RegisterBenchmark(("BM_ParseInferRequest/" + label).c_str(), BM_ParseInferRequest, body);
  benchmark::RegisterBenchmark(("BM_PeerJsonDom/" + label).c_str(), BM_PeerJsonDom, body);
  benchmark::RegisterBenchmark(("BM_PeerJsonSaxLexer/" + label).c_str(), BM_PeerJsonSaxLexer, body);
}

}  // namespace
}  // namespace drover::serve

int main(int argc, char** argv) {
  using namespace drover::serve;
  Register("fp32_text", Fp32TextBody());
  Register("python_repr", PythonReprBody());
  if (const char* path = std::getenv("OIP_BENCH_BODY")) Register("file", ReadFile(path));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
