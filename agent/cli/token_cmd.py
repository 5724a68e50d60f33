"""``vaultctl pki token|tokens|revoke-token``: join tokens for the fleet (agent.keys.join).

Run with a configuration that carries the tenant key (operator.toml, officer.toml): the
token's secret is derived from it and its key bundle sealed here, on the operator's side.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import re

from bulwark.agent.cli.common import Context, print_json
from bulwark.agent.client.channel import channel_for
from bulwark.agent.client.enroll import FleetClient
from bulwark.agent.errors import KeyMaterialError, UsageError
from bulwark.agent.format.joined import JoinOrigin
from bulwark.agent.keys.join import JoinToken
from bulwark.protos.bulwark.v1 import enroll_pb2

_TTL = re.compile(r"^(\d+)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    m = _TTL.match(text.strip())
    if m is None or int(m.group(1)) == 0:
        raise UsageError(f"--ttl: expected a duration like 30m, 24h or 7d, got {text!r}")
    return int(m.group(1)) * _UNIT[m.group(2)]


def add_actions(ps: argparse._SubParsersAction) -> None:
    t = ps.add_parser("token", help="make a join token (vault-agent enroll redeems it)",
                      epilog="example: vaultctl --config operator.toml pki token --role node "
                      "--prefix gpu- --ttl 24h --uses 500")
    t.add_argument("--role", default="node", choices=("node",),
                   help="the role joined identities get (node)")
    who = t.add_mutually_exclusive_group(required=True)
    who.add_argument("--name", help="exactly this node name")
    who.add_argument("--prefix", help="any node name starting with this, e.g. gpu-")
    t.add_argument("--ttl", default="24h", help="how long the token is valid (default 24h)")
    t.add_argument("--uses", type=int, default=1, help="how many nodes may join (default 1)")
    t.add_argument("--json", action="store_true")
    t.set_defaults(run=run_token, needs_config=True)
    ls = ps.add_parser("tokens", help="list join tokens (never their secrets)",
                       epilog="example: vaultctl --config operator.toml pki tokens --json")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=run_tokens, needs_config=True)
    r = ps.add_parser("revoke-token", help="revoke a join token now",
                      epilog="example: vaultctl --config operator.toml pki revoke-token "
                      "3fa2b1c04d5e6f70")
    r.add_argument("token_id", metavar="ID")
    r.add_argument("--json", action="store_true")
    r.set_defaults(run=run_revoke, needs_config=True)


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _view(t: enroll_pb2.TokenInfo) -> dict:
    return {"id": t.token_id, "role": t.role, "name": t.name or None,
            "prefix": t.prefix or None, "expires": _iso(t.expires_s), "uses": t.uses,
            "used": t.used, "revoked": t.revoked, "created_by": t.created_by}


def _fleet(ctx: Context) -> FleetClient:
    return FleetClient(channel_for(ctx.config), ctx.config.vault_address)


def run_token(args: argparse.Namespace, ctx: Context) -> int:
    if not 1 <= args.uses <= 100_000:
        raise UsageError(f"--uses must be 1..100000, got {args.uses}")
    ttl = parse_ttl(args.ttl)
    if ctx.keyring.master is None:
        raise KeyMaterialError(f"{ctx.config.path}: making a join token needs the tenant key "
                               "(its bundle carries the write keys): use operator.toml")
    try:
        token = JoinToken.new(ctx.keyring.master, args.name or "", args.prefix or "")
    except ValueError as exc:
        raise UsageError(f"--name/--prefix: {exc}") from None
    origin = JoinOrigin(token.id, args.name or "", args.prefix or "")
    fleet = _fleet(ctx)
    try:
        info = fleet.create_token(enroll_pb2.CreateTokenRequest(
            token_id=token.id, role=args.role, name=origin.name,
            prefix=origin.prefix, ttl_s=ttl, uses=args.uses,
            auth_hash=_sha256(token.auth), sealed_bundle=token.seal(ctx.keyring, origin)))
    finally:
        fleet.close()
    if args.json:
        print_json({**_view(info), "token": token.text()})
    else:
        print(token.text())
        print(f"token {info.token_id}: {args.uses} use(s) until {_iso(info.expires_s)}; "
              "shown once, keep it secret", flush=True)
    return 0


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def run_tokens(args: argparse.Namespace, ctx: Context) -> int:
    fleet = _fleet(ctx)
    try:
        tokens = [_view(t) for t in fleet.tokens()]
    finally:
        fleet.close()
    if args.json:
        print_json(tokens)
        return 0
    for t in tokens:
        state = "revoked" if t["revoked"] else f"{t['used']}/{t['uses']} used"
        print(f"{t['id']}  {t['role']}  {t['name'] or t['prefix'] + '*'}  until {t['expires']}"
              f"  {state}  by {t['created_by']}")
    return 0


def run_revoke(args: argparse.Namespace, ctx: Context) -> int:
    fleet = _fleet(ctx)
    try:
        info = fleet.revoke_token(args.token_id)
    finally:
        fleet.close()
    if args.json:
        print_json(_view(info))
    else:
        print(f"token {info.token_id} revoked ({info.used} of {info.uses} use(s) were made)")
    return 0
