"""The air-gap vault's one connection to its primary: ``vault.airgap.puller.Source`` over mTLS.

The channel uses ``[airgap]``'s replica identity (a certificate from the primary's CA) and
trusts only ``primary_ca`` for the primary's server certificate. It exists only inside a
window: ``connect`` opens it, leaving the ``with`` block closes it (and cancels any call in
flight). Messages are decoded here, into the domain's types; gRPC statuses become
``vault.errors`` (DATA_LOSS -> IntegrityError, NOT_FOUND -> NotFound, anything else ->
VaultError naming the primary).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import grpc

from bulwark.protos.bulwark.v1 import (
    replication_pb2,
    replication_pb2_grpc,
    vault_pb2,
    vault_pb2_grpc,
)
from bulwark.protos.contract import CLIENT_KEEPALIVE_OPTIONS, RETENTION_MODE_NAMES
from bulwark.vault.airgap.config import AirgapConfig
from bulwark.vault.airgap.puller import FeedEntry, FeedInfo
from bulwark.vault.airgap.state import Cursor
from bulwark.vault.catalog.db import SnapshotRecord
from bulwark.vault.errors import ConfigError, IntegrityError, InvalidRequest, NotFound, VaultError
from bulwark.vault.rpc.vault_service import parse_header
from bulwark.vault.worm.retention import GOVERNANCE, Retention
from bulwark.vault.worm.signals import Mark

MAX_MESSAGE_BYTES = 64 << 20
MAX_CHUNK_IDS = 1 << 24  # a feed entry naming more ids than this is refused outright


def record_of(pb: vault_pb2.Snapshot) -> SnapshotRecord:
    """The primary's record as the domain type (the inverse of ``snapshot_pb``)."""
    return SnapshotRecord(
        id=pb.id, time_ns=pb.time_ns, node=pb.node, header=bytes(pb.signed.header),
        signature=bytes(pb.signed.signature), tags=tuple(pb.tags), paths=tuple(pb.paths),
        files=pb.files, bytes=pb.bytes, chunk_count=pb.chunk_count,
        retention=Retention(RETENTION_MODE_NAMES.get(pb.retention.mode, GOVERNANCE),
                            pb.retention.retain_until_ns, pb.retention.legal_hold),
        mark=Mark(pb.mark.suspicious, pb.mark.score_ppm, tuple(pb.mark.reasons),
                  pb.mark.set_by, pb.mark.note, pb.mark.set_ns, pb.mark.new_chunks_ppm),
    )


def _error(exc: grpc.RpcError, config: AirgapConfig, what: str) -> VaultError:
    code, detail = exc.code(), exc.details() or exc.code().name
    if code == grpc.StatusCode.DATA_LOSS:
        return IntegrityError(f"primary {config.primary}: {what}: {detail}")
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(f"primary {config.primary}: {what}: {detail}")
    return VaultError(f"primary {config.primary}: {what}: {code.name}: {detail}")


class PrimaryClient:
    def __init__(self, config: AirgapConfig, channel: grpc.Channel) -> None:
        self.config = config
        self.channel = channel
        self.feed_stub = replication_pb2_grpc.ReplicationStub(channel)
        self.vault_stub = vault_pb2_grpc.VaultStub(channel)

    def feed(self, after: Cursor) -> tuple[FeedInfo, Iterator[FeedEntry]]:
        call = self.feed_stub.Feed(replication_pb2.FeedRequest(
            after=replication_pb2.FeedCursor(time_ns=after.time_ns, id=after.id)))
        messages = iter(call)
        try:
            first = next(messages, None)
        except grpc.RpcError as exc:
            raise _error(exc, self.config, "Feed") from None
        if first is None or first.WhichOneof("part") != "info":
            call.cancel()
            raise VaultError(f"primary {self.config.primary}: Feed did not start with FeedInfo")
        info = FeedInfo(first.info.now_ns, first.info.pending, first.info.oldest_pending_ns)
        return info, self._entries(call, messages)

    def _entries(self, call, messages) -> Iterator[FeedEntry]:
        try:
            pending = next(messages, None)
            while pending is not None:
                if pending.WhichOneof("part") != "snapshot":
                    raise VaultError(f"primary {self.config.primary}: Feed sent chunk ids "
                                     "without a snapshot")
                snap = pending.snapshot
                want = min(snap.snapshot.chunk_count, MAX_CHUNK_IDS)
                ids: list[bytes] = []
                pending = next(messages, None)
                while pending is not None and pending.WhichOneof("part") == "chunks":
                    ids.extend(pending.chunks.chunk_ids)
                    if len(ids) > want:
                        raise VaultError(f"primary {self.config.primary}: snapshot "
                                         f"{snap.snapshot.id}: more ids than chunk_count")
                    pending = next(messages, None)
                yield self._entry(snap, ids)
        except grpc.RpcError as exc:
            raise _error(exc, self.config, "Feed") from None
        finally:
            call.cancel()

    @staticmethod
    def _entry(snap: replication_pb2.FeedSnapshot, ids: list[bytes]) -> FeedEntry:
        record = record_of(snap.snapshot)
        try:
            signed, problem = parse_header(snap.snapshot.signed), ""
        except InvalidRequest as exc:
            signed, problem = None, str(exc)
        return FeedEntry(record, signed, bytes(snap.node_public_key), [bytes(i) for i in ids],
                         problem)

    def get_chunks(self, ids: Sequence[bytes]) -> Iterator[tuple[bytes, bytes, bytes]]:
        call = self.vault_stub.GetChunks(vault_pb2.GetChunksRequest(chunk_ids=list(ids)))
        try:
            for blob in call:
                yield bytes(blob.chunk_id), bytes(blob.data), bytes(blob.digest)
        except grpc.RpcError as exc:
            raise _error(exc, self.config, "GetChunks") from None
        finally:
            call.cancel()


def _credentials(config: AirgapConfig) -> grpc.ChannelCredentials:
    try:
        return grpc.ssl_channel_credentials(
            root_certificates=config.primary_ca.read_bytes(),
            private_key=config.key.read_bytes(), certificate_chain=config.cert.read_bytes())
    except OSError as exc:
        raise ConfigError(f"airgap: cannot read {exc.filename}: {exc.strerror}") from None


@contextmanager
def connect(config: AirgapConfig) -> Iterator[PrimaryClient]:
    """A client for the primary; the channel closes when the block ends."""
    options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
               ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
               # A primary that stops answering mid-window (stopped, or its link cut
               # silently) ends the window's call UNAVAILABLE within about 30 s, so the
               # window closes, and the gap with it, instead of waiting forever (issue 15).
               *CLIENT_KEEPALIVE_OPTIONS]
    if config.primary_name:
        options.append(("grpc.ssl_target_name_override", config.primary_name))
    channel = grpc.secure_channel(config.primary, _credentials(config), options=options)
    try:
        yield PrimaryClient(config, channel)
    finally:
        channel.close()
