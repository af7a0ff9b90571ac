// RMSNorm over the last dimension for CPU, forward and backward, fp32:
//
//   rstd[r] = 1 / sqrt(mean_d x[r, d]^2 + eps)      y[r, d] = x[r, d] * rstd[r] * w[d]
//   g = dy * w:  dx[r, d] = rstd[r] * (g[r, d] - x[r, d] * rstd[r]^2 * mean_d(g[r, d] * x[r, d]))
//   dw[d] = sum_r dy[r, d] * x[r, d] * rstd[r]
//
// Rows are contiguous (dim floats); tasks are ROWS consecutive rows, handed out dynamically (simd.h); dw is
// summed per task into a partial buffer that Python adds up in a fixed order. Row sums use W-lane vectors and a
// fixed reduction order, so results do not depend on the thread count.
//
// Called from Python through ctypes (kernels/cpu_norm.py mirrors NormArgs field by field).

#include <cmath>

#include "simd.h"

namespace {

constexpr int64_t ROWS = 256;

struct NormArgs {
  int64_t rows, dim, nthreads;
  double eps;
  const float* x;
  const float* w;
  float* y;
  float* rstd;     // (rows,)
  const float* dy;
  float* dx;
  float* dw_part;  // (ntasks, dim)
};

inline vf load_n(const float* p, int nv) {
  vf v = {};
  if (nv == W) std::memcpy(&v, p, sizeof(vf));
  else for (int l = 0; l < nv; ++l) v[l] = p[l];
  return v;
}

inline void store_n(float* p, vf v, int nv) {
  if (nv == W) std::memcpy(p, &v, sizeof(vf));
  else for (int l = 0; l < nv; ++l) p[l] = v[l];
}

inline float hsum(vf v) {
  float s = 0.f;
  for (int l = 0; l < W; ++l) s += v[l];
  return s;
}

struct ForwardTask {
  const NormArgs* a;
  void init() {}
  void operator()(int64_t task) {
    const NormArgs& A = *a;
    const int64_t D = A.dim;
    for (int64_t r = task * ROWS; r < std::min(A.rows, (task + 1) * ROWS); ++r) {
      const float* x = A.x + r * D;
      vf ss = {};
      for (int64_t d = 0; d < D; d += W) {
        const vf v = load_n(x + d, (int)std::min<int64_t>(W, D - d));
        ss += v * v;
      }
      const float rs = 1.0f / std::sqrt(hsum(ss) / (float)D + (float)A.eps);
      A.rstd[r] = rs;
      for (int64_t d = 0; d < D; d += W) {
        const int nv = (int)std::min<int64_t>(W, D - d);
        store_n(A.y + r * D + d, load_n(x + d, nv) * rs * load_n(A.w + d, nv), nv);
      }
    }
  }
};

struct BackwardTask {
  const NormArgs* a;
  void init() {}
  void operator()(int64_t task) {
    const NormArgs& A = *a;
    const int64_t D = A.dim;
    float* dw = A.dw_part + task * D;
    std::fill(dw, dw + D, 0.f);
    for (int64_t r = task * ROWS; r < std::min(A.rows, (task + 1) * ROWS); ++r) {
      const float* x = A.x + r * D;
      const float* dy = A.dy + r * D;
      const float rs = A.rstd[r];
      vf dot = {};
      for (int64_t d = 0; d < D; d += W) {
        const int nv = (int)std::min<int64_t>(W, D - d);
        const vf xv = load_n(x + d, nv), gv = load_n(dy + d, nv);
        dot += gv * load_n(A.w + d, nv) * xv;
        store_n(dw + d, load_n(dw + d, nv) + gv * xv * rs, nv);
      }
      const float c = rs * rs * hsum(dot) / (float)D;
      for (int64_t d = 0; d < D; d += W) {
        const int nv = (int)std::min<int64_t>(W, D - d);
        const vf g = load_n(dy + d, nv) * load_n(A.w + d, nv);
        store_n(A.dx + r * D + d, (g - load_n(x + d, nv) * c) * rs, nv);
      }
    }
  }
};

}  // namespace

extern "C" {

int64_t genomamba_norm_rows_per_task() { return ROWS; }

int genomamba_norm_fwd(const NormArgs* a) {
  ForwardTask task{a};
  parallel_for((a->rows + ROWS - 1) / ROWS, a->nthreads, task);
  return 0;
}

int genomamba_norm_bwd(const NormArgs* a) {
  BackwardTask task{a};
  parallel_for((a->rows + ROWS - 1) / ROWS, a->nthreads, task);
  return 0;
}

}  // extern "C"
