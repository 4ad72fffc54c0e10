// convert.hpp, exhaustively: all 2^32 float inputs to every alias in both saturation modes,
// scalar fp8kit::convert against the independent oracle (tests/support/reference.hpp), on two
// threads; then the same sweeps with DAZ+FTZ and with FE_UPWARD set in each worker thread.
// The oracle does no floating-point arithmetic, so all three environments must give its codes.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fp8kit/convert.hpp"
#include "fp8kit/fp8.hpp"
#include "support/formats.hpp"
#include "support/reference.hpp"

namespace {

using fp8kit::saturation;
using fp8kit_test::fp_mode;

constexpr unsigned thread_count = 2;
constexpr std::size_t chunk = std::size_t{1} << 18;  // inputs per work item (fits in L2)
constexpr std::uint64_t all_inputs = std::uint64_t{1} << 32;
constexpr int max_reported = 20;  // mismatches printed per sweep

template <class F>
void convert_chunk(std::uint32_t first, std::size_t n, saturation s, std::uint8_t* out) {
  for (std::size_t i = 0; i < n; ++i) {
    const float x = fp8kit_test::float_from_bits(static_cast<std::uint32_t>(first + i));
    out[i] = fp8kit::convert<F>(x, s).bits();
  }
}

// One alias in one saturation mode over all 2^32 inputs.
struct sweep {
  std::string alias;
  saturation s;
  void (*convert)(std::uint32_t, std::size_t, saturation, std::uint8_t*);
  fp8kit_test::reference_encoder oracle;
  std::atomic<std::uint64_t> mismatches{0};
  std::vector<std::string> reports;  // the first max_reported mismatches

  sweep(const std::string& a, saturation mode,
        void (*fn)(std::uint32_t, std::size_t, saturation, std::uint8_t*))
      : alias(a), s(mode), convert(fn), oracle(a, fp8kit_test::to_sat(mode)) {}
};

std::vector<std::unique_ptr<sweep>> make_sweeps(const std::vector<saturation>& modes) {
  std::vector<std::unique_ptr<sweep>> sweeps;
  fp8kit_test::every_format::for_each([&](auto f) {
    using F = decltype(f);
    for (const auto s : modes) {
      sweeps.push_back(std::make_unique<sweep>(fp8kit_test::alias_name<F>(), s, &convert_chunk<F>));
    }
  });
  return sweeps;
}

// CPU time of the calling thread: with other jobs on the cores, wall time overstates the cost.
double thread_cpu_seconds() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
#else
  return 0;  // not measured
#endif
}

struct run_stats {
  double seconds = 0;
  double cpu_seconds = 0;          // summed over the worker threads
  double convert_cpu_seconds = 0;  // of which in fp8kit::convert
  std::uint64_t conversions = 0;
  bool environment_active = true;
};

// Runs every sweep over all inputs on thread_count threads, each in environment `env`.
run_stats run_sweeps(std::vector<std::unique_ptr<sweep>>& sweeps, fp_mode env) {
  const std::uint64_t chunks_per_sweep = all_inputs / chunk;
  const std::uint64_t total = chunks_per_sweep * sweeps.size();
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> env_ok{true};
  std::mutex report_mutex;
  double cpu_total = 0;
  double convert_total = 0;

  auto worker = [&] {
    const double cpu_start = thread_cpu_seconds();
    double convert_cpu = 0;
    const fp8kit_test::scoped_fp_mode mode(env);  // MXCSR and rounding mode are per thread
    if (!mode.active()) env_ok = false;
    std::vector<std::uint8_t> expected(chunk);
    std::vector<std::uint8_t> got(chunk);
    for (std::uint64_t item = next++; item < total; item = next++) {
      sweep& w = *sweeps[item / chunks_per_sweep];
      const auto first = static_cast<std::uint32_t>((item % chunks_per_sweep) * chunk);
      w.oracle.encode_range(first, chunk, expected.data());
      const double t0 = thread_cpu_seconds();
      w.convert(first, chunk, w.s, got.data());
      convert_cpu += thread_cpu_seconds() - t0;
      if (std::memcmp(expected.data(), got.data(), chunk) == 0) continue;
      std::uint64_t bad = 0;
      for (std::size_t i = 0; i < chunk; ++i) {
        if (expected[i] == got[i]) continue;
        ++bad;
        const std::lock_guard<std::mutex> lock(report_mutex);
        if (w.reports.size() < max_reported) {
          char line[160];
          std::snprintf(line, sizeof line, "%s %s: input 0x%08x -> 0x%02x, oracle 0x%02x",
                        w.alias.c_str(), w.s == saturation::finite ? "finite" : "none",
                        static_cast<unsigned>(first + i), unsigned(got[i]), unsigned(expected[i]));
          w.reports.emplace_back(line);
        }
      }
      w.mismatches += bad;
    }
    const std::lock_guard<std::mutex> lock(report_mutex);
    cpu_total += thread_cpu_seconds() - cpu_start;
    convert_total += convert_cpu;
  };

  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < thread_count; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  run_stats stats;
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stats.cpu_seconds = cpu_total;
  stats.convert_cpu_seconds = convert_total;
  stats.conversions = total * chunk;
  stats.environment_active = env_ok;
  return stats;
}

void check_sweeps(const std::vector<std::unique_ptr<sweep>>& sweeps, fp_mode env,
                  const run_stats& stats) {
  ASSERT_TRUE(stats.environment_active)
      << fp8kit_test::fp_mode_name(env) << " could not be set in the worker threads";
  for (const auto& w : sweeps) {
    std::string list;
    for (const auto& r : w->reports) list += "\n  " + r;
    EXPECT_EQ(w->mismatches.load(), 0u)
        << w->alias << " " << (w->s == saturation::finite ? "finite" : "none") << " in the "
        << fp8kit_test::fp_mode_name(env) << " environment; first mismatches:" << list;
  }
  const double n = double(stats.conversions);
  std::printf(
      "[ stats    ] %s: %llu conversions on %u threads: %.1f s wall, %.1f s CPU; "
      "fp8kit::convert %.3f ns per conversion (CPU), oracle and checks %.3f ns\n",
      fp8kit_test::fp_mode_name(env), static_cast<unsigned long long>(stats.conversions),
      thread_count, stats.seconds, stats.cpu_seconds, stats.convert_cpu_seconds * 1e9 / n,
      (stats.cpu_seconds - stats.convert_cpu_seconds) * 1e9 / n);
}

void sweep_every_alias_and_mode(fp_mode env) {
  auto sweeps = make_sweeps({saturation::none, saturation::finite});
  const run_stats stats = run_sweeps(sweeps, env);
  check_sweeps(sweeps, env, stats);
}

TEST(ConvertExhaustive, EveryFloatMatchesTheOracleForEveryAliasAndMode) {
  sweep_every_alias_and_mode(fp_mode::standard);
}

TEST(ConvertExhaustive, EveryFloatGivesTheSameCodesWithDazAndFtz) {
  sweep_every_alias_and_mode(fp_mode::daz_ftz);
}

TEST(ConvertExhaustive, EveryFloatGivesTheSameCodesRoundingUpward) {
  sweep_every_alias_and_mode(fp_mode::upward);
}

}  // namespace
