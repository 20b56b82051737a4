// Repacking row-major GGUF blocks into the input-major layouts of sparse_matrix.h.
// Each source row is first unpacked into its raw quant values (as stored: nibble | high bits, or int8) and its
// per-group scale fields (as stored: fp16 bits, 6-bit scale bytes); those are then scattered into the tile's
// quant columns and scale panels. No arithmetic touches the values, so the layout holds exactly the file's bits.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>


#include "common/error.h"
#include "quant/blocks.h"
#include "sparse/sparse_matrix.h"
#include "sparse/unpack.h"

namespace pysparse {

bool sparse_layout_supports(GGMLType t) { return type_traits(t).sparse; }

namespace {
using namespace sparse_detail;

// Which bits of a raw value go where: low 4 bits (or all 8) into lo, the rest into hi.
inline void put_quant(uint8_t* lo, uint8_t* hi, int bits, int r, uint8_t v) {
    if (bits == 8) {
        lo[r] = v;
        return;
    }
    const int h = r / 64, rr = r % 64;
    lo[32 * h + rr % 32] |= (uint8_t)((v & 0xF) << (4 * (rr / 32)));
    if (bits == 5) hi[r / 8] |= (uint8_t)(((v >> 4) & 1) << (r % 8));
    if (bits == 6) hi[r % 32] |= (uint8_t)(((v >> 4) & 3) << (2 * (r / 32)));
}

void check_shape(GGMLType type, int64_t rows, int64_t cols) {
    if (!sparse_layout_supports(type))
        throw ValueError(std::string("sparse layouts do not support type ") + type_traits(type).name +
                         " (supported: " + type_names([](const TypeTraits& t) { return t.sparse; }) + ")");
    if (rows <= 0 || cols <= 0) throw ValueError("shape must be positive, got rows=" + std::to_string(rows) +
                                                 " cols=" + std::to_string(cols));
    const int64_t bs = type_traits(type).block_size;
    if (cols % bs) throw ValueError("cols=" + std::to_string(cols) + " is not a multiple of " +
                                    type_traits(type).name + "'s block size " + std::to_string(bs));
    if (rows > (int64_t)1 << 30 || cols > (int64_t)1 << 30) throw ValueError("shape too large");
}

}  // namespace

SparseMatrix repack_input_major(GGMLType type, const void* data, int64_t rows, int64_t cols) {
    check_shape(type, rows, cols);
    SparseMatrix m;
    m.type = type;
    m.layout = SparseLayout::lossless;
    m.rows = rows;
    m.cols = cols;
    const TypeTraits tt = type_traits(type);
    const int bits = tt.bits;
    m.tile = bits <= 6 ? 128 : 64;
    const int T = m.tile;
    m.n_tiles = (rows + T - 1) / T;
    const size_t rb = row_bytes(type, cols);
    const uint8_t* src = static_cast<const uint8_t*>(data);

    if (bits >= 16) {  // plain floats: one column slice = the tile's values of that column
        m.group = 1;
        m.n_groups = cols;
        const int es = bits / 8;
        m.lo_bytes = T * es;
        m.lo = AlignedBytes((size_t)m.n_tiles * cols * m.lo_bytes);
        for (int64_t r = 0; r < rows; ++r) {
            const int64_t t = r / T, rr = r % T;
            const uint8_t* row = src + r * rb;
            for (int64_t j = 0; j < cols; ++j)
                std::memcpy(m.lo.data() + m.col_slice(t, j) * m.lo_bytes + rr * es, row + j * es, es);
        }
        return m;
    }

    const bool kfmt = tt.k_quant;
    m.group = tt.group;
    m.n_groups = cols / m.group;
    m.groups_per_super = kfmt ? 256 / m.group : 0;
    const int64_t n_super = kfmt ? cols / 256 : 0;
    m.lo_bytes = bits == 8 ? T : T / 2;
    m.hi_bytes = bits == 5 ? T / 8 : bits == 6 ? T / 4 : 0;
    m.gs_elem = kfmt ? 1 : 2;
    const bool has_min = tt.has_min;
    m.gm_elem = has_min ? m.gs_elem : 0;
    m.lo = AlignedBytes((size_t)m.n_tiles * cols * m.lo_bytes);
    if (m.hi_bytes) m.hi = AlignedBytes((size_t)m.n_tiles * cols * m.hi_bytes);
    m.gs = AlignedBytes((size_t)m.n_tiles * m.n_groups * T * m.gs_elem);
    if (m.gm_elem) m.gm = AlignedBytes((size_t)m.n_tiles * m.n_groups * T * m.gm_elem);
    if (kfmt) m.sd = AlignedBytes((size_t)m.n_tiles * n_super * T * 2);
    if (kfmt && has_min) m.sm = AlignedBytes((size_t)m.n_tiles * n_super * T * 2);

    RowFields f;
    f.q.resize(cols);
    f.gs.resize(m.n_groups);
    f.gm.resize(m.n_groups);
    f.sd.resize(n_super);
    f.sm.resize(n_super);
    for (int64_t r = 0; r < rows; ++r) {
        unpack_row(type, src + r * rb, cols, f);
        const int64_t t = r / T;
        const int rr = (int)(r % T);
        for (int64_t j = 0; j < cols; ++j) {
            const size_t cs = m.col_slice(t, j);
            put_quant(m.lo.data() + cs * m.lo_bytes, m.hi_bytes ? m.hi.data() + cs * m.hi_bytes : nullptr, bits, rr,
                      f.q[j]);
        }
        for (int64_t g = 0; g < m.n_groups; ++g) {
            const size_t at = m.panel(t, g) * T + rr;
            if (m.gs_elem == 2) std::memcpy(m.gs.data() + at * 2, &f.gs[g], 2);
            else m.gs.data()[at] = (uint8_t)f.gs[g];
            if (m.gm_elem == 2) std::memcpy(m.gm.data() + at * 2, &f.gm[g], 2);
            else if (m.gm_elem == 1) m.gm.data()[at] = (uint8_t)f.gm[g];
        }
        for (int64_t s = 0; s < n_super; ++s) {
            const size_t at = m.panel(t, s) * T + rr;
            std::memcpy(m.sd.data() + at * 2, &f.sd[s], 2);
            if (has_min) std::memcpy(m.sm.data() + at * 2, &f.sm[s], 2);
        }
    }
    return m;
}

SparseMatrix repack_requant_q8_0(GGMLType type, const void* data, int64_t rows, int64_t cols) {
    check_shape(type, rows, cols);
    SparseMatrix m;
    m.type = type;
    m.layout = SparseLayout::requant_q8_0;
    m.rows = rows;
    m.cols = cols;
    m.tile = 32;  // Q8_0 block along out
    m.group = 1;
    m.n_tiles = (rows + 31) / 32;
    m.n_groups = cols;
    const int64_t rp = m.n_tiles * 32;
    m.lo_bytes = (int)rp;  // a column's int8 values, all rows
    m.gs_elem = 2;
    m.lo = AlignedBytes((size_t)cols * rp);
    m.gs = AlignedBytes((size_t)cols * m.n_tiles * 2);
    // Decode the whole source, then quantise column blocks of 32 rows as gguf's Q8_0 does.
    std::vector<float> w((size_t)rows * cols);
    const size_t rb = row_bytes(type, cols);
    for (int64_t r = 0; r < rows; ++r)
        sparse_decode_row(type, static_cast<const uint8_t*>(data) + r * rb, cols, &w[(size_t)r * cols]);
    for (int64_t j = 0; j < cols; ++j)
        for (int64_t b = 0; b < m.n_tiles; ++b) {
            float amax = 0.f;
            for (int64_t r = b * 32; r < std::min(rows, b * 32 + 32); ++r) amax = std::max(amax, std::fabs(w[r * cols + j]));
            const float d = amax / 127.f, id = d != 0.f ? 1.f / d : 0.f;
            const fp16_t dh = fp32_to_fp16(d);
            std::memcpy(m.gs.data() + ((size_t)j * m.n_tiles + b) * 2, &dh, 2);
            int8_t* q = reinterpret_cast<int8_t*>(m.lo.data() + (size_t)j * rp + b * 32);
            for (int64_t r = b * 32; r < std::min(rows, b * 32 + 32); ++r)
                q[r - b * 32] = (int8_t)std::lround(w[r * cols + j] * id);
        }
    return m;
}

size_t sparse_bytes_touched(const SparseMatrix& m, int64_t n_active, int64_t groups_touched) {
    if (m.layout == SparseLayout::requant_q8_0) return (size_t)n_active * (m.lo_bytes + m.n_tiles * 2);
    size_t per_col = (size_t)m.n_tiles * (m.lo_bytes + m.hi_bytes);
    size_t per_group = (size_t)m.n_tiles * m.tile * (m.gs_elem + m.gm_elem);
    if (m.groups_per_super) per_group += (size_t)m.n_tiles * m.tile * (m.sm.size() ? 4 : 2) / m.groups_per_super;
    return per_col * n_active + per_group * groups_touched;
}

}  // namespace pysparse
