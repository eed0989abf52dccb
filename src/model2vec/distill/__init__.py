"""Distill a static model from a sentence-transformer, transformers or ONNX teacher.

Importing this package is cheap: torch, transformers and onnxruntime are imported only when a teacher
that needs them is loaded (an ONNX teacher never imports torch).
"""

from model2vec.distill.distill import distill, distill_from_model
from model2vec.distill.teachers import Teacher, default_teacher_path, packaged_onnx_teacher

__all__ = ["Teacher", "default_teacher_path", "distill", "distill_from_model", "packaged_onnx_teacher"]
