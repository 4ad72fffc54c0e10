#pragma once
// Umbrella header of the PTQ toolkit (namespace fp8kit::ptq): calibrators, fake quantization
// per tensor / channel / block with a straight-through gradient, error metrics, and the
// symmetric INT8 baseline. A layer on top of the core; <fp8kit/fp8kit.hpp> does not include it.

#include "ptq/calibrate.hpp"
#include "ptq/fake_quant.hpp"
#include "ptq/int8.hpp"
#include "ptq/metrics.hpp"
