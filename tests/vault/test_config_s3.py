"""vault.toml ``[store] type = "s3"``: what is required, what is refused, and every error
names the file, the key and the reason (issue 17)."""

from __future__ import annotations

import pytest

from bulwark.vault.config import load_config
from bulwark.vault.errors import ConfigError

HEAD = "[server]\ninsecure = true\n[store]\n"
S3 = 'type = "s3"\nendpoint = "https://objects.internal:8443"\nbucket = "bulwark-vault"\n'


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    creds = tmp_path / "s3.toml"
    creds.write_text('access_key_id = "a"\nsecret_access_key = "b"\n')
    creds.chmod(0o600)
    (tmp_path / "ca.pem").write_text("x")

    def load(body: str):
        path = tmp_path / "vault.toml"
        path.write_text(HEAD + body)
        return load_config(path)

    return load


def test_full_s3_store(config, tmp_path):
    cfg = config(S3 + 'region = "eu-west-3"\ncredentials_file = "s3.toml"\npath_style = false\n'
                 'ca_bundle = "ca.pem"\nlock_step_days = 7\npath = "state"\n'
                 'heartbeat_seconds = 2.5\n')
    s3 = cfg.s3
    assert (s3.endpoint, s3.bucket, s3.region) == ("https://objects.internal:8443",
                                                   "bulwark-vault", "eu-west-3")
    assert s3.credentials_file == tmp_path / "s3.toml" and s3.ca_bundle == tmp_path / "ca.pem"
    assert s3.path_style is False and s3.lock_step_days == 7
    assert s3.heartbeat_seconds == 2.5 and s3.take_over is False  # only vaultd --take-over
    assert cfg.catalog_path == tmp_path / "state" / "catalog.sqlite"


def test_filesystem_store_is_the_default(config):
    assert config("").s3 is None
    assert config('type = "fs"\n').s3 is None


def test_credentials_from_the_environment(config, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "a")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "b")
    cfg = config(S3)
    assert cfg.s3.credentials_file is None and cfg.s3.path_style is True


@pytest.mark.parametrize(("body", "key", "reason"), [
    ('type = "gcs"\n', "store.type", 'must be "fs" or "s3"'),
    ('type = "s3"\nbucket = "b-1"\n', "store.endpoint", 'required with store.type = "s3"'),
    ('type = "s3"\nendpoint = "https://x"\n', "store.bucket", "required"),
    (S3.replace("https://objects.internal:8443", "objects.internal"), "store.endpoint",
     "must be an http:// or https:// URL"),
    (S3.replace("bulwark-vault", "Bulwark_Vault"), "store.bucket", "must be an S3 bucket name"),
    (S3 + 'credentials_file = "s3.toml"\npath_style = "yes"\n', "store.path_style",
     "must be true or false"),
    (S3 + 'credentials_file = "s3.toml"\nlock_step_days = 400\n', "store.lock_step_days",
     "between 0 and 365"),
    (S3 + 'credentials_file = "s3.toml"\nheartbeat_seconds = 0\n', "store.heartbeat_seconds",
     "between 0.5 and 600"),
    (S3 + 'credentials_file = "s3.toml"\nheartbeat_seconds = "10"\n',
     "store.heartbeat_seconds", "between 0.5 and 600"),
    (S3 + 'credentials_file = "missing.toml"\n', "store.credentials_file", "no such file"),
    (S3, "store.credentials_file", "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not in"),
    (S3 + 'credentials_file = "s3.toml"\nca_bundle = "nope.pem"\n', "store.ca_bundle",
     "no such file"),
    ('endpoint = "https://x"\n', "store.endpoint", 'applies only with store.type = "s3"'),
    (S3 + 'secret_access_key = "hunter2"\n', "store.secret_access_key",
     "S3 credentials never go in vault.toml"),
    (S3 + 'access_key = "AKIA"\n', "store.access_key", "never go in vault.toml"),
])
def test_errors_name_file_key_reason(config, tmp_path, body, key, reason):
    with pytest.raises(ConfigError) as info:
        config(body)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'vault.toml'}: {key}: "), message
    assert reason in message
