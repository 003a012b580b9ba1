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


def _run_aead(
    document: dict[str, Any], group: dict[str, Any], report: FileReport, selection: Selection
) -> None:
    name, unsupported = _aead_id(document["algorithm"], group)
    implementations = selection.implementations(name)
    if unsupported or not implementations:
        selection.skip_unregistered(report, name, _cases(group), unsupported)
        return
    for implementation in implementations:
        for test in group["tests"]:
            key, nonce, aad = _hex(test["key"]), _hex(test["iv"]), _hex(test["aad"])
            message, sealed = _hex(test["msg"]), _hex(test["ct"]) + _hex(test["tag"])

            def action(
                implementation=implementation,
                test=test,
                key=key,
                nonce=nonce,
                aad=aad,
                message=message,
                sealed=sealed,
            ) -> str | None:
                context = implementation.new(key)
                opened = context.decrypt(nonce, sealed, aad)
                if test["result"] != "invalid":
                    problem = mismatch("plaintext", opened, message)
                    if problem:
                        return problem
                    return mismatch("ciphertext", context.encrypt(nonce, message, aad), sealed)
                return mismatch("plaintext", opened, message)

            judge(
                report,
                name,
                implementation.provider,
                _case(test),
                test["result"],
                action,
                test.get("flags", []),
            )


# --- HKDF -----------------------------------------------------------------------------------


def _run_hkdf(
    document: dict[str, Any], group: dict[str, Any], report: FileReport, selection: Selection
) -> None:
    name = {
        "HKDF-SHA-256": "hkdf-sha256",
        "HKDF-SHA-384": "hkdf-sha384",
        "HKDF-SHA-512": "hkdf-sha512",
    }.get(document["algorithm"], document["algorithm"].lower())
    implementations = selection.implementations(name)
    if not implementations:
        selection.skip_unregistered(report, name, _cases(group))
        return
    for implementation in implementations:
        for test in group["tests"]:

            def action(implementation=implementation, test=test) -> str | None:
                okm = implementation.derive(
                    _hex(test["ikm"]), _hex(test["salt"]), _hex(test["info"]), int(test["size"])
                )
                return mismatch("okm", okm, _hex(test["okm"]))

            judge(
                report,
                name,
                implementation.provider,
                _case(test),
                test["result"],
                action,
                test.get("flags", []),
            )


# --- Signatures -----------------------------------------------------------------------------


def _verify_action(
    implementation,
    public: bytes,
    message: bytes,
    signature: bytes,
    context: bytes = b"",
    convert: Callable[[bytes], bytes] | None = None,
) -> Callable[[], str | None]:
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
    document: dict[str, Any], group: dict[str, Any]
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
        bits, sha, mgf_sha, salt = (
            int(group["keySize"]),
            group["sha"],
            group["mgfSha"],
            int(group["sLen"]),
        )
        name = f"rsa-pss-{bits}-{sha.lower().replace('-', '')}"
        if (sha, mgf_sha, salt) != ("SHA-256", "SHA-256", 32):
            return (
                name,
                None,
                f"{name} with MGF1-{mgf_sha} and a {salt}-byte salt is not registered",
            )
        return name, None, None
    return kind, None, f"unknown signature group type {kind}"


def _signature_public(group: dict[str, Any]) -> bytes:
    key = group["publicKey"]
    if group["type"] == "EddsaVerify":
        return _hex(key["pk"])
    if group["type"] == "RsassaPssVerify":
        return _hex(group["publicKeyDer"])
    return _hex(key["uncompressed"])


def _run_signature_verify(
    document: dict[str, Any], group: dict[str, Any], report: FileReport, selection: Selection
) -> None:
    name, convert, unsupported = _signature_id(document, group)
    implementations = [] if unsupported else selection.implementations(name)
    if not implementations:
        selection.skip_unregistered(report, name, _cases(group), unsupported)
        return
    public = _signature_public(group)
    for implementation in implementations:
        for test in group["tests"]:
            action = _verify_action(
                implementation, public, _hex(test["msg"]), _hex(test["sig"]), convert=convert
            )
            judge(
                report,
                name,
                implementation.provider,
                _case(test),
                test["result"],
                action,
                test.get("flags", []),
            )


# --- Key agreement --------------------------------------------------------------------------


def _run_dh(
    document: dict[str, Any], group: dict[str, Any], report: FileReport, selection: Selection
) -> None:
    curve = group["curve"]
    name = {"curve25519": "x25519", "secp256r1": "p256", "secp384r1": "p384"}.get(curve, curve)
    implementations = selection.implementations(name)
    if not implementations:
        selection.skip_unregistered(report, name, _cases(group))
        return
    encoding = "asn" if group["type"] == "EcdhTest" else "raw"
    for implementation in implementations:
        for test in group["tests"]:

            def action(implementation=implementation, test=test) -> str | None:
                exchange = getattr(implementation, "exchange", None)
                if exchange is None:
                    raise UnsupportedOperation(
                        f"{implementation.provider} exposes no raw {name} key agreement"
                    )
                shared = exchange(_hex(test["private"]), _hex(test["public"]), encoding)
                return mismatch("shared secret", shared, _hex(test["shared"]))

            judge(
                report,
                name,
                implementation.provider,
                _case(test),
                test["result"],
                action,
                test.get("flags", []),
            )


def _run_oaep(
    document: dict[str, Any], group: dict[str, Any], report: FileReport, selection: Selection
) -> None:
    bits = int(group["keySize"])
    name = f"rsa-oaep-{bits}"
    unsupported = None
    if (group["sha"], group["mgfSha"]) != ("SHA-256", "SHA-256"):
        unsupported = f"{name} with {group['sha']} and MGF1-{group['mgfSha']} is not registered"
    implementations = [] if unsupported else selection.implementations(name)
    if not implementations:
        selection.skip_unregistered(report, name, _cases(group), unsupported)
        return
    for implementation in implementations:
        for test in group["tests"]:

            def action(implementation=implementation, test=test) -> str | None:
                decrypt = getattr(implementation, "decrypt_oaep", None)
                if decrypt is None:
                    raise UnsupportedOperation(
                        f"{implementation.provider} exposes no raw OAEP decryption"
                    )
                key = implementation.load_private(_hex(group["privateKeyPkcs8"]), KeyForm.PKCS8)
                message = decrypt(key, _hex(test["ct"]), _hex(test["label"]))
                return mismatch("message", message, _hex(test["msg"]))

            judge(
                report,
                name,
                implementation.provider,
                _case(test),
                test["result"],
                action,
                test.get("flags", []),
            )


# --- ML-KEM ---------------------------------------------------------------------------------


def _mlkem_id(group: dict[str, Any]) -> str:
    return group["parameterSet"].lower()


def _run_mlkem(
    document: dict[str, Any], group: dict[str, Any], report: FileReport, selection: Selection
) -> None:
    name = _mlkem_id(group)
    implementations = selection.implementations(name)
    if not implementations:
        selection.skip_unregistered(report, name, _cases(group))
        return
    kind = group["type"]
    for implementation in implementations:
        for test in group["tests"]:
            action = _mlkem_action(kind, implementation, test)
            judge(
                report,
                name,
                implementation.provider,
                _case(test),
                test["result"],
                action,
                test.get("flags", []),
            )


def _mlkem_action(kind: str, implementation, test: dict[str, Any]) -> Callable[[], str | None]:
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


def _run_mldsa(
    document: dict[str, Any], group: dict[str, Any], report: FileReport, selection: Selection
) -> None:
    name = document["algorithm"].lower()
    implementations = selection.implementations(name)
    if not implementations:
        selection.skip_unregistered(report, name, _cases(group))
        return
    for implementation in implementations:
        for test in group["tests"]:
            if group["type"] == "MlDsaVerify":
                action = _verify_action(
                    implementation,
                    _hex(group["publicKey"]),
                    _hex(test["msg"]),
                    _hex(test["sig"]),
                    _hex(test.get("ctx")),
                )
            else:
                action = _mldsa_sign_action(implementation, group, test)
            judge(
                report,
                name,
                implementation.provider,
                _case(test),
                test["result"],
                action,
                test.get("flags", []),
            )


def _mldsa_sign_action(
    implementation, group: dict[str, Any], test: dict[str, Any]
) -> Callable[[], str | None]:
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


# --- Dispatch -------------------------------------------------------------------------------

RUNNERS = {
    "AeadTest": _run_aead,
    "HkdfTest": _run_hkdf,
    "EddsaVerify": _run_signature_verify,
    "EcdsaVerify": _run_signature_verify,
    "EcdsaP1363Verify": _run_signature_verify,
    "RsassaPssVerify": _run_signature_verify,
    "XdhComp": _run_dh,
    "EcdhTest": _run_dh,
    "EcdhEcpointTest": _run_dh,
    "RsaesOaepDecrypt": _run_oaep,
    "MLKEMTest": _run_mlkem,
    "MLKEMKeyGen": _run_mlkem,
    "MLKEMEncapsTest": _run_mlkem,
    "MLKEMDecapsValidationTest": _run_mlkem,
    "MlDsaSign": _run_mldsa,
    "MlDsaVerify": _run_mldsa,
}

#: Group types whose algorithm agile does not register, with the id used in the report.
UNREGISTERED = {"MacTest": "hmac", "DaeadTest": "aes-siv-cmac"}


def run_file(path: str, document: dict[str, Any], selection: Selection) -> FileReport:
    report = FileReport(path=path, format=FORMAT)
    for group in document["testGroups"]:
        kind = group["type"]
        runner = RUNNERS.get(kind)
        if runner is None and kind in UNREGISTERED:
            algorithm = UNREGISTERED[kind]
            if algorithm == "hmac":
                algorithm = document["algorithm"].lower().replace("hmacsha", "hmac-sha")
            selection.skip_unregistered(report, algorithm, _cases(group))
            continue
        if runner is None:
            reason = f"Wycheproof test group type {kind} is not supported by the runner"
            algorithm = str(document.get("algorithm", kind)).lower()
            selection.skip_unregistered(report, algorithm, _cases(group), reason)
            continue
        runner(document, group, report, selection)
    return report
