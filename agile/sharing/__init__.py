"""Secret sharing: Shamir over GF(2^8) and over the ristretto255 scalar field, Feldman VSS.

- :mod:`.gf256`: byte-wise Shamir whose shares interoperate with HashiCorp Vault.
- :mod:`.share_format`: the agile share format (threshold, secret id, shared digest).
- :mod:`.prime`: Shamir over the ristretto255 scalar field and Feldman commitments.
"""

from __future__ import annotations

from .base import SecretSharing, Share

__all__ = ["SecretSharing", "Share"]
