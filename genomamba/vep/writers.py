"""Score outputs: annotated VCF/BCF (bgzip + tabix/CSI index) or a long table (TSV/Parquet, one row per ALT).

Every writer streams: ``write(rec, alleles)`` per input record, nothing is collected. Files are written to the
temporary paths the caller got from ``genomamba.atomic.atomic_file``; ``finish`` closes, sorts (VCF input that
was not sorted: ``bcftools sort``, bounded memory) and indexes, so the final rename happens only when all of it
succeeded.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from genomamba.errors import GenomambaError

log = logging.getLogger(__name__)

FORMATS = {
    ".vcf.gz": "vcf.gz",
    ".vcf.bgz": "vcf.gz",
    ".bcf": "bcf",
    ".vcf": "vcf",
    ".tsv": "tsv",
    ".parquet": "parquet",
}
COMPRESSED = (".gz", ".bgz", ".bz2", ".xz", ".zst", ".zip")  # suffixes of compressed files (tuple: str.endswith)
INFO_DEFINITIONS = (
    (
        "GM_LLR",
        "A",
        "Float",
        "genomamba zero-shot score per ALT, mean of both strands: SNV = log P(alt) - log P(ref) at the variant "
        "(natural log); indel/MNV (flag HAPLOTYPE_SCORE) = change in mean per-base pseudo-log-likelihood of the "
        "local haplotype, alt minus ref. Missing when unscored (reason in GM_FLAG)",
    ),
    ("GM_LLR_FWD", "A", "Float", "GM_LLR computed on the forward (VCF) strand"),
    ("GM_LLR_REV", "A", "Float", "GM_LLR computed on the reverse-complement strand"),
    (
        "GM_DELTA",
        "A",
        "Float",
        "genomamba supervised score per ALT (fine-tuned head): prediction(alt) - prediction(ref); missing when "
        "unscored (reason in GM_FLAG)",
    ),
    (
        "GM_EMBDIST",
        "A",
        "Float",
        "genomamba zero-shot embedding distance per SNV (BEND protocol): 1 - cosine similarity of the model's hidden "
        "states at the variant position, ALT window vs REF window, mean of both strands; missing when unscored",
    ),
    ("GM_EMBDIST_FWD", "A", "Float", "GM_EMBDIST computed on the forward (VCF) strand"),
    ("GM_EMBDIST_REV", "A", "Float", "GM_EMBDIST computed on the reverse-complement strand"),
    ("GM_KIND", "A", "String", "allele class: snv|mnv|ins|del|complex|symbolic|breakend|spanning_deletion|..."),
    (
        "GM_FLAG",
        "A",
        "String",
        "'|'-separated flags per ALT ('.' = none): REF_MISMATCH, UNKNOWN_CONTIG, POS_OUT_OF_RANGE, SYMBOLIC, "
        "SPANNING_DELETION, BREAKEND, MISSING_ALT, NON_ACGT, ALT_EQUALS_REF, INDEL_TOO_LONG, "
        "INDEL_NEEDS_FUSION_HEAD, NON_FINITE_SCORE, SNV_ONLY_SCORE (unscored); NEAR_END, HAPLOTYPE_SCORE (scored)",
    ),
)


# score kind -> (INFO fields: score, forward, reverse; table column prefix); "delta" has no per-strand INFO fields
SCORE_FIELDS = {
    "llr": (("GM_LLR", "GM_LLR_FWD", "GM_LLR_REV"), "llr"),
    "delta": (("GM_DELTA",), "delta"),
    "embedding_distance": (("GM_EMBDIST", "GM_EMBDIST_FWD", "GM_EMBDIST_REV"), "embedding_distance"),
}
_SCORE_INFO = {name for fields, _ in SCORE_FIELDS.values() for name in fields}


def named_format(path: str | os.PathLike) -> str | None:
    """The format the extension of ``path`` names (``.vcf.bgz`` -> vcf.gz), or None."""
    name = str(path).lower()
    return next((fmt for suffix, fmt in FORMATS.items() if name.endswith(suffix)), None)


def output_format(path: str | os.PathLike, override: str | None = None) -> str:
    """The format ``path`` is written in: ``override`` (``--format``), else the one its extension names.

    Both given must agree: Parquet bytes under a .tsv name would mislead every later reader (and a rerun's format
    inference). A name whose extension names no format (``scores.out``) is written in ``override`` as asked.
    """
    named = named_format(path)
    compressed = str(path).lower().endswith(COMPRESSED)
    if compressed and named is None:  # `scores.tsv.gz --format tsv` had written plain text under a .gz name
        raise GenomambaError(
            "is named like a compressed file, but only VCF output is compressed (.vcf.gz, BGZF); "
            "drop the compression suffix or write .vcf.gz",
            path,
        )
    if override and named and override != named:
        raise GenomambaError(
            f"is named like a {named} file, but --format asks for {override}: rename it or drop --format", path
        )
    if override or named:
        return override or named
    raise GenomambaError(f"cannot tell the output format from the name; use one of {', '.join(FORMATS)}", path)


@dataclass
class AlleleResult:
    """Scores and flags of one ALT allele."""

    alt: str
    kind: str
    flags: list[str] = field(default_factory=list)
    llr: float | None = None
    llr_fwd: float | None = None
    llr_rev: float | None = None

    @property
    def flag_text(self) -> str:
        return "|".join(self.flags) if self.flags else "."


def _meta_value(value: object) -> str:
    # header meta values are one line; keep them free of characters that break '##key=value'
    return str(value).replace("\n", " ").replace("\r", " ")


class VcfWriter:
    def __init__(
        self,
        tmp_path: Path,
        fmt: str,
        in_header,
        provenance: dict[str, object],
        threads: int = 1,
        score: str = "llr",
    ):
        import pysam

        header = in_header.copy()
        self.fields = SCORE_FIELDS[score][0]
        skip = _SCORE_INFO - set(self.fields)
        for name, number, typ, desc in INFO_DEFINITIONS:
            if name in skip:
                continue
            if name in header.info:
                raise GenomambaError(f"the input already has an INFO/{name} field; genomamba would overwrite it")
            header.info.add(name, number, typ, desc)
        for key, value in provenance.items():
            header.add_meta(f"genomamba_{key}", _meta_value(value))
        mode = {"vcf.gz": "wz", "bcf": "wb", "vcf": "w"}[fmt]
        self.fmt = fmt
        self.tmp_path = tmp_path
        self._fh = pysam.VariantFile(str(tmp_path), mode, header=header, threads=max(1, threads))
        self.n_records = 0

    def write(self, rec, alleles: list[AlleleResult]) -> None:
        rec.translate(self._fh.header)
        if alleles:
            values = ([a.llr for a in alleles], [a.llr_fwd for a in alleles], [a.llr_rev for a in alleles])
            for name, column in zip(self.fields, values):
                rec.info[name] = tuple(column)
            rec.info["GM_KIND"] = tuple(a.kind for a in alleles)
            rec.info["GM_FLAG"] = tuple(a.flag_text for a in alleles)
        self._fh.write(rec)
        self.n_records += 1

    def finish(self, index_ready: bool, index_tmp: Path | None, workdir: Path) -> None:
        """Close; sort if the records are not in index order; build the index at ``index_tmp``."""
        import pysam
        import pysam.bcftools

        self._fh.close()
        if self.fmt == "vcf":
            return
        if not index_ready:
            # bcftools sort spills to ``workdir`` in bounded memory; output order then follows the header contigs
            log.info("input is not sorted: sorting the output (bcftools sort) so that it can be indexed")
            sorted_tmp = workdir / ("sorted" + (".bcf" if self.fmt == "bcf" else ".vcf.gz"))
            sort_tmp = workdir / "sort_tmp"
            sort_tmp.mkdir(exist_ok=True)
            out_type = "b" if self.fmt == "bcf" else "z"
            args = ("-m", "512M", "-T", str(sort_tmp), "-O", out_type, "-o", str(sorted_tmp), str(self.tmp_path))
            pysam.bcftools.sort(*args, catch_stdout=False)
            shutil.move(str(sorted_tmp), str(self.tmp_path))
        if index_tmp is None:
            return
        try:
            if self.fmt == "bcf":
                pysam.bcftools.index("--csi", "-f", "-o", str(index_tmp), str(self.tmp_path), catch_stdout=False)
            else:
                pysam.tabix_index(str(self.tmp_path), preset="vcf", force=True, index=str(index_tmp))
        except (OSError, pysam.utils.SamtoolsError) as exc:
            # TBI cannot hold contigs longer than 2^29: fall back to CSI explicitly (and say so)
            if self.fmt == "vcf.gz":
                log.info("tabix (.tbi) index failed (%s); building a CSI index instead", exc)
                pysam.tabix_index(str(self.tmp_path), preset="vcf", force=True, index=str(index_tmp), csi=True)
            else:
                raise GenomambaError(f"cannot index the output ({exc})", self.tmp_path) from None


class TableWriter:
    """One row per ALT allele: chrom, pos (1-based), id, ref, alt, kind, <score>, <score>_fwd, <score>_rev, flags,
    + kept INFO fields (<score>: llr, delta or embedding_distance). TSV: provenance as leading '#' lines; Parquet:
    provenance in the file's key-value metadata."""

    def __init__(
        self, tmp_path: Path, fmt: str, provenance: dict[str, object], keep_info: list[str], score: str = "llr"
    ):
        import pyarrow as pa

        self.fmt = fmt
        self.tmp_path = tmp_path
        self.keep_info = list(keep_info)
        name = SCORE_FIELDS[score][1]  # same layout for every score, the columns named for what they hold
        self.columns = ["chrom", "pos", "id", "ref", "alt", "kind", name, f"{name}_fwd", f"{name}_rev", "flags"]
        self.columns += self.keep_info
        types = {c: pa.float64() for c in self.columns[6:9]}
        types["pos"] = pa.int64()
        self.schema = pa.schema([(c, types.get(c, pa.string())) for c in self.columns])
        self._rows: dict[str, list] = {c: [] for c in self.columns}
        self.n_records = 0
        if fmt == "tsv":
            self._fh = open(tmp_path, "w")
            for key, value in provenance.items():
                self._fh.write(f"#genomamba_{key}={_meta_value(value)}\n")
            self._fh.write("\t".join(self.columns) + "\n")
        else:
            import pyarrow.parquet as pq

            meta = {f"genomamba_{k}": _meta_value(v) for k, v in provenance.items()}
            self.schema = self.schema.with_metadata(meta)
            self._fh = pq.ParquetWriter(str(tmp_path), self.schema)

    def write(self, rec, alleles: list[AlleleResult]) -> None:
        info = [self._info_value(rec, k) for k in self.keep_info]
        rows = alleles or [AlleleResult(alt=".", kind="missing", flags=["MISSING_ALT"])]
        for a in rows:
            values = (rec.chrom, rec.pos, rec.id or ".", rec.ref, a.alt, a.kind, a.llr, a.llr_fwd, a.llr_rev)
            for col, val in zip(self.columns[:10], (*values, a.flag_text)):
                self._rows[col].append(val)
            for col, val in zip(self.keep_info, info):
                self._rows[col].append(val)
        self.n_records += 1
        if len(self._rows["chrom"]) >= 50_000:
            self.flush()

    @staticmethod
    def _info_value(rec, key: str) -> str | None:
        if key not in rec.info:
            return None
        value = rec.info[key]
        if isinstance(value, tuple):
            return ",".join("." if v is None else str(v) for v in value)
        if isinstance(value, bool):
            return "1" if value else "0"
        return str(value)

    def flush(self) -> None:
        if not self._rows["chrom"]:
            return
        if self.fmt == "tsv":
            for row in zip(*(self._rows[c] for c in self.columns)):
                self._fh.write("\t".join(_tsv(v) for v in row) + "\n")
        else:
            import pyarrow as pa

            self._fh.write_table(pa.table(self._rows, schema=self.schema))
        self._rows = {c: [] for c in self.columns}

    def finish(self, index_ready: bool, index_tmp: Path | None, workdir: Path) -> None:
        self.flush()
        self._fh.close()


def _tsv(value: object) -> str:
    if value is None:
        return "NA"
    if isinstance(value, float):
        return repr(value)
    return str(value).replace("\t", " ")
