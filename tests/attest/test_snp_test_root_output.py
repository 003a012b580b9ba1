"""``agile attest verify-snp --test-root`` states in its text output that a test root was used."""

from __future__ import annotations

from click.testing import CliRunner

from cli.attest import attest


def test_text_names_test_root(simulator, tmp_path, monkeypatch) -> None:
    (tmp_path / "report.bin").write_bytes(simulator.report(bytes(64)))
    (tmp_path / "vcek.pem").write_bytes(simulator.vcek_pem)
    (tmp_path / "chain.pem").write_bytes(simulator.chain_pem)
    (tmp_path / "ark.pem").write_bytes(simulator.pem(simulator.ark))
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(
        attest,
        [
            "verify-snp", "report.bin", "--vcek", "vcek.pem", "--chain", "chain.pem",
            "--test-root", "ark.pem",
        ],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    first_line = result.output.splitlines()[0]
    assert first_line.startswith("report.bin: valid")
    assert "test root ark.pem, not AMD's roots" in first_line
