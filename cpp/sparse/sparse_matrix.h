// Input-major ("column") layouts of a GGUF weight W[rows = out, cols = in] for activation-sparse matvecs.
//
// Lossless layout (docs/engine.md, "Sparse layouts"): the rows are cut into tiles of `tile` rows (128 for the
// 4/5/6-bit formats, 64 for Q8_0/F16/F32) and the columns into the format's own groups (32 inputs; 16 for Q6_K).
// Per tile, per group there is a scale panel (each row's scale, and min, in the file's own encoding: fp16 d / m,
// or the 6-bit sub-block scale and min bytes plus the fp16 super-block d / dmin for the K formats) and, per input
// column j, a quant column: the tile's quantised values of column j packed contiguously (64 bytes for 128 nibbles,
// or 64 int8), so one active column's slice of a tile is one 64-byte line and inactive columns are never read.
// Byte order: quant columns column-major, [column][tile][quants] (column j's slices of all tiles consecutive),
// scale panels [group][tile][rows]. The kernel walks the touched groups, and inside a group the tiles of its
// thread's range in order, so each active column is read as one sequential run of lines and inactive columns are
// whole runs never touched. Measured at 4096 x 11008 (1 thread, Q4_K / Q8_0) against the two orders tried before:
// [tile][column] (a tile's active lines scattered over cols * 64 bytes) stalled on DRAM latency at every
// sparsity, and [group][tile][column] (lines of neighbouring columns adjacent) read about as much time at s = 0.5
// as at s = 0 (the hardware prefetchers fetch the inactive neighbours); column runs track the ideal at s >= 0.5.
// Short Q6_K columns (few tiles: the FFN down matrix of small models) are walked in column passes instead (axpy.h):
// 8 active columns of a group over all the thread's tiles at a time, so memory sees a few long runs at once.
//
// Quant column packing (tile T = 128, 4-bit low part): byte 32h + b (h = 0, 1; b < 32) holds row 64h + b in its
// low nibble and row 64h + 32 + b in its high nibble. 5-bit: plus a high-bit plane of T/8 bytes per column (bit
// r%8 of byte r/8 is bit 4 of row r). 6-bit (Q6_K): plus a plane of T/4 = 32 bytes (bits 2k, 2k + 1 of byte b are
// bits 4-5 of row 32k + b, ggml's own qh order): the bits of 32 consecutive rows are one shift and one mask of the
// 32-byte plane, in row order (the first order, byte r/4 for row r, took a byte shuffle and two compares per 32 rows
// in the AVX2 kernel). 8-bit: byte r is row r (int8). F16 / F32: the values themselves.
//
// Decoding gives exactly gguf.quants.dequantize of the source (same float operations in the same order).
// Rows beyond `rows` in the last tile are padding (zero quants and zero scales) and are never returned.
//
// Reference layout (requant_q8_0): each column re-quantised as Q8_0 along `out` (blocks of 32 rows: fp16 d and 32
// int8). Simple, but it double-rounds the source values and reads ~8.5 bits per active weight.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/aligned_bytes.h"
#include "quant/types.h"

namespace pysparse {

enum class SparseLayout { lossless = 0, requant_q8_0 = 1 };

struct SparseMatrix {
    GGMLType type = GGMLType::F32;  // the source's type (requant_q8_0: the source it was made from)
    SparseLayout layout = SparseLayout::lossless;
    int64_t rows = 0, cols = 0;
    int tile = 0;          // rows per tile
    int group = 0;         // inputs per scale group (1 for F16/F32)
    int64_t n_tiles = 0;   // ceil(rows / tile)
    int64_t n_groups = 0;  // cols / group
    int lo_bytes = 0;      // bytes of one column's low-bits slice in one tile
    int hi_bytes = 0;      // bytes of one column's high-bits slice in one tile (Q5_x: T/8, Q6_K: T/4, else 0)
    int gs_elem = 0;       // bytes of one row's group scale (2: fp16 d; 1: 6-bit K scale (u8) or Q6_K scale (i8))
    int gm_elem = 0;       // bytes of one row's group min (2: fp16 m; 1: 6-bit K min), 0 if none
    int groups_per_super = 0;  // K formats: groups per 256-input super-block (8 or 16), else 0
    AlignedBytes lo;       // [column][tile][lo_bytes]
    AlignedBytes hi;       // [column][tile][hi_bytes]
    AlignedBytes gs;       // [group][tile][tile rows] group scales
    AlignedBytes gm;       // [group][tile][tile rows] group mins
    AlignedBytes sd;       // [super-block][tile][tile rows] fp16 super-block d (K formats)
    AlignedBytes sm;       // [super-block][tile][tile rows] fp16 super-block dmin (Q4_K, Q5_K)

    size_t nbytes() const { return lo.size() + hi.size() + gs.size() + gm.size() + sd.size() + sm.size(); }

    // Index of column j's slice in tile t (times lo_bytes / hi_bytes for a byte offset), and of group g's (or
    // super-block sb's) panel in tile t (times tile rows and the element size).
    size_t col_slice(int64_t t, int64_t j) const { return (size_t)j * n_tiles + t; }
    // Slices from one tile of a column to the next (column-major quant columns: 1).
    int64_t slice_step() const { return 1; }
    size_t panel(int64_t t, int64_t g) const { return (size_t)g * n_tiles + t; }
};

// Types the lossless layout supports.
bool sparse_layout_supports(GGMLType t);

// Repacks row-major GGUF data (rows * row_bytes(type, cols) bytes) into the lossless input-major layout.
// Throws ValueError on an unsupported type or a shape that does not fit the type's blocks.
SparseMatrix repack_input_major(GGMLType type, const void* data, int64_t rows, int64_t cols);

// The reference re-quantising layout: decodes the source exactly, then quantises each column as Q8_0 along out.
SparseMatrix repack_requant_q8_0(GGMLType type, const void* data, int64_t rows, int64_t cols);

// Dense float32 W[rows][cols] of the stored values (exact source values for the lossless layout).
void decode(const SparseMatrix& m, float* out);

// Row-major decode of GGUF data of a supported type, bit-exact with gguf.quants.dequantize (used by the repacker,
// the requant reference and the row-skip kernel's generic path). `row` points at one row of `cols` values.
void sparse_decode_row(GGMLType type, const void* row, int64_t cols, float* out);

// y[rows] = sum over j in idx of x[j] * W[:, j]. idx: n ascending, unique column indices in [0, cols) (checked:
// ValueError otherwise); x: cols floats (only x[idx[k]] is read). n = 0 gives y = 0. Threads split the tiles.
void sparse_matvec(const SparseMatrix& m, const float* x, const int32_t* idx, int64_t n, float* y);

// Both gate and up (same shape and type) in one pass over the active columns: per tile, each active column of
// gate and of up is read once. Same results as two sparse_matvec calls.
void fused_gate_up(const SparseMatrix& gate, const SparseMatrix& up, const float* x, const int32_t* idx, int64_t n,
                   float* y_gate, float* y_up);

// A batch of n tokens (prefill): Y[t][rows] = sparse_matvec of token t's x = X[t][cols] over its active columns
// idx[offsets[t], offsets[t + 1]) (each list checked as sparse_matvec checks it). Each token's outputs are bitwise
// its sparse_matvec's; the difference is traffic: blocks of tiles stay in L2 while every token runs over them, so
// the repacked weights are read from DRAM once per call, and the row-major source is never touched.
void sparse_matmul(const SparseMatrix& m, const float* X, int64_t n, const int64_t* offsets, const int32_t* idx,
                   float* Y);
// fused_gate_up for a batch, as sparse_matmul.
void fused_gate_up_matmul(const SparseMatrix& gate, const SparseMatrix& up, const float* X, int64_t n,
                          const int64_t* offsets, const int32_t* idx, float* Y_gate, float* Y_up);

// Row-skip over a row-major GGUF matrix: y[r] = dot(W[r, :], x) for r in rows_idx (ascending, unique, < rows;
// checked), y[r] = 0 for the other rows. Uses the dense kernels' dot_row (x quantised once as kernels/matvec.h
// says), so a listed row is bitwise the dense matvec's output. Threads split the listed rows.
void row_skip_matvec(GGMLType type, const void* data, int64_t rows, int64_t cols, const float* x,
                     const int32_t* rows_idx, int64_t n, float* y);

// Bytes the lossless kernel must read for `n_active` active columns spread over `groups_touched` groups
// (quant columns of the active inputs + the touched groups' scale panels): the layout's ideal traffic.
size_t sparse_bytes_touched(const SparseMatrix& m, int64_t n_active, int64_t groups_touched);

}  // namespace pysparse
