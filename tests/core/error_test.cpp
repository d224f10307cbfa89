// Result<T>: reading the wrong side of a Result is a programming error that throws xervo::Exception
// carrying an Error (never bad_variant_access or undefined behaviour); value_or_throw() is the
// explicit form.
#include <gtest/gtest.h>

#include <string>

#include "xervo/error.h"

namespace xervo {
namespace {

Result<int> failing() { return Error(ErrorCode::model_not_found, "no such model: x"); }

TEST(Result, ValueOfAnErrorThrowsExceptionCarryingIt) {
  auto r = failing();
  try {
    (void)r.value();
    FAIL() << "value() returned on an error";
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().code(), ErrorCode::model_not_found);
    EXPECT_EQ(e.error().message(), "no such model: x");
    EXPECT_STREQ(e.what(), "model_not_found: no such model: x");
  }
  const auto& cr = r;
  EXPECT_THROW((void)cr.value(), Exception);
  EXPECT_THROW((void)*r, Exception);
  EXPECT_THROW((void)std::move(r).value(), Exception);
}

TEST(Result, ArrowOnAnErrorThrowsException) {
  Result<std::string> r = Error(ErrorCode::timeout, "late");
  try {
    (void)r->size();
    FAIL() << "operator-> returned on an error";
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().code(), ErrorCode::timeout);
  }
}

TEST(Result, ErrorOfAValueThrowsInternal) {
  Result<int> r = 7;
  try {
    (void)r.error();
    FAIL() << "error() returned on a value";
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().code(), ErrorCode::internal);
  }
  Result<void> v;
  try {
    (void)v.error();
    FAIL() << "error() returned on a success";
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().code(), ErrorCode::internal);
  }
}

TEST(Result, ValueOrThrowIsTheExplicitForm) {
  EXPECT_EQ(Result<int>(3).value_or_throw(), 3);
  EXPECT_THROW((void)failing().value_or_throw(), Exception);
  Result<void> bad = Error(ErrorCode::io_error, "disk");
  EXPECT_THROW(bad.value_or_throw(), Exception);
  EXPECT_NO_THROW(Result<void>().value_or_throw());
}

TEST(Result, ValuesAreReadWithoutThrowing) {
  Result<std::string> r = std::string("abc");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), "abc");
  EXPECT_EQ(r->size(), 3u);
  EXPECT_EQ(*r, "abc");
  std::string moved = std::move(r).value();
  EXPECT_EQ(moved, "abc");
}

}  // namespace
}  // namespace xervo
