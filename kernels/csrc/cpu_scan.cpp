// Fused selective scan (Mamba S6) for CPU: forward and backward, linear time, nothing of size
// length x dim x state ever materialised.
//
// Layout of the work: a "tile" is W neighbouring channels of one B/C group, one lane per channel: W=16 (one
// AVX-512 register) where the compiler targets AVX-512F, else W=8 (one AVX2 register); GCC vector extensions
// keep the code portable (csrc/simd.h). The state x[n] of a tile is N vectors. Time is processed in blocks of
// `block` steps: the strided (batch, dim, length) inputs of a block are copied into small (step x lane)
// buffers, so any input strides (e.g. transposed views of (batch, length, dim) tensors) are read
// cache-friendly without copies of the whole tensor.
//
// Forward: per tile, scan all blocks, optionally saving the state at the start of every block (checkpoints,
// batch*dim*state*length/block floats). Backward: per tile, walk the blocks from last to first (in scan order),
// recompute the block's states from its checkpoint into an L2-sized buffer, then run the adjoint recurrence
// backwards. dB/dC are sums over channels: each task (batch, group, slab) owns a partial buffer, summed in a
// fixed order afterwards, so results are bitwise reproducible for a given thread count (no atomics).
//
// Called from Python through ctypes (kernels/cpu_scan.py mirrors ScanArgs field by field).

#include "simd.h"

namespace {

constexpr int MAX_STATE = 256;

struct ScanArgs {
  int64_t batch, dim, length, nstate, ngroups, block, nthreads, softplus, reverse, nslab;
  const float* u; int64_t u_sb, u_sd, u_sl;
  const float* delta; int64_t dt_sb, dt_sd, dt_sl;
  const float* z; int64_t z_sb, z_sd, z_sl;
  float* out; int64_t o_sb, o_sd, o_sl;
  const float* A;                       // (dim, nstate) contiguous
  const float* Bm; int64_t B_sb, B_sg, B_sn, B_sl;
  const float* Cm; int64_t C_sb, C_sg, C_sn, C_sl;
  const float* Dskip;                   // (dim,) or null
  const float* bias;                    // (dim,) or null
  const int64_t* seq; int64_t seq_sb, seq_sl;  // (batch, length) or null
  float* last_state;                    // (batch, dim, nstate) contiguous or null
  float* ckpt;                          // (batch, ntiles, nblocks, nstate, W) or null
  const float* dout; int64_t do_sb, do_sd, do_sl;
  const float* dlast;                   // (batch, dim, nstate) contiguous or null
  float* du; int64_t du_sb, du_sd, du_sl;
  float* ddelta; int64_t dd_sb, dd_sd, dd_sl;
  float* dz; int64_t dz_sb, dz_sd, dz_sl;
  float* dA_part;                       // (batch, dim, nstate)
  float* dD_part;                       // (batch, dim) or null
  float* dbias_part;                    // (batch, dim) or null
  float* dB_part;                       // (nslab, batch, ngroups, length, nstate)
  float* dC_part;
};


// out[i] += sum of the W lanes of v[i], for i < W: a transpose-and-add tree (W-1 adds, 2(W-1) shuffles)
// instead of W * (W-1) scalar adds. Level s (1, 2, 4, ..) merges pairs (x, y): within every 2s-lane block, "lo"
// takes x's first s lanes then y's first s, "hi" their second s lanes; lo + hi halves the partial sums per
// vector. After log2(W) levels lane i holds the full sum of v[i]. The order is fixed: results stay reproducible.
template <int S>
inline vi merge_mask(bool hi) {
  vi m;
  for (int i = 0; i < W; ++i) {
    const int blk = i / (2 * S) * (2 * S), r = i % (2 * S);
    m[i] = r < S ? blk + r + (hi ? S : 0) : W + blk + r - S + (hi ? S : 0);
  }
  return m;
}

template <int S>
inline void merge_level(vf* v, int count) {
  const vi lo = merge_mask<S>(false), hi = merge_mask<S>(true);
  for (int k = 0; k < count / 2; ++k)
    v[k] = __builtin_shuffle(v[2 * k], v[2 * k + 1], lo) + __builtin_shuffle(v[2 * k], v[2 * k + 1], hi);
}

inline void add_lane_sums(const vf* in, float* out) {
  vf v[W];
  for (int i = 0; i < W; ++i) v[i] = in[i];
  merge_level<1>(v, W);
  merge_level<2>(v, W / 2);
  merge_level<4>(v, W / 4);
  if constexpr (W == 16) merge_level<8>(v, 2);
  vf o;
  std::memcpy(&o, out, sizeof(vf));
  o += v[0];
  std::memcpy(out, &o, sizeof(vf));
}


// Geometry shared by forward and backward.
struct Geometry {
  int64_t dpg, tpg, ntiles, nblocks;  // channels per group, tiles per group, tiles in all, time blocks
  explicit Geometry(const ScanArgs& a) {
    dpg = a.dim / a.ngroups;
    tpg = (dpg + W - 1) / W;
    ntiles = tpg * a.ngroups;
    nblocks = (a.length + a.block - 1) / a.block;
  }
};

// (steps x lanes) copy of a strided tensor tile: buf[j][lane] = base[lane*s_d + pos[j]*s_l], zero beyond nv.
// When time is the inner stride, each lane's run of T steps is read contiguously: walking the W rows in
// lockstep instead (rows length*4 bytes apart, same cache set) thrashes L1/L2 and costs ~20x.
// ahead: offset (in steps) of the next block, whose lines are prefetched (rows are separate streams, more
// than the hardware prefetcher tracks).
inline void load_tile(const float* base, int64_t s_d, int64_t s_l, int nv, const int64_t* pos, int T, vf* buf,
                      int64_t ahead = 0) {
  if (s_l != 0 && std::abs(s_l) < std::abs(s_d)) {
    for (int j = 0; j < T; ++j) buf[j] = vf{};
    for (int l = 0; l < nv; ++l) {
      const float* p = base + l * s_d;
      for (int j = 0; j < T; ++j) buf[j][l] = p[pos[j] * s_l];
      if (ahead)
        for (int j = 0; j < T; j += 16) __builtin_prefetch(p + (pos[j] + ahead) * s_l);
    }
    return;
  }
  if (s_d == 1 && nv == W) {  // channels-last rows: one vector load per step
    for (int j = 0; j < T; ++j) std::memcpy(&buf[j], base + pos[j] * s_l, sizeof(vf));
    return;
  }
  for (int j = 0; j < T; ++j) {
    vf v = {};
    const float* p = base + pos[j] * s_l;
    for (int l = 0; l < nv; ++l) v[l] = p[l * s_d];
    buf[j] = v;
  }
}

inline void store_tile(float* base, int64_t s_d, int64_t s_l, int nv, const int64_t* pos, int T, const vf* buf) {
  if (std::abs(s_l) < std::abs(s_d)) {
    for (int l = 0; l < nv; ++l) {
      float* p = base + l * s_d;
      for (int j = 0; j < T; ++j) p[pos[j] * s_l] = buf[j][l];
    }
    return;
  }
  if (s_d == 1 && nv == W) {
    for (int j = 0; j < T; ++j) std::memcpy(base + pos[j] * s_l, &buf[j], sizeof(vf));
    return;
  }
  for (int j = 0; j < T; ++j) {
    float* p = base + pos[j] * s_l;
    for (int l = 0; l < nv; ++l) p[l * s_d] = buf[j][l];
  }
}

// Per-thread scratch; sized for one block.
struct Scratch {
  std::vector<vf> dt, v, u, z, dout, ys, du, ddt, dz, xs, as, gB, gC;
  std::vector<float> Bb, Cb;                // B, C of the block when they must be gathered
  std::vector<const float*> Bj, Cj;         // per step: the N values of B_t, C_t
  std::vector<int64_t> pos;
  std::vector<char> rst;
  int64_t ahead = 0;  // steps from a block's positions to the next block's (prefetch), set per direction
  void alloc(int64_t T, int64_t N, bool backward) {
    dt.resize(T); v.resize(T); u.resize(T); z.resize(T); dout.resize(T); ys.resize(T);
    Bb.resize(T * N); Cb.resize(T * N); Bj.resize(T); Cj.resize(T); pos.resize(T); rst.resize(T);
    if (backward) {
      du.resize(T); ddt.resize(T); dz.resize(T);
      xs.resize(T * N); as.resize(T * N); gB.resize(T * N); gC.resize(T * N);
    }
  }
};

// Everything about one (batch, tile) that does not change along time.
struct TileCtx {
  int64_t b, tile, g, d0;
  int nv;
  vf Av[MAX_STATE];   // A of the tile's channels, per state
  vf A2v[MAX_STATE];  // A * log2(e): decay = 2^(delta * A2)
  vf Dv, biasv;
};

inline void tile_ctx(const ScanArgs& a, const Geometry& geo, int64_t b, int64_t tile, TileCtx& c) {
  c.b = b;
  c.tile = tile;
  c.g = tile / geo.tpg;
  int64_t first = c.g * geo.dpg;
  c.d0 = first + (tile % geo.tpg) * W;
  c.nv = (int)std::min<int64_t>(W, first + geo.dpg - c.d0);
  for (int64_t n = 0; n < a.nstate; ++n) {
    vf av = {};
    for (int l = 0; l < c.nv; ++l) av[l] = a.A[(c.d0 + l) * a.nstate + n];
    c.Av[n] = av;
    c.A2v[n] = av * 1.44269504088896341f;
  }
  vf dv = {}, bv = {};
  for (int l = 0; l < c.nv; ++l) {
    if (a.Dskip) dv[l] = a.Dskip[c.d0 + l];
    if (a.bias) bv[l] = a.bias[c.d0 + l];
  }
  c.Dv = dv;
  c.biasv = bv;
}

// Load everything a block needs: positions, resets, delta (raw+bias in v, discretised in dt), u, z, B, C.
// order: +1 when blocks are processed first to last (forward), -1 last to first (backward).
inline int load_block(const ScanArgs& a, const TileCtx& c, int64_t k, Scratch& s, bool need_v, int order) {
  const int64_t L = a.length, N = a.nstate;
  const int64_t s0 = k * a.block;
  const int T = (int)std::min<int64_t>(a.block, L - s0);
  for (int j = 0; j < T; ++j) s.pos[j] = a.reverse ? L - 1 - (s0 + j) : s0 + j;
  const int64_t dir = a.reverse ? -1 : 1;
  for (int j = 0; j < T; ++j) {
    char r = 0;
    if (a.seq && s0 + j > 0) {
      const int64_t* sq = a.seq + c.b * a.seq_sb;
      r = sq[s.pos[j] * a.seq_sl] != sq[(s.pos[j] - dir) * a.seq_sl];
    }
    s.rst[j] = r;
  }
  s.ahead = order * (a.reverse ? -1 : 1) * a.block;  // where the next block to be processed lies
  load_tile(a.delta + c.b * a.dt_sb + c.d0 * a.dt_sd, a.dt_sd, a.dt_sl, c.nv, s.pos.data(), T, s.dt.data(), s.ahead);
  for (int j = 0; j < T; ++j) {
    vf raw = s.dt[j] + c.biasv;
    if (need_v) s.v[j] = raw;
    s.dt[j] = a.softplus ? vsoftplus(raw) : raw;
  }
  load_tile(a.u + c.b * a.u_sb + c.d0 * a.u_sd, a.u_sd, a.u_sl, c.nv, s.pos.data(), T, s.u.data(), s.ahead);
  if (a.z)
    load_tile(a.z + c.b * a.z_sb + c.d0 * a.z_sd, a.z_sd, a.z_sl, c.nv, s.pos.data(), T, s.z.data(), s.ahead);
  const float* Bp = a.Bm + c.b * a.B_sb + c.g * a.B_sg;
  const float* Cp = a.Cm + c.b * a.C_sb + c.g * a.C_sg;
  // time-major rows (state stride 1, the layout cpu_scan.py passes): point into them, no copy
  if (a.B_sn == 1 && a.C_sn == 1) {
    for (int j = 0; j < T; ++j) {
      s.Bj[j] = Bp + s.pos[j] * a.B_sl;
      s.Cj[j] = Cp + s.pos[j] * a.C_sl;
    }
    return T;
  }
  for (int j = 0; j < T; ++j) {
    s.Bj[j] = &s.Bb[j * N];
    s.Cj[j] = &s.Cb[j * N];
  }
  // loop order follows the inner stride (rows of a (state, length) tensor share cache sets: see load_tile)
  if (std::abs(a.B_sl) < std::abs(a.B_sn)) {
    for (int64_t n = 0; n < N; ++n)
      for (int j = 0; j < T; ++j) s.Bb[j * N + n] = Bp[n * a.B_sn + s.pos[j] * a.B_sl];
  } else {
    for (int j = 0; j < T; ++j)
      for (int64_t n = 0; n < N; ++n) s.Bb[j * N + n] = Bp[n * a.B_sn + s.pos[j] * a.B_sl];
  }
  if (std::abs(a.C_sl) < std::abs(a.C_sn)) {
    for (int64_t n = 0; n < N; ++n)
      for (int j = 0; j < T; ++j) s.Cb[j * N + n] = Cp[n * a.C_sn + s.pos[j] * a.C_sl];
  } else {
    for (int j = 0; j < T; ++j)
      for (int64_t n = 0; n < N; ++n) s.Cb[j * N + n] = Cp[n * a.C_sn + s.pos[j] * a.C_sl];
  }
  return T;
}

template <int NS>
struct ForwardTask {
  const ScanArgs* a;
  const Geometry* geo;
  Scratch s;
  TileCtx c;
  void init() { s.alloc(a->block, a->nstate, false); }
  void operator()(int64_t task) {
    const ScanArgs& A = *a;
    const int N = NS ? NS : (int)A.nstate;
    const int64_t b = task / geo->ntiles, tile = task % geo->ntiles;
    tile_ctx(A, *geo, b, tile, c);
    vf x[NS ? NS : MAX_STATE];
    for (int n = 0; n < N; ++n) x[n] = vf{};
    for (int64_t k = 0; k < geo->nblocks; ++k) {
      if (A.ckpt) {
        vf* ck = (vf*)A.ckpt + ((b * geo->ntiles + tile) * geo->nblocks + k) * N;
        for (int n = 0; n < N; ++n) ck[n] = x[n];
      }
      const int T = load_block(A, c, k, s, false, 1);
      for (int j = 0; j < T; ++j) {
        if (s.rst[j])
          for (int n = 0; n < N; ++n) x[n] = vf{};
        const vf dt = s.dt[j], uj = s.u[j], dtu = dt * uj;
        const float* Bj = s.Bj[j];
        const float* Cj = s.Cj[j];
        vf y0 = {}, y1 = {};  // two partial sums: halves the dependent FMA chain
#pragma GCC unroll 16
        for (int n = 0; n < N; n += 2) {
          x[n] = vexp2_nonpos(dt * c.A2v[n]) * x[n] + dtu * Bj[n];
          y0 += x[n] * Cj[n];
          if (n + 1 < N) {
            x[n + 1] = vexp2_nonpos(dt * c.A2v[n + 1]) * x[n + 1] + dtu * Bj[n + 1];
            y1 += x[n + 1] * Cj[n + 1];
          }
        }
        vf y = y0 + y1 + c.Dv * uj;
        if (A.z) {
          const vf zj = s.z[j];
          y *= zj * vsigmoid(zj);
        }
        s.ys[j] = y;
      }
      store_tile(A.out + b * A.o_sb + c.d0 * A.o_sd, A.o_sd, A.o_sl, c.nv, s.pos.data(), T, s.ys.data());
    }
    if (A.last_state)
      for (int l = 0; l < c.nv; ++l)
        for (int n = 0; n < N; ++n) A.last_state[(b * A.dim + c.d0 + l) * N + n] = x[n][l];
  }
};

template <int NS>
struct BackwardTask {
  const ScanArgs* a;
  const Geometry* geo;
  Scratch s;
  TileCtx c;
  void init() { s.alloc(a->block, a->nstate, true); }

  // task = (batch, group, slab): the tiles of the group whose index within the group is slab mod nslab.
  void operator()(int64_t task) {
    const ScanArgs& A = *a;
    const int64_t slab = task % A.nslab;
    const int64_t bg = task / A.nslab;
    const int64_t b = bg / A.ngroups, g = bg % A.ngroups;
    for (int64_t t = slab; t < geo->tpg; t += A.nslab) tile(b, g * geo->tpg + t, slab);
  }

  void tile(int64_t b, int64_t tl, int64_t slab) {
    const ScanArgs& A = *a;
    const int N = NS ? NS : (int)A.nstate;
    const int64_t L = A.length;
    tile_ctx(A, *geo, b, tl, c);
    vf h[NS ? NS : MAX_STATE], xstart[NS ? NS : MAX_STATE], dAacc[NS ? NS : MAX_STATE];
    const vf zero = {};
    for (int n = 0; n < N; ++n) {
      vf hv = {};
      if (A.dlast)
        for (int l = 0; l < c.nv; ++l) hv[l] = A.dlast[(b * A.dim + c.d0 + l) * N + n];
      h[n] = hv;
      dAacc[n] = vf{};
    }
    vf dDacc = {}, dbacc = {};
    float* dBp = A.dB_part + ((slab * A.batch + b) * A.ngroups + c.g) * L * N;
    float* dCp = A.dC_part + ((slab * A.batch + b) * A.ngroups + c.g) * L * N;
    for (int64_t k = geo->nblocks - 1; k >= 0; --k) {
      const int T = load_block(A, c, k, s, A.softplus != 0, -1);
      load_tile(A.dout + b * A.do_sb + c.d0 * A.do_sd, A.do_sd, A.do_sl, c.nv, s.pos.data(), T, s.dout.data(),
                s.ahead);
      // recompute the block's states from its checkpoint
      const vf* ck = (const vf*)A.ckpt + ((b * geo->ntiles + tl) * geo->nblocks + k) * N;
      vf x[NS ? NS : MAX_STATE];
      for (int n = 0; n < N; ++n) x[n] = xstart[n] = ck[n];
      for (int j = 0; j < T; ++j) {
        if (s.rst[j])
          for (int n = 0; n < N; ++n) x[n] = vf{};
        const vf dt = s.dt[j], dtu = dt * s.u[j];
        const float* Bj = s.Bj[j];
        const float* Cj = s.Cj[j];
        vf* xs = &s.xs[j * N];
        vf* as = &s.as[j * N];
        vf y = {};
        for (int n = 0; n < N; ++n) {
          const vf av = vexp2_nonpos(dt * c.A2v[n]);
          x[n] = av * x[n] + dtu * Bj[n];
          xs[n] = x[n];
          as[n] = av;
          y += x[n] * Cj[n];
        }
        s.ys[j] = y;
      }
      // adjoint recurrence, backwards through the block; h = dLoss/dx_j from the future
      for (int j = T - 1; j >= 0; --j) {
        const vf uj = s.u[j], dt = s.dt[j], dj = s.dout[j];
        vf gy = dj;
        if (A.z) {
          const vf zj = s.z[j];
          const vf sg = vsigmoid(zj);
          const vf yfull = s.ys[j] + c.Dv * uj;
          s.dz[j] = dj * yfull * sg * (1.0f + zj * (1.0f - sg));
          gy = dj * zj * sg;
        }
        dDacc += gy * uj;
        vf duj = gy * c.Dv;
        const vf dtu = dt * uj;
        const float* Bj = s.Bj[j];
        const float* Cj = s.Cj[j];
        const vf* xs = &s.xs[j * N];
        const vf* as = &s.as[j * N];
        const vf* xprev = s.rst[j] ? nullptr : (j > 0 ? &s.xs[(j - 1) * N] : xstart);
        vf* gB = &s.gB[j * N];
        vf* gC = &s.gC[j * N];
        vf ddt = {}, hb = {};
        for (int n = 0; n < N; ++n) {
          const vf hn = h[n] + gy * Cj[n];
          gC[n] = gy * xs[n];
          const vf xp = xprev ? xprev[n] : zero;
          const vf ga = hn * xp * as[n];  // dLoss/d(delta*A)
          ddt += ga * c.Av[n];
          dAacc[n] += ga * dt;
          hb += hn * Bj[n];
          gB[n] = hn * dtu;
          h[n] = hn * as[n];
        }
        if (s.rst[j])
          for (int n = 0; n < N; ++n) h[n] = vf{};
        ddt += hb * uj;
        duj += hb * dt;
        if (A.softplus) ddt *= vsigmoid(s.v[j]);
        dbacc += ddt;
        s.du[j] = duj;
        s.ddt[j] = ddt;
      }
      store_tile(A.du + b * A.du_sb + c.d0 * A.du_sd, A.du_sd, A.du_sl, c.nv, s.pos.data(), T, s.du.data());
      store_tile(A.ddelta + b * A.dd_sb + c.d0 * A.dd_sd, A.dd_sd, A.dd_sl, c.nv, s.pos.data(), T,
                 s.ddt.data());
      if (A.z)
        store_tile(A.dz + b * A.dz_sb + c.d0 * A.dz_sd, A.dz_sd, A.dz_sl, c.nv, s.pos.data(), T, s.dz.data());
      // channel sums for dB/dC (lanes beyond nv carry zeros: their dout and state are zero)
      for (int j = 0; j < T; ++j) {
        float* bRow = dBp + s.pos[j] * N;
        float* cRow = dCp + s.pos[j] * N;
        int n = 0;
        for (; n + W <= N; n += W) {
          add_lane_sums(&s.gB[j * N + n], bRow + n);
          add_lane_sums(&s.gC[j * N + n], cRow + n);
        }
        for (; n < N; ++n) {
          const vf gb = s.gB[j * N + n], gc = s.gC[j * N + n];
          float sb = 0.f, sc = 0.f;
          for (int l = 0; l < W; ++l) {
            sb += gb[l];
            sc += gc[l];
          }
          bRow[n] += sb;
          cRow[n] += sc;
        }
      }
    }
    for (int l = 0; l < c.nv; ++l) {
      const int64_t d = c.d0 + l;
      for (int n = 0; n < N; ++n) A.dA_part[(b * A.dim + d) * N + n] = dAacc[n][l];
      if (A.dD_part) A.dD_part[b * A.dim + d] = dDacc[l];
      if (A.dbias_part) A.dbias_part[b * A.dim + d] = dbacc[l];
    }
  }
};

}  // namespace

extern "C" {

int genomamba_scan_lanes() { return W; }
int genomamba_scan_max_state() { return MAX_STATE; }

int genomamba_scan_fwd(const ScanArgs* a) {
  if (a->nstate > MAX_STATE) return 1;
  Geometry geo(*a);
  if (a->nstate == 16) {
    ForwardTask<16> task{a, &geo, {}, {}};
    parallel_for(a->batch * geo.ntiles, a->nthreads, task);
  } else {
    ForwardTask<0> task{a, &geo, {}, {}};
    parallel_for(a->batch * geo.ntiles, a->nthreads, task);
  }
  return 0;
}

int genomamba_scan_bwd(const ScanArgs* a) {
  if (a->nstate > MAX_STATE || a->ckpt == nullptr) return 1;
  Geometry geo(*a);
  if (a->nstate == 16) {
    BackwardTask<16> task{a, &geo, {}, {}};
    parallel_for(a->batch * a->ngroups * a->nslab, a->nthreads, task);
  } else {
    BackwardTask<0> task{a, &geo, {}, {}};
    parallel_for(a->batch * a->ngroups * a->nslab, a->nthreads, task);
  }
  return 0;
}

}  // extern "C"
