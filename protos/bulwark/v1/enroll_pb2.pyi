from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JoinRequest(_message.Message):
    __slots__ = ("token_id", "token_secret", "name", "csr_der", "signing_public_key")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_SECRET_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CSR_DER_FIELD_NUMBER: _ClassVar[int]
    SIGNING_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    token_secret: bytes
    name: str
    csr_der: bytes
    signing_public_key: bytes
    def __init__(self, token_id: _Optional[str] = ..., token_secret: _Optional[bytes] = ..., name: _Optional[str] = ..., csr_der: _Optional[bytes] = ..., signing_public_key: _Optional[bytes] = ...) -> None: ...

class JoinResponse(_message.Message):
    __slots__ = ("certificate", "sealed_bundle", "role", "vault_address", "vault_port")
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    SEALED_BUNDLE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    VAULT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    VAULT_PORT_FIELD_NUMBER: _ClassVar[int]
    certificate: CertificateReply
    sealed_bundle: bytes
    role: str
    vault_address: str
    vault_port: int
    def __init__(self, certificate: _Optional[_Union[CertificateReply, _Mapping]] = ..., sealed_bundle: _Optional[bytes] = ..., role: _Optional[str] = ..., vault_address: _Optional[str] = ..., vault_port: _Optional[int] = ...) -> None: ...

class CertificateReply(_message.Message):
    __slots__ = ("certificate_pem", "ca_pem", "not_after_s", "serial_hex")
    CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    CA_PEM_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    SERIAL_HEX_FIELD_NUMBER: _ClassVar[int]
    certificate_pem: bytes
    ca_pem: bytes
    not_after_s: int
    serial_hex: str
    def __init__(self, certificate_pem: _Optional[bytes] = ..., ca_pem: _Optional[bytes] = ..., not_after_s: _Optional[int] = ..., serial_hex: _Optional[str] = ...) -> None: ...

class CreateTokenRequest(_message.Message):
    __slots__ = ("role", "name", "prefix", "ttl_s", "uses", "auth_hash", "sealed_bundle", "token_id")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    TTL_S_FIELD_NUMBER: _ClassVar[int]
    USES_FIELD_NUMBER: _ClassVar[int]
    AUTH_HASH_FIELD_NUMBER: _ClassVar[int]
    SEALED_BUNDLE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    role: str
    name: str
    prefix: str
    ttl_s: int
    uses: int
    auth_hash: bytes
    sealed_bundle: bytes
    token_id: str
    def __init__(self, role: _Optional[str] = ..., name: _Optional[str] = ..., prefix: _Optional[str] = ..., ttl_s: _Optional[int] = ..., uses: _Optional[int] = ..., auth_hash: _Optional[bytes] = ..., sealed_bundle: _Optional[bytes] = ..., token_id: _Optional[str] = ...) -> None: ...

class TokenInfo(_message.Message):
    __slots__ = ("token_id", "role", "name", "prefix", "expires_s", "uses", "used", "revoked", "created_by", "created_s")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_S_FIELD_NUMBER: _ClassVar[int]
    USES_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_S_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    role: str
    name: str
    prefix: str
    expires_s: int
    uses: int
    used: int
    revoked: bool
    created_by: str
    created_s: int
    def __init__(self, token_id: _Optional[str] = ..., role: _Optional[str] = ..., name: _Optional[str] = ..., prefix: _Optional[str] = ..., expires_s: _Optional[int] = ..., uses: _Optional[int] = ..., used: _Optional[int] = ..., revoked: _Optional[bool] = ..., created_by: _Optional[str] = ..., created_s: _Optional[int] = ...) -> None: ...

class RevokeTokenRequest(_message.Message):
    __slots__ = ("token_id",)
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    def __init__(self, token_id: _Optional[str] = ...) -> None: ...

class ListTokensRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[TokenInfo]
    def __init__(self, tokens: _Optional[_Iterable[_Union[TokenInfo, _Mapping]]] = ...) -> None: ...

class RenewRequest(_message.Message):
    __slots__ = ("csr_der",)
    CSR_DER_FIELD_NUMBER: _ClassVar[int]
    csr_der: bytes
    def __init__(self, csr_der: _Optional[bytes] = ...) -> None: ...
