#include <cstdio>

float odr_a(float x);
float odr_b(float x);

int main() {
  const float a = odr_a(0.3f), b = odr_b(0.3f);
  std::printf("odr: %g %g\n", double(a), double(b));
  return a == 0.3125f && b == 0.3125f ? 0 : 1;
}
