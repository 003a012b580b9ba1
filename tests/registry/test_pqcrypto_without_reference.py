"""Without dilithium-py, pqcrypto cannot load an ML-DSA sk: unsupported here, not an invalid key."""

from __future__ import annotations

import sys

import pytest

from agile import registry
from agile.errors import UnsupportedOperation


def test_mldsa_sk_without_dilithium_py(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pqcrypto")
    pqcrypto = registry.signature("ml-dsa-44", "pqcrypto")
    secret = pqcrypto.export_private(pqcrypto.generate(), "expanded")
    # A None entry in sys.modules makes 'import dilithium_py...' raise ImportError, as on an
    # install without the 'reference' extra.
    monkeypatch.setitem(sys.modules, "dilithium_py", None)
    monkeypatch.setitem(sys.modules, "dilithium_py.ml_dsa", None)

    with pytest.raises(UnsupportedOperation, match="without dilithium-py") as caught:
        pqcrypto.load_private(secret, "expanded")
    assert "agile-crypto[reference]" in caught.value.fix
