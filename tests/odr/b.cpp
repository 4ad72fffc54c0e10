#include <fp8kit/fp8kit.hpp>
#include <fp8kit/ptq.hpp>

float odr_b(float x) {
  fp8kit::e4m3fn q;
  fp8kit::quantize(&x, &q, 1, 1.0f);
  return float(q) + float(fp8kit::ptq::mse(&x, &x, 1));
}
