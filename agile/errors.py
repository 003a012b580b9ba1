"""The exception hierarchy of agile.

Every error that agile raises on purpose derives from :class:`AgileError`.  The
message (``str(error)``) names the offending value and is meant for programs and
logs; :meth:`AgileError.diagnostics` adds the fix, for people.  The CLI prints
both on one line and exits with :attr:`AgileError.exit_code`.
"""

from __future__ import annotations

__all__ = [
    "AgileError",
    "UnsupportedAlgorithm",
    "UnknownProvider",
    "ProviderUnavailable",
    "UnsupportedOperation",
    "InvalidArgument",
    "InvalidKey",
    "InvalidCiphertext",
    "AuthenticationFailed",
    "MessageLimitReached",
    "InvalidSignature",
    "NoAcceptableSignature",
    "PolicyViolation",
    "InvalidPolicy",
    "InvalidEnvelope",
    "KeyNotFound",
    "KeysetError",
    "DuplicateKey",
    "KeystoreError",
    "KeystoreLocked",
    "SealError",
    "WrongPassphrase",
    "SealerUnavailable",
    "ShareError",
    "InsufficientShares",
    "InvalidShare",
    "InvalidSharingParameters",
    "StoreError",
    "RotationError",
    "RotationInProgress",
    "VectorFormatError",
    "AttestationError",
    "HomomorphicError",
    "PlaintextOverflow",
    "MPCError",
]


class AgileError(Exception):
    """Base class of every error agile raises on purpose."""

    #: Exit code of the CLI for this error: 2 is bad input or usage, 1 a failed check.
    exit_code = 2
    #: The fix used when the raiser gives none: a subclass sets the advice that fits
    #: every error of its kind.
    default_fix: str | None = None

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.fix = fix if fix is not None else self.default_fix

    def diagnostics(self) -> str:
        """Return the message followed by the fix, for people."""
        if self.fix:
            return f"{self} ({self.fix})"
        return str(self)


# Registry and primitives.


class UnsupportedAlgorithm(AgileError):
    """The algorithm id is unknown, or no usable provider implements it."""


class UnknownProvider(AgileError):
    """The provider name is not registered."""


class ProviderUnavailable(AgileError):
    """The provider is known but its library is not installed."""


class UnsupportedOperation(AgileError):
    """The provider cannot express this operation (for example derandomized encapsulation)."""


class InvalidArgument(AgileError, ValueError):
    """An argument has the wrong type, length or value."""


class InvalidKey(InvalidArgument):
    """A key has the wrong length, type, form or encoding for the algorithm."""


class InvalidCiphertext(InvalidArgument):
    """A ciphertext or encapsulation is malformed (wrong length, point not on the curve)."""


class AuthenticationFailed(AgileError):
    """An authentication tag or key commitment did not verify: wrong key or tampered data."""


class MessageLimitReached(AgileError):
    """An encryption context used up its nonces (RFC 9180 §5.2); set up a new one."""


class InvalidSignature(AgileError):
    """A signature did not verify."""

    exit_code = 1


# Policy.


class PolicyViolation(AgileError):
    """The active policy does not allow this operation with this algorithm."""

    #: A policy check that failed, as a failed signature check is (exit code 1).
    exit_code = 1

    def __init__(
        self, message: str, *, fix: str | None = None, reasons: list[str] | None = None
    ) -> None:
        super().__init__(message, fix=fix)
        self.reasons = list(reasons or [])


class NoAcceptableSignature(InvalidSignature, PolicyViolation):
    """No signature that the policy accepts for ``verify`` covers the message.

    Either every known key uses an algorithm that the policy does not allow
    for verifying (a downgrade, or a copy stripped of its post-quantum
    signature), or ``signature.verify_require_quantum_safe`` is set and only
    classical signatures verified.  It is a failed check (CLI exit code 1, as
    for :class:`InvalidSignature`), and also a :class:`PolicyViolation` that
    carries the policy's reasons.
    """


class InvalidPolicy(AgileError):
    """A policy file or profile is malformed or names unknown algorithms."""


# Keys, keystore, sealing.


class InvalidEnvelope(AgileError):
    """An envelope is malformed: bad magic, version, framing, length or encoding."""

    default_fix = "the file is damaged, cut short or not an agile envelope: use a good copy"


class KeyNotFound(AgileError):
    """No key, keyset or object has the requested id."""


class KeysetError(AgileError):
    """A keyset operation is not possible in the keyset's current state."""


class DuplicateKey(KeysetError):
    """The key, or its id, is already in a keyset of this keystore; nothing was added."""


class KeystoreError(AgileError):
    """The keystore directory is missing, unreadable or inconsistent."""


class KeystoreLocked(KeystoreError):
    """Another process holds the keystore's writer lock."""


class SealError(AgileError):
    """A sealer failed to seal or unseal a secret."""


class WrongPassphrase(SealError):
    """The passphrase (or PIN) does not open the sealed secret."""


class SealerUnavailable(SealError):
    """The sealer's device or library is not reachable on this machine."""


# Secret sharing and MPC.


class ShareError(AgileError):
    """A secret share is malformed or the shares do not belong together."""


class InsufficientShares(ShareError):
    """Fewer shares than the threshold were given."""


class InvalidShare(ShareError):
    """A share failed its integrity or commitment check."""


class InvalidSharingParameters(ShareError, InvalidArgument):
    """A threshold, share count or secret is out of range for the sharing scheme."""


class MPCError(AgileError):
    """A multi-party computation failed (peer rejected, protocol error, too many dropouts)."""


# Rotation and stores.


class StoreError(AgileError):
    """A store URL is invalid or the store cannot be read or written."""


class RotationError(AgileError):
    """A rotation run cannot start or continue."""


class RotationInProgress(RotationError):
    """Another rotation holds the journal lock."""


# Conformance, attestation, homomorphic encryption.


class VectorFormatError(AgileError):
    """A test-vector file is malformed."""


class AttestationError(AgileError):
    """Attestation evidence is malformed or did not verify."""

    exit_code = 1


class HomomorphicError(AgileError):
    """A homomorphic operation received invalid input (ciphertext out of range, wrong key)."""


class PlaintextOverflow(HomomorphicError):
    """An encoded value or aggregate would exceed the plaintext space and wrap."""
