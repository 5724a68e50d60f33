"""Format checks: what each known format looks like, and what encryption leaves of it."""

import io
import json
import os
import struct
import tarfile

from bulwark.agent.signals.formats import detect


def _safetensors(header: dict, data: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def test_known_formats_are_recognised_and_sound():
    st = _safetensors({"w": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}}, bytes(8))
    assert detect(st[:4096], st[-16:], len(st)) == ("safetensors", True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        info = tarfile.TarInfo("a.txt")
        info.size = 3
        t.addfile(info, io.BytesIO(b"abc"))
    tar = buf.getvalue()
    assert detect(tar[:4096], tar[-16:], len(tar)) == ("tar", True)
    assert detect(b"PAR1xxxx", b"xxxxPAR1", 8000) == ("parquet", True)
    assert detect(b"PAR1xxxx", b"garbage!", 8000) == ("parquet", False)
    for magic, name in ((b"PK\x03\x04", "zip"), (b"\x93NUMPY", "npy"), (b"GGUF", "gguf"),
                        (b"ARROW1", "arrow")):
        assert detect(magic + bytes(60), b"", 64) == (name, True)
    assert detect(b'{"a": 1}', b"", 8, whole=b'{"a": 1}') == ("json", True)
    assert detect(b"plain words\n", b"", 12) == ("text", True)
    assert detect(b"", b"", 0) == ("empty", True)


def test_broken_structure_is_not_sound():
    st = _safetensors({"w": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 800]}}, bytes(8))
    assert detect(st[:4096], st[-16:], len(st)) == ("safetensors", False)  # past the end
    buf = bytearray(512)
    buf[257:262] = b"ustar"
    buf[148:156] = b"0000001\x00"  # wrong checksum
    assert detect(bytes(buf), b"", 512) == ("tar", False)
    assert detect(b'{"a": ', b"", 6, whole=b'{"a": ') == ("json", False)


def test_ciphertext_is_no_format():
    noise = os.urandom(4096)
    assert detect(noise, noise[-16:], 1 << 20) == ("", False)


def test_text_cut_inside_a_character_is_still_text():
    head = ("é" * 2048).encode()[:4095]  # ends in the middle of a two-byte character
    assert detect(head, b"", 1 << 20) == ("text", True)
