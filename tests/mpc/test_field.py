"""Vector Shamir sharing in the MPC field and input range checks."""

from __future__ import annotations

import random

import pytest

from agile.errors import InvalidArgument, MPCError
from mpc import field, protocols


def test_share_reconstruct_any_two() -> None:
    values = field.embed([5, -7, 2**63 - 1, -(2**63), 0])
    shares = field.share_vector(values, 2, [1, 2, 3])
    assert field.reconstruct_vector({3: shares[3], 1: shares[1]}) == values


def test_single_share_looks_random() -> None:
    values = field.embed([0] * 64)
    shares = field.share_vector(values, 2, [1, 2])
    assert shares[1] != values


def test_lift_negative() -> None:
    assert field.lift(field.embed([-1, 1])) == [-1, 1]


def test_encode_decode() -> None:
    values = [random.randrange(field.MODULUS) for _ in range(100)]
    assert field.decode_vector(field.encode_vector(values), 100, "test") == values


def test_decode_wrong_length() -> None:
    with pytest.raises(MPCError, match="expected 64"):
        field.decode_vector(bytes(63), 2, "test")


def test_decode_out_of_field() -> None:
    data = field.MODULUS.to_bytes(32, "little")
    with pytest.raises(MPCError, match="outside the field"):
        field.decode_vector(data, 1, "test")


def test_input_above_range() -> None:
    with pytest.raises(InvalidArgument, match="value 2"):
        field.check_inputs([1, 2**63])


def test_input_below_range() -> None:
    with pytest.raises(InvalidArgument, match="64-bit"):
        field.check_inputs([-(2**63) - 1])


def test_input_not_integer() -> None:
    with pytest.raises(InvalidArgument, match="not an integer"):
        field.check_inputs([1.5])  # type: ignore[list-item]


def test_mean_decimal() -> None:
    opened = [*field.embed([3, -4]), 2]
    assert protocols.finalize("mean", opened) == ["1.5", "-2"]


def test_unknown_operation() -> None:
    with pytest.raises(InvalidArgument, match="unknown MPC operation"):
        protocols.prepare("product", [1])


def test_read_integers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "in.csv"
    path.write_text("1,2\n-3\n\n 4 \n")
    assert protocols.read_integers(path) == [1, 2, -3, 4]


def test_read_integers_bad_cell(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "in.csv"
    path.write_text("1\nx\n")
    with pytest.raises(InvalidArgument, match="line 2"):
        protocols.read_integers(path)


def test_read_integers_byte_order_mark(tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "bom.csv"
    source.write_bytes(b"\xef\xbb\xbf1,+2,-3\n")
    assert protocols.read_integers(source) == [1, 2, -3]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe1\n", "not UTF-8 text"),
        (b"1_0\n", "'1_0' is not an integer"),
        ("\u0661\n".encode(), "is not an integer"),
        (b"1" * 5000 + b"\n", "outside the 64-bit signed range"),
    ],
)
def test_read_integers_rejects(tmp_path, data: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "input.csv"
    source.write_bytes(data)
    with pytest.raises(InvalidArgument, match=message):
        protocols.read_integers(source)
