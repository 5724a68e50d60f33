"""CLI contract: help, usage errors and configuration errors exit 2 with a clear text."""

from __future__ import annotations

import subprocess

from tests.e2e.conftest import BIN


def run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60)


def test_help_lists_commands():
    for tool, words in (("vaultctl", ["init", "snapshots", "restore", "verify"]),
                        ("vault-agent", ["backup"]), ("vaultd", ["--config"])):
        result = run(BIN / tool, "--help")
        assert result.returncode == 0
        for word in words:
            assert word in result.stdout


def test_usage_errors_exit_2(tmp_path):
    assert run(BIN / "vaultctl", "frobnicate").returncode == 2
    assert run(BIN / "vaultctl", "restore").returncode == 2
    no_config = run(BIN / "vaultctl", "snapshots")
    assert no_config.returncode == 2 and "--config" in no_config.stderr


def test_bad_config_exits_2_naming_file_and_key(tmp_path):
    bad = tmp_path / "agent.toml"
    bad.write_text('[vault]\naddress = "127.0.0.1:1"\n[keys]\nfile = "k"\n[backup]\nworkers = -1\n')
    result = run(BIN / "vault-agent", "--config", bad, "backup", tmp_path)
    assert result.returncode == 2
    assert str(bad) in result.stderr and "workers" in result.stderr
    vault_bad = tmp_path / "vault.toml"
    vault_bad.write_text("[server]\nlisten = 5\n")
    result = run(BIN / "vaultd", "--config", vault_bad)
    assert result.returncode == 2 and str(vault_bad) in result.stderr and "listen" in result.stderr


def test_init_refuses_to_overwrite_a_site(tmp_path):
    first = run(BIN / "vaultctl", "init", tmp_path / "s", "--port", "7999")
    assert first.returncode == 0 and "tenant.key" in first.stdout
    key = (tmp_path / "s" / "tenant.key").read_bytes()
    assert (tmp_path / "s" / "tenant.key").stat().st_mode & 0o777 == 0o600
    again = run(BIN / "vaultctl", "init", tmp_path / "s")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert (tmp_path / "s" / "tenant.key").read_bytes() == key


def test_vault_unreachable_is_exit_1(tmp_path):
    run(BIN / "vaultctl", "init", tmp_path / "s", "--port", "1")
    result = run(BIN / "vaultctl", "--config", tmp_path / "s" / "agent.toml", "snapshots")
    assert result.returncode == 1 and "cannot reach the vault" in result.stderr


def test_backup_of_missing_path_exits_2_and_commits_nothing(site, tmp_path):
    result = site.agent("backup", tmp_path / "absent")
    assert result.code == 2 and "does not exist" in result.err
    assert site.ctl("snapshots", "--json").json() == []


def test_a_reader_that_stops_early_ends_the_listing_quietly(site, tmp_path):
    """``vaultctl snapshots | head -2``: exit 141 as coreutils under a shell, no traceback."""
    (tmp_path / "f").write_bytes(b"x")
    site.backup(tmp_path / "f")
    for extra in ([], ["--json"]):
        proc = subprocess.Popen([BIN / "vaultctl", "--config", site.operator_toml, "snapshots",
                                 *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.close()  # gone before the command writes its first line
        _, err = proc.communicate(timeout=60)
        assert (proc.returncode, err) == (141, b"")


def test_what_the_user_typed_wrong_exits_2_and_what_is_not_there_exits_1(site, tmp_path):
    target = tmp_path / "r"
    for args in (["restore", "3fa2Z", target], ["verify", ""], ["ls", "LATEST"],
                 ["diff", "latest", "x"], ["retention", "show", "g00d"], ["delete", "-"],
                 ["find", "*", "--snapshot", "last"], ["drill", "set:"]):
        got = site.ctl(*args)
        assert got.code == 2, (args, got.err)
        assert "argument SNAPSHOT" in got.err or "argument --snapshot" in got.err, got.err
    got = site.ctl("restore", "3fa2Z", target)
    assert "'3fa2Z' is not a snapshot reference: expected a full id, an id prefix" in got.err
    for args in (["restore", "latest", target, "--path", "/data/../etc"],
                 ["restore", "latest", target, "--path", "a\\qb"],
                 ["ls", "latest", "x//y"]):
        got = site.ctl(*args)
        assert got.code == 2 and ("--path" in got.err or "PATH" in got.err), (args, got.err)
    for args in (["restore", "0000", target], ["retention", "show", "0" * 64]):
        got = site.ctl(*args)
        assert got.code == 1 and "'0000" in got.err and "no snapshot" in got.err, got.err
    assert not target.exists()
    assert "vaultctl: error: vaultctl:" not in run(BIN / "vaultctl", "snapshots").stderr


def test_a_tls_key_that_is_not_the_certificates_is_named_with_both_files(tmp_path):
    run(BIN / "vaultctl", "init", tmp_path / "s", "--port", "1")
    pki = tmp_path / "s" / "pki"
    toml = tmp_path / "s" / "operator.toml"
    toml.write_text(toml.read_text().replace("operator-operator.key", "officer-officer.key"))
    result = run(BIN / "vaultctl", "--config", toml, "snapshots")
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f"vaultctl: error: {pki / 'officer-officer.key'}: [tls] key does "
                             f"not match the certificate {pki / 'operator-operator.crt'}: the "
                             "key's public half is not the one the certificate names; give the "
                             "key that was issued with this certificate\n")
