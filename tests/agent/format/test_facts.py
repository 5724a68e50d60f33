"""What sealing learns about a chunk, and that it never changes the blob."""

import os
import random

from bulwark.agent.format.blob import seal_chunk
from bulwark.agent.format.codec import TensorHint, encode_payload, encode_payload_facts
from bulwark.agent.format.constants import CODEC_RAW

ID_KEY = bytes(range(32))


def _bf16(rng: random.Random, n: int, exponents: range) -> bytes:
    out = bytearray()
    for _ in range(n):
        out += bytes((rng.randrange(256), (rng.randrange(2) << 7) | rng.choice(exponents)))
    return bytes(out)


def test_facts_leave_the_payload_and_blob_unchanged():
    data = b"words " * 5000
    hint = TensorHint(2, 0)
    for d, h in ((data, None), (data, hint), (os.urandom(10000), None)):
        assert encode_payload_facts(d, h)[0] == encode_payload(d, h)
        with_facts = seal_chunk(ID_KEY, d, h)
        without = seal_chunk(ID_KEY, d, h, with_facts=False)
        assert with_facts.blob == without.blob and without.facts is None


def test_noise_zeros_and_text():
    noise = encode_payload_facts(os.urandom(1 << 16))[1]
    assert noise.codec == CODEC_RAW and noise.entropy_mbit > 7900
    zeros = encode_payload_facts(bytes(1 << 16))[1]
    assert zeros.zero and zeros.entropy_mbit == -1 and zeros.payload_size < 100
    text = encode_payload_facts(b"a line of text\n" * 4000)[1]
    assert not text.zero and text.entropy_mbit == -1 and text.payload_size < 2000


def test_trained_exponents_are_concentrated_random_bits_are_not():
    rng = random.Random(1)
    trained = encode_payload_facts(_bf16(rng, 20000, range(0x3A, 0x3D)), TensorHint(2, 0))[1]
    noise = encode_payload_facts(os.urandom(40000), TensorHint(2, 0))[1]
    assert trained.exp_count == 20000 and trained.exp_entropy_mbit < 2000
    assert noise.exp_entropy_mbit > 6500
    assert abs(trained.exp_mean_milli - 0x3B * 1000) < 1000
