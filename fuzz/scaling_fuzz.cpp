// libFuzzer target for the scaling layer: arbitrary bytes become a matrix (shape, values), a
// block shape, a format, an operation and a kernel; per-channel, block-wise and MX results must
// equal their definitions evaluated element by element with the scalar conversions, and the
// scales the library picks must equal scales computed here with plain loops (and std::frexp /
// std::ldexp for MX).
//
// Input layout: [op][format][rows][block rows][block cols][kernel][payload: floats...]
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fp8kit/fp8kit.hpp>
#include <limits>
#include <vector>

#include "kernel.hpp"

namespace {

[[noreturn]] void fail() { __builtin_trap(); }

std::uint32_t bits(float v) {
  std::uint32_t b;
  std::memcpy(&b, &v, 4);
  return b;
}

bool finite(float v) { return (bits(v) & 0x7F800000u) != 0x7F800000u; }

/// x * s as the bulk dequantize defines it (the product of the decoded value and the scale).
template <class F>
std::uint32_t product(F q, float s) {
  volatile float v = float(q);  // no contraction or reassociation with the conversion
  return bits(v * s);
}

/// Largest finite |x| over the elements (r, c) of a rows x cols matrix with pick(r, c) true.
template <class Pick>
float finite_amax(const std::vector<float>& x, std::size_t rows, std::size_t cols, Pick pick) {
  float m = 0;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c)
      if (pick(r, c) && finite(x[r * cols + c])) m = std::fmax(m, std::fabs(x[r * cols + c]));
  return m;
}

/// quantize / dequantize / fake_quantize with scale_of(r, c) against the scalar definition.
template <class F, class ScaleOf>
void check_codes(const std::vector<float>& x, std::size_t cols, const std::vector<F>& q,
                 const std::vector<float>& back, const std::vector<float>& fake, ScaleOf scale_of) {
  for (std::size_t k = 0; k < x.size(); ++k) {
    const float s = scale_of(k / cols, k % cols);
    volatile float quotient = x[k] / s;
    const F want = fp8kit::convert<F>(float(quotient), fp8kit::saturation::finite);
    if (q[k].bits() != want.bits()) fail();
    if (bits(back[k]) != product(want, s) || bits(fake[k]) != product(want, s)) fail();
  }
}

template <class F>
void per_channel(const std::vector<float>& x, std::size_t rows, std::size_t cols,
                 fp8kit::channel_axis a) {
  const bool by_row = a == fp8kit::channel_axis::rows;
  std::vector<float> scales(by_row ? rows : cols);
  fp8kit::scales_per_channel<F>(x.data(), rows, cols, a, scales.data());
  for (std::size_t k = 0; k < scales.size(); ++k) {
    const float m = finite_amax(
        x, rows, cols, [&](std::size_t r, std::size_t c) { return (by_row ? r : c) == k; });
    if (bits(scales[k]) != bits(fp8kit::scale_from_amax<F>(m))) fail();
  }
  std::vector<F> q(x.size());
  std::vector<float> back(x.size()), fake(x);
  fp8kit::quantize_per_channel(x.data(), rows, cols, a, scales.data(), q.data());
  fp8kit::dequantize_per_channel(q.data(), rows, cols, a, scales.data(), back.data());
  fp8kit::fake_quantize_per_channel<F>(fake.data(), rows, cols, a, scales.data(), fake.data());
  check_codes(x, cols, q, back, fake,
              [&](std::size_t r, std::size_t c) { return scales[by_row ? r : c]; });
}

template <class F>
void blockwise(const std::vector<float>& x, std::size_t rows, std::size_t cols,
               fp8kit::block_shape b) {
  const std::size_t nbc = (cols + b.cols - 1) / b.cols;
  std::vector<float> scales(fp8kit::block_count(rows, cols, b)), scales_fake(scales.size());
  std::vector<F> q(x.size());
  std::vector<float> back(x.size()), fake(x);
  fp8kit::quantize_blockwise(x.data(), rows, cols, b, q.data(), scales.data());
  fp8kit::dequantize_blockwise(q.data(), rows, cols, b, scales.data(), back.data());
  fp8kit::fake_quantize_blockwise<F>(fake.data(), rows, cols, b, fake.data(), scales_fake.data());
  for (std::size_t k = 0; k < scales.size(); ++k) {
    const float m = finite_amax(x, rows, cols, [&](std::size_t r, std::size_t c) {
      return (r / b.rows) * nbc + c / b.cols == k;
    });
    const float want = fp8kit::scale_from_amax<F>(m);
    if (bits(scales[k]) != bits(want) || bits(scales_fake[k]) != bits(want)) fail();
  }
  check_codes(x, cols, q, back, fake, [&](std::size_t r, std::size_t c) {
    return scales[(r / b.rows) * nbc + c / b.cols];
  });
}

/// The OCP MX scale exponent of a block from its amax, by frexp: floor(log2(amax)) - emax
/// (floor), or the smallest k with max finite * 2^k >= amax (rceil); clamped to [-127, 127].
template <class F>
int mx_exponent(float amax, fp8kit::mx_rounding r) {
  if (amax < std::ldexp(1.0f, -126)) return -127;  // zero or subnormal: the smallest scale
  const double max_finite = double(std::numeric_limits<F>::max());
  int e = 0;
  std::frexp(double(amax), &e);  // amax = m 2^e, m in [0.5, 1)
  const int emax = std::ilogb(max_finite);
  int k = (e - 1) - emax;
  if (r == fp8kit::mx_rounding::rceil) {
    k = e - 1 - emax - 1;
    while (std::ldexp(max_finite, k) < double(amax)) ++k;
  }
  return k < -127 ? -127 : k > 127 ? 127 : k;
}

template <class F>
void mx(const std::vector<float>& x, fp8kit::mx_rounding r) {
  const std::size_t n = x.size();
  std::vector<F> q(n);
  std::vector<fp8kit::e8m0fnu> scales(fp8kit::mx_scale_count(n));
  std::vector<float> back(n);
  fp8kit::mx_quantize(x.data(), n, q.data(), scales.data(), r);
  fp8kit::mx_dequantize(q.data(), n, scales.data(), back.data());
  for (std::size_t k = 0; k < scales.size(); ++k) {
    const std::size_t begin = 32 * k, end = n - begin < 32 ? n : begin + 32;
    bool special = false;
    float m = 0;
    for (std::size_t i = begin; i < end; ++i) {
      special = special || !finite(x[i]);
      if (finite(x[i])) m = std::fmax(m, std::fabs(x[i]));
    }
    if (special) {  // NaN scale and NaN elements
      if (!isnan(scales[k])) fail();
      for (std::size_t i = begin; i < end; ++i)
        if (!isnan(q[i]) || bits(back[i]) << 1 <= 0xFF000000u) fail();
      continue;
    }
    if (scales[k].exponent() != mx_exponent<F>(m, r)) fail();
    const float s = float(scales[k]);
    for (std::size_t i = begin; i < end; ++i) {
      volatile float quotient = x[i] / s;
      const F want = fp8kit::convert<F>(float(quotient), fp8kit::saturation::finite);
      if (q[i].bits() != want.bits() || bits(back[i]) != product(want, s)) fail();
    }
  }
}

template <class F>
void run(std::uint8_t op, std::size_t rows, fp8kit::block_shape b, const std::vector<float>& x) {
  const std::size_t cols = x.size() / rows;
  const std::vector<float> matrix(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(rows * cols));
  switch (op % 5) {
    case 0: per_channel<F>(matrix, rows, cols, fp8kit::channel_axis::rows); break;
    case 1: per_channel<F>(matrix, rows, cols, fp8kit::channel_axis::cols); break;
    case 2: blockwise<F>(matrix, rows, cols, b); break;
    case 3: mx<F>(x, fp8kit::mx_rounding::floor); break;
    default: mx<F>(x, fp8kit::mx_rounding::rceil); break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 6) return 0;
  const std::uint8_t op = data[0], format = data[1];
  const std::size_t rows = 1 + data[2] % 16u;
  // Blocks up to 8 x 48: narrow ones take the expanded-scales path, >= 16 columns the segments.
  const fp8kit::block_shape b{1 + data[3] % 8u, 1 + data[4] % 48u};
  fuzz::use_kernel(data[5]);
  std::vector<float> x((size - 6) / 4);
  if (!x.empty()) std::memcpy(x.data(), data + 6, x.size() * 4);
  switch (format % 4) {
    case 0: run<fp8kit::e4m3fn>(op, rows, b, x); break;
    case 1: run<fp8kit::e5m2>(op, rows, b, x); break;
    case 2: run<fp8kit::e3m4fn>(op, rows, b, x); break;
    default: run<fp8kit::e4m3fnuz>(op, rows, b, x); break;
  }
  return 0;
}
