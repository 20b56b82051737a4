// Reference (portable C++) tile kernels of the input-sparse matvec. Per touched group: acc[r] = sum over the
// group's active columns of q[r][j] * x[j] (raw quant values), then the group's scale panel is applied once:
// y[r] += s[r] * (acc[r] - offset * xsum) (symmetric formats), s[r] * acc[r] + m[r] * xsum (formats with a min).
#include <cstring>

#include "quant/blocks.h"
#include "sparse/axpy.h"

namespace pysparse {
namespace sparse_detail {

namespace {

inline float h2f(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return fp16_to_fp32(h);
}

// col[r] = raw value of row r of one column slice (unsigned nibble | high bits; Q8_0 signed; F16/F32 the value).
template <Kind K>
inline void unpack_column(const uint8_t* lo, const uint8_t* hi, int T, float* col) {
    for (int r = 0; r < T; ++r) {
        if constexpr (K == Kind::q8_0) {
            col[r] = (float)(int8_t)lo[r];
        } else if constexpr (K == Kind::f16) {
            col[r] = h2f(lo + 2 * r);
        } else if constexpr (K == Kind::f32) {
            std::memcpy(&col[r], lo + 4 * r, 4);
        } else {
            const int h = r / 64, rr = r % 64;
            int v = (lo[32 * h + rr % 32] >> (4 * (rr / 32))) & 0xF;
            if constexpr (K == Kind::q5_0 || K == Kind::q5_1 || K == Kind::q5_k) v |= ((hi[r / 8] >> (r % 8)) & 1) << 4;
            if constexpr (K == Kind::q6_k) v |= ((hi[r % 32] >> (2 * (r / 32))) & 3) << 4;
            col[r] = (float)v;
        }
    }
}

// y[r] += the group's contribution, from its accumulated acc[r] and xsum.
template <Kind K>
inline void apply_panel(const SparseMatrix& m, int64_t t, const ActiveGroup& ag, const float* acc, float* yt) {
    const int T = m.tile;
    if constexpr (K == Kind::f16 || K == Kind::f32) {
        for (int r = 0; r < T; ++r) yt[r] += acc[r];
        return;
    } else {
        const size_t at = m.panel(t, ag.g) * T;
        const float xo = -(float)quant_offset(K) * ag.xsum;
        if constexpr (K == Kind::q4_k || K == Kind::q5_k || K == Kind::q6_k) {
            const size_t as = m.panel(t, ag.g / m.groups_per_super) * T;
            for (int r = 0; r < T; ++r) {
                const float d = h2f(m.sd.data() + (as + r) * 2);
                if constexpr (K == Kind::q6_k) {
                    const float s = d * (float)(int8_t)m.gs.data()[at + r];
                    yt[r] += s * (acc[r] + xo);
                } else {
                    const float s = d * (float)m.gs.data()[at + r];
                    const float dm = h2f(m.sm.data() + (as + r) * 2) * (float)m.gm.data()[at + r];
                    yt[r] += s * acc[r] - dm * ag.xsum;
                }
            }
        } else {
            for (int r = 0; r < T; ++r) {
                const float d = h2f(m.gs.data() + (at + r) * 2);
                if constexpr (K == Kind::q4_1 || K == Kind::q5_1)
                    yt[r] += d * acc[r] + h2f(m.gm.data() + (at + r) * 2) * ag.xsum;
                else
                    yt[r] += d * (acc[r] + xo);
            }
        }
    }
}

template <Kind K>
void tile_generic(const SparseMatrix& m, int64_t tb, int64_t te, const ActiveSet& a, float* y) {
    const int T = m.tile;
    float acc[128], col[128];
    for (int64_t r = 0; r < (te - tb) * T; ++r) y[r] = 0.f;
    for (const ActiveGroup& ag : a.groups) {
        for (int64_t t = tb; t < te; ++t) {
            for (int r = 0; r < T; ++r) acc[r] = 0.f;
            for (int32_t k = ag.begin; k < ag.end; ++k) {
                const size_t cs = m.col_slice(t, a.col[k]);
                unpack_column<K>(m.lo.data() + cs * m.lo_bytes, m.hi_bytes ? m.hi.data() + cs * m.hi_bytes : nullptr,
                                 T, col);
                const float x = a.xv[k];
                for (int r = 0; r < T; ++r) acc[r] += col[r] * x;
            }
            apply_panel<K>(m, t, ag, acc, y + (t - tb) * T);
        }
    }
}

// Re-quantised Q8_0 reference layout: column-major, tiles of 32 rows; each column block has its own fp16 scale.
void tile_requant(const SparseMatrix& m, int64_t tb, int64_t te, const ActiveSet& a, float* y) {
    for (int64_t r = 0; r < (te - tb) * 32; ++r) y[r] = 0.f;
    for (size_t k = 0; k < a.col.size(); ++k) {
        const int64_t j = a.col[k];
        for (int64_t t = tb; t < te; ++t) {
            const float xd = a.xv[k] * h2f(m.gs.data() + ((size_t)j * m.n_tiles + t) * 2);
            const int8_t* q = reinterpret_cast<const int8_t*>(m.lo.data() + (size_t)j * m.lo_bytes + t * 32);
            float* yt = y + (t - tb) * 32;
            for (int r = 0; r < 32; ++r) yt[r] += (float)q[r] * xd;
        }
    }
}

}  // namespace

constexpr SparseKernels kSparseGeneric = {
    TypeKernels<TileKernel>{}
        .with(GGMLType::Q4_0, tile_generic<Kind::q4_0>)
        .with(GGMLType::Q4_1, tile_generic<Kind::q4_1>)
        .with(GGMLType::Q5_0, tile_generic<Kind::q5_0>)
        .with(GGMLType::Q5_1, tile_generic<Kind::q5_1>)
        .with(GGMLType::Q8_0, tile_generic<Kind::q8_0>)
        .with(GGMLType::Q4_K, tile_generic<Kind::q4_k>)
        .with(GGMLType::Q5_K, tile_generic<Kind::q5_k>)
        .with(GGMLType::Q6_K, tile_generic<Kind::q6_k>)
        .with(GGMLType::F16, tile_generic<Kind::f16>)
        .with(GGMLType::F32, tile_generic<Kind::f32>),
    tile_requant,
};

}  // namespace sparse_detail
}  // namespace pysparse
