#include "spec/quantity.h"

#include <string>

#include <gtest/gtest.h>

namespace drover::spec {
namespace {

template <typename T>
struct Good {
  const char* text;
  T value;
};

struct Bad {
  const char* text;
  const char* message;
};

TEST(QuantityTest, ParseInteger) {
  for (const Good<int64_t>& c : {Good<int64_t>{"32", 32}, {"-1", -1}, {"+4", 4}, {"0", 0},
                                 {"4.0", 4}, {"1e3", 1000}, {"9223372036854775807", INT64_MAX}}) {
    Result<int64_t> v = ParseInteger(c.text);
    ASSERT_TRUE(v.ok()) << c.text << ": " << v.status().ToString();
    EXPECT_EQ(*v, c.value) << c.text;
  }
  for (const Bad& c : {Bad{"abc", "\"abc\" is not a number"}, {"", "\"\" is not a number"},
                       {"1.5", "1.5 is not a whole number"}, {"0x10", "\"0x10\" is not a number"},
                       {"+-1", "\"+-1\" is not a number"}, {"4 GPUs", "\"4 GPUs\" is not a number"},
                       {"99999999999999999999", "99999999999999999999 is out of range"},
                       {"1e30", "1e30 is out of range"}, {".inf", "\".inf\" is not a number"}}) {
    Result<int64_t> v = ParseInteger(c.text);
    ASSERT_FALSE(v.ok()) << c.text;
    EXPECT_EQ(v.status().message(), c.message);
  }
}

TEST(QuantityTest, ParseDecimal) {
  for (const Good<double>& c : {Good<double>{"2", 2}, {"0.5", 0.5}, {".5", 0.5}, {"5.", 5},
                                {"-1", -1}, {"+2.5", 2.5}, {"1e3", 1000}, {"1E-2", 0.01}}) {
    Result<double> v = ParseDecimal(c.text);
    ASSERT_TRUE(v.ok()) << c.text << ": " << v.status().ToString();
    EXPECT_DOUBLE_EQ(*v, c.value) << c.text;
  }
  for (const Bad& c : {Bad{"abc", "\"abc\" is not a number"}, {"inf", "\"inf\" is not a number"},
                       {"nan", "\"nan\" is not a number"}, {"0x1p3", "\"0x1p3\" is not a number"},
                       {".", "\".\" is not a number"}, {"1e", "\"1e\" is not a number"},
                       {"1e999", "1e999 is out of range"}}) {
    Result<double> v = ParseDecimal(c.text);
    ASSERT_FALSE(v.ok()) << c.text;
    EXPECT_EQ(v.status().message(), c.message);
  }
}

TEST(QuantityTest, ParseCpuMillis) {
  for (const Good<int64_t>& c : {Good<int64_t>{"4", 4000}, {"0.5", 500}, {"500m", 500},
                                 {"1.5", 1500}, {"0", 0}, {"0.001", 1}, {"2.0", 2000}}) {
    Result<int64_t> v = ParseCpuMillis(c.text);
    ASSERT_TRUE(v.ok()) << c.text << ": " << v.status().ToString();
    EXPECT_EQ(*v, c.value) << c.text;
  }
  for (const Bad& c : {Bad{"four", "\"four\" is not a CPU count (write e.g. 4, 0.5 or 500m)"},
                       {"4 cores", "\"4 cores\" is not a CPU count (write e.g. 4, 0.5 or 500m)"},
                       {"m", "\"m\" is not a CPU count (write e.g. 4, 0.5 or 500m)"},
                       {"-1", "-1 is negative"},
                       {"0.0001", "0.0001 is finer than a millicore (1m)"},
                       {"0.5m", "0.5m is finer than a millicore (1m)"},
                       {"2000000", "2000000 is above the maximum 1000000 CPUs"}}) {
    Result<int64_t> v = ParseCpuMillis(c.text);
    ASSERT_FALSE(v.ok()) << c.text;
    EXPECT_EQ(v.status().message(), c.message);
  }
}

TEST(QuantityTest, ParseMemoryMib) {
  // 1G is 10^9 bytes = 953.67 MiB, rounded up; 0.1Gi is 102.4 MiB, rounded up.
  for (const Good<int64_t>& c : {Good<int64_t>{"16Gi", 16384}, {"512Mi", 512}, {"512", 512},
                                 {"1G", 954}, {"1M", 1}, {"2048Ki", 2}, {"1Ki", 1}, {"1Ti", 1048576},
                                 {"1.5Gi", 1536}, {"0.1Gi", 103}, {"0", 0}}) {
    Result<int64_t> v = ParseMemoryMib(c.text);
    ASSERT_TRUE(v.ok()) << c.text << ": " << v.status().ToString();
    EXPECT_EQ(*v, c.value) << c.text;
  }
  const char* kBad = " is not a memory size (write e.g. 512Mi, 16Gi or 16G)";
  for (const Bad& c : {Bad{"16GB", ""}, {"16gi", ""}, {"Gi", ""}, {"lots", ""}, {"16 Gi", ""}}) {
    Result<int64_t> v = ParseMemoryMib(c.text);
    ASSERT_FALSE(v.ok()) << c.text;
    EXPECT_EQ(v.status().message(), "\"" + std::string(c.text) + "\"" + kBad);
  }
  for (const Bad& c : {Bad{"-1Gi", "-1Gi is negative"},
                       {"2048Ti", "2048Ti is above the maximum 1073741824 MiB"}}) {
    Result<int64_t> v = ParseMemoryMib(c.text);
    ASSERT_FALSE(v.ok()) << c.text;
    EXPECT_EQ(v.status().message(), c.message);
  }
}

TEST(QuantityTest, ParseDurationSeconds) {
  for (const Good<double>& c :
       {Good<double>{"30", 30}, {"2.5", 2.5}, {"90s", 90}, {"2m", 120}, {"1h", 3600},
        {"1h30m", 5400}, {"1.5m", 90}, {"500ms", 0.5}, {"1m30s", 90}, {"0", 0}}) {
    Result<double> v = ParseDurationSeconds(c.text);
    ASSERT_TRUE(v.ok()) << c.text << ": " << v.status().ToString();
    EXPECT_DOUBLE_EQ(*v, c.value) << c.text;
  }
  const char* kBad = " is not a duration (write seconds, or e.g. 90s, 2m, 1h)";
  for (const char* text : {"soon", "", "2d", "m", "1 m", "1h-5m", "--5m", "5M"}) {
    Result<double> v = ParseDurationSeconds(text);
    ASSERT_FALSE(v.ok()) << text;
    EXPECT_EQ(v.status().message(), "\"" + std::string(text) + "\"" + kBad);
  }
  for (const Bad& c : {Bad{"-5", "-5 is negative"}, {"-2m", "-2m is negative"},
                       {"1e10", "1e10 is above the maximum 1000000000 seconds"},
                       {"300000h", "300000h is above the maximum 1000000000 seconds"}}) {
    Result<double> v = ParseDurationSeconds(c.text);
    ASSERT_FALSE(v.ok()) << c.text;
    EXPECT_EQ(v.status().message(), c.message);
  }
}

TEST(QuantityTest, QuoteEscapesAndShortens) {
  EXPECT_EQ(Quote("abc"), "\"abc\"");
  EXPECT_EQ(Quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Quote(std::string("a\nb\t\x01", 5)), "\"a\\nb\\t\\x01\"");
  EXPECT_EQ(Quote(std::string(100, 'x')), "\"" + std::string(64, 'x') + "...\"");
  EXPECT_EQ(Shorten(std::string(100, '9')), std::string(64, '9') + "...");
  EXPECT_EQ(Shorten("42"), "42");
}

}  // namespace
}  // namespace drover::spec
