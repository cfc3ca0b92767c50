"""Which partition a keyed record goes to: Kafka's own rule (murmur2 of the key), computed cheaply.

Every client must place a key where the Java client would (co-partitioned topics, other producers),
so the rule is Kafka's: ``(murmur2(key) & 0x7fffffff) % partitions``. aiokafka computes murmur2 byte by
byte in Python for every record; here the key's 32-bit words are read in one call, and the hashes of
recent keys are remembered (a conversation's records all carry its id), which matters when every
message is written once or twice by each service.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
HASHES_REMEMBERED = 16_384
"""Keys whose hash is kept (about 100 bytes each); the whole memory is dropped when it is full."""


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (``org.apache.kafka.common.utils.Utils.murmur2``) of ``data``, as an unsigned 32-bit int."""
    length = len(data)
    h = _SEED ^ length
    words = length // 4
    for k in struct.unpack_from(f"<{words}I", data):
        k = (k * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    tail = length & 3
    if tail:
        rest = words * 4
        if tail == 3:
            h ^= data[rest + 2] << 16
        if tail >= 2:
            h ^= data[rest + 1] << 8
        h = ((h ^ data[rest]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


class KeyPartitioner:
    """aiokafka's partitioner interface with Kafka's default rule: a keyed record by murmur2, an unkeyed one
    anywhere available. One instance serves every producer of a process (``AIOKafkaProducer(partitioner=...)``).
    """

    def __init__(self, remembered: int = HASHES_REMEMBERED) -> None:
        self._remembered = remembered
        self._hashes: dict[bytes, int] = {}

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int] | None) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        return all_partitions[self.hash_of(key) % len(all_partitions)]

    def hash_of(self, key: bytes) -> int:
        """The key's murmur2 with the sign bit cleared, as Kafka uses it to place records."""
        hashes = self._hashes
        found = hashes.get(key)
        if found is None:
            if len(hashes) >= self._remembered:
                hashes.clear()
            found = hashes[key] = murmur2(key) & 0x7FFFFFFF
        return found


PARTITIONER = KeyPartitioner()
"""The process's partitioner: every producer and every caller that needs a key's partition shares its memory."""
