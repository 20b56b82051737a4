"""The C++ engine (pysparse._core), wrapped with numpy in and out.

  gguf     GGUFFile: mmap'd GGUF reader (metadata, tensor table, zero-copy tensor views)
  quant    dequantize / quantize GGUF block formats
  kernels  dense matvec over GGUF-quantised weights; ISA selection and thread count
  sparse   top-p / top-k / max-p / threshold selection, input-major repacking, sparse matvecs
  model    Model: a GGUF model on the engine (logits, generate, chat, FFN sparsity, counters)
"""

from .._core import (  # noqa: F401
    GGUFError,
    PysparseError,
    active_isa,
    best_isa,
    num_threads,
    set_isa,
    set_num_threads,
    supported_isas,
)
from .gguf import GGUFFile, TensorInfo  # noqa: F401,E402
from .model import Model  # noqa: F401,E402
