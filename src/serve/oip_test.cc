#include "serve/oip.h"

#include <cstring>
#include <limits>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace drover::serve {
namespace {

using nlohmann::json;

Signature Fmnist() {
  Signature s;
  s.model = "fmnist";
  s.input_shape = {1, 2, 2};
  s.output_shape = {10};
  return s;
}

std::string Body(const std::string& input) { return R"({"id": "r1", "inputs": [)" + input + "]}"; }

TEST(OipTest, ParsesFlatAndNestedData) {
  const Signature sig = Fmnist();
  Result<InferRequest> flat =
      ParseInferRequest(Body(R"({"name": "input", "shape": [1, 1, 2, 2], "datatype": "FP32", "data": [0, 0.5, 1, 2]})"), sig);
  ASSERT_TRUE(flat.ok()) << flat.status().ToString();
  EXPECT_EQ(flat->id, "r1");
  EXPECT_EQ(flat->batch, 1);
  EXPECT_EQ(flat->input.shape, (std::vector<int64_t>{1, 1, 2, 2}));
  ASSERT_EQ(flat->input.data.size(), 16u);
  EXPECT_FLOAT_EQ(flat->input.as<float>()[1], 0.5f);
  EXPECT_FLOAT_EQ(flat->input.as<float>()[3], 2.0f);

  Result<InferRequest> nested = ParseInferRequest(
      Body(R"({"name": "input", "shape": [2, 1, 2, 2], "datatype": "FP32", "data": [[[[0, 0.5], [1, 2]]], [[[3, 4], [5, 6]]]]})"),
      sig);
  ASSERT_TRUE(nested.ok()) << nested.status().ToString();
  EXPECT_EQ(nested->batch, 2);
  EXPECT_FLOAT_EQ(nested->input.as<float>()[7], 6.0f);
}

TEST(OipTest, HoldsEachDatatypeInItsLayout) {
  Signature sig = Fmnist();
  sig.input_shape = {3};
  struct Case {
    DataType type;
    std::string data;
    size_t bytes;
  };
  for (const Case& c : {Case{DataType::kInt64, "[1, -2, 9007199254740993]", 24}, Case{DataType::kInt32, "[1, -2, 3]", 12},
                        Case{DataType::kBool, "[true, false, true]", 3}, Case{DataType::kFp16, "[0.5, 1, -2]", 12}}) {
    sig.input_type = c.type;
    Result<InferRequest> r = ParseInferRequest(
        Body(std::string(R"({"name": "input", "shape": [1, 3], "datatype": ")") + Name(c.type) + R"(", "data": )" + c.data + "}"),
        sig);
    ASSERT_TRUE(r.ok()) << Name(c.type) << ": " << r.status().ToString();
    EXPECT_EQ(r->input.data.size(), c.bytes) << Name(c.type);
  }
  sig.input_type = DataType::kInt64;
  Result<InferRequest> big =
      ParseInferRequest(Body(R"({"name": "input", "shape": [1, 3], "datatype": "INT64", "data": [1, -2, 9007199254740993]})"), sig);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->input.as<int64_t>()[2], 9007199254740993);  // not rounded through a double
}

// Every bad request is refused with a message naming what is wrong.
TEST(OipTest, RefusesBadRequestsSayingWhy) {
  const Signature sig = Fmnist();
  struct Case {
    std::string body, message;
  };
  const std::string ok_input = R"("name": "input", "shape": [1, 1, 2, 2], "datatype": "FP32")";
  const std::vector<Case> cases = {
      {"{", "the body is not JSON"},
      {"[1]", "must be a JSON object"},
      {R"({"inputs": {}})", "\"inputs\" must be an array"},
      {R"({"inputs": []})", "takes one input (\"input\"), and 0 were given"},
      {Body(R"({"name": "x", "shape": [1, 1, 2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]})"), "has no input \"x\""},
      {Body(R"({"name": "input", "shape": [1, 1, 2, 2], "datatype": "FP64", "data": [1, 2, 3, 4]})"),
       "datatype \"FP64\" is not supported"},
      {Body(R"({"name": "input", "shape": [1, 1, 2, 2], "datatype": "INT32", "data": [1, 2, 3, 4]})"), "is FP32, not INT32"},
      {Body(R"({"name": "input", "shape": [1, 2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]})"),
       "has shape [1, 2, 2]; the model takes [N, 1, 2, 2] with N >= 1"},
      {Body(R"({"name": "input", "shape": [0, 1, 2, 2], "datatype": "FP32", "data": []})"), "with N >= 1"},
      {Body(R"({"name": "input", "shape": [1, 1, -2, 2], "datatype": "FP32", "data": [1]})"), "-2 is not a size"},
      {Body("{" + ok_input + R"(, "data": [1, 2, 3]})"), "holds 3 values; shape [1, 1, 2, 2] needs 4"},
      {Body("{" + ok_input + R"(, "data": [1, 2, 3, 4, 5]})"), "holds 5 values; shape [1, 1, 2, 2] needs 4"},
      {Body("{" + ok_input + R"(, "data": [1, "2", 3, 4]})"), "\"2\" is not a number, as FP32 needs"},
      {Body("{" + ok_input + R"(, "data": [1, 1e300, 3, 4]})"), "is out of range for FP32"},
      {Body(R"({"shape": [1, 1, 2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]})"), "inputs[0] has no \"name\""},
      {R"({"inputs": [{)" + ok_input + R"(, "data": [1, 2, 3, 4]}], "outputs": [{"name": "logits"}]})",
       "has no output \"logits\""},
  };
  for (const Case& c : cases) {
    Result<InferRequest> r = ParseInferRequest(c.body, sig);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.message), std::string::npos) << r.status().message() << "\nwanted: " << c.message;
  }
  // The control: the same body with the right data parses.
  EXPECT_TRUE(ParseInferRequest(Body("{" + ok_input + R"(, "data": [1, 2, 3, 4]})"), sig).ok());
}

TEST(OipTest, IntegersAreCheckedAgainstTheirRange) {
  Signature sig = Fmnist();
  sig.input_shape = {1};
  sig.input_type = DataType::kInt32;
  auto body = [](const std::string& v) {
    return Body(R"({"name": "input", "shape": [1, 1], "datatype": "INT32", "data": [)" + v + "]}");
  };
  EXPECT_TRUE(ParseInferRequest(body("2147483647"), sig).ok());
  EXPECT_NE(ParseInferRequest(body("2147483648"), sig).status().message().find("out of range for INT32"), std::string::npos);
  EXPECT_NE(ParseInferRequest(body("1.5"), sig).status().message().find("1.5 is not an integer"), std::string::npos);
}

TEST(OipTest, RequestsOverTheBatchLimitAreRefused) {
  const Signature sig = Fmnist();
  const std::string body = ExampleInferBody(sig, 3, 0.5);
  EXPECT_TRUE(ParseInferRequest(body, sig, 3).ok());
  Result<InferRequest> r = ParseInferRequest(body, sig, 2);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("holds 3 samples; at most 2"), std::string::npos);
}

TEST(OipTest, EncodesTheResponseAndMetadata) {
  const Signature sig = Fmnist();
  Tensor out;
  out.name = "output";
  out.shape = {1, 2};
  const float values[] = {0.25f, -1.5f};
  out.data.assign(reinterpret_cast<const uint8_t*>(values), reinterpret_cast<const uint8_t*>(values) + sizeof values);
  EXPECT_EQ(json::parse(EncodeInferResponse(sig, "r1", out)),
            json::parse(R"({"model_name": "fmnist", "id": "r1",
                            "outputs": [{"name": "output", "datatype": "FP32", "shape": [1, 2], "data": [0.25, -1.5]}]})"));
  EXPECT_FALSE(json::parse(EncodeInferResponse(sig, "", out)).contains("id"));
  EXPECT_EQ(json::parse(ModelMetadata(sig, "pytorch_torchscript")),
            json::parse(R"({"name": "fmnist", "versions": ["1"], "platform": "pytorch_torchscript",
                            "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 2, 2]}],
                            "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, 10]}]})"));
  EXPECT_EQ(json::parse(ErrorBody("bad \"x\"")), json::parse(R"({"error": "bad \"x\""})"));
}

TEST(OipTest, TheExampleBodyParsesBack) {
  const Signature sig = Fmnist();
  Result<InferRequest> r = ParseInferRequest(ExampleInferBody(sig, 2, 0.5), sig);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->batch, 2);
  EXPECT_FLOAT_EQ(r->input.as<float>()[7], 0.5f);
}

// The values as held: exact float bits, so a parser that rounds differently
// (through float instead of double, say) fails, not only a wrong value.
::testing::AssertionResult HoldsFloats(const Result<InferRequest>& r, const std::vector<float>& want) {
  if (!r.ok()) return ::testing::AssertionFailure() << r.status().ToString();
  if (r->input.data.size() != want.size() * sizeof(float)) {
    return ::testing::AssertionFailure() << r->input.data.size() << " bytes, not " << want.size() * sizeof(float);
  }
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::memcmp(r->input.as<float>() + i, &want[i], sizeof(float)) != 0) {
      return ::testing::AssertionFailure() << "value " << i << " is " << r->input.as<float>()[i] << ", not " << want[i];
    }
  }
  return ::testing::AssertionSuccess();
}

TEST(OipTest, HoldsTheExactValuesSent) {
  const Signature sig = Fmnist();
  auto body = [](const std::string& data) {
    return Body(R"({"name": "input", "shape": [1, 1, 2, 2], "datatype": "FP32", "data": [)" + data + "]}");
  };
  // Each is the double nearest the text, then the float nearest that double, as a static_cast gives.
  const std::vector<float> want = {static_cast<float>(0.0039215689), static_cast<float>(-1.5e-3),
                                   static_cast<float>(3.4028234663852886e38), -0.0f};
  EXPECT_TRUE(HoldsFloats(ParseInferRequest(body("0.0039215689, -1.5E-3, 3.4028234663852886e+38, -0.0"), sig), want));
  // The control: one digit off, a few float steps away, is caught.
  EXPECT_FALSE(HoldsFloats(ParseInferRequest(body("0.0039215699, -1.5E-3, 3.4028234663852886e+38, -0.0"), sig), want));
  // And +0 is not -0.
  EXPECT_FALSE(HoldsFloats(ParseInferRequest(body("0.0039215689, -1.5E-3, 3.4028234663852886e+38, 0.0"), sig), want));

  // Rounded twice, to the nearest double and then to float, as ever: this one, just under
  // the midpoint of two floats, is the midpoint as a double, which then rounds to even
  // (1.0000002f); rounded once it would be 1.0000001f.
  const float twice = static_cast<float>(1.0000001788139343);
  EXPECT_TRUE(HoldsFloats(ParseInferRequest(body("1.0000001788139343, 0, 0, 0"), sig), {twice, 0, 0, 0}));
  EXPECT_FALSE(HoldsFloats(ParseInferRequest(body("1.0000001788139343, 0, 0, 0"), sig), {1.0000001f, 0, 0, 0}));
  // Too small for a double is a zero of its sign; too large is not a number JSON can carry here.
  EXPECT_TRUE(HoldsFloats(ParseInferRequest(body("1e-400, -1e-400, 0, 0"), sig), {0.0f, -0.0f, 0, 0}));
  Result<InferRequest> huge = ParseInferRequest(body("1e400, 0, 0, 0"), sig);
  EXPECT_EQ(huge.status().message().rfind("the body is not JSON: ", 0), 0u) << huge.status().message();
}

TEST(OipTest, KeysMayComeInAnyOrder) {
  const Signature sig = Fmnist();
  const std::vector<float> want = {0.25f, -1, 3, 0.5f};
  EXPECT_TRUE(HoldsFloats(
      ParseInferRequest(R"({"inputs": [{"data": [0.25, -1, 3, 0.5], "datatype": "FP32", "shape": [1, 1, 2, 2], "name": "input"}],
                          "id": "r1"})",
                        sig),
      want));
  EXPECT_TRUE(HoldsFloats(
      ParseInferRequest(Body(R"({"shape": [1, 1, 2, 2], "data": [[0.25, -1], [3, 0.5]], "name": "input", "datatype": "FP32"})"), sig),
      want));

  // Data read before its datatype is known keeps every digit of a 64-bit integer.
  Signature ints = Fmnist();
  ints.input_shape = {2};
  ints.input_type = DataType::kInt64;
  Result<InferRequest> r =
      ParseInferRequest(Body(R"({"data": [9007199254740993, -9223372036854775808], "shape": [1, 2], "name": "input", "datatype": "INT64"})"),
                        ints);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->input.as<int64_t>()[0], 9007199254740993);
  EXPECT_EQ(r->input.as<int64_t>()[1], std::numeric_limits<int64_t>::min());

  // Errors found after data came first are the same as in the usual order.
  Result<InferRequest> wrong =
      ParseInferRequest(Body(R"({"data": [1, 2, 3, 4], "shape": [1, 1, 2, 2], "name": "input", "datatype": "INT32"})"), sig);
  EXPECT_EQ(wrong.status().message(), "input \"input\" is FP32, not INT32");
}

TEST(OipTest, UnknownKeysAreSkipped) {
  const Signature sig = Fmnist();
  const std::string parameters =
      R"({"binary_data_output": false, "nested": [{"a": [1, 2.5e-3, null, true, "x\"y\u00e9"]}, {}, []], "n": null})";
  Result<InferRequest> r = ParseInferRequest(
      R"({"parameters": )" + parameters + R"(, "id": "r\"2\u00e9",
          "inputs": [{"name": "input", "parameters": )" + parameters + R"(, "shape": [1, 1, 2, 2], "datatype": "FP32",
                      "data": [1, 2, 3, 4]}],
          "outputs": [{"parameters": {"classification": 3}, "name": "output"}], "trace": ["a", 1]})",
      sig);
  EXPECT_TRUE(HoldsFloats(r, {1, 2, 3, 4}));
  EXPECT_EQ(r->id, "r\"2\xc3\xa9");
  // Skipped, but still read as JSON: a bad value anywhere is refused.
  Result<InferRequest> bad = ParseInferRequest(
      Body(R"({"name": "input", "parameters": {"a": [1, 2,]}, "shape": [1, 1, 2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]})"),
      sig);
  EXPECT_NE(bad.status().message().find("the body is not JSON"), std::string::npos) << bad.status().message();
}

TEST(OipTest, NestedDataFlattensAtAnyDepth) {
  Signature sig = Fmnist();
  // As the protocol allows, and ragged too: the values are taken in document order.
  EXPECT_TRUE(HoldsFloats(
      ParseInferRequest(Body(R"({"name": "input", "shape": [1, 1, 2, 2], "datatype": "FP32", "data": [[[]], [1, [2]], [[[3]]], 4]})"), sig),
      {1, 2, 3, 4}));

  // 100,000 brackets deep (200 KB; the replica takes bodies up to 32 MiB): once a stack overflow.
  sig.input_shape = {1};
  const int depth = 100000;
  auto deep = [&](const std::string& leaf) {
    return Body(R"({"name": "input", "shape": [1, 1], "datatype": "FP32", "data": )" + std::string(depth, '[') + leaf +
                std::string(depth, ']') + "}");
  };
  EXPECT_TRUE(HoldsFloats(ParseInferRequest(deep("5"), sig), {5}));
  Result<InferRequest> two = ParseInferRequest(deep("5, 6"), sig);
  EXPECT_EQ(two.status().message(), "inputs[0].data holds 2 values; shape [1, 1] needs 1");
}

TEST(OipTest, TruncatedOrTrailedBodiesAreRefusedAsNotJson) {
  const Signature sig = Fmnist();
  const std::string body =
      R"({"id": "r1", "parameters": {"a": [true, null]}, "inputs": [{"name": "input", "shape": [1, 1, 2, 2], "datatype": "FP32",
          "data": [0.5, -1.25e-2, 3, 4]}], "outputs": [{"name": "output"}]})";
  ASSERT_TRUE(ParseInferRequest(body, sig).ok());  // the control: whole, it parses
  for (size_t n = 0; n < body.size(); ++n) {
    Result<InferRequest> r = ParseInferRequest(body.substr(0, n), sig);
    ASSERT_FALSE(r.ok()) << "cut at " << n;
    EXPECT_EQ(r.status().message().rfind("the body is not JSON: ", 0), 0u) << "cut at " << n << ": " << r.status().message();
  }
  for (const std::string tail : {"}", " x", ",", "{}"}) {
    Result<InferRequest> r = ParseInferRequest(body + tail, sig);
    EXPECT_EQ(r.status().message().rfind("the body is not JSON: ", 0), 0u) << "followed by " << tail;
  }
  EXPECT_TRUE(ParseInferRequest(" \n\t" + body + "\r\n ", sig).ok());
}

TEST(OipTest, DataOfTheWrongKindIsNamed) {
  Signature sig = Fmnist();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[1, null, 3, 4]", "inputs[0].data: null is not a number, as FP32 needs"},
      {R"([1, {"a": [2]}, 3, 4])", R"(inputs[0].data: {"a":[2]} is not a number, as FP32 needs)"},
      {"[[1, 2], [true, 4]]", "inputs[0].data: true is not a number, as FP32 needs"},
      {"[1, 2, 3, 4e39]", "inputs[0].data: 4e+39 is out of range for FP32"},
      {"null", "inputs[0].data: null is not a number, as FP32 needs"},
      {"[1, 2, 3, 4, null]", "inputs[0].data holds 5 values; shape [1, 1, 2, 2] needs 4"},
  };
  for (const auto& [data, message] : cases) {
    Result<InferRequest> r =
        ParseInferRequest(Body(R"({"name": "input", "shape": [1, 1, 2, 2], "datatype": "FP32", "data": )" + data + "}"), sig);
    EXPECT_EQ(r.status().message(), message) << data;
  }
  sig.input_type = DataType::kBool;
  Result<InferRequest> r =
      ParseInferRequest(Body(R"({"name": "input", "shape": [1, 1, 2, 2], "datatype": "BOOL", "data": [true, false, 1, true]})"), sig);
  EXPECT_EQ(r.status().message(), "inputs[0].data: 1 is not a boolean, as BOOL needs");
}

// Duplicate keys: the last one counts, at every level (nlohmann's DOM keeps the last).
TEST(OipTest, TheLastOfDuplicateKeysCounts) {
  const Signature sig = Fmnist();
  Result<InferRequest> r = ParseInferRequest(
      R"({"id": "first", "inputs": [], "id": "second",
          "inputs": [{"name": "x", "data": [9, 9, 9, 9], "shape": [1, 1, 2, 2], "datatype": "INT32",
                      "datatype": "FP32", "data": [1, 2, 3, 4], "name": "input"}]})",
      sig);
  EXPECT_TRUE(HoldsFloats(r, {1, 2, 3, 4}));
  EXPECT_EQ(r->id, "second");
  // The control: with the order reversed, the other values count, and are refused.
  Result<InferRequest> reversed = ParseInferRequest(
      Body(R"({"name": "input", "data": [1, 2, 3, 4], "shape": [1, 1, 2, 2], "datatype": "FP32", "name": "x"})"), sig);
  EXPECT_NE(reversed.status().message().find("has no input \"x\""), std::string::npos) << reversed.status().message();
  // Data or a datatype given twice is not merged: the last alone counts.
  Result<InferRequest> split = ParseInferRequest(
      Body(R"({"name": "input", "shape": [1, 1, 2, 2], "datatype": "FP32", "data": [1, 2], "data": [3, 4]})"), sig);
  EXPECT_EQ(split.status().message(), "inputs[0].data holds 2 values; shape [1, 1, 2, 2] needs 4");
  Result<InferRequest> retyped = ParseInferRequest(
      Body(R"({"name": "input", "shape": [1, 1, 2, 2], "datatype": "FP32", "data": [1, 2, 3, 4], "datatype": "INT32"})"), sig);
  EXPECT_EQ(retyped.status().message(), "input \"input\" is FP32, not INT32");
  Result<InferRequest> outputs = ParseInferRequest(
      R"({"inputs": [{"name": "input", "shape": [1, 1, 2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}],
          "outputs": [{"name": "logits", "name": "output"}]})",
      sig);
  EXPECT_TRUE(outputs.ok()) << outputs.status().ToString();
}

TEST(OipTest, HugeShapesAreRefused) {
  const Signature sig = Fmnist();
  struct Case {
    std::string shape, message;
  };
  const std::vector<Case> cases = {
      {"[2147483648, 1, 2, 2]", "inputs[0].shape: too many elements"},
      {"[2147483649, 1, 2, 2]", "inputs[0].shape: 2147483649 is not a size"},
      {"[18446744073709551615, 1, 2, 2]", "inputs[0].shape: 18446744073709551615 is not a size"},
      {"[99999999999999999999999, 1, 2, 2]", "inputs[0].shape: 9.999999999999999e+22 is not a size"},
      {"[1e3, 1, 2, 2]", "inputs[0].shape: 1000.0 is not a size"},
      // 2^31 values announced, one sent: the buffer is sized by the body, not by this (8 GiB; the
      // fuzz target, under a malloc limit, is what would notice).
      {"[536870912, 1, 2, 2]", "inputs[0].data holds 1 values; shape [536870912, 1, 2, 2] needs 2147483648"},
  };
  for (const Case& c : cases) {
    Result<InferRequest> r =
        ParseInferRequest(Body(R"({"name": "input", "shape": )" + c.shape + R"(, "datatype": "FP32", "data": [1]})"), sig);
    EXPECT_EQ(r.status().message(), c.message) << c.shape;
  }
}

// ParseInferRequest reads most bodies in one pass of its own and hands any
// it is unsure of to a reference parser (nlohmann's DOM). A value nested
// deeper than the fast pass goes (here in "parameters") sends a body to the
// reference, so each body below is parsed both ways and must come out the same.
TEST(OipTest, TheFastPathAgreesWithTheReference) {
  struct Case {
    DataType type;
    std::string data;
  };
  const std::vector<Case> cases = {
      {DataType::kFp32, "[0.0039215689, 1e-45, -0, 0.1, 123456789, 1.5e-40]"},
      {DataType::kFp32, "[[1, 2], [3], [[4, 5, 6]]]"},
      {DataType::kFp32, "[18446744073709551615, -9223372036854775808, 3.4e38, 65504.0000001, 2e-308, 7]"},
      {DataType::kFp16, "[0.5, 65504, -65504, 1e-8, 0, 3]"},
      {DataType::kInt64, "[9223372036854775807, -9223372036854775808, 0, -0, 1, 2]"},
      {DataType::kInt32, "[2147483647, -2147483648, 0, -0, 1, 2]"},
      {DataType::kBool, "[true, false, true, true, false, false]"},
  };
  const std::string deep = R"("parameters": )" + std::string(40, '[') + std::string(40, ']') + ", ";
  auto parse = [](const Signature& sig, const std::string& prefix, const std::string& data) {
    return ParseInferRequest("{" + prefix + R"("id": "a\u00e9\n", "inputs": [{"name": "input", "shape": [1, 6], "datatype": ")" +
                                 Name(sig.input_type) + R"(", "data": )" + data + "}]}",
                             sig);
  };
  auto same = [](const Result<InferRequest>& a, const Result<InferRequest>& b) {
    return a.ok() && b.ok() && a->id == b->id && a->batch == b->batch && a->input.shape == b->input.shape &&
           a->input.data == b->input.data;
  };
  Signature sig = Fmnist();
  sig.input_shape = {6};
  for (const Case& c : cases) {
    sig.input_type = c.type;
    Result<InferRequest> fast = parse(sig, "", c.data);
    ASSERT_TRUE(fast.ok()) << c.data << ": " << fast.status().ToString();
    EXPECT_TRUE(same(fast, parse(sig, deep, c.data))) << c.data;
  }
  // The control: the comparison sees one value differ.
  sig.input_type = DataType::kFp32;
  EXPECT_FALSE(same(parse(sig, "", "[1, 2, 3, 4, 5, 6]"), parse(sig, deep, "[1, 2, 3, 4, 5, 7]")));
}

}  // namespace
}  // namespace drover::serve
