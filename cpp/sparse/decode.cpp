// Dense decode of the sparse layouts and of row-major GGUF rows, bit-exact with gguf.quants.dequantize.
// There is one decoder, quant/dequantize.cpp: a lossless layout's rows are put back together into their GGUF blocks
// (the bits the repack scattered, untouched: unpack.h's pack_row) and handed to it; the requant layout's columns are
// Q8_0 blocks along the rows. No float arithmetic happens here.
#include <cstring>
#include <vector>

#include "common/error.h"
#include "quant/blocks.h"
#include "quant/dequantize.h"
#include "sparse/sparse_matrix.h"
#include "sparse/unpack.h"

namespace pysparse {

namespace {

// Raw value of row r (within its tile) from one column's lo / hi slices.
inline uint8_t get_quant(const uint8_t* lo, const uint8_t* hi, int bits, int r) {
    if (bits == 8) return lo[r];
    const int h = r / 64, rr = r % 64;
    uint8_t v = (lo[32 * h + rr % 32] >> (4 * (rr / 32))) & 0xF;
    if (bits == 5) v |= (uint8_t)(((hi[r / 8] >> (r % 8)) & 1) << 4);
    if (bits == 6) v |= (uint8_t)(((hi[r % 32] >> (2 * (r / 32))) & 3) << 4);
    return v;
}

// Column j's 32-row blocks are Q8_0 blocks: its int8 values in lo, its fp16 scales in gs.
void decode_requant(const SparseMatrix& m, float* out) {
    const int64_t rp = m.lo_bytes;
    block_q8_0 blk;
    float v[QK8_0];
    for (int64_t j = 0; j < m.cols; ++j)
        for (int64_t b = 0; b < m.n_tiles; ++b) {
            std::memcpy(&blk.d, m.gs.data() + ((size_t)j * m.n_tiles + b) * 2, 2);
            std::memcpy(blk.qs, m.lo.data() + (size_t)j * rp + b * QK8_0, QK8_0);
            dequantize_row(GGMLType::Q8_0, &blk, v, QK8_0);
            for (int64_t r = b * QK8_0; r < m.rows && r < (b + 1) * QK8_0; ++r) out[r * m.cols + j] = v[r - b * QK8_0];
        }
}

// Row r's bytes as the GGUF file stores them, from the lossless layout.
void gather_row(const SparseMatrix& m, const TypeTraits& tt, int64_t r, sparse_detail::RowFields& f, uint8_t* row) {
    const int T = m.tile;
    const int64_t t = r / T;
    const int rr = (int)(r % T);
    if (tt.bits >= 16) {  // plain floats: a column slice holds the tile's values of that column
        const int es = tt.bits / 8;
        for (int64_t j = 0; j < m.cols; ++j)
            std::memcpy(row + j * es, m.lo.data() + m.col_slice(t, j) * m.lo_bytes + rr * es, es);
        return;
    }
    for (int64_t j = 0; j < m.cols; ++j) {
        const size_t cs = m.col_slice(t, j);
        f.q[j] = get_quant(m.lo.data() + cs * m.lo_bytes, m.hi_bytes ? m.hi.data() + cs * m.hi_bytes : nullptr,
                           tt.bits, rr);
    }
    for (int64_t g = 0; g < m.n_groups; ++g) {
        const size_t at = m.panel(t, g) * T + rr;
        if (m.gs_elem == 2) std::memcpy(&f.gs[g], m.gs.data() + at * 2, 2);
        else f.gs[g] = m.gs.data()[at];
        if (m.gm_elem == 2) std::memcpy(&f.gm[g], m.gm.data() + at * 2, 2);
        else if (m.gm_elem == 1) f.gm[g] = m.gm.data()[at];
    }
    for (size_t s = 0; s < f.sd.size(); ++s) {
        const size_t at = m.panel(t, (int64_t)s) * T + rr;
        std::memcpy(&f.sd[s], m.sd.data() + at * 2, 2);
        if (m.sm.size()) std::memcpy(&f.sm[s], m.sm.data() + at * 2, 2);
    }
    sparse_detail::pack_row(m.type, f, m.cols, row);
}

}  // namespace

void decode(const SparseMatrix& m, float* out) {
    if (m.layout == SparseLayout::requant_q8_0) return decode_requant(m, out);
    const TypeTraits tt = type_traits(m.type);
    std::vector<uint8_t> row(row_bytes(m.type, m.cols));
    sparse_detail::RowFields f;
    f.q.resize(m.cols);
    f.gs.assign(m.n_groups, 0);
    f.gm.assign(m.n_groups, 0);
    const int64_t n_super = m.groups_per_super ? m.n_groups / m.groups_per_super : 0;
    f.sd.assign(n_super, 0);
    f.sm.assign(n_super, 0);
    for (int64_t r = 0; r < m.rows; ++r) {
        gather_row(m, tt, r, f, row.data());
        dequantize_row(m.type, row.data(), out + r * m.cols, m.cols);
    }
}

void sparse_decode_row(GGMLType type, const void* row, int64_t cols, float* out) {
    if (!sparse_layout_supports(type)) throw ValueError("sparse_decode_row: unsupported type");
    dequantize_row(type, row, out, cols);
}

}  // namespace pysparse
