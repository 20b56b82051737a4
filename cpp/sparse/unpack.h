// Internal to cpp/sparse: one row-major GGUF row unpacked into raw quant values and scale fields (for the repack),
// and packed back into GGUF blocks (for decode, which hands them to quant/dequantize.cpp). Bits only, no arithmetic:
// pack_row(unpack_row(row)) is the row, for every bit pattern (test sparse_pack_row_inverts_unpack_row).
#pragma once
#include <cstring>
#include <vector>

#include "common/error.h"
#include "quant/blocks.h"
#include "quant/types.h"

namespace pysparse {
namespace sparse_detail {

// One source row, unpacked: raw quant values and the scale fields of each group / super-block.
struct RowFields {
    std::vector<uint8_t> q;     // [cols] raw value (unsigned nibble|high bits; Q8_0: int8 bits)
    std::vector<uint16_t> gs;   // [n_groups] fp16 d bits, or the 6-bit / int8 scale byte
    std::vector<uint16_t> gm;   // [n_groups] fp16 m bits, or the 6-bit min
    std::vector<uint16_t> sd;   // [n_super] fp16 d
    std::vector<uint16_t> sm;   // [n_super] fp16 dmin
};

inline void unpack_row(GGMLType type, const uint8_t* src, int64_t cols, RowFields& f) {
    switch (type) {
        case GGMLType::Q4_0: case GGMLType::Q4_1: {
            const bool has_m = type == GGMLType::Q4_1;
            const size_t bs = has_m ? sizeof(block_q4_1) : sizeof(block_q4_0);
            for (int64_t b = 0; b < cols / 32; ++b) {
                const uint8_t* blk = src + b * bs;
                std::memcpy(&f.gs[b], blk, 2);
                if (has_m) std::memcpy(&f.gm[b], blk + 2, 2);
                const uint8_t* qs = blk + (has_m ? 4 : 2);
                for (int l = 0; l < 16; ++l) {
                    f.q[b * 32 + l] = qs[l] & 0xF;
                    f.q[b * 32 + l + 16] = qs[l] >> 4;
                }
            }
            break;
        }
        case GGMLType::Q5_0: case GGMLType::Q5_1: {
            const bool has_m = type == GGMLType::Q5_1;
            const size_t bs = has_m ? sizeof(block_q5_1) : sizeof(block_q5_0);
            for (int64_t b = 0; b < cols / 32; ++b) {
                const uint8_t* blk = src + b * bs;
                std::memcpy(&f.gs[b], blk, 2);
                if (has_m) std::memcpy(&f.gm[b], blk + 2, 2);
                const uint8_t* qhp = blk + (has_m ? 4 : 2);
                uint32_t qh = (uint32_t)qhp[0] | (uint32_t)qhp[1] << 8 | (uint32_t)qhp[2] << 16 | (uint32_t)qhp[3] << 24;
                const uint8_t* qs = qhp + 4;
                for (int l = 0; l < 32; ++l) {
                    uint8_t lo = l < 16 ? (qs[l] & 0xF) : (qs[l - 16] >> 4);
                    f.q[b * 32 + l] = lo | (uint8_t)(((qh >> l) & 1) << 4);
                }
            }
            break;
        }
        case GGMLType::Q8_0: {
            for (int64_t b = 0; b < cols / 32; ++b) {
                const uint8_t* blk = src + b * sizeof(block_q8_0);
                std::memcpy(&f.gs[b], blk, 2);
                std::memcpy(&f.q[b * 32], blk + 2, 32);
            }
            break;
        }
        case GGMLType::Q4_K: case GGMLType::Q5_K: {
            const bool five = type == GGMLType::Q5_K;
            const size_t bs = five ? sizeof(block_q5_K) : sizeof(block_q4_K);
            for (int64_t b = 0; b < cols / 256; ++b) {
                const uint8_t* blk = src + b * bs;
                std::memcpy(&f.sd[b], blk, 2);
                std::memcpy(&f.sm[b], blk + 2, 2);
                const uint8_t* scales = blk + 4;
                const uint8_t* qh = five ? blk + 16 : nullptr;
                const uint8_t* qs = blk + (five ? 16 + 32 : 16);
                for (int s = 0; s < 8; ++s) {
                    uint8_t sc, mn;
                    get_scale_min_k4(s, scales, &sc, &mn);
                    f.gs[b * 8 + s] = sc;
                    f.gm[b * 8 + s] = mn;
                    // Sub-block s: nibble (s & 1) of bytes 32 * (s / 2) + l; Q5_K high bit: bit s of qh[l].
                    for (int l = 0; l < 32; ++l) {
                        uint8_t v = (qs[32 * (s / 2) + l] >> (4 * (s & 1))) & 0xF;
                        if (five) v |= (uint8_t)(((qh[l] >> s) & 1) << 4);
                        f.q[b * 256 + s * 32 + l] = v;
                    }
                }
            }
            break;
        }
        case GGMLType::Q6_K: {
            for (int64_t b = 0; b < cols / 256; ++b) {
                const block_q6_K* blk = reinterpret_cast<const block_q6_K*>(src + b * sizeof(block_q6_K));
                f.sd[b] = blk->d;
                for (int s = 0; s < 16; ++s) f.gs[b * 16 + s] = (uint8_t)blk->scales[s];
                // Element e = 128h + 32k + l (k < 4, l < 32): low nibble from ql[64h + 32(k & 1) + l] >> 4(k >> 1),
                // high 2 bits from qh[32h + l] >> 2k.
                for (int h = 0; h < 2; ++h)
                    for (int k = 0; k < 4; ++k)
                        for (int l = 0; l < 32; ++l) {
                            uint8_t lo = (blk->ql[64 * h + 32 * (k & 1) + l] >> (4 * (k >> 1))) & 0xF;
                            uint8_t hb = (blk->qh[32 * h + l] >> (2 * k)) & 3;
                            f.q[b * 256 + 128 * h + 32 * k + l] = lo | (uint8_t)(hb << 4);
                        }
            }
            break;
        }
        default:
            throw ValueError("unpack_row: unsupported type");
    }
}

// The inverse of unpack_row: the row's GGUF blocks (row_bytes(type, cols) bytes at dst) from its fields.
inline void pack_row(GGMLType type, const RowFields& f, int64_t cols, uint8_t* dst) {
    const TypeTraits tt = type_traits(type);
    std::memset(dst, 0, (size_t)(cols / tt.block_size) * tt.type_size);
    switch (type) {
        case GGMLType::Q4_0: case GGMLType::Q4_1: case GGMLType::Q5_0: case GGMLType::Q5_1: {
            const bool five = tt.bits == 5;
            for (int64_t b = 0; b < cols / 32; ++b) {
                uint8_t* blk = dst + b * tt.type_size;
                const uint8_t* q = &f.q[b * 32];
                std::memcpy(blk, &f.gs[b], 2);
                if (tt.has_min) std::memcpy(blk + 2, &f.gm[b], 2);
                uint8_t* p = blk + (tt.has_min ? 4 : 2);
                if (five) {
                    uint32_t qh = 0;
                    for (int l = 0; l < 32; ++l) qh |= (uint32_t)((q[l] >> 4) & 1) << l;
                    for (int i = 0; i < 4; ++i) p[i] = (uint8_t)(qh >> (8 * i));
                    p += 4;
                }
                for (int l = 0; l < 16; ++l) p[l] = (uint8_t)((q[l] & 0xF) | (q[l + 16] & 0xF) << 4);
            }
            break;
        }
        case GGMLType::Q8_0: {
            for (int64_t b = 0; b < cols / 32; ++b) {
                uint8_t* blk = dst + b * sizeof(block_q8_0);
                std::memcpy(blk, &f.gs[b], 2);
                std::memcpy(blk + 2, &f.q[b * 32], 32);
            }
            break;
        }
        case GGMLType::Q4_K: case GGMLType::Q5_K: {
            const bool five = type == GGMLType::Q5_K;
            for (int64_t b = 0; b < cols / 256; ++b) {
                uint8_t* blk = dst + b * tt.type_size;
                std::memcpy(blk, &f.sd[b], 2);
                std::memcpy(blk + 2, &f.sm[b], 2);
                uint8_t* qh = five ? blk + 16 : nullptr;
                uint8_t* qs = blk + (five ? 16 + 32 : 16);
                for (int s = 0; s < 8; ++s) {
                    put_scale_min_k4(s, (uint8_t)f.gs[b * 8 + s], (uint8_t)f.gm[b * 8 + s], blk + 4);
                    for (int l = 0; l < 32; ++l) {
                        const uint8_t v = f.q[b * 256 + s * 32 + l];
                        qs[32 * (s / 2) + l] |= (uint8_t)((v & 0xF) << (4 * (s & 1)));
                        if (five) qh[l] |= (uint8_t)(((v >> 4) & 1) << s);
                    }
                }
            }
            break;
        }
        case GGMLType::Q6_K: {
            for (int64_t b = 0; b < cols / 256; ++b) {
                block_q6_K* blk = reinterpret_cast<block_q6_K*>(dst + b * sizeof(block_q6_K));
                blk->d = f.sd[b];
                for (int s = 0; s < 16; ++s) blk->scales[s] = (int8_t)(uint8_t)f.gs[b * 16 + s];
                for (int h = 0; h < 2; ++h)
                    for (int k = 0; k < 4; ++k)
                        for (int l = 0; l < 32; ++l) {
                            const uint8_t v = f.q[b * 256 + 128 * h + 32 * k + l];
                            blk->ql[64 * h + 32 * (k & 1) + l] |= (uint8_t)((v & 0xF) << (4 * (k >> 1)));
                            blk->qh[32 * h + l] |= (uint8_t)(((v >> 4) & 3) << (2 * k));
                        }
            }
            break;
        }
        default:
            throw ValueError("pack_row: unsupported type");
    }
}

}  // namespace sparse_detail
}  // namespace pysparse
