// Bit-exactness with gguf-py (numpy float32 math) needs every product rounded to float before it is added:
// a fused multiply-add would round once and give different bits. GCC contracts `a * b + c` into an FMA by default
// (-ffp-contract=fast under -std=gnu++17, and FMA is baseline on aarch64), clang within one expression.
// Include this first in a .cpp file whose float math must match numpy exactly; it turns contraction off for the
// functions defined after it in that file. It matters for the encoders (trunc(x * id + 8.5) differs for rare
// elements: test quantize_rounds_the_product_before_adding); the decoders' products are exact anyway.
#pragma once
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
