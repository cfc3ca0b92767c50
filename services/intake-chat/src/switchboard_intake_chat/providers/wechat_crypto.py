"""The WeChat callback signature and message encryption scheme, shared by Official Accounts and WeCom. Pure.

Signature: the hex SHA-1 of the concatenation of the sorted strings ``token``, ``timestamp``, ``nonce``
(and, for encrypted messages and WeCom, the ``Encrypt`` / ``echostr`` ciphertext).

Encryption (the "safe mode" of Official Accounts, always on for WeCom): the 43-character
EncodingAESKey plus ``=`` is the base64 of a 32-byte AES-256 key; the IV is the key's first 16 bytes;
AES-CBC over the plaintext padded PKCS#7-style to a multiple of 32 bytes. The plaintext is 16 random
bytes, the message length as 4 bytes in network order, the message, and the receiver id (the
Official Account's AppID or the WeCom CorpID), which must match ours.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32
"""WeChat pads to 32-byte blocks, not AES's 16."""


class WeChatCryptoError(ValueError):
    """A signature or ciphertext that does not verify; ``reason`` says which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key an EncodingAESKey (43 base64 characters, no padding) stands for."""
    if len(encoding_aes_key) != 43:
        raise WeChatCryptoError("an EncodingAESKey has 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error:
        raise WeChatCryptoError("the EncodingAESKey is not base64") from None
    if len(key) != 32:
        raise WeChatCryptoError("the EncodingAESKey does not decode to 32 bytes")
    return key


def signature(token: str, timestamp: str, nonce: str, *ciphertext: str) -> str:
    """The hex SHA-1 WeChat sends as ``signature`` (plain) or ``msg_signature`` (with the ciphertext)."""
    joined = "".join(sorted((token, timestamp, nonce, *ciphertext)))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()  # noqa: S324  (the provider's scheme)


def signature_matches(given: str | None, token: str, timestamp: str, nonce: str, *ciphertext: str) -> bool:
    """Whether ``given`` is the signature of these values (constant-time comparison)."""
    if not given:
        return False
    expected = signature(token, timestamp, nonce, *ciphertext)
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def decrypt(key: bytes, ciphertext_b64: str, receiver_id: str | None) -> bytes:
    """The message inside a WeChat ciphertext, after checking padding, length and (if given) the receiver id."""
    try:
        ciphertext = base64.b64decode(ciphertext_b64, validate=True)
    except (binascii.Error, ValueError):
        raise WeChatCryptoError("the ciphertext is not base64") from None
    if not ciphertext or len(ciphertext) % 16:
        raise WeChatCryptoError("the ciphertext is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= BLOCK or padded[-pad:] != bytes([pad]) * pad:
        raise WeChatCryptoError("bad padding: wrong key or corrupted ciphertext")
    plain = padded[:-pad]
    if len(plain) < 20:
        raise WeChatCryptoError("the plaintext is too short")
    (length,) = struct.unpack(">I", plain[16:20])
    if 20 + length > len(plain):
        raise WeChatCryptoError("the message length exceeds the plaintext")
    message = plain[20 : 20 + length]
    found = plain[20 + length :].decode("utf-8", "replace")
    if receiver_id is not None and not hmac.compare_digest(found.encode(), receiver_id.encode()):
        raise WeChatCryptoError("the message is for another AppID/CorpID")
    return message
