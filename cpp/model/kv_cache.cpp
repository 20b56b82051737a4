#include "model/kv_cache.h"

namespace pysparse {

KVCache::KVCache(int64_t n_layer, int64_t n_ctx, int64_t k_width, int64_t v_width, KVType type)
    : n_ctx_(n_ctx), k_width_(k_width), v_width_(v_width), type_(type) {
    const size_t nk = static_cast<size_t>(n_layer) * n_ctx * k_width, nv = static_cast<size_t>(n_layer) * n_ctx * v_width;
    if (type == KVType::f32) {
        k32_.assign(nk, 0.0f);
        v32_.assign(nv, 0.0f);
    } else {
        k16_.assign(nk, 0);
        v16_.assign(nv, 0);
    }
}

void KVCache::store(int64_t il, int64_t pos, const float* k, const float* v) {
    const size_t ik = (static_cast<size_t>(il) * n_ctx_ + pos) * k_width_;
    const size_t iv = (static_cast<size_t>(il) * n_ctx_ + pos) * v_width_;
    if (type_ == KVType::f32) {
        for (int64_t i = 0; i < k_width_; ++i) k32_[ik + i] = k[i];
        for (int64_t i = 0; i < v_width_; ++i) v32_[iv + i] = v[i];
    } else {
        for (int64_t i = 0; i < k_width_; ++i) k16_[ik + i] = fp32_to_fp16(k[i]);
        for (int64_t i = 0; i < v_width_; ++i) v16_[iv + i] = fp32_to_fp16(v[i]);
    }
}

const void* KVCache::k_row(int64_t il, int64_t pos) const {
    const size_t i = (static_cast<size_t>(il) * n_ctx_ + pos) * k_width_;
    return type_ == KVType::f32 ? static_cast<const void*>(&k32_[i]) : static_cast<const void*>(&k16_[i]);
}

const void* KVCache::v_row(int64_t il, int64_t pos) const {
    const size_t i = (static_cast<size_t>(il) * n_ctx_ + pos) * v_width_;
    return type_ == KVType::f32 ? static_cast<const void*>(&v32_[i]) : static_cast<const void*>(&v16_[i]);
}

}  // namespace pysparse
