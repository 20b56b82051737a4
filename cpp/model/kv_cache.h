// KVCache: keys and values of every layer for positions [0, n_ctx), f32 (default: read without conversion) or f16
// entries (half the memory). Layout per layer
// [pos][n_head_kv * head_dim], so one position's heads are one contiguous write and a head's keys are a strided read.
#pragma once
#include <cstdint>
#include <vector>

#include "quant/blocks.h"

namespace pysparse {

enum class KVType { f32, f16 };

class KVCache {
public:
    KVCache() = default;
    KVCache(int64_t n_layer, int64_t n_ctx, int64_t k_width, int64_t v_width, KVType type);

    int64_t n_ctx() const { return n_ctx_; }
    KVType type() const { return type_; }
    size_t nbytes() const { return (type_ == KVType::f32 ? 4 : 2) * (k32_.size() + k16_.size() + v32_.size() + v16_.size()); }

    // Stores one position's keys and values of layer il.
    void store(int64_t il, int64_t pos, const float* k, const float* v);
    // A pointer to one position's key / value row (f32 or f16 by type()).
    const void* k_row(int64_t il, int64_t pos) const;
    const void* v_row(int64_t il, int64_t pos) const;
    // Entries from one position's value row to the next (rows of a layer are consecutive positions).
    int64_t v_row_stride() const { return v_width_; }

private:
    int64_t n_ctx_ = 0, k_width_ = 0, v_width_ = 0;
    KVType type_ = KVType::f16;
    std::vector<float> k32_, v32_;
    std::vector<fp16_t> k16_, v16_;
};

}  // namespace pysparse
