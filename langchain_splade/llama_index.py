"""``from langchain_splade.llama_index import SpladeLlamaIndexRetriever`` (extra ``llamaindex``)."""

from langchain_splade.integrations.llama_index import SpladeLlamaIndexRetriever

__all__ = ["SpladeLlamaIndexRetriever"]
