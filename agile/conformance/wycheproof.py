"""Reader for Project Wycheproof ``testvectors_v1`` JSON files.

Each test group type maps to one registry family.  ``valid`` cases must produce
the expected output, ``invalid`` ones must raise an agile error, and
``acceptable`` ones are counted apart with their flags.  Parameters the registry
does not offer (a 64-bit GCM nonce, a 4096-bit RSA key, HMAC) are skipped with
the parameter named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import utils as asym_utils

from ..errors import InvalidSignature, UnsupportedOperation
from ..registry.interfaces import KeyForm
from .judge import judge, mismatch
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
    return bytes.fromhex(value or "")


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
        elif "rnd" in test:
            context = _hex(test.get("ctx"))
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


def run_file(path: str, document: dict[str, Any], selection: Selection) -> FileReport:
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
