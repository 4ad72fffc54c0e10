#pragma once
// The fp8 aliases as a GoogleTest type list, their names, and loaders of the binary golden
// tables in FP8KIT_TEST_DATA_DIR (layout: tests/data/README.md).

#include <gtest/gtest.h>

#include <cfenv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64) || defined(__SSE__)
#include <xmmintrin.h>
#define FP8KIT_TEST_HAS_MXCSR 1
#else
#define FP8KIT_TEST_HAS_MXCSR 0  // no DAZ/FTZ to test; the fp_mode::daz_ftz probe reports it
#endif

#include "fp8kit/fp8.hpp"
#include "support/reference.hpp"

namespace fp8kit_test {

template <class F>
inline constexpr const char* alias_name_v = nullptr;
template <>
inline constexpr const char* alias_name_v<fp8kit::e5m2> = "e5m2";
template <>
inline constexpr const char* alias_name_v<fp8kit::e4m3fn> = "e4m3fn";
template <>
inline constexpr const char* alias_name_v<fp8kit::e3m4fn> = "e3m4fn";
template <>
inline constexpr const char* alias_name_v<fp8kit::e4m3fnuz> = "e4m3fnuz";
template <>
inline constexpr const char* alias_name_v<fp8kit::e5m2fnuz> = "e5m2fnuz";
template <>
inline constexpr const char* alias_name_v<fp8kit::e4m3b11fnuz> = "e4m3b11fnuz";
template <>
inline constexpr const char* alias_name_v<fp8kit::e4m3> = "e4m3";
template <>
inline constexpr const char* alias_name_v<fp8kit::e3m4> = "e3m4";

/// The DESIGN.md alias of F, the stem of its table files ("e4m3fn" -> e4m3fn.decode.bin).
template <class F>
constexpr const char* alias_name() {
  static_assert(alias_name_v<F> != nullptr, "alias_name: not one of the DESIGN.md aliases");
  return alias_name_v<F>;
}

/// A list of formats: for_each calls fn(F{}) for each one, in order (in the body:
/// `using F = decltype(f);`); gtest_types is the same list for TYPED_TEST_SUITE.
template <class... F>
struct format_list {
  using gtest_types = ::testing::Types<F...>;
  template <class Fn>
  static void for_each(Fn&& fn) {
    (fn(F{}), ...);
  }
};

/// Every alias of DESIGN.md.
using every_format = format_list<fp8kit::e5m2, fp8kit::e4m3fn, fp8kit::e3m4fn, fp8kit::e4m3fnuz,
                                 fp8kit::e5m2fnuz, fp8kit::e4m3b11fnuz, fp8kit::e4m3, fp8kit::e3m4>;
/// For TYPED_TEST_SUITE(Suite, all_formats, format_names).
using all_formats = every_format::gtest_types;

/// Names typed tests after the alias (Suite/e4m3fn.Test instead of Suite/1.Test).
struct format_names {
  template <class F>
  static std::string GetName(int) {
    return alias_name<F>();
  }
};

/// The six comparisons as a bit mask (==, !=, <, <=, >, >=), to compare a type's operators with
/// float's. Computed without branches between them on purpose: g++ 12 at -O2 mis-threads
/// `x == (fa < fb) && y == (fa >= fb)` as if !(fa < fb) implied fa >= fb, which is false for
/// NaN (reproduced with g++ 12.2; clang is fine).
template <class T>
unsigned relations(T a, T b) {
  return unsigned(a == b) | unsigned(a != b) << 1 | unsigned(a < b) << 2 | unsigned(a <= b) << 3 |
         unsigned(a > b) << 4 | unsigned(a >= b) << 5;
}

inline sat to_sat(fp8kit::saturation s) {
  return s == fp8kit::saturation::finite ? sat::finite : sat::none;
}

/// One row of `<alias>.encode.bin`: a float input and the expected codes for both modes.
struct encode_record {
  std::uint32_t input;
  std::uint8_t none;
  std::uint8_t finite;
  std::uint8_t expected(fp8kit::saturation s) const {
    return s == fp8kit::saturation::finite ? finite : none;
  }
};

inline std::vector<encode_record> load_encode_records(const std::string& alias) {
  const auto bytes = read_table(alias + ".encode.bin");
  if (bytes.empty() || bytes.size() % 6 != 0) {
    throw std::runtime_error(alias + ".encode.bin: size is not a positive multiple of 6");
  }
  std::vector<encode_record> records(bytes.size() / 6);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const std::uint8_t* p = &bytes[6 * i];
    records[i] = {load_le32(p), p[4], p[5]};
  }
  return records;
}

/// Expected codes for all 65536 16-bit inputs: `suffix` is "bf16" or "f16".
/// Element 2 * i is the code for `none`, 2 * i + 1 for `finite`, of input bits i.
inline std::vector<std::uint8_t> load_from16_table(const std::string& alias,
                                                   const std::string& suffix) {
  return read_table(alias + ".from_" + suffix + ".bin", 2 * 65536);
}

/// IEEE comparisons of two floats as a relations() mask. Under -ffast-math the compiler may
/// assume there are no NaNs, so there the comparisons are done on the bits (sign-magnitude
/// keys, both zeros equal, NaN unordered).
inline unsigned ieee_relations(float a, float b) {
#if defined(__FAST_MATH__)
  if (is_nan(a) || is_nan(b)) return 1u << 1;  // unordered: only != holds
  return relations(order_key(a), order_key(b));
#else
  return relations(a, b);
#endif
}

/// Floating-point environments for checking that conversions do not depend on them.
enum class fp_mode { standard, daz_ftz, upward };

inline const char* fp_mode_name(fp_mode m) {
  return m == fp_mode::daz_ftz ? "DAZ+FTZ" : m == fp_mode::upward ? "FE_UPWARD" : "default";
}

/// Puts the calling thread (MXCSR and the rounding mode are per thread) in `mode`:
/// standard = round to nearest with DAZ and FTZ off, whatever the state was before.
inline void set_fp_mode(fp_mode mode) {
#if FP8KIT_TEST_HAS_MXCSR
  const unsigned csr = _mm_getcsr() & ~0x8040u;  // clear FTZ (bit 15) and DAZ (bit 6)
  _mm_setcsr(mode == fp_mode::daz_ftz ? csr | 0x8040u : csr);
#endif
  std::fesetround(mode == fp_mode::upward ? FE_UPWARD : FE_TONEAREST);
}

/// Probes the calling thread's environment with float arithmetic the compiler cannot fold:
/// does it behave like `mode`?
inline bool fp_mode_active(fp_mode mode) {
  volatile float tiny = float_from_bits(0x00000001u);  // the smallest subnormal
  volatile float one = 1.0f;
  volatile float bit = 0x1p-30f;
  const float product = tiny * one;  // DAZ reads the subnormal as 0
  const float sum = one + bit;       // rounds up only in FE_UPWARD
  const bool daz = bits_of(product) == 0;
  const bool up = bits_of(sum) != bits_of(1.0f);
  switch (mode) {
    case fp_mode::daz_ftz: return daz && !up;
    case fp_mode::upward: return up && !daz;
    case fp_mode::standard: return !daz && !up;
  }
  return false;
}

/// set_fp_mode for a scope; restores the thread's previous environment on destruction.
class scoped_fp_mode {
 public:
  explicit scoped_fp_mode(fp_mode mode) : mode_(mode), round_(std::fegetround()) {
#if FP8KIT_TEST_HAS_MXCSR
    csr_ = _mm_getcsr();
#endif
    set_fp_mode(mode);
  }
  ~scoped_fp_mode() {
#if FP8KIT_TEST_HAS_MXCSR
    _mm_setcsr(csr_);
#endif
    std::fesetround(round_);
  }
  scoped_fp_mode(const scoped_fp_mode&) = delete;
  scoped_fp_mode& operator=(const scoped_fp_mode&) = delete;

  bool active() const { return fp_mode_active(mode_); }

 private:
  fp_mode mode_;
  int round_;
#if FP8KIT_TEST_HAS_MXCSR
  unsigned csr_ = 0;
#endif
};

/// -ffast-math programs start with DAZ and FTZ set (crtfastmath). The tests compute expected
/// values with float arithmetic in the default environment, so every test binary that
/// includes this header starts its tests from it.
class standard_fp_environment : public ::testing::Environment {
 public:
  void SetUp() override { set_fp_mode(fp_mode::standard); }
};
inline ::testing::Environment* const standard_fp_environment_registration =
    ::testing::AddGlobalTestEnvironment(new standard_fp_environment);

}  // namespace fp8kit_test
