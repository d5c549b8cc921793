#include "serve/oip.h"

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

}  // namespace
}  // namespace drover::serve
