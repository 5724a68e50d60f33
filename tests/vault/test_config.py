"""vault.toml: defaults, path resolution, and errors that name file, key and reason."""

from __future__ import annotations

import pytest

from bulwark.vault.config import DEFAULT_MAX_MESSAGE_BYTES, load_config
from bulwark.vault.errors import ConfigError


def write(tmp_path, text: str):
    p = tmp_path / "vault.toml"
    p.write_text(text)
    return p


INSECURE = "[server]\ninsecure = true\n"


def test_mtls_is_required_unless_insecure_is_explicit(tmp_path):
    with pytest.raises(ConfigError, match=r"tls\.ca: required \(mTLS\)"):
        load_config(write(tmp_path, ""))
    cfg = load_config(write(tmp_path, '[tls]\nca = "c"\ncert = "s"\nkey = "k"\n'
                                      'revoked = ["0a:FF", "10"]\ncrl = "crl.pem"\n'))
    assert not cfg.insecure and cfg.tls.ca == tmp_path / "c"
    assert cfg.tls.revoked == {0x0AFF, 0x10} and cfg.tls.crl == tmp_path / "crl.pem"
    with pytest.raises(ConfigError, match="tls.revoked"):
        load_config(write(tmp_path, '[tls]\nca = "c"\ncert = "s"\nkey = "k"\nrevoked = ["zz"]'))
    with pytest.raises(ConfigError, match="server.insecure"):
        load_config(write(tmp_path, '[server]\ninsecure = "yes"\n'))


def test_defaults(tmp_path):
    cfg = load_config(write(tmp_path, INSECURE))
    assert cfg.insecure and cfg.tls is None
    assert (cfg.host, cfg.port) == ("127.0.0.1", 7443)
    assert cfg.listen == "127.0.0.1:7443"
    assert cfg.max_message_bytes == DEFAULT_MAX_MESSAGE_BYTES == 16 * 1024 * 1024
    assert cfg.store_path == tmp_path / "store"
    assert cfg.catalog_path == tmp_path / "store" / "catalog.sqlite"


def test_full(tmp_path):
    cfg = load_config(write(tmp_path, """
[server]
listen = "[::1]:0"
max_message_bytes = 2097152
insecure = true
[store]
path = "/srv/bulwark/store"
[catalog]
path = "db/cat.sqlite"
"""))
    assert (cfg.host, cfg.port, cfg.listen) == ("::1", 0, "[::1]:0")
    assert cfg.max_message_bytes == 2 * 1024 * 1024
    assert str(cfg.store_path) == "/srv/bulwark/store"
    assert cfg.catalog_path == tmp_path / "db" / "cat.sqlite"


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('[server]\nlisten = "localhost"', "server.listen", "host:port"),
        ('[server]\nlisten = "h:99999"', "server.listen", "0..65535"),
        ('[server]\nlisten = "::1:80"', "server.listen", "brackets"),
        ("[server]\nlisten = 7443", "server.listen", "must be a string"),
        ("[server]\nmax_message_bytes = 10", "server.max_message_bytes", "between"),
        ("[server]\nmax_message_bytes = true", "server.max_message_bytes", "must be an integer"),
        ('[server]\nport = 1\nbind = "x"', "server.bind, server.port", "unknown key"),
        ('[stroe]\npath = "x"', "stroe", "unknown table"),
        ('[store]\npath = ""', "store.path", "must not be empty"),
        ('store = "x"', "store", "must be a table"),
    ],
)
def test_errors_name_file_key_reason(tmp_path, text, key, reason):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert str(path) in msg and key in msg and reason in msg


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[server\n"))
