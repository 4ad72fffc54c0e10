#pragma once
// Umbrella header: every public header of fp8kit.

#include "bulk.hpp"
#include "config.hpp"
#include "convert.hpp"
#include "delayed_scaling.hpp"
#include "format.hpp"
#include "fp8.hpp"
#include "half.hpp"
#include "mx.hpp"
#include "scaling.hpp"
#include "version.hpp"
