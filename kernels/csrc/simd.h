// Shared by the CPU kernels: the vector type (one register of W floats), vectorised exp/log/softplus/sigmoid
// on it, and a dynamic parallel_for over tasks. Compiled into each kernel library (anonymous namespace).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

#if defined(__AVX512F__)
constexpr int W = 16;
#else
constexpr int W = 8;
#endif
typedef float vf __attribute__((vector_size(W * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(W * sizeof(int32_t))));

inline vf splat(float x) { return vf{} + x; }

// exp with Cephes' polynomial on the reduced argument; inputs clamped to [-87, 88] (no inf/denormals).
inline vf vexp(vf x) {
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer kept in the low mantissa bits
  x = x < -87.0f ? splat(-87.0f) : x;
  x = x > 88.0f ? splat(88.0f) : x;
  vf t = x * 1.44269504088896341f + magic;
  vf k = t - magic;
  vi ki = (vi)t - (vi)splat(magic);
  vf r = x - k * 0.693359375f;
  r = r - k * -2.12194440e-4f;
  vf p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  vi two_k = (ki + 127) << 23;
  return p * (vf)two_k;
}

// 2^x for x <= 0 (the decay exp(delta*A) with A pre-scaled by log2(e)): 2^k * 2^f, f = x - round(x) in
// [-0.5, 0.5], 2^f by its degree-6 Taylor polynomial (truncation error < 1.3e-7 relative). Inputs below -126
// are clamped (result ~1e-38 instead of a denormal or 0). Fewer operations than vexp: this is the hot loop.
inline vf vexp2_nonpos(vf x) {
  const float magic = 12582912.0f;
  x = x < -126.0f ? splat(-126.0f) : x;
  vf t = x + magic;
  vf k = t - magic;
  vi ki = (vi)t - (vi)splat(magic);
  vf f = x - k;
  vf p = splat(1.5403530393381606e-4f);  // ln2^6/720
  p = p * f + 1.3333558146428443e-3f;     // ln2^5/120
  p = p * f + 9.6181291076284772e-3f;     // ln2^4/24
  p = p * f + 5.5504108664821580e-2f;     // ln2^3/6
  p = p * f + 2.4022650695910071e-1f;     // ln2^2/2
  p = p * f + 6.9314718055994531e-1f;     // ln2
  p = p * f + 1.0f;
  return p * (vf)((ki + 127) << 23);
}

// natural log for x >= 1 (Cephes logf polynomial).
inline vf vlog(vf x) {
  vi bits = (vi)x;
  vi e = ((bits >> 23) & 0xff) - 126;
  vf m = (vf)((bits & 0x007fffff) | 0x3f000000);  // mantissa in [0.5, 1)
  vf ef = __builtin_convertvector(e, vf);
  vi small = m < 0.707106781186547524f;
  ef = small ? ef - 1.0f : ef;
  m = small ? m + m - 1.0f : m - 1.0f;
  vf z = m * m;
  vf y = splat(7.0376836292e-2f);
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  y = y + ef * -2.12194440e-4f;
  y = y - 0.5f * z;
  return m + y + ef * 0.693359375f;
}

// softplus(v) = log1p(exp(v)), = v above 20 (as mamba-ssm); log1p via the accurate log(w)*e/(w-1) identity.
inline vf vsoftplus(vf v) {
  vf e = vexp(v > 20.0f ? splat(20.0f) : v);
  vf w = e + 1.0f;
  vf wm1 = w - 1.0f;
  vf lp = wm1 == 0.0f ? e : vlog(w) * e / (wm1 == 0.0f ? splat(1.0f) : wm1);
  return v > 20.0f ? v : lp;
}

inline vf vsigmoid(vf v) { return 1.0f / (1.0f + vexp(-v)); }

// Runs fn(i) for i in [0, ntasks) on up to nthreads threads; tasks are handed out one at a time (an atomic
// counter), so a thread that the OS deschedules delays at most the task it holds. Each thread works on its own
// copy of fn (per-thread scratch, set up by fn.init()).
template <class F>
void parallel_for(int64_t ntasks, int64_t nthreads, F&& fn) {
  int64_t nt = std::max<int64_t>(1, std::min(nthreads, ntasks));
  if (nt == 1) {
    fn.init();
    for (int64_t i = 0; i < ntasks; ++i) fn(i);
    return;
  }
  std::atomic<int64_t> next{0};
  auto work = [&]() {
    std::decay_t<F> local = fn;  // a per-thread copy (F may be a reference type): own scratch
    local.init();
    for (int64_t i; (i = next.fetch_add(1)) < ntasks;) local(i);
  };
  std::vector<std::thread> threads;
  for (int64_t t = 1; t < nt; ++t) threads.emplace_back(work);
  work();  // the calling thread is one of the workers
  for (auto& th : threads) th.join();
}

}  // namespace
