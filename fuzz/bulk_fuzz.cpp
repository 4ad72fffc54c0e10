// libFuzzer target: arbitrary bytes become the data, length, offset, scale, format, operation
// and kernel (instruction set) of a bulk call; the result must equal the scalar conversion applied
// element by element, and nothing outside the output range may change.
//
// Input layout: [op][format][offset (low 4 bits), kernel (high 4 bits)][scale: 4 bytes][payload...]
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fp8kit/fp8kit.hpp>
#include <stdexcept>
#include <vector>

#include "kernel.hpp"

namespace {

constexpr std::size_t kGuard = 64;
constexpr std::uint8_t kGuardByte = 0xA5;

[[noreturn]] void fail() { __builtin_trap(); }

bool same_bits(float a, float b) {
  std::uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return x == y;
}

// Output buffer with guard bytes on both sides and a caller-chosen misalignment.
template <class T>
struct guarded {
  std::vector<unsigned char> raw;
  T* data;
  std::size_t n;
  guarded(std::size_t count, std::size_t offset)
      : raw(2 * kGuard + count * sizeof(T) + offset, kGuardByte), n(count) {
    data = reinterpret_cast<T*>(raw.data() + kGuard + offset);
  }
  void check_guards(std::size_t offset) const {
    for (std::size_t i = 0; i < kGuard + offset; ++i)
      if (raw[i] != kGuardByte) fail();
    for (std::size_t i = kGuard + offset + n * sizeof(T); i < raw.size(); ++i)
      if (raw[i] != kGuardByte) fail();
  }
};

template <class T>
std::vector<unsigned char> misaligned_copy(const std::uint8_t* p, std::size_t n, std::size_t offset,
                                           const T** out) {
  std::vector<unsigned char> buf(offset + n * sizeof(T) + 1);
  std::memcpy(buf.data() + offset, p, n * sizeof(T));
  *out = reinterpret_cast<const T*>(buf.data() + offset);
  return buf;
}

// Bulk convert from Src (float, bfloat16 or half) to F against the scalar conversion.
template <class Src, class F>
void check_encode(const std::uint8_t* p, std::size_t size, std::size_t offset,
                  fp8kit::saturation s) {
  const Src* x;
  const std::size_t n = size / sizeof(Src);
  auto keep = misaligned_copy(p, n, offset, &x);
  guarded<F> q(n, offset);
  fp8kit::convert(x, q.data, n, s);
  for (std::size_t i = 0; i < n; ++i) {
    if (q.data[i].bits() != fp8kit::convert<F>(x[i], s).bits()) fail();
  }
  q.check_guards(offset);
}

template <class F>
void run(std::uint8_t op, std::size_t offset, float scale, const std::uint8_t* p,
         std::size_t size) {
  const auto s = (op & 1) != 0 ? fp8kit::saturation::finite : fp8kit::saturation::none;
  switch ((op >> 1) % 6) {
    case 0:  // float -> F
      check_encode<float, F>(p, size, offset, s);
      break;
    case 1: {  // F -> float and dequantize
      const F* c;
      auto keep = misaligned_copy(p, size, offset, &c);
      guarded<float> y(size, offset);
      fp8kit::convert(c, y.data, size);
      for (std::size_t i = 0; i < size; ++i) {
        if (!same_bits(y.data[i], float(c[i]))) fail();
      }
      y.check_guards(offset);
      try {
        fp8kit::dequantize(c, y.data, size, scale);
        for (std::size_t i = 0; i < size; ++i) {
          if (!same_bits(y.data[i], float(c[i]) * scale)) fail();
        }
      } catch (const std::invalid_argument&) {
      }
      y.check_guards(offset);
      break;
    }
    case 2:
    case 3: {  // quantize / fake_quantize (bad scales must throw and leave output untouched)
      const float* x;
      const std::size_t n = size / 4;
      auto keep = misaligned_copy(p, n, offset, &x);
      guarded<F> q(n, offset);
      guarded<float> y(n, offset);
      try {
        if ((op >> 1) % 6 == 2) {
          fp8kit::quantize(x, q.data, n, scale, s);
        } else {
          fp8kit::fake_quantize<F>(x, y.data, n, scale, s);
        }
      } catch (const std::invalid_argument&) {
        q.check_guards(offset);
        for (std::size_t i = 0; i < n * sizeof(F); ++i)
          if (reinterpret_cast<unsigned char*>(q.data)[i] != kGuardByte) fail();
        for (std::size_t i = 0; i < n * sizeof(float); ++i)
          if (reinterpret_cast<unsigned char*>(y.data)[i] != kGuardByte) fail();
        return;
      }
      for (std::size_t i = 0; i < n; ++i) {
        const F ref = fp8kit::convert<F>(x[i] / scale, s);
        if ((op >> 1) % 6 == 2 ? q.data[i].bits() != ref.bits()
                               : !same_bits(y.data[i], float(ref) * scale))
          fail();
      }
      q.check_guards(offset);
      y.check_guards(offset);
      break;
    }
    case 4: check_encode<fp8kit::bfloat16, F>(p, size, offset, s); break;
    default: check_encode<fp8kit::half, F>(p, size, offset, s); break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 7) return 0;
  const std::uint8_t op = data[0], format = data[1];
  // Misalignment relative to vector width, in whole elements (a float* must stay 4-aligned).
  const std::size_t offset = std::size_t{data[2] % 16u} * 4;
  fuzz::use_kernel(data[2] >> 4);
  float scale;
  std::memcpy(&scale, data + 3, 4);
  data += 7;
  size -= 7;
  switch (format % 8) {
    case 0: run<fp8kit::e5m2>(op, offset, scale, data, size); break;
    case 1: run<fp8kit::e4m3fn>(op, offset, scale, data, size); break;
    case 2: run<fp8kit::e3m4fn>(op, offset, scale, data, size); break;
    case 3: run<fp8kit::e4m3fnuz>(op, offset, scale, data, size); break;
    case 4: run<fp8kit::e5m2fnuz>(op, offset, scale, data, size); break;
    case 5: run<fp8kit::e4m3b11fnuz>(op, offset, scale, data, size); break;
    case 6: run<fp8kit::e4m3>(op, offset, scale, data, size); break;
    default: run<fp8kit::e3m4>(op, offset, scale, data, size); break;
  }
  return 0;
}
