"""Keys the vault keeps without holding a data key: enrolled node signing keys and escrow
(``registry``), join tokens, the certificate signer, restore-key announcements and the
enrollment listener's configuration."""
