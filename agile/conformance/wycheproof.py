"""Reader for Project Wycheproof ``testvectors_v1`` JSON files.

Each test group type maps to one registry family.  ``valid`` cases must produce
the expected output, ``invalid`` ones must raise an agile error, and
``acceptable`` ones are counted apart with their flags.  Parameters the registry
does not offer (a 64-bit GCM nonce, a 4096-bit RSA key, HMAC) are skipped with
the parameter named.

The whole file is checked before any case runs, because a skip reason comes from
a group's header, and a damaged header must not turn cases into skips.  A file
is damaged (:class:`~agile.errors.VectorFormatError`) when a field is missing,
has the wrong type or is not hexadecimal.  It is also damaged when a size in a
header is out of range or disagrees with the cases, when a group's ``type`` does
not belong to the file's schema or algorithm, when ``numberOfTests`` is not the
number of cases, or when two cases share a ``tcId``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils

from ..errors import InvalidSignature, UnsupportedOperation, VectorFormatError
from ..registry.interfaces import KeyForm
from .hexfield import decode_hex, hex_problem
from .judge import EXPECTED_RESULTS, judge, mismatch
from .report import FileReport
from .targets import Selection, load_seed_key

#: A check of one case: returns None on a match or a description of the mismatch.
Action = Callable[[], "str | None"]
#: (algorithm id, why the group's parameters are not offered or None, action maker).
Plan = tuple[str, "str | None", Callable[[Any, dict[str, Any]], Action]]

__all__ = ["looks_like", "run_file"]

FORMAT = "wycheproof"


def looks_like(document: Any) -> bool:
    return isinstance(document, dict) and "testGroups" in document and "algorithm" in document


def _hex(value: str | None) -> bytes:
    return decode_hex(value or "")


def _case(test: dict[str, Any]) -> str:
    return f"tcId {test['tcId']}"


def _cases(group: dict[str, Any]) -> list[str]:
    return [_case(test) for test in group["tests"]]


# --- AEAD -----------------------------------------------------------------------------------


def _aead_id(algorithm: str, group: dict[str, Any]) -> tuple[str, str | None]:
    """Return the registry id and, if the group's parameters are not offered, why."""
    key_bits = int(group["keySize"])
    names = {
        ("AES-GCM", 128): "aes-128-gcm",
        ("AES-GCM", 256): "aes-256-gcm",
        ("AES-GCM-SIV", 256): "aes-256-gcm-siv",
        ("CHACHA20-POLY1305", 256): "chacha20-poly1305",
        ("XCHACHA20-POLY1305", 256): "xchacha20-poly1305",
    }
    name = names.get((algorithm, key_bits))
    if name is None:
        if algorithm.startswith("AES-"):
            return f"aes-{key_bits}-{algorithm[4:].lower()}", None
        return f"{algorithm.lower()}-{key_bits}", None
    from .. import registry

    sizes = registry.descriptor(name).sizes
    if int(group["ivSize"]) != 8 * (sizes.nonce or 0):
        return (
            name,
            f"{name} takes {8 * (sizes.nonce or 0)}-bit nonces only, group has {group['ivSize']}",
        )
    if int(group["tagSize"]) != 8 * (sizes.tag or 0):
        return (
            name,
            f"{name} produces {8 * (sizes.tag or 0)}-bit tags only, group has {group['tagSize']}",
        )
    return name, None


def _aead_plan(document: dict[str, Any], group: dict[str, Any]) -> Plan:
    name, unsupported = _aead_id(document["algorithm"], group)

    def make(implementation: Any, test: dict[str, Any]) -> Action:
        key, nonce, aad = _hex(test["key"]), _hex(test["iv"]), _hex(test["aad"])
        message, sealed = _hex(test["msg"]), _hex(test["ct"]) + _hex(test["tag"])

        def action() -> str | None:
            context = implementation.new(key)
            opened = context.decrypt(nonce, sealed, aad)
            problem = mismatch("plaintext", opened, message)
            if problem or test["result"] == "invalid":
                return problem
            return mismatch("ciphertext", context.encrypt(nonce, message, aad), sealed)

        return action

    return name, unsupported, make


# --- HKDF -----------------------------------------------------------------------------------


def _hkdf_plan(document: dict[str, Any], group: dict[str, Any]) -> Plan:
    names = {
        "HKDF-SHA-256": "hkdf-sha256",
        "HKDF-SHA-384": "hkdf-sha384",
        "HKDF-SHA-512": "hkdf-sha512",
    }
    name = names.get(document["algorithm"], document["algorithm"].lower())

    def make(implementation: Any, test: dict[str, Any]) -> Action:
        def action() -> str | None:
            okm = implementation.derive(
                _hex(test["ikm"]), _hex(test["salt"]), _hex(test["info"]), int(test["size"])
            )
            return mismatch("okm", okm, _hex(test["okm"]))

        return action

    return name, None, make


# --- Signatures -----------------------------------------------------------------------------


def _verify_action(
    implementation: Any,
    public: bytes,
    message: bytes,
    signature: bytes,
    context: bytes = b"",
    convert: Callable[[bytes], bytes] | None = None,
) -> Action:
    def action() -> str | None:
        key = implementation.load_public(public)
        encoded = convert(signature) if convert else signature
        implementation.verify(key, message, encoded, context)
        return None

    return action


def _p1363_to_der(size: int) -> Callable[[bytes], bytes]:
    def convert(signature: bytes) -> bytes:
        if len(signature) != 2 * size:
            raise InvalidSignature(
                f"P1363 signature is {len(signature)} bytes, expected {2 * size}"
            )
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        return asym_utils.encode_dss_signature(r, s)

    return convert


def _signature_id(
    group: dict[str, Any],
) -> tuple[str, Callable[[bytes], bytes] | None, str | None]:
    kind = group["type"]
    if kind == "EddsaVerify":
        curve = group["publicKey"]["curve"]
        return {"edwards25519": "ed25519", "edwards448": "ed448"}.get(curve, curve), None, None
    if kind in ("EcdsaVerify", "EcdsaP1363Verify"):
        curve, sha = group["publicKey"]["curve"], group["sha"]
        name = {
            ("secp256r1", "SHA-256"): "ecdsa-p256-sha256",
            ("secp384r1", "SHA-384"): "ecdsa-p384-sha384",
        }.get((curve, sha), f"ecdsa-{curve}-{sha.lower()}")
        size = {"secp256r1": 32, "secp384r1": 48}.get(curve, 0)
        return name, (_p1363_to_der(size) if kind == "EcdsaP1363Verify" else None), None
    if kind == "RsassaPssVerify":
        bits, sha = int(group["keySize"]), group["sha"]
        mgf_sha, salt = group["mgfSha"], int(group["sLen"])
        name = f"rsa-pss-{bits}-{sha.lower().replace('-', '')}"
        if (sha, mgf_sha, salt) != ("SHA-256", "SHA-256", 32):
            reason = f"{name} with MGF1-{mgf_sha} and a {salt}-byte salt is not registered"
            return name, None, reason
        return name, None, None
    return kind, None, f"unknown signature group type {kind}"


def _signature_public(group: dict[str, Any]) -> bytes:
    key = group["publicKey"]
    if group["type"] == "EddsaVerify":
        return _hex(key["pk"])
    if group["type"] == "RsassaPssVerify":
        return _hex(group["publicKeyDer"])
    return _hex(key["uncompressed"])


def _signature_plan(document: dict[str, Any], group: dict[str, Any]) -> Plan:
    name, convert, unsupported = _signature_id(group)

    def make(implementation: Any, test: dict[str, Any]) -> Action:
        public = _signature_public(group)
        message, signature = _hex(test["msg"]), _hex(test["sig"])
        return _verify_action(implementation, public, message, signature, convert=convert)

    return name, unsupported, make


# --- Key agreement --------------------------------------------------------------------------


def _dh_plan(document: dict[str, Any], group: dict[str, Any]) -> Plan:
    curve = group["curve"]
    name = {"curve25519": "x25519", "secp256r1": "p256", "secp384r1": "p384"}.get(curve, curve)
    encoding = "asn" if group["type"] == "EcdhTest" else "raw"

    def make(implementation: Any, test: dict[str, Any]) -> Action:
        def action() -> str | None:
            exchange = getattr(implementation, "exchange", None)
            if exchange is None:
                raise UnsupportedOperation(
                    f"{implementation.provider} exposes no raw {name} key agreement"
                )
            shared = exchange(_hex(test["private"]), _hex(test["public"]), encoding)
            return mismatch("shared secret", shared, _hex(test["shared"]))

        return action

    return name, None, make


def _oaep_plan(document: dict[str, Any], group: dict[str, Any]) -> Plan:
    name = f"rsa-oaep-{int(group['keySize'])}"
    unsupported = None
    if (group["sha"], group["mgfSha"]) != ("SHA-256", "SHA-256"):
        unsupported = f"{name} with {group['sha']} and MGF1-{group['mgfSha']} is not registered"

    def make(implementation: Any, test: dict[str, Any]) -> Action:
        def action() -> str | None:
            decrypt = getattr(implementation, "decrypt_oaep", None)
            if decrypt is None:
                raise UnsupportedOperation(
                    f"{implementation.provider} exposes no raw OAEP decryption"
                )
            key = implementation.load_private(_hex(group["privateKeyPkcs8"]), KeyForm.PKCS8)
            message = decrypt(key, _hex(test["ct"]), _hex(test["label"]))
            return mismatch("message", message, _hex(test["msg"]))

        return action

    return name, unsupported, make


# --- ML-KEM ---------------------------------------------------------------------------------


def _mlkem_plan(document: dict[str, Any], group: dict[str, Any]) -> Plan:
    kind = group["type"]

    def make(implementation: Any, test: dict[str, Any]) -> Action:
        return _mlkem_action(kind, implementation, test)

    return group["parameterSet"].lower(), None, make


def _mlkem_action(kind: str, implementation: Any, test: dict[str, Any]) -> Action:
    def keygen() -> str | None:
        key = implementation.load_private(_hex(test["seed"]), KeyForm.SEED)
        problem = mismatch("ek", key.public_key.data, _hex(test["ek"]))
        if problem or "dk" not in test:
            return problem
        try:
            expanded = implementation.export_private(key, KeyForm.EXPANDED)
        except UnsupportedOperation:
            return None  # NOTE: ek is checked; dk is only compared where the provider can expand.
        return mismatch("dk", expanded, _hex(test["dk"]))

    def seed_decaps() -> str | None:
        key = load_seed_key(implementation, _hex(test["seed"]))
        problem = mismatch("ek", key.public_key.data, _hex(test["ek"]))
        if problem:
            return problem
        return mismatch("K", implementation.decapsulate(key, _hex(test["c"])), _hex(test["K"]))

    def encaps() -> str | None:
        public = implementation.load_public(_hex(test["ek"]))
        if test["result"] == "invalid":
            implementation.encapsulate(public)
            return None
        ciphertext, shared = implementation.encapsulate_derandomized(public, _hex(test["m"]))
        return mismatch("c", ciphertext, _hex(test["c"])) or mismatch("K", shared, _hex(test["K"]))

    def expanded_decaps() -> str | None:
        key = implementation.load_private(_hex(test["dk"]), KeyForm.EXPANDED)
        return mismatch("K", implementation.decapsulate(key, _hex(test["c"])), _hex(test["K"]))

    return {
        "MLKEMKeyGen": keygen,
        "MLKEMTest": seed_decaps,
        "MLKEMEncapsTest": encaps,
        "MLKEMDecapsValidationTest": expanded_decaps,
    }[kind]


# --- ML-DSA ---------------------------------------------------------------------------------


def _mldsa_plan(document: dict[str, Any], group: dict[str, Any]) -> Plan:
    def make(implementation: Any, test: dict[str, Any]) -> Action:
        if group["type"] == "MlDsaVerify":
            public, message = _hex(group["publicKey"]), _hex(test["msg"])
            signature, context = _hex(test["sig"]), _hex(test.get("ctx"))
            return _verify_action(implementation, public, message, signature, context)
        return _mldsa_sign_action(implementation, group, test)

    return document["algorithm"].lower(), None, make


def _mldsa_mu(public_key: bytes, representative: bytes) -> bytes:
    """Return ML-DSA's message representative mu (FIPS 204, Algorithm 7, lines 6 and 7).

    mu = SHAKE256(tr || M', 64 bytes) with tr = SHAKE256(public key, 64 bytes), where
    M' is 0x00 || len(ctx) || ctx || message for pure ML-DSA.
    """
    tr = hashlib.shake_256(public_key).digest(64)
    return hashlib.shake_256(tr + representative).digest(64)


def _mldsa_sign_action(implementation: Any, group: dict[str, Any], test: dict[str, Any]) -> Action:
    def action() -> str | None:
        if "privateSeed" in group:
            key = load_seed_key(implementation, _hex(group["privateSeed"]))
        else:
            key = implementation.load_private(_hex(group["privateKey"]), KeyForm.EXPANDED)
        expected = _hex(test["sig"])
        randomness = _hex(test["rnd"]) if "rnd" in test else bytes(32)
        if "msg" not in test:
            signature = implementation.sign_mu(key, _hex(test["mu"]), randomness)
            return mismatch("signature", signature, expected)

        context = _hex(test.get("ctx"))
        # A case that gives mu beside the message is checked on mu too.  tr needs the
        # group's public key, which some groups leave out, and a context longer than 255
        # bytes has no M' (the signer rejects it below).
        if "mu" in test and "publicKey" in group and len(context) <= 255:
            representative = bytes([0, len(context)]) + context + _hex(test["msg"])
            wrong_mu = mismatch(
                "mu", _mldsa_mu(_hex(group["publicKey"]), representative), _hex(test["mu"])
            )
            if wrong_mu is not None:
                return wrong_mu
        if "rnd" in test:
            representative = bytes([0, len(context)]) + context + _hex(test["msg"])
            signature = implementation.sign_internal(key, representative, randomness)
        else:
            signature = implementation.sign_deterministic(
                key, _hex(test["msg"]), _hex(test.get("ctx"))
            )
        return mismatch("signature", signature, expected)

    return action


def _run_group(plan: Plan, group: dict[str, Any], report: FileReport, selection: Selection) -> None:
    """Run every test of ``group`` with every selected implementation of the plan's algorithm."""
    name, unsupported, make = plan
    implementations = [] if unsupported else selection.implementations(name)
    if not implementations:
        selection.skip_unregistered(report, name, _cases(group), unsupported)
        return
    for implementation in implementations:
        for test in group["tests"]:
            action = make(implementation, test)
            flags = test.get("flags", [])
            provider = implementation.provider
            judge(report, name, provider, _case(test), test["result"], action, flags)


# --- Dispatch -------------------------------------------------------------------------------

#: Group type -> function returning (algorithm id, reason it is not offered, action maker).
PLANS: dict[str, Callable[[dict[str, Any], dict[str, Any]], Plan]] = {
    "AeadTest": _aead_plan,
    "HkdfTest": _hkdf_plan,
    "EddsaVerify": _signature_plan,
    "EcdsaVerify": _signature_plan,
    "EcdsaP1363Verify": _signature_plan,
    "RsassaPssVerify": _signature_plan,
    "XdhComp": _dh_plan,
    "EcdhTest": _dh_plan,
    "EcdhEcpointTest": _dh_plan,
    "RsaesOaepDecrypt": _oaep_plan,
    "MLKEMTest": _mlkem_plan,
    "MLKEMKeyGen": _mlkem_plan,
    "MLKEMEncapsTest": _mlkem_plan,
    "MLKEMDecapsValidationTest": _mlkem_plan,
    "MlDsaSign": _mldsa_plan,
    "MlDsaVerify": _mldsa_plan,
}

#: Group types whose algorithm agile does not register, with the id used in the report.
UNREGISTERED = {"MacTest": "hmac", "DaeadTest": "aes-siv-cmac"}


# --- File checks ----------------------------------------------------------------------------

#: Largest size or length a group header may state, in bits or bytes (an RSA modulus, a salt).
MAX_HEADER_SIZE = 1 << 16

_FIX = "restore the file from its source, or leave it out of the paths"

#: The group type of each Wycheproof schema, by the file's ``schema`` value.
SCHEMA_TYPES: dict[str, str] = {
    "aead_test_schema_v1.json": "AeadTest",
    "daead_test_schema_v1.json": "DaeadTest",
    "ecdh_ecpoint_test_schema_v1.json": "EcdhEcpointTest",
    "ecdh_test_schema_v1.json": "EcdhTest",
    "ecdsa_p1363_verify_schema_v1.json": "EcdsaP1363Verify",
    "ecdsa_verify_schema_v1.json": "EcdsaVerify",
    "eddsa_verify_schema_v1.json": "EddsaVerify",
    "hkdf_test_schema_v1.json": "HkdfTest",
    "mac_test_schema_v1.json": "MacTest",
    "mldsa_sign_noseed_schema.json": "MlDsaSign",
    "mldsa_sign_seed_schema.json": "MlDsaSign",
    "mldsa_verify_schema.json": "MlDsaVerify",
    "mlkem_encaps_test_schema.json": "MLKEMEncapsTest",
    "mlkem_keygen_seed_test_schema.json": "MLKEMKeyGen",
    "mlkem_semi_expanded_decaps_test_schema.json": "MLKEMDecapsValidationTest",
    "mlkem_test_schema.json": "MLKEMTest",
    "rsaes_oaep_decrypt_schema_v1.json": "RsaesOaepDecrypt",
    "rsassa_pss_verify_schema_v1.json": "RsassaPssVerify",
    "xdh_comp_schema_v1.json": "XdhComp",
}

_AEAD_TYPES = frozenset({"AeadTest"})
_MLKEM_TYPES = frozenset(
    {"MLKEMTest", "MLKEMKeyGen", "MLKEMEncapsTest", "MLKEMDecapsValidationTest"}
)

#: The group types this reader knows that a file of each ``algorithm`` may hold, for files
#: whose schema is not in :data:`SCHEMA_TYPES`.  ``HKDF-``, ``HMAC`` and ``ML-DSA-`` are
#: matched as prefixes.
ALGORITHM_TYPES: dict[str, frozenset[str]] = {
    "AES-GCM": _AEAD_TYPES,
    "AES-GCM-SIV": _AEAD_TYPES,
    "CHACHA20-POLY1305": _AEAD_TYPES,
    "XCHACHA20-POLY1305": _AEAD_TYPES,
    "AES-SIV-CMAC": frozenset({"DaeadTest"}),
    "HKDF-": frozenset({"HkdfTest"}),
    "HMAC": frozenset({"MacTest"}),
    "XDH": frozenset({"XdhComp"}),
    "ECDH": frozenset({"EcdhTest", "EcdhEcpointTest"}),
    "ECDSA": frozenset({"EcdsaVerify", "EcdsaP1363Verify"}),
    "EDDSA": frozenset({"EddsaVerify"}),
    "RSASSA-PSS": frozenset({"RsassaPssVerify"}),
    "RSAES-OAEP": frozenset({"RsaesOaepDecrypt"}),
    "ML-KEM": _MLKEM_TYPES,
    "ML-DSA-": frozenset({"MlDsaSign", "MlDsaVerify"}),
}

#: A check of one field's value: returns None when it is well formed, else the problem.
Check = Callable[[Any], "str | None"]


def _shown(value: Any) -> str:
    """Return a short text for a value from the file, which may be huge."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"a {value.bit_length()}-bit integer"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _size(value: Any) -> str | None:
    if _is_int(value) and 0 <= value <= MAX_HEADER_SIZE:
        return None
    return f"must be an integer from 0 to {MAX_HEADER_SIZE}, not {_shown(value)}"


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value else f"must be a name, not {_shown(value)}"


def _hex_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a hexadecimal string, not {_shown(value)}"
    return hex_problem(value)


def _key_check(fields: dict[str, Check]) -> Check:
    """Return a check of a nested key object (``publicKey``) with ``fields``."""

    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"must be an object, not {_shown(value)}"
        for name, field_check in fields.items():
            if name not in value:
                return f"misses field {name!r}"
            problem = field_check(value[name])
            if problem:
                return f"field {name!r} {problem}"
        return None

    return check


def _parameter_set(value: Any) -> str | None:
    if value in ("ML-KEM-512", "ML-KEM-768", "ML-KEM-1024"):
        return None
    return f"must be ML-KEM-512, ML-KEM-768 or ML-KEM-1024, not {_shown(value)}"


def _result(value: Any) -> str | None:
    if value in EXPECTED_RESULTS:
        return None
    return f"unknown expected result {_shown(value)}, expected one of " + ", ".join(
        EXPECTED_RESULTS
    )


def _flags(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(flag, str) for flag in value):
        return None
    return f"must be a list of names, not {_shown(value)}"


@dataclass(frozen=True)
class Layout:
    """The fields of one group type that the reader uses, and how they must agree."""

    #: Group header fields that must be present.
    header: dict[str, Check]
    #: Case fields that must be present.
    fields: dict[str, Check]
    #: Case fields checked where present.
    optional: dict[str, Check] = dataclass_field(default_factory=dict)
    #: Pairs (header size in bits, case field) that every case not ``invalid`` must agree
    #: on.  Wycheproof's invalid cases may carry empty or truncated values.
    sizes: tuple[tuple[str, str], ...] = ()
    #: Header fields of which at least one must be present (and is then checked as hex).
    header_any: tuple[str, ...] = ()
    #: Case fields of which at least one must be present (and is then checked as hex).
    fields_any: tuple[str, ...] = ()


def _hex_fields(*names: str) -> dict[str, Check]:
    return dict.fromkeys(names, _hex_text)


_SIGNATURE_CASE = _hex_fields("msg", "sig")
_EC_PUBLIC_KEY = _key_check({"curve": _text, "uncompressed": _hex_text})

#: Layout of each group type the reader runs or skips by name.
LAYOUTS: dict[str, Layout] = {
    "AeadTest": Layout(
        header={"keySize": _size, "ivSize": _size, "tagSize": _size},
        fields=_hex_fields("key", "iv", "aad", "msg", "ct", "tag"),
        sizes=(("keySize", "key"), ("ivSize", "iv"), ("tagSize", "tag")),
    ),
    "DaeadTest": Layout(
        header={"keySize": _size},
        fields=_hex_fields("key", "aad", "msg", "ct"),
        sizes=(("keySize", "key"),),
    ),
    "MacTest": Layout(
        header={"keySize": _size, "tagSize": _size},
        fields=_hex_fields("key", "msg", "tag"),
        sizes=(("keySize", "key"), ("tagSize", "tag")),
    ),
    "HkdfTest": Layout(
        header={"keySize": _size},
        fields={**_hex_fields("ikm", "salt", "info", "okm"), "size": _size},
        sizes=(("keySize", "ikm"),),
    ),
    "EddsaVerify": Layout(
        header={"publicKey": _key_check({"curve": _text, "pk": _hex_text})},
        fields=_SIGNATURE_CASE,
    ),
    "EcdsaVerify": Layout(
        header={"publicKey": _EC_PUBLIC_KEY, "sha": _text}, fields=_SIGNATURE_CASE
    ),
    "EcdsaP1363Verify": Layout(
        header={"publicKey": _EC_PUBLIC_KEY, "sha": _text}, fields=_SIGNATURE_CASE
    ),
    "RsassaPssVerify": Layout(
        header={
            "keySize": _size,
            "sha": _text,
            "mgfSha": _text,
            "sLen": _size,
            "publicKeyDer": _hex_text,
        },
        fields=_SIGNATURE_CASE,
    ),
    "RsaesOaepDecrypt": Layout(
        header={"keySize": _size, "sha": _text, "mgfSha": _text, "privateKeyPkcs8": _hex_text},
        fields=_hex_fields("ct", "label", "msg"),
    ),
    "XdhComp": Layout(header={"curve": _text}, fields=_hex_fields("private", "public", "shared")),
    "EcdhTest": Layout(header={"curve": _text}, fields=_hex_fields("private", "public", "shared")),
    "EcdhEcpointTest": Layout(
        header={"curve": _text}, fields=_hex_fields("private", "public", "shared")
    ),
    "MLKEMTest": Layout(
        header={"parameterSet": _parameter_set},
        fields=_hex_fields("seed", "c", "K"),
        optional=_hex_fields("ek"),
    ),
    "MLKEMKeyGen": Layout(
        header={"parameterSet": _parameter_set},
        fields=_hex_fields("seed", "ek"),
        optional=_hex_fields("dk"),
    ),
    "MLKEMEncapsTest": Layout(
        header={"parameterSet": _parameter_set},
        fields=_hex_fields("ek", "m", "c", "K"),
    ),
    "MLKEMDecapsValidationTest": Layout(
        header={"parameterSet": _parameter_set},
        fields=_hex_fields("dk", "c"),
        optional=_hex_fields("ek", "K"),
    ),
    "MlDsaSign": Layout(
        header={},
        fields=_hex_fields("sig"),
        optional=_hex_fields("ctx", "rnd"),
        header_any=("privateSeed", "privateKey"),
        fields_any=("msg", "mu"),
    ),
    "MlDsaVerify": Layout(
        header={"publicKey": _hex_text}, fields=_SIGNATURE_CASE, optional=_hex_fields("ctx")
    ),
}

_RSA_TYPES = ("RsassaPssVerify", "RsaesOaepDecrypt")


def _damage(path: str, where: str, problem: str) -> VectorFormatError:
    return VectorFormatError(f"{path}: {where}: {problem}", fix=_FIX)


def _allowed_types(path: str, document: dict[str, Any]) -> tuple[frozenset[str] | None, bool]:
    """Return the group types the file allows, and whether they come from its schema.

    The types are None when neither the schema nor the algorithm is known here.
    """
    schema = document.get("schema")
    if schema is not None and not isinstance(schema, str):
        raise _damage(path, "schema", f"must be a file name, not {_shown(schema)}")
    if schema in SCHEMA_TYPES:
        return frozenset({SCHEMA_TYPES[schema]}), True
    algorithm = document["algorithm"]
    for name, types in ALGORITHM_TYPES.items():
        prefix = name.endswith("-") or name == "HMAC"
        if algorithm == name or (prefix and algorithm.startswith(name)):
            return types, False
    return None, False


def check_file(path: str, document: dict[str, Any]) -> None:
    """Raise :class:`VectorFormatError` unless ``document`` is a well-formed Wycheproof file."""
    if not isinstance(document["algorithm"], str) or not document["algorithm"]:
        raise _damage(path, "algorithm", f"must be a name, not {_shown(document['algorithm'])}")
    groups = document["testGroups"]
    if not isinstance(groups, list):
        raise _damage(path, "testGroups", f"must be a list, not {_shown(groups)}")
    allowed, by_schema = _allowed_types(path, document)

    first_group: dict[int, int] = {}  # tcId -> index of the group that contains it
    for index, group in enumerate(groups):
        if not isinstance(group, dict):
            raise _damage(path, f"group {index}", f"must be an object, not {_shown(group)}")
        kind = group.get("type")
        if not isinstance(kind, str):
            raise _damage(
                path, f"group {index}", f"field 'type' must be a name, not {_shown(kind)}"
            )
        where = f"group {index} ({kind})"
        # A type this reader does not know is skipped by name, unless the schema rules it out.
        known = kind in PLANS or kind in UNREGISTERED
        if allowed is not None and kind not in allowed and (known or by_schema):
            raise _damage(
                path,
                where,
                f"type {kind} does not belong to a {document['algorithm']} file "
                f"(schema {document.get('schema', 'not given')}); expected "
                + " or ".join(sorted(allowed)),
            )
        _check_group(path, where, group)
        for test in group["tests"]:
            if test["tcId"] in first_group:
                raise _damage(
                    path,
                    f"{where} tcId {test['tcId']}",
                    f"tcId is used again (first in group {first_group[test['tcId']]})",
                )
            first_group[test["tcId"]] = index

    declared = document.get("numberOfTests")
    if declared is not None and declared != len(first_group):
        raise _damage(
            path,
            "numberOfTests",
            f"is {_shown(declared)}, but the file has {len(first_group)} cases",
        )


def _check_group(path: str, where: str, group: dict[str, Any]) -> None:
    """Check one group's header and cases against its layout (see :data:`LAYOUTS`)."""
    tests = group.get("tests")
    if not isinstance(tests, list):
        raise _damage(path, where, f"field 'tests' must be a list, not {_shown(tests)}")
    layout = LAYOUTS.get(group["type"])
    if layout is not None:
        _check_fields(path, where, group, layout.header, layout.header_any)
        if group["type"] in _RSA_TYPES:
            _check_rsa_size(path, where, group)

    for test in tests:
        if not isinstance(test, dict):
            raise _damage(path, where, f"a case must be an object, not {_shown(test)}")
        if "tcId" not in test:
            raise _damage(path, where, "missing field 'tcId' in a case")
        if not _is_int(test["tcId"]):
            raise _damage(path, where, f"tcId must be an integer, not {_shown(test['tcId'])}")
        case = f"{where} tcId {test['tcId']}"
        common: dict[str, Check] = {"result": _result}
        _check_fields(path, case, test, common, ())
        _check_fields(path, case, test, {"flags": _flags}, (), optional=True)
        if layout is None:
            continue
        _check_fields(path, case, test, layout.fields, layout.fields_any)
        _check_fields(path, case, test, layout.optional, (), optional=True)
        if test["result"] == "invalid":
            continue
        for header, name in layout.sizes:
            bits = 4 * len(test[name])
            if bits != group[header]:
                raise _damage(
                    path,
                    case,
                    f"{name} has {bits} bits, but the group's {header} is {group[header]}",
                )


def _check_fields(
    path: str,
    where: str,
    item: dict[str, Any],
    checks: dict[str, Check],
    any_of: tuple[str, ...],
    *,
    optional: bool = False,
) -> None:
    for name, check in checks.items():
        if name not in item:
            if optional:
                continue
            raise _damage(path, where, f"missing field {name!r}")
        problem = check(item[name])
        if problem:
            raise _damage(path, where, f"field {name!r} {problem}")
    if any_of and not any(name in item for name in any_of):
        raise _damage(path, where, "missing field " + " or ".join(repr(n) for n in any_of))
    for name in any_of:
        if name in item and (problem := _hex_text(item[name])):
            raise _damage(path, where, f"field {name!r} {problem}")


def _check_rsa_size(path: str, where: str, group: dict[str, Any]) -> None:
    """Compare an RSA group's keySize with the bit length of the modulus of its key."""
    try:
        if group["type"] == "RsassaPssVerify":
            key: Any = serialization.load_der_public_key(_hex(group["publicKeyDer"]))
        else:
            key = serialization.load_der_private_key(_hex(group["privateKeyPkcs8"]), None)
    except (ValueError, TypeError) as error:
        raise _damage(path, where, f"the group's key is not a DER RSA key ({error})") from None
    if not isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        raise _damage(path, where, f"the group's key is a {type(key).__name__}, not an RSA key")
    if key.key_size != group["keySize"]:
        raise _damage(
            path,
            where,
            f"keySize is {group['keySize']}, but the group's key has a {key.key_size}-bit modulus",
        )


def run_file(path: str, document: dict[str, Any], selection: Selection) -> FileReport:
    check_file(path, document)
    report = FileReport(path=path, format=FORMAT)
    for group in document["testGroups"]:
        kind = group["type"]
        planner = PLANS.get(kind)
        if planner is None and kind in UNREGISTERED:
            algorithm = UNREGISTERED[kind]
            if algorithm == "hmac":
                algorithm = document["algorithm"].lower().replace("hmacsha", "hmac-sha")
            selection.skip_unregistered(report, algorithm, _cases(group))
            continue
        if planner is None:
            reason = f"Wycheproof test group type {kind} is not supported by the runner"
            algorithm = str(document.get("algorithm", kind)).lower()
            selection.skip_unregistered(report, algorithm, _cases(group), reason)
            continue
        _run_group(planner(document, group), group, report, selection)
    return report
