#!/usr/bin/env bash
# Regenerates the Python code for protos/bulwark/v1/*.proto. The only way generated
# code changes: never edit *_pb2*.py by hand. The tool version is pinned in
# pyproject.toml (grpcio-tools); tests/protos/test_generated_fresh.py fails on drift.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.}"
python -m grpc_tools.protoc -I . \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  protos/bulwark/v1/*.proto
