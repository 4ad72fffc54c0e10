#pragma once
// The test oracle for float -> fp8 encoding. It shares no code with include/fp8kit: formats are
// known only through the golden decode tables in FP8KIT_TEST_DATA_DIR (the exact value of every
// code) and the rules of DESIGN.md, so a bug in the library's rounding core cannot hide here.
//
// Encoding: nearest decoded finite value, ties to the even code; a magnitude that rounds past
// max finite (in an unbounded exponent range) overflows. Every step compares float bit patterns
// as integers, so the oracle gives the same answers in any FP environment (DAZ/FTZ, rounding
// mode); only construction uses (exact) double arithmetic.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef FP8KIT_TEST_DATA_DIR
#error "FP8KIT_TEST_DATA_DIR must name the folder with the binary reference tables"
#endif

namespace fp8kit_test {

enum class sat { none, finite };

/// The bytes of `file` in FP8KIT_TEST_DATA_DIR; throws if it cannot be read or is not `size`
/// bytes long (size 0: any length).
inline std::vector<std::uint8_t> read_table(const std::string& file, std::size_t size = 0) {
  const std::string path = std::string(FP8KIT_TEST_DATA_DIR) + "/" + file;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open reference table " + path);
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  if (size != 0 && bytes.size() != size) {
    throw std::runtime_error(path + ": expected " + std::to_string(size) + " bytes, got " +
                             std::to_string(bytes.size()));
  }
  return bytes;
}

/// Little-endian uint32 at p.
inline std::uint32_t load_le32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}

inline float float_from_bits(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline std::uint32_t bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline std::uint64_t bits_of(double d) {
  std::uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

// Classification from the bits, so it stays right under -ffast-math (where the compiler may
// assume that std::isnan and std::isinf are false).
inline bool is_nan(float x) { return (bits_of(x) & 0x7FFFFFFFu) > 0x7F800000u; }
inline bool is_nan(double x) { return (bits_of(x) & 0x7FFFFFFFFFFFFFFFu) > 0x7FF0000000000000u; }
inline bool is_inf(float x) { return (bits_of(x) & 0x7FFFFFFFu) == 0x7F800000u; }
inline bool is_inf(double x) { return (bits_of(x) & 0x7FFFFFFFFFFFFFFFu) == 0x7FF0000000000000u; }
inline bool is_finite(float x) { return !is_nan(x) && !is_inf(x); }
inline bool is_finite(double x) { return !is_nan(x) && !is_inf(x); }
inline bool sign_bit(float x) { return (bits_of(x) >> 31) != 0; }
inline bool sign_bit(double x) { return (bits_of(x) >> 63) != 0; }
/// An integer that orders like the value of a non-NaN float or double, infinities included
/// (both zeros give 0): comparisons that -ffast-math cannot bend.
inline std::int64_t order_key(double x) {
  const auto magnitude = static_cast<std::int64_t>(bits_of(x) & 0x7FFFFFFFFFFFFFFFu);
  return sign_bit(x) ? -magnitude : magnitude;
}
inline std::int64_t order_key(float x) {
  const auto magnitude = static_cast<std::int64_t>(bits_of(x) & 0x7FFFFFFFu);
  return sign_bit(x) ? -magnitude : magnitude;
}

/// Float32 bits of the exact value of each of the 256 codes of `alias` (golden decode table).
inline std::array<std::uint32_t, 256> load_decode_table(const std::string& alias) {
  const auto bytes = read_table(alias + ".decode.bin", 256 * 4);
  std::array<std::uint32_t, 256> table{};
  for (std::size_t i = 0; i < 256; ++i) table[i] = load_le32(&bytes[4 * i]);
  return table;
}

/// How an alias spends its special codes, read from its name (the MLIR / ml_dtypes vocabulary).
enum class family { ieee, fn, fnuz };

struct alias_info {
  int exponent_bits;
  int mantissa_bits;
  family fam;
};

/// Parses "e<E>m<M>[fn|fnuz|b<bias>fnuz]", e.g. "e4m3b11fnuz" -> {4, 3, fnuz}.
inline alias_info parse_alias(const std::string& alias) {
  alias_info info{};
  std::size_t m_pos = alias.find('m');
  if (alias.size() < 4 || alias[0] != 'e' || m_pos != 2 || alias[1] < '1' || alias[1] > '9' ||
      alias[3] < '1' || alias[3] > '9') {
    throw std::invalid_argument("not an fp8 alias: " + alias);
  }
  info.exponent_bits = alias[1] - '0';
  info.mantissa_bits = alias[3] - '0';
  const std::string suffix = alias.substr(4);
  const bool fnuz = suffix.size() >= 4 && suffix.compare(suffix.size() - 4, 4, "fnuz") == 0;
  if (fnuz) {
    info.fam = family::fnuz;
  } else if (suffix == "fn") {
    info.fam = family::fn;
  } else if (suffix.empty()) {
    info.fam = family::ieee;
  } else {
    throw std::invalid_argument("unknown fp8 alias suffix: " + alias);
  }
  if (info.exponent_bits + info.mantissa_bits != 7) {
    throw std::invalid_argument("fp8 alias does not have 7 exponent + mantissa bits: " + alias);
  }
  return info;
}

/// Decoding straight from the golden table.
class reference_decoder {
 public:
  explicit reference_decoder(const std::string& alias) : table_(load_decode_table(alias)) {}
  std::uint32_t float_bits(std::uint8_t code) const { return table_[code]; }
  float value(std::uint8_t code) const { return float_from_bits(table_[code]); }
  bool is_nan(std::uint8_t code) const { return fp8kit_test::is_nan(value(code)); }
  bool is_inf(std::uint8_t code) const { return fp8kit_test::is_inf(value(code)); }

 private:
  std::array<std::uint32_t, 256> table_;
};

/// Float -> fp8 encoder of DESIGN.md's semantics, built from the golden decode table.
class reference_encoder {
 public:
  reference_encoder(const std::string& alias, sat s) {
    const alias_info info = parse_alias(alias);
    const auto table = load_decode_table(alias);
    auto fail = [&alias](const std::string& why) {
      throw std::runtime_error("reference_encoder(" + alias + "): " + why);
    };

    // Positive finite values: codes 0, 1, ..., max code, strictly increasing (0 is +0).
    std::vector<double> values;
    std::uint8_t inf_code = 0;
    bool has_inf = false;
    for (unsigned code = 0; code < 0x80; ++code) {
      const std::uint32_t u = table[code];
      if (u == 0x7F800000u) {
        has_inf = true;
        inf_code = static_cast<std::uint8_t>(code);
      }
      if ((u & 0x7F800000u) == 0x7F800000u) continue;  // inf or NaN
      if (values.size() != code) fail("finite codes are not 0..max contiguous");
      const double v = double(float_from_bits(u));
      if ((u >> 31) != 0 || (!values.empty() && !(v > values.back()))) {
        fail("positive codes do not increase");
      }
      values.push_back(v);
    }
    if (values.size() < 3 || values[0] != 0.0) fail("too few finite codes, or code 0 is not +0");
    if (has_inf != (info.fam == family::ieee)) fail("inf code does not match the alias name");
    const auto max_code = static_cast<std::uint8_t>(values.size() - 1);

    // Canonical NaNs (DESIGN.md): ieee: all-ones exponent, top mantissa bit; fn: all ones;
    // fnuz: 0x80 for both signs.
    std::uint8_t nan_pos = 0x80;
    std::uint8_t nan_neg = 0x80;
    if (info.fam == family::ieee) {
      nan_pos = static_cast<std::uint8_t>(inf_code | (1u << (info.mantissa_bits - 1)));
      nan_neg = static_cast<std::uint8_t>(nan_pos | 0x80u);
    } else if (info.fam == family::fn) {
      nan_pos = 0x7F;
      nan_neg = 0xFF;
    }
    const auto is_nan_code = [&table](std::uint8_t c) { return is_nan(float_from_bits(table[c])); };
    if (!is_nan_code(nan_pos) || !is_nan_code(nan_neg)) fail("canonical NaN code is not a NaN");

    // Negative codes mirror the positive ones (fnuz: 0x80 is the NaN, not -0).
    for (unsigned code = 1; code <= max_code; ++code) {
      if (table[code | 0x80u] != (table[code] | 0x80000000u)) fail("negative codes not mirrored");
    }
    const std::uint8_t neg_zero = info.fam == family::fnuz ? 0x00 : 0x80;
    if (info.fam != family::fnuz && table[0x80] != 0x80000000u) fail("0x80 is not -0");

    // One virtual value past max finite, at max's spacing (its mantissa is not zero for any
    // alias, so max and its predecessor share a binade): reaching it means overflow.
    const double max = values.back();
    const double step = max - values[values.size() - 2];
    if (step <= 0.0 || !(max + step > max)) fail("bad spacing at max finite");
    values.push_back(max + step);

    // Midpoints between neighbours are exact floats (one bit more than the fp8 values).
    for (std::size_t k = 0; k + 1 < values.size(); ++k) {
      const double mid = (values[k] + values[k + 1]) / 2;
      const auto f = static_cast<float>(mid);
      if (double(f) != mid) fail("midpoint not exact in float");
      mid_bits_.push_back(bits_of(f));
      // Neighbour k + 1 has code k + 1: the tie goes up when that code is even.
      tie_up_.push_back((k + 1) % 2 == 0);
    }

    const std::uint8_t over_pos = s == sat::finite ? max_code : has_inf ? inf_code : nan_pos;
    const std::uint8_t over_neg = s == sat::finite ? static_cast<std::uint8_t>(max_code | 0x80u)
                                  : has_inf        ? static_cast<std::uint8_t>(inf_code | 0x80u)
                                                   : nan_neg;
    for (std::size_t k = 0; k <= max_code; ++k) {
      code_[0].push_back(static_cast<std::uint8_t>(k));
      code_[1].push_back(k == 0 ? neg_zero : static_cast<std::uint8_t>(k | 0x80u));
    }
    code_[0].push_back(over_pos);  // index max_code + 1: overflow (also +-inf inputs)
    code_[1].push_back(over_neg);
    nan_[0] = nan_pos;
    nan_[1] = nan_neg;
  }

  std::uint8_t encode(float x) const {
    std::uint8_t code = 0;
    encode_range(bits_of(x), 1, &code);
    return code;
  }

  /// Codes for the float bit patterns first .. first + count - 1 (no wrap past 2^32).
  /// Runs of inputs between two midpoints share a code, so this writes whole runs at once.
  void encode_range(std::uint32_t first, std::size_t count, std::uint8_t* out) const {
    constexpr std::uint32_t inf = 0x7F800000u;
    std::uint64_t done = 0;
    while (done < count) {
      const auto u = static_cast<std::uint32_t>(first + done);
      const std::size_t sign = u >> 31;
      const std::uint32_t mag = u & 0x7FFFFFFFu;
      // Patterns left in this sign half (magnitudes mag .. 0x7FFFFFFF) and in the request.
      const std::uint64_t left = std::min<std::uint64_t>(count - done, 0x80000000u - mag);
      std::uint64_t run = 0;
      std::uint8_t code = 0;
      if (mag > inf) {
        run = left;
        code = nan_[sign];
      } else if (mag == inf) {
        run = 1;
        code = code_[sign].back();
      } else {
        // k = number of midpoints below mag: the index of the nearest value, ties aside.
        const auto it = std::lower_bound(mid_bits_.begin(), mid_bits_.end(), mag);
        const auto k = static_cast<std::size_t>(it - mid_bits_.begin());
        if (it != mid_bits_.end() && *it == mag) {
          run = 1;
          code = code_[sign][tie_up_[k] ? k + 1 : k];
        } else {
          const std::uint32_t end = it != mid_bits_.end() ? *it : inf;
          run = std::min<std::uint64_t>(left, end - mag);
          code = code_[sign][k];
        }
      }
      std::memset(out + done, code, static_cast<std::size_t>(run));
      done += run;
    }
  }

  /// The same rounding for a double input, also on the bits: a double's magnitude bits order
  /// like its value, and each midpoint is widened exactly to a double.
  std::uint8_t encode_double(double x) const {
    const std::size_t sign = sign_bit(x) ? 1 : 0;
    if (is_nan(x)) return nan_[sign];
    const std::uint64_t mag = bits_of(x) & 0x7FFFFFFFFFFFFFFFu;
    std::size_t k = 0;  // midpoints below mag
    while (k < mid_bits_.size() && bits_of(double(float_from_bits(mid_bits_[k]))) < mag) ++k;
    if (k < mid_bits_.size() && bits_of(double(float_from_bits(mid_bits_[k]))) == mag &&
        tie_up_[k]) {
      ++k;
    }
    return code_[sign][k];
  }

 private:
  std::vector<std::uint32_t> mid_bits_;  // float bits of midpoints, increasing
  std::vector<bool> tie_up_;             // per midpoint: does a tie go to the upper neighbour
  std::array<std::vector<std::uint8_t>, 2> code_;  // [sign][k]: code of value k; last = overflow
  std::array<std::uint8_t, 2> nan_{};
};

}  // namespace fp8kit_test
