"""Kafka's placement of keyed records, computed by switchboard_common.partitioning."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard_common.partitioning import KeyPartitioner, murmur2


def test_murmur2_gives_the_java_clients_value() -> None:
    # org.apache.kafka.common.utils.Utils.murmur2("21".getBytes()) is -973932308 (the Java client's own test)
    assert murmur2(b"21") == -973932308 & 0xFFFFFFFF


@settings(max_examples=500)
@given(st.binary(max_size=96))
def test_murmur2_agrees_with_aiokafkas_for_any_key(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data)


@given(st.binary(min_size=0, max_size=64), st.integers(min_value=1, max_value=64))
def test_a_keyed_record_goes_where_aiokafkas_default_partitioner_puts_it(key: bytes, count: int) -> None:
    partitions = list(range(count))
    expected = DefaultPartitioner()(key, partitions, partitions)
    partitioner = KeyPartitioner()
    assert partitioner(key, partitions, partitions) == expected
    assert partitioner(key, partitions, partitions) == expected  # remembered, the same answer


def test_the_remembered_hashes_stay_bounded_and_right() -> None:
    partitioner = KeyPartitioner(remembered=8)
    keys = [f"conversation-{n}".encode() for n in range(50)]
    for key in keys * 2:
        assert partitioner.hash_of(key) == aiokafka_murmur2(key) & 0x7FFFFFFF
        assert len(partitioner._hashes) <= 8


def test_an_unkeyed_record_goes_to_an_available_partition() -> None:
    partitioner = KeyPartitioner()
    assert {partitioner(None, [0, 1, 2, 3], [2]) for _ in range(20)} == {2}
    assert {partitioner(None, [0, 1, 2], []) for _ in range(200)} <= {0, 1, 2}
