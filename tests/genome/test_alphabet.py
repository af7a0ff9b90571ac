"""Tokenizer: vocabulary, vectorised encode/decode round trip, soft-mask, complement, reverse complement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genomamba import alphabet as tk
from genomamba.errors import GenomambaError

PY_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def random_seq(n: int, alphabet: str = "ACGTNacgtn", seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    return "".join(np.array(list(alphabet))[rng.integers(0, len(alphabet), n)])


def test_vocabulary_ids_are_fixed():
    tok = tk.NucleotideTokenizer()
    assert tok.tokens == ("A", "C", "G", "T", "N", "[PAD]", "[MASK]")
    assert (tk.A, tk.C, tk.G, tk.T, tk.N, tk.PAD, tk.MASK) == tuple(range(7))
    assert tok.vocab_size == 7 and tok.pad_token_id == 5 and tok.mask_token_id == 6


@pytest.mark.parametrize("n", [0, 1, 7, 4095, 4096, 4097, 100_001])
def test_round_trip_with_softmask(n):
    seq = random_seq(n, seed=n)
    tokens, softmask = tk.encode_with_softmask(seq)
    assert tokens.dtype == np.uint8 and softmask.dtype == np.uint8 and tokens.shape == softmask.shape == (n,)
    assert tk.decode(tokens, softmask) == seq
    assert tk.decode(tokens) == seq.upper()
    expected_mask = np.array([c.islower() for c in seq], dtype=np.uint8)
    assert np.array_equal(softmask, expected_mask)


def test_fast_table_matches_per_base_lookup_on_every_byte_pattern():
    # all 65,536 two-byte pairs, plus an odd-length and an unaligned view, against a Python dict reference
    raw = np.arange(1 << 16, dtype=np.uint16).view(np.uint8)
    ref = {**{c: i for i, c in enumerate("ACGT")}, **{c: i for i, c in enumerate("acgt")}}
    ref.update({c: tk.N for c in "RYSWKMBDHVNryswkmbdhvn"}, U=tk.T, u=tk.T)
    expected = np.array([ref.get(chr(b), tk.INVALID) for b in raw], dtype=np.uint8)
    assert np.array_equal(tk._lookup(raw), expected)
    assert np.array_equal(tk._lookup(raw[1:]), expected[1:])
    assert np.array_equal(tk._lookup(raw[:-1]), expected[:-1])


def test_iupac_and_rna_codes():
    tokens = tk.encode("RYSWKMBDHVNryswkmbdhvnUu")
    assert (tokens[:22] == tk.N).all() and (tokens[22:] == tk.T).all()


@pytest.mark.parametrize("bad, offset", [("ACGT>ACGT", 4), ("ACGTE" * 1000, 4), ("AC GT", 2), ("ACGT\n", 4)])
def test_invalid_byte_names_its_offset(bad, offset):
    with pytest.raises(GenomambaError, match=f"invalid nucleotide .* at offset {offset}$"):
        tk.encode(bad, source="x.fa")


def test_reverse_complement_matches_string_reference():
    seq = random_seq(5000, alphabet="ACGTN", seed=3)
    rc_str = seq.translate(PY_COMPLEMENT)[::-1]
    assert np.array_equal(tk.reverse_complement(tk.encode(seq)), tk.encode(rc_str))


def test_complement_is_an_involution_and_specials_are_fixed():
    ids = np.arange(7, dtype=np.uint8)
    assert np.array_equal(tk.complement(tk.complement(ids)), ids)
    assert tk.complement(ids)[[tk.N, tk.PAD, tk.MASK]].tolist() == [tk.N, tk.PAD, tk.MASK]
    assert tk.NucleotideTokenizer().complement_map == tuple(int(x) for x in tk.complement(ids))


def test_reverse_complement_batched_numpy_and_torch_agree():
    rng = np.random.default_rng(1)
    batch = rng.integers(0, 7, size=(3, 257)).astype(np.uint8)
    rc = tk.reverse_complement(batch, axis=-1)
    assert np.array_equal(tk.reverse_complement(rc, axis=-1), batch)  # RC twice is the identity
    for row, rc_row in zip(batch, rc):
        assert np.array_equal(rc_row, tk.complement(row)[::-1])
    as_torch = tk.reverse_complement(torch.from_numpy(batch.astype(np.int64)))
    assert torch.equal(as_torch, torch.from_numpy(rc.astype(np.int64)))


def test_save_load_round_trip_and_rejects_other_vocab(tmp_path):
    path = tmp_path / "tokenizer.json"
    tk.NucleotideTokenizer().save(path)
    assert tk.NucleotideTokenizer.load(path) == tk.NucleotideTokenizer()
    path.write_text('{"name": "nucleotide", "tokens": ["A", "C"]}')
    with pytest.raises(GenomambaError, match="unsupported tokenizer"):
        tk.NucleotideTokenizer.load(path)
    path.write_text("{not json")
    with pytest.raises(GenomambaError, match="cannot read tokenizer"):
        tk.NucleotideTokenizer.load(path)
