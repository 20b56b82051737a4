// Dense decode of the sparse layouts and of row-major GGUF rows, bit-exact with gguf.quants.dequantize.
// The value formulas repeat numpy's float32 operations in the same order; FMA contraction is switched off in
// this file so that e.g. Q4_K's `s * q - dm` rounds twice, as numpy does (aarch64 compilers contract by default).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <cstring>

#include "common/error.h"
#include "quant/blocks.h"
#include "sparse/sparse_matrix.h"
#include "sparse/unpack.h"

namespace pysparse {

namespace {

inline float h2f(uint16_t h) { return fp16_to_fp32(h); }

// One weight from its raw quant value q and its fields: gs/gm per group, sd/sm per super-block.
inline float weight_value(GGMLType type, uint8_t q, uint16_t gs, uint16_t gm, uint16_t sd, uint16_t sm) {
    switch (type) {
        case GGMLType::Q4_0: return h2f(gs) * (float)((int)q - 8);
        case GGMLType::Q5_0: return h2f(gs) * (float)((int)q - 16);
        case GGMLType::Q4_1: case GGMLType::Q5_1: {
            float t = h2f(gs) * (float)q;
            return t + h2f(gm);
        }
        case GGMLType::Q8_0: return (float)(int8_t)q * h2f(gs);
        case GGMLType::Q4_K: case GGMLType::Q5_K: {
            float s = h2f(sd) * (float)gs;
            float dm = h2f(sm) * (float)gm;
            float t = s * (float)q;
            return t - dm;
        }
        case GGMLType::Q6_K: {
            float s = h2f(sd) * (float)(int8_t)gs;
            return s * (float)((int)q - 32);
        }
        default: throw ValueError("weight_value: unsupported type");
    }
}

// Raw value of row r (within its tile) from one column's lo / hi slices.
inline uint8_t get_quant(const uint8_t* lo, const uint8_t* hi, int bits, int r) {
    if (bits == 8) return lo[r];
    const int h = r / 64, rr = r % 64;
    uint8_t v = (lo[32 * h + rr % 32] >> (4 * (rr / 32))) & 0xF;
    if (bits == 5) v |= (uint8_t)(((hi[r / 8] >> (r % 8)) & 1) << 4);
    if (bits == 6) v |= (uint8_t)(((hi[r / 4] >> (2 * (r % 4))) & 3) << 4);
    return v;
}

void decode_requant(const SparseMatrix& m, float* out) {
    const int64_t rp = m.lo_bytes;
    for (int64_t j = 0; j < m.cols; ++j)
        for (int64_t r = 0; r < m.rows; ++r) {
            uint16_t dh;
            std::memcpy(&dh, m.gs.data() + ((size_t)j * m.n_tiles + r / 32) * 2, 2);
            out[r * m.cols + j] = (float)(int8_t)m.lo.data()[(size_t)j * rp + r] * h2f(dh);
        }
}

}  // namespace

void decode(const SparseMatrix& m, float* out) {
    if (m.layout == SparseLayout::requant_q8_0) return decode_requant(m, out);
    const int T = m.tile;
    if (m.type == GGMLType::F32 || m.type == GGMLType::F16) {
        for (int64_t r = 0; r < m.rows; ++r)
            for (int64_t j = 0; j < m.cols; ++j) {
                const uint8_t* p = m.lo.data() + m.col_slice(r / T, j) * m.lo_bytes;
                if (m.type == GGMLType::F32) std::memcpy(&out[r * m.cols + j], p + (r % T) * 4, 4);
                else {
                    uint16_t h;
                    std::memcpy(&h, p + (r % T) * 2, 2);
                    out[r * m.cols + j] = h2f(h);
                }
            }
        return;
    }
    const int bits = type_traits(m.type).bits;
    const int64_t n_super = m.groups_per_super ? m.n_groups / m.groups_per_super : 0;
    for (int64_t r = 0; r < m.rows; ++r) {
        const int64_t t = r / T;
        const int rr = (int)(r % T);
        for (int64_t j = 0; j < m.cols; ++j) {
            const int64_t g = j / m.group;
            const size_t cs = m.col_slice(t, j);
            const uint8_t* lo = m.lo.data() + cs * m.lo_bytes;
            const uint8_t* hi = m.hi_bytes ? m.hi.data() + cs * m.hi_bytes : nullptr;
            const size_t at = m.panel(t, g) * T + rr;
            uint16_t gs = 0, gm = 0, sd = 0, sm = 0;
            if (m.gs_elem == 2) std::memcpy(&gs, m.gs.data() + at * 2, 2);
            else gs = m.gs.data()[at];
            if (m.gm_elem == 2) std::memcpy(&gm, m.gm.data() + at * 2, 2);
            else if (m.gm_elem == 1) gm = m.gm.data()[at];
            if (n_super) {
                const size_t as = m.panel(t, g / m.groups_per_super) * T + rr;
                std::memcpy(&sd, m.sd.data() + as * 2, 2);
                if (m.sm.size()) std::memcpy(&sm, m.sm.data() + as * 2, 2);
            }
            out[r * m.cols + j] = weight_value(m.type, get_quant(lo, hi, bits, rr), gs, gm, sd, sm);
        }
    }
}

void sparse_decode_row(GGMLType type, const void* row, int64_t cols, float* out) {
    if (type == GGMLType::F32) {
        std::memcpy(out, row, cols * 4);
        return;
    }
    if (type == GGMLType::F16) {
        const uint8_t* p = static_cast<const uint8_t*>(row);
        for (int64_t j = 0; j < cols; ++j) {
            uint16_t h;
            std::memcpy(&h, p + 2 * j, 2);
            out[j] = h2f(h);
        }
        return;
    }
    using namespace sparse_detail;
    const bool kfmt = type_traits(type).k_quant;
    const int group = type_traits(type).group;
    RowFields f;
    f.q.resize(cols);
    f.gs.assign(cols / group, 0);
    f.gm.assign(cols / group, 0);
    f.sd.assign(kfmt ? cols / 256 : 0, 0);
    f.sm.assign(kfmt ? cols / 256 : 0, 0);
    unpack_row(type, static_cast<const uint8_t*>(row), cols, f);
    for (int64_t j = 0; j < cols; ++j) {
        const int64_t g = j / group, s = j / 256;
        out[j] = weight_value(type, f.q[j], f.gs[g], f.gm[g], kfmt ? f.sd[s] : 0, kfmt ? f.sm[s] : 0);
    }
}

}  // namespace pysparse
