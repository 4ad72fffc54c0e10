#pragma once
// Delayed scaling (Transformer Engine's recipe, in our dequantization-scale convention): the
// scale for the next step comes from a rolling history of the amaxes seen in earlier steps.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "config.hpp"
#include "scale.hpp"

namespace fp8kit {

/// Which amax of the history a delayed_scaling scale comes from.
enum class amax_algo { max, most_recent };

/// Per-tensor delayed scaling for format F. update(amax) records the amax of the step that just
/// ran and returns the scale for the next one: scale_from_amax<F>(r, o) with r the max of the
/// last history_length() recorded amaxes (amax_algo::max) or the latest one (most_recent).
/// - amax == 0 (a layer that did not run) changes nothing and returns the current scale.
/// - A NaN or infinite amax changes nothing, returns the current scale and counts in skipped().
/// - A negative amax throws std::invalid_argument.
/// The scale is 1 until the first recorded amax.
/// Example (e4m3fn, history 4, max): update(2), 4, 1, 1, 1, 1, 1 return 2/448, 4/448, 4/448,
/// 4/448, 4/448, 1/448, 1/448 (the 4 leaves the window at the sixth update).
template <class F>
class delayed_scaling {
  static_assert(detail::is_minifloat_v<F>,
                "delayed_scaling<F>: F must be an fp8 type, "
                "bfloat16 or half");

 public:
  /// Throws std::invalid_argument for history_length == 0 or a non-finite margin.
  explicit delayed_scaling(std::size_t history_length = 1024, amax_algo algo = amax_algo::max,
                           float margin = 0)
      : delayed_scaling(history_length, algo, scale_options{margin, 1.0f, false}) {}

  /// The same with every scale option (e.g. pow2 scales). Throws std::invalid_argument for
  /// history_length == 0 or bad options.
  delayed_scaling(std::size_t history_length, amax_algo algo, scale_options o)
      : history_(history_length == 0 ? 1 : history_length, 0.0f), algo_(algo), options_(o) {
    if (history_length == 0) {
      throw std::invalid_argument("fp8kit::delayed_scaling: history length must be > 0");
    }
    detail::check_scale_options(o, "delayed_scaling");
  }

  /// Records `amax` and returns the new scale (see the class comment).
  float update(float amax) {
    const auto bits = detail::bit_cast<std::uint32_t>(amax);
    if ((bits & detail::float_abs_mask) >= detail::float_inf_bits) {
      ++skipped_;
      return scale_;
    }
    detail::check_amax(amax, "delayed_scaling::update");
    if ((bits & detail::float_abs_mask) == 0) return scale_;
    history_[next_] = amax;
    next_ = next_ + 1 == history_.size() ? 0 : next_ + 1;
    // Unused slots hold 0, which never wins a max over amaxes > 0.
    reduced_ = algo_ == amax_algo::max ? fp8kit::amax(history_.data(), history_.size()) : amax;
    scale_ = scale_from_amax<F>(reduced_, options_);
    return scale_;
  }

  /// The current scale (1 before the first recorded amax).
  float scale() const noexcept { return scale_; }
  /// The amax the current scale came from (0 before the first recorded amax).
  float reduced_amax() const noexcept { return reduced_; }
  /// How many NaN or infinite amaxes update() ignored.
  std::size_t skipped() const noexcept { return skipped_; }
  std::size_t history_length() const noexcept { return history_.size(); }
  amax_algo algo() const noexcept { return algo_; }
  const scale_options& options() const noexcept { return options_; }

  /// Forgets the history and the skipped count; the scale goes back to 1.
  void reset() noexcept {
    for (float& h : history_) h = 0.0f;
    next_ = 0;
    reduced_ = 0.0f;
    scale_ = 1.0f;
    skipped_ = 0;
  }

 private:
  std::vector<float> history_;  // ring buffer; history_[next_] is overwritten next
  std::size_t next_ = 0;
  amax_algo algo_;
  scale_options options_;
  float reduced_ = 0.0f;
  float scale_ = 1.0f;
  std::size_t skipped_ = 0;
};

}  // namespace fp8kit
