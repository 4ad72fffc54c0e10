#pragma once
// fp8<E, M, Enc, Bias>: one-byte floats, the aliases of the OCP, AMD/Graphcore and Intel formats.

#include <cstdint>
#include <functional>
#include <limits>

#include "detail/minifloat.hpp"
#include "format.hpp"

namespace fp8kit {

/// An 8-bit float with E exponent bits and M mantissa bits (E + M == 7).
/// Construction from float or double rounds to nearest, ties to even, and overflows to inf
/// (ieee) or NaN (fn, fnuz); convert() offers saturation. Conversions to float and double are
/// exact. Trivially copyable, standard layout, one byte: buffers may be reinterpret_cast.
/// Example: fp8kit::e4m3fn(0.3f).bits() == 0x2A   (0.3125)
template <int E, int M, encoding Enc = default_encoding(E, M), int Bias = default_bias(E, Enc)>
class fp8 : public detail::minifloat<fp8<E, M, Enc, Bias>, format_traits<E, M, Enc, Bias>> {
  static_assert(E + M == 7, "fp8<E, M>: E + M must be 7 (one sign bit, 7 more bits)");
  static_assert(E >= 2 && E <= 6, "fp8<E, M>: E must be in [2, 6] (so M is in [1, 5])");
  static_assert(1 - Bias - M >= -126 && (1 << E) - 1 - Bias <= 127,
                "fp8<E, M, Enc, Bias>: Bias puts values outside float's normal range");

 public:
  using detail::minifloat<fp8, format_traits<E, M, Enc, Bias>>::minifloat;
};

using e5m2 = fp8<5, 2, encoding::ieee>;             // OCP E5M2, max 57344
using e4m3fn = fp8<4, 3, encoding::fn>;             // OCP E4M3, max 448
using e3m4fn = fp8<3, 4, encoding::fn>;             // Intel FP8 PTQ paper's E3M4, max 30
using e4m3fnuz = fp8<4, 3, encoding::fnuz>;         // AMD/Graphcore, bias 8, max 240
using e5m2fnuz = fp8<5, 2, encoding::fnuz>;         // AMD/Graphcore, bias 16, max 57344
using e4m3b11fnuz = fp8<4, 3, encoding::fnuz, 11>;  // Graphcore, bias 11, max 30
using e4m3 = fp8<4, 3, encoding::ieee>;             // IEEE-style E4M3, max 240
using e3m4 = fp8<3, 4, encoding::ieee>;             // IEEE-style E3M4, max 15.5

}  // namespace fp8kit

namespace std {
template <int E, int M, fp8kit::encoding Enc, int Bias>
class numeric_limits<fp8kit::fp8<E, M, Enc, Bias>>
    : public fp8kit::detail::minifloat_limits<fp8kit::fp8<E, M, Enc, Bias>> {};
template <int E, int M, fp8kit::encoding Enc, int Bias>
struct hash<fp8kit::fp8<E, M, Enc, Bias>>
    : fp8kit::detail::minifloat_hash<fp8kit::fp8<E, M, Enc, Bias>> {};
}  // namespace std
