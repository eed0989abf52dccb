"""model2vec: fast static embedding models distilled from sentence-transformers.

`import model2vec` needs only numpy, tokenizers and safetensors; heavier dependencies are imported by
the subpackages that need them.
"""

from model2vec.model import StaticModel, quantize_model
from model2vec.quantization import DType
from model2vec.version import __version__

__all__ = ["DType", "StaticModel", "__version__", "quantize_model"]
