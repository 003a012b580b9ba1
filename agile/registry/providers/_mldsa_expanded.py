"""Checks and public-key recovery for expanded FIPS 204 ML-DSA private keys (dilithium-py)."""

from __future__ import annotations

from ...errors import InvalidKey

__all__ = ["public_key_of_expanded"]

_Q = 8380417


def public_key_of_expanded(algorithm: str, secret: bytes) -> bytes:
    """Check an expanded ML-DSA sk and return its public key.

    FIPS 204 key generation gives s1 and s2 coefficients in [-eta, eta], so an sk outside
    that range is malformed (Wycheproof marks such keys invalid).  The public key
    recomputed from s1 and s2 must also hash to the stored tr.
    Raises InvalidKey when either check fails and ImportError without dilithium-py.
    """
    from dilithium_py.ml_dsa import ML_DSA_44, ML_DSA_65, ML_DSA_87

    scheme = {"ml-dsa-44": ML_DSA_44, "ml-dsa-65": ML_DSA_65, "ml-dsa-87": ML_DSA_87}[algorithm]
    _, _, _, s1, s2, _ = scheme._unpack_sk(secret)
    for name, vector in (("s1", s1), ("s2", s2)):
        for row in vector._data:
            for polynomial in row:
                for coefficient in polynomial.coeffs:
                    centered = coefficient - _Q if coefficient > _Q // 2 else coefficient
                    if not -scheme.eta <= centered <= scheme.eta:
                        raise InvalidKey(
                            f"{algorithm} sk has an {name} coefficient outside "
                            f"[-{scheme.eta}, {scheme.eta}]",
                            fix="the key was corrupted: restore it from a backup",
                        )
    try:
        return scheme.pk_from_sk(secret)
    except ValueError:
        raise InvalidKey(
            f"{algorithm} sk is malformed (tr does not match the public key)",
            fix="the key was corrupted: restore it from a backup",
        ) from None
