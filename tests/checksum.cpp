// Prints a configuration-independent digest of fp8kit's conversions: every build configuration
// (compiler, standard, flags, -march, forced scalar, -ffast-math) must print the same lines.
// Covers a fixed 2^22-input float sample, all bf16 and half codes, and quantize / dequantize /
// fake_quantize at several scales, for every alias and both saturation modes.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fp8kit/fp8kit.hpp>
#include <vector>

namespace {

struct fnv1a {
  std::uint64_t h = 1469598103934665603ull;
  void add(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
};

std::vector<float> float_sample() {
  std::vector<float> x(std::size_t{1} << 22);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const auto bits = static_cast<std::uint32_t>(i * 1024u + (i * 2654435761u >> 22));
    std::memcpy(&x[i], &bits, sizeof bits);
  }
  return x;
}

template <class T>
std::vector<T> all_16bit_codes() {
  std::vector<T> v(65536);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = T::from_bits(static_cast<std::uint16_t>(i));
  return v;
}

template <class F>
void digest(const char* name, const std::vector<float>& x) {
  fnv1a h;
  std::vector<F> q(x.size());
  std::vector<float> y(x.size());
  const auto bf16 = all_16bit_codes<fp8kit::bfloat16>();
  const auto f16 = all_16bit_codes<fp8kit::half>();
  for (const auto s : {fp8kit::saturation::none, fp8kit::saturation::finite}) {
    fp8kit::convert(x.data(), q.data(), x.size(), s);
    h.add(q.data(), q.size());
    fp8kit::convert(bf16.data(), q.data(), bf16.size(), s);
    h.add(q.data(), bf16.size());
    fp8kit::convert(f16.data(), q.data(), f16.size(), s);
    h.add(q.data(), f16.size());
    for (const float scale : {1.0f, 0.25f, 1.0f / 3.0f, 1e-30f, 3e35f, 1e-40f}) {
      fp8kit::quantize(x.data(), q.data(), x.size(), scale, s);
      h.add(q.data(), q.size());
      fp8kit::dequantize(q.data(), y.data(), q.size(), scale);
      h.add(y.data(), y.size() * sizeof(float));
      fp8kit::fake_quantize<F>(x.data(), y.data(), x.size(), scale, s);
      h.add(y.data(), y.size() * sizeof(float));
    }
  }
  fp8kit::convert(q.data(), y.data(), q.size());
  h.add(y.data(), y.size() * sizeof(float));
  std::printf("%-12s %016llx\n", name, static_cast<unsigned long long>(h.h));
}

}  // namespace

int main() {
  const auto x = float_sample();
  digest<fp8kit::e5m2>("e5m2", x);
  digest<fp8kit::e4m3fn>("e4m3fn", x);
  digest<fp8kit::e3m4fn>("e3m4fn", x);
  digest<fp8kit::e4m3fnuz>("e4m3fnuz", x);
  digest<fp8kit::e5m2fnuz>("e5m2fnuz", x);
  digest<fp8kit::e4m3b11fnuz>("e4m3b11fnuz", x);
  digest<fp8kit::e4m3>("e4m3", x);
  digest<fp8kit::e3m4>("e3m4", x);
  return 0;
}
