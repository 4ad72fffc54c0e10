#pragma once
// Scaling: amax and scale selection (scale.hpp), per-channel (per_channel.hpp) and block-wise
// (blockwise.hpp) scales and quantization. Scales are dequantization scales (x ~= q * scale).
// MX (an E8M0 scale per 32 elements) is in mx.hpp, Transformer Engine's delayed scaling in
// delayed_scaling.hpp.

#include "blockwise.hpp"
#include "per_channel.hpp"
#include "scale.hpp"
