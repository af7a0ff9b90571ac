// Depthwise causal conv1d + SiLU for CPU, forward and backward, in the channels-last (batch, length, dim)
// layout the Mamba mixer produces (channel stride 1; any batch and time strides, e.g. half of in_proj's output).
//
//   pre[t, d] = bias[d] + sum_{j=0..K-1} w[d, K-1-j] * x[t - j*dir, d]      out = silu(pre)
//
// dir = +1 (taps from the past) or -1 (reverse: taps from the future). A tap is dropped when it leaves [0, L)
// or crosses a boundary of seq_idx (a change of label between neighbours). Positions are handled in "scan
// order" p (p = t forward, p = L-1-t reverse), so reverse is the same code with mirrored row addresses.
//
// Work is split into tasks of CHUNK positions of one batch row, handed out dynamically (simd.h parallel_for).
// Backward recomputes pre (K FMAs) instead of saving it, and writes dw/dbias per task into partial buffers
// that Python sums in a fixed order: results do not depend on the thread count or on scheduling.
//
// Called from Python through ctypes (kernels/cpu_conv.py mirrors ConvArgs field by field).

#include "simd.h"

namespace {

constexpr int MAX_WIDTH = 16;  // conv taps (mamba uses 4)

struct ConvArgs {
  int64_t batch, length, dim, width, nthreads, reverse, chunk;
  const float* x; int64_t x_sb, x_sl;
  const float* w;                    // (dim, width) contiguous
  const float* bias;                 // (dim,) or null
  const int64_t* seq; int64_t seq_sb, seq_sl;  // (batch, length) or null
  float* out; int64_t o_sb, o_sl;    // forward: silu(pre)
  const float* dout; int64_t do_sb, do_sl;
  float* dx; int64_t dx_sb, dx_sl;
  float* dw_part;                    // (ntasks, dim, width)
  float* dbias_part;                 // (ntasks, dim) or null
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

struct Rows {
  const ConvArgs* a;
  int64_t b;
  int64_t row(int64_t p) const { return a->reverse ? a->length - 1 - p : p; }
  // taps usable at scan position p: how many earlier positions (scan order) share p's segment, at most K-1
  int reach_from(int64_t p, int prev) const {
    if (p == 0) return 0;
    if (a->seq) {
      const int64_t* s = a->seq + b * a->seq_sb;
      if (s[row(p) * a->seq_sl] != s[row(p - 1) * a->seq_sl]) return 0;
    }
    return std::min<int>(prev + 1, (int)a->width - 1);
  }
  // reach at p computed from scratch (looks back at most K-1 positions)
  int reach_at(int64_t p) const {
    int r = 0;
    for (int64_t q = std::max<int64_t>(0, p - (a->width - 1)); q <= p; ++q) r = reach_from(q, r);
    return r;
  }
  const float* x(int64_t p) const { return a->x + b * a->x_sb + row(p) * a->x_sl; }
};

// Transposed taps: wt[k * dim + d] = w[d, k]: one vector load per (tap, channel tile).
inline void transpose_taps(const ConvArgs& a, std::vector<float>& wt) {
  wt.assign(a.width * a.dim, 0.f);
  for (int64_t d = 0; d < a.dim; ++d)
    for (int64_t k = 0; k < a.width; ++k) wt[k * a.dim + d] = a.w[d * a.width + k];
}

// pre-activation of one channel tile at scan position p with `reach` usable past taps
inline vf pre_act(const ConvArgs& a, const Rows& rows, const float* wt, int64_t p, int reach, int64_t d0, int nv) {
  const int K = (int)a.width;
  vf acc = a.bias ? load_n(a.bias + d0, nv) : vf{};
  for (int j = 0; j <= reach; ++j)
    acc += load_n(wt + (K - 1 - j) * a.dim + d0, nv) * load_n(rows.x(p - j) + d0, nv);
  return acc;
}

struct ForwardTask {
  const ConvArgs* a;
  int64_t nchunks;
  std::vector<float> wt;
  void init() { transpose_taps(*a, wt); }
  void operator()(int64_t task) {
    const ConvArgs& A = *a;
    const Rows rows{a, task / nchunks};
    const int64_t p0 = (task % nchunks) * A.chunk, p1 = std::min(A.length, p0 + A.chunk);
    int reach = p0 > 0 ? rows.reach_at(p0 - 1) : 0;
    for (int64_t p = p0; p < p1; ++p) {
      reach = rows.reach_from(p, reach);
      float* o = A.out + rows.b * A.o_sb + rows.row(p) * A.o_sl;
      for (int64_t d0 = 0; d0 < A.dim; d0 += W) {
        const int nv = (int)std::min<int64_t>(W, A.dim - d0);
        const vf v = pre_act(A, rows, wt.data(), p, reach, d0, nv);
        store_n(o + d0, v * vsigmoid(v), nv);
      }
    }
  }
};

struct BackwardTask {
  const ConvArgs* a;
  int64_t nchunks;
  std::vector<float> wt, g;  // g: dLoss/dpre for positions [p0, p1 + K - 1), row-major (position, dim)
  std::vector<int> reach;
  void init() {
    transpose_taps(*a, wt);
    g.resize((a->chunk + a->width) * a->dim);
    reach.resize(a->chunk + a->width);
  }
  void operator()(int64_t task) {
    const ConvArgs& A = *a;
    const int K = (int)A.width;
    const Rows rows{a, task / nchunks};
    const int64_t p0 = (task % nchunks) * A.chunk, p1 = std::min(A.length, p0 + A.chunk);
    const int64_t pe = std::min(A.length, p1 + K - 1);  // dx at p needs dpre up to p + K - 1
    float* dw = A.dw_part + task * A.dim * K;
    float* db = A.dbias_part ? A.dbias_part + task * A.dim : nullptr;
    std::fill(dw, dw + A.dim * K, 0.f);
    if (db) std::fill(db, db + A.dim, 0.f);
    int r = p0 > 0 ? rows.reach_at(p0 - 1) : 0;
    for (int64_t p = p0; p < pe; ++p) {
      r = rows.reach_from(p, r);
      reach[p - p0] = r;
      const float* go = A.dout + rows.b * A.do_sb + rows.row(p) * A.do_sl;
      float* gp = &g[(p - p0) * A.dim];
      const bool own = p < p1;  // dw, dbias of this position belong to this task
      for (int64_t d0 = 0; d0 < A.dim; d0 += W) {
        const int nv = (int)std::min<int64_t>(W, A.dim - d0);
        const vf v = pre_act(A, rows, wt.data(), p, r, d0, nv);
        const vf sg = vsigmoid(v);
        const vf gv = load_n(go + d0, nv) * sg * (1.0f + v * (1.0f - sg));
        store_n(gp + d0, gv, nv);
        if (!own) continue;
        if (db) store_n(db + d0, load_n(db + d0, nv) + gv, nv);
        for (int j = 0; j <= r; ++j) {
          float* dwk = dw + (K - 1 - j) * A.dim + d0;  // (width, dim) per task, transposed back in Python
          store_n(dwk, load_n(dwk, nv) + gv * load_n(rows.x(p - j) + d0, nv), nv);
        }
      }
    }
    // dx[p] = sum_j w[K-1-j] * dpre[p + j], over the taps of p + j that reach back to p
    for (int64_t p = p0; p < p1; ++p) {
      float* o = A.dx + rows.b * A.dx_sb + rows.row(p) * A.dx_sl;
      for (int64_t d0 = 0; d0 < A.dim; d0 += W) {
        const int nv = (int)std::min<int64_t>(W, A.dim - d0);
        vf acc = {};
        for (int j = 0; j < K && p + j < pe; ++j)
          if (reach[p + j - p0] >= j)
            acc += load_n(wt.data() + (K - 1 - j) * A.dim + d0, nv) * load_n(&g[(p + j - p0) * A.dim + d0], nv);
        store_n(o + d0, acc, nv);
      }
    }
  }
};

}  // namespace

extern "C" {

int genomamba_conv_max_width() { return MAX_WIDTH; }

int genomamba_conv_fwd(const ConvArgs* a) {
  if (a->width < 1 || a->width > MAX_WIDTH || a->chunk < 1) return 1;
  const int64_t nchunks = (a->length + a->chunk - 1) / a->chunk;
  ForwardTask task{a, nchunks, {}};
  parallel_for(a->batch * nchunks, a->nthreads, task);
  return 0;
}

int genomamba_conv_bwd(const ConvArgs* a) {
  if (a->width < 1 || a->width > MAX_WIDTH || a->chunk < 1) return 1;
  const int64_t nchunks = (a->length + a->chunk - 1) / a->chunk;
  BackwardTask task{a, nchunks, {}, {}, {}};
  parallel_for(a->batch * nchunks, a->nthreads, task);
  return 0;
}

}  // extern "C"
