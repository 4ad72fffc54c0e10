// Prints every fp8 format of fp8kit: layout, bias, limits, and a few values rounded both ways.
#include <cstdio>
#include <fp8kit/fp8kit.hpp>
#include <limits>

namespace {

const char* encoding_name(fp8kit::encoding e) {
  switch (e) {
    case fp8kit::encoding::ieee: return "ieee";
    case fp8kit::encoding::fn: return "fn";
    case fp8kit::encoding::fnuz: return "fnuz";
  }
  return "?";
}

template <class F>
void describe(const char* name) {
  using traits = typename F::traits;
  using limits = std::numeric_limits<F>;
  std::printf(
      "%-12s S1 E%d M%d  %-4s  bias %2d  max %-8g min normal %-11g min subnormal %-11g "
      "epsilon %g\n",
      name, traits::exponent_bits, traits::mantissa_bits, encoding_name(traits::enc), traits::bias,
      float(limits::max()), float(limits::min()), float(limits::denorm_min()),
      float(limits::epsilon()));
  std::printf("%12s", "");
  for (const float x : {0.3f, -1.7f, 100.0f, 1000.0f, 1e-4f}) {
    const F none = fp8kit::convert<F>(x, fp8kit::saturation::none);
    const F sat = fp8kit::convert<F>(x, fp8kit::saturation::finite);
    std::printf("  %g -> %g (0x%02X) / %g (0x%02X)", double(x), double(float(none)), none.bits(),
                double(float(sat)), sat.bits());
  }
  std::printf("\n");
}

}  // namespace

int main() {
  std::printf("value -> rounded with saturation::none / saturation::finite\n\n");
  describe<fp8kit::e5m2>("e5m2");
  describe<fp8kit::e4m3fn>("e4m3fn");
  describe<fp8kit::e3m4fn>("e3m4fn");
  describe<fp8kit::e4m3fnuz>("e4m3fnuz");
  describe<fp8kit::e5m2fnuz>("e5m2fnuz");
  describe<fp8kit::e4m3b11fnuz>("e4m3b11fnuz");
  describe<fp8kit::e4m3>("e4m3");
  describe<fp8kit::e3m4>("e3m4");
  return 0;
}
