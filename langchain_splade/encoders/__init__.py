"""SPLADE encoders: pooling math, the model-backed encoder, inference-free queries."""

from langchain_splade.encoders.query import IdfQueryEncoder
from langchain_splade.encoders.splade import SpladeEncoder
from langchain_splade.encoders.windows import WindowPolicy

__all__ = ["IdfQueryEncoder", "SpladeEncoder", "WindowPolicy"]
