"""Reader for NIST ACVP ``prompt.json`` + ``expectedResults.json`` pairs.

Supported: ML-KEM keyGen and encapDecap (FIPS 203), ML-DSA keyGen, sigGen and
sigVer (FIPS 204), SLH-DSA keyGen (FIPS 205).  ML-DSA files come in two layouts.
The 2024 sigGen files have no ``signatureInterface`` and test Sign_internal on
M' directly.  The 2025 files name the interface (internal or external), the
pre-hash mode and whether mu is given externally.  Each group is dispatched on
those fields, never on the file name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UnsupportedOperation, VectorFormatError
from ..registry.interfaces import KeyForm
from .hexfield import decode_hex
from .judge import judge, mismatch
from .report import FileReport
from .targets import Selection

__all__ = ["is_prompt", "run_pair"]

FORMAT = "acvp"


def is_prompt(path: Path, document: Any) -> bool:
    return (
        isinstance(document, dict)
        and "vsId" in document
        and "testGroups" in document
        and path.name == "prompt.json"
    )


def _hex(value: str | None) -> bytes:
    return decode_hex(value or "")


def _flag(value: Any) -> bool:
    """Return an ACVP boolean, which the files write as a JSON bool or as "True"/"False"."""
    return value is True or str(value).lower() == "true"


def _expected(path: Path, vector_set: Any) -> dict[tuple[int, str], dict[str, Any]]:
    """Return the answers of the prompt's vector set (``vsId``), keyed by (tgId, tcId)."""
    answers = path.with_name("expectedResults.json")
    if not answers.is_file():
        raise VectorFormatError(
            f"{path}: no expectedResults.json beside the ACVP prompt",
            fix="copy the matching expectedResults.json into the same directory",
        )
    try:
        document = json.loads(answers.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VectorFormatError(
            f"{answers}: not valid JSON ({error})",
            fix="restore the file from its source, or leave its folder out of the paths",
        ) from None
    if not isinstance(document, dict) or document.get("vsId") != vector_set:
        found = document.get("vsId") if isinstance(document, dict) else None
        raise VectorFormatError(
            f"{answers}: vsId {found!r} differs from the prompt's vsId {vector_set!r}",
            fix=f"use the expectedResults.json of ACVP vector set {vector_set!r} beside its prompt",
        )
    table: dict[tuple[int, str], dict[str, Any]] = {}
    for group in document["testGroups"]:
        for test in group["tests"]:
            table[(int(group["tgId"]), str(test["tcId"]))] = test
    return table


def run_pair(path: Path, document: dict[str, Any], selection: Selection) -> FileReport:
    report = FileReport(path=str(path), format=FORMAT)
    # Some ACVP algorithms (ACVP-AES-GCM, for one) have no "mode" and no "parameterSet".
    algorithm, mode = document["algorithm"], str(document.get("mode"))
    if not any(known == algorithm for known, _mode in _BUILDERS):
        report.skipped_reason = f"ACVP {algorithm} vector sets are not supported by the runner"
        return report
    answers = _expected(path, document["vsId"])
    for group in document["testGroups"]:
        name = group["parameterSet"].lower()
        cases = [f"tgId {group['tgId']} tcId {test['tcId']}" for test in group["tests"]]
        builder = _BUILDERS.get((algorithm, mode))
        implementations = selection.implementations(name) if builder else []
        if not implementations:
            reason = None if builder else f"ACVP {algorithm} {mode} is not supported by the runner"
            selection.skip_unregistered(report, name, cases, reason)
            continue
        for implementation in implementations:
            for test, case in zip(group["tests"], cases, strict=True):
                answer = answers.get((int(group["tgId"]), str(test["tcId"])))
                if answer is None:
                    raise VectorFormatError(
                        f"{path}: no expected result for {case} in expectedResults.json",
                        fix="restore the expectedResults.json of this ACVP vector set",
                    )
                assert builder is not None  # implementations is empty without a builder
                action, expected = builder(implementation, group, test, answer)
                judge(report, name, implementation.provider, case, expected, action)
    return report


Builder = Callable[
    [Any, dict[str, Any], dict[str, Any], dict[str, Any]], tuple[Callable[[], str | None], str]
]


def _compare_expanded(implementation, key, name: str, expected: bytes) -> str | None:
    """Compare the expanded private key where the provider can produce it.

    cryptography exposes ML-KEM and ML-DSA private keys only as seeds, so for it the
    case checks the public key, which is derived from the same expansion.
    """
    try:
        expanded = implementation.export_private(key, KeyForm.EXPANDED)
    except UnsupportedOperation:
        return None
    return mismatch(name, expanded, expected)


def _mlkem_keygen(implementation, group, test, answer):
    def action() -> str | None:
        key = implementation.load_private(_hex(test["d"]) + _hex(test["z"]), KeyForm.SEED)
        problem = mismatch("ek", key.public_key.data, _hex(answer["ek"]))
        return problem or _compare_expanded(implementation, key, "dk", _hex(answer["dk"]))

    return action, "valid"


def _mlkem_encap_decap(implementation, group, test, answer):
    function = group["function"]
    if function == "encapsulation":

        def action() -> str | None:
            public = implementation.load_public(_hex(test["ek"]))
            ciphertext, shared = implementation.encapsulate_derandomized(public, _hex(test["m"]))
            return mismatch("c", ciphertext, _hex(answer["c"])) or mismatch(
                "k", shared, _hex(answer["k"])
            )

        return action, "valid"
    if function == "decapsulation":

        def action() -> str | None:
            key = implementation.load_private(
                _hex(test.get("dk") or group.get("dk")), KeyForm.EXPANDED
            )
            shared = implementation.decapsulate(key, _hex(test["c"]))
            return mismatch("k", shared, _hex(answer["k"]))

        return action, "valid"

    if function in ("encapsulationKeyCheck", "decapsulationKeyCheck"):
        # FIPS 203 §7.2 and §7.3 input checks: testPassed states whether the key passes.
        expected = "valid" if _flag(answer.get("testPassed")) else "invalid"

        def key_check() -> str | None:
            if function == "encapsulationKeyCheck":
                implementation.encapsulate(implementation.load_public(_hex(test["ek"])))
            else:
                key = implementation.load_private(_hex(test["dk"]), KeyForm.EXPANDED)
                ciphertext = bytes(implementation.descriptor.sizes.ciphertext or 0)
                implementation.decapsulate(key, ciphertext)
            return None

        return key_check, expected

    def unsupported() -> str | None:
        raise UnsupportedOperation(
            f"ACVP ML-KEM function {function!r} is not supported by the runner"
        )

    return unsupported, "valid"


def _mldsa_keygen(implementation, group, test, answer):
    def action() -> str | None:
        key = implementation.load_private(_hex(test["seed"]), KeyForm.SEED)
        problem = mismatch("pk", key.public_key.data, _hex(answer["pk"]))
        return problem or _compare_expanded(implementation, key, "sk", _hex(answer["sk"]))

    return action, "valid"


def _mldsa_siggen(implementation, group, test, answer):
    interface = group.get("signatureInterface", "internal")
    randomness = bytes(32) if _flag(group.get("deterministic")) else _hex(test.get("rnd"))

    def action() -> str | None:
        key = implementation.load_private(_hex(test.get("sk") or group.get("sk")), KeyForm.EXPANDED)
        if interface == "internal" and _flag(group.get("externalMu")):
            signature = implementation.sign_mu(key, _hex(test["mu"]), randomness)
        elif interface == "internal":
            signature = implementation.sign_internal(key, _hex(test["message"]), randomness)
        elif group.get("preHash") == "pure":
            context = _hex(test.get("context"))
            representative = bytes([0, len(context)]) + context + _hex(test["message"])
            signature = implementation.sign_internal(key, representative, randomness)
        else:
            raise UnsupportedOperation("HashML-DSA (pre-hash) signing is not registered")
        return mismatch("signature", signature, _hex(answer["signature"]))

    return action, "valid"


def _mldsa_sigver(implementation, group, test, answer):
    interface = group.get("signatureInterface", "internal")
    expected = "valid" if str(answer["testPassed"]).lower() == "true" else "invalid"

    def action() -> str | None:
        public = implementation.load_public(_hex(test.get("pk") or group.get("pk")))
        signature = _hex(test["signature"])
        if interface == "internal" and _flag(group.get("externalMu")):
            implementation.verify_mu(public, _hex(test["mu"]), signature)
        elif interface == "internal":
            implementation.verify_internal(public, _hex(test["message"]), signature)
        elif group.get("preHash") == "pure":
            implementation.verify(
                public, _hex(test["message"]), signature, _hex(test.get("context"))
            )
        else:
            raise UnsupportedOperation("HashML-DSA (pre-hash) verification is not registered")
        return None

    return action, expected


def _slhdsa_keygen(implementation, group, test, answer):
    def action() -> str | None:
        seed = _hex(test["skSeed"]) + _hex(test["skPrf"]) + _hex(test["pkSeed"])
        key = implementation.derive_key_pair(seed)
        problem = mismatch("pk", key.public_key.data, _hex(answer["pk"]))
        return problem or mismatch("sk", key.data, _hex(answer["sk"]))

    return action, "valid"


_BUILDERS: dict[tuple[str, str], Builder] = {
    ("ML-KEM", "keyGen"): _mlkem_keygen,
    ("ML-KEM", "encapDecap"): _mlkem_encap_decap,
    ("ML-DSA", "keyGen"): _mldsa_keygen,
    ("ML-DSA", "sigGen"): _mldsa_siggen,
    ("ML-DSA", "sigVer"): _mldsa_sigver,
    ("SLH-DSA", "keyGen"): _slhdsa_keygen,
}
