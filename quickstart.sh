#!/usr/bin/env bash
# Bulwark in one go, on the embedded default: a local site, vaultd on loopback, a backup
# of generated model weights and dataset shards, the snapshot list, a restore, a
# byte-for-byte comparison, a verify and a restore drill. Usage: ./quickstart.sh [WORKDIR]
# (give WORKDIR to keep the site and its data afterwards)
set -euo pipefail
cd "$(dirname "$0")"
# Without WORKDIR the site lives in a temporary folder that is removed at exit; as root the
# store's blobs carry the immutable attribute, so it is cleared first (chattr -R -i).
if [ $# -ge 1 ]; then work=$1; keep=1; else work=$(mktemp -d -t bulwark-quickstart.XXXXXX); keep=0; fi
mkdir -p "$work"
cleanup() {
  [ "$keep" = 1 ] && return
  chattr -R -i "$work" 2>/dev/null || true
  rm -rf "$work"
}
port=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

echo "== 1. create a site in $work/site"
vaultctl init "$work/site" --port "$port"

echo "== 2. start vaultd on 127.0.0.1:$port"
vaultd --config "$work/site/vault.toml" &
vaultd_pid=$!
trap 'kill -TERM $vaultd_pid 2>/dev/null; wait $vaultd_pid 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 1 100); do
  vaultctl --config "$work/site/operator.toml" snapshots >/dev/null 2>&1 && break
  sleep 0.1
done

echo "== 3. generate sample model weights and dataset shards in $work/sample"
python -m bench.workload "$work/sample" --kind sample

echo "== 4. back up"
vault-agent --config "$work/site/agent.toml" backup "$work/sample" --tag quickstart

echo "== 5. list snapshots"
vaultctl --config "$work/site/agent.toml" snapshots

echo "== 6. restore into $work/restore (operator.toml: agent.toml is write-only)"
vaultctl --config "$work/site/operator.toml" restore latest "$work/restore"

echo "== 7. compare"
diff -r "$work/sample" "$work/restore$work/sample"
echo "restore is byte-identical to the source"

echo "== 8. verify every chunk"
vaultctl --config "$work/site/operator.toml" verify latest

echo "== 9. restore drill: restore into a sandbox (no network), validate, record the report"
set +e
vaultctl --config "$work/site/drill.toml" drill latest
code=$?
set -e
if [ "$code" -eq 2 ]; then
  echo "(no privilege for namespaces here: running the drill without isolation, as recorded)"
  vaultctl --config "$work/site/drill.toml" drill latest --isolation none
elif [ "$code" -ne 0 ]; then
  exit "$code"
fi
vaultctl --config "$work/site/operator.toml" drills
