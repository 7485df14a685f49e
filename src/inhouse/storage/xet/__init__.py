"""The Xet storage formats, server side, without HTTP.

* :mod:`.hashing` -- MerkleHash and the keyed BLAKE3 hashes (chunk, xorb, file,
  verification, HMAC), hex in the API's word-swapped form.
* :mod:`.chunking` -- gear-hash content-defined chunking (vectorised, streaming).
* :mod:`.compression` -- per-chunk none / LZ4 / ByteGrouping4-LZ4.
* :mod:`.xorb` -- validate uploaded xorbs, build xorbs, read chunk ranges.
* :mod:`.shard` -- parse/validate/serialize shards, check them against xorbs.
* :mod:`.reconstruction` -- reconstruction JSON (v1 and v2) for byte ranges.
* :mod:`.dedup` -- global-dedup keys and HMAC-keyed dedup answers.

Everything raises :class:`XetFormatError` (a ``ValueError``) on bad input.
"""

from .chunking import Chunker, chunk_boundaries, iter_chunks
from .compression import CompressionScheme
from .dedup import build_dedup_response, eligible_chunk_hashes, is_dedup_key_hash
from .errors import XetFormatError
from .hashing import (
    MerkleHash,
    compute_chunk_hash,
    compute_file_hash,
    compute_verification_hash,
    compute_xorb_hash,
)
from .reconstruction import (
    RangeNotSatisfiable,
    Reconstruction,
    XorbLayout,
    plan_reconstruction,
)
from .shard import (
    FileInfo,
    FileSegment,
    Shard,
    ShardChunk,
    XorbEntry,
    check_shard_references,
    check_xorb_entry,
    parse_shard,
    serialize_shard,
)
from .xorb import (
    SerializedXorb,
    XorbBuilder,
    XorbInfo,
    XorbValidator,
    build_xorb,
    extract_chunk_range,
    validate_xorb,
)

__all__ = [
    "Chunker",
    "CompressionScheme",
    "FileInfo",
    "FileSegment",
    "MerkleHash",
    "RangeNotSatisfiable",
    "Reconstruction",
    "SerializedXorb",
    "Shard",
    "ShardChunk",
    "XetFormatError",
    "XorbBuilder",
    "XorbEntry",
    "XorbInfo",
    "XorbLayout",
    "XorbValidator",
    "build_dedup_response",
    "build_xorb",
    "check_shard_references",
    "check_xorb_entry",
    "chunk_boundaries",
    "compute_chunk_hash",
    "compute_file_hash",
    "compute_verification_hash",
    "compute_xorb_hash",
    "eligible_chunk_hashes",
    "extract_chunk_range",
    "is_dedup_key_hash",
    "iter_chunks",
    "parse_shard",
    "plan_reconstruction",
    "serialize_shard",
    "validate_xorb",
]
