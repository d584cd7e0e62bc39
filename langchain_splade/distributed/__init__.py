"""Bulk indexing on a Ray cluster: ``pip install 'langchain-splade[ray]'``.

Importing this package without Ray raises ``MissingDependencyError`` with that hint.
"""

from langchain_splade.distributed.encode import EncodedBatch, EncoderSpec, SpladeBatchEncoder
from langchain_splade.distributed.local_sink import LocalIndexDatasink
from langchain_splade.distributed.pipeline import (
    IndexReport,
    connect,
    index_dataset,
    records_dataset,
    sink_for,
)
from langchain_splade.distributed.records import check_unique, prepare_records
from langchain_splade.distributed.remote_sink import (
    ElasticsearchDatasink,
    OpenSearchDatasink,
    RemoteIndexDatasink,
)

__all__ = [
    "ElasticsearchDatasink",
    "EncodedBatch",
    "EncoderSpec",
    "IndexReport",
    "LocalIndexDatasink",
    "OpenSearchDatasink",
    "RemoteIndexDatasink",
    "SpladeBatchEncoder",
    "check_unique",
    "connect",
    "index_dataset",
    "prepare_records",
    "records_dataset",
    "sink_for",
]
