"""The distribution: a wheel that installs only under ``bulwark.*`` and whose console scripts
run, and a package list in pyproject.toml that names every package folder."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import venv
import zipfile

from tests.lib.paths import REPO

PACKAGE_ROOTS = {"bulwark.agent": "agent", "bulwark.vault": "vault", "bulwark.protos": "protos"}


def test_pyproject_lists_every_package_folder():
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["package-dir"] == PACKAGE_ROOTS
    found = set()
    for name, folder in PACKAGE_ROOTS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder).parts
            found.add(".".join((name, *rel)))
    assert set(tool["packages"]) == found


def test_wheel_installs_only_the_bulwark_namespace_and_its_scripts_run(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", tmp_path / "dist", REPO], check=True, timeout=300, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("bulwark_backup-*.whl")
    tops = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith((".dist-info", ".data"))} == {"bulwark"}
    # Dependencies come from this interpreter's site-packages; the wheel itself is fresh.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", wheel], check=True,
                   timeout=300, cwd=tmp_path)
    for script in ("vaultd", "vault-agent", "vaultctl"):
        done = subprocess.run([env_dir / "bin" / script, "--help"], capture_output=True,
                              text=True, timeout=60, cwd=tmp_path)
        assert done.returncode == 0, (script, done.stderr)
    where = subprocess.run(
        [py, "-c", "import bulwark.agent, bulwark.vault; print(bulwark.agent.__file__)"],
        capture_output=True, text=True, check=True, timeout=60, cwd=tmp_path).stdout
    assert str(env_dir) in where  # the installed copy, not the repository
