// A downstream program: uses fp8kit through whichever packaging brought it in.
#include <cstdio>
#include <fp8kit/fp8kit.hpp>

int main() {
  const float x[4] = {0.3f, -1.7f, 500.0f, 0.0f};
  fp8kit::e4m3fn q[4];
  fp8kit::quantize(x, q, 4, 1.0f);
  const bool ok = q[0].bits() == 0x2A && q[2].bits() == 0x7E &&
                  fp8kit::convert<fp8kit::e4m3fn>(0.3f).bits() == 0x2A;
  std::printf("fp8kit %d.%d.%d consumer: %s\n", FP8KIT_VERSION_MAJOR, FP8KIT_VERSION_MINOR,
              FP8KIT_VERSION_PATCH, ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
