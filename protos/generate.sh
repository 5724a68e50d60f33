#!/usr/bin/env bash
# Regenerates the Python code for protos/bulwark/v1/*.proto. The only way generated
# code changes: never edit *_pb2*.py by hand. The tool version is pinned in
# pyproject.toml (grpcio-tools); tests/protos/test_generated_fresh.py fails on drift.
#
# Installed, protos/ is the package bulwark.protos (pyproject.toml [tool.setuptools]), so
# protoc must see the files at bulwark/protos/...: a staging folder links that name to this
# folder, and the generated imports read "from bulwark.protos.bulwark.v1 import ...".
# Usage: protos/generate.sh [OUT]   (OUT gets protos/bulwark/v1/*; default: this repository)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
out="$(cd "${1:-.}" && pwd)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/in/bulwark" "$stage/out"
ln -s "$root/protos" "$stage/in/bulwark/protos"
(cd "$stage/in" && python -m grpc_tools.protoc -I . \
  --python_out="$stage/out" --pyi_out="$stage/out" --grpc_python_out="$stage/out" \
  bulwark/protos/bulwark/v1/*.proto)
mkdir -p "$out/protos/bulwark/v1"
cp "$stage/out/bulwark/protos/bulwark/v1/"* "$out/protos/bulwark/v1/"
