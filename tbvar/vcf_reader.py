"""Streaming VCF/BCF reader: raw record lines with line numbers, header and its gaps.

Text VCFs (plain, gzip or bgzip — recognised by their first bytes, not their name) are read
by tbvar itself, line by line, so that

- every record line is passed through byte for byte (only a trailing ``\\r`` of CRLF files is
  dropped), sample columns included;
- every problem names the file, the 1-based line number and the reason;
- INFO/FORMAT/FILTER/contig IDs used by records but not defined in the header are collected
  (:meth:`VcfSource.header_additions`) so the annotated output can define them.

htslib is used only where it must be: BCF input (through cyvcf2; lines are then htslib's text
form of each record, numbered as records) and ``--region`` queries (tabix/CSI index through
pysam for text, cyvcf2 for BCF). Because text VCFs never go through htslib's parser, htslib's
``[W::vcf_parse] ... not defined in the header`` warnings do not appear for them; tbvar reports
the undefined IDs in its summary instead.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import pysam
from cyvcf2 import VCF

from tbvar.errors import VariantInputError
from tbvar.genome import contig_name_candidates
from tbvar.vcf_index import index_path

HEADER_COLUMNS = ("#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")
_DEFINITION = re.compile(r"^##(INFO|FORMAT|FILTER|contig)=<ID=([^,>]*)")
_POS = re.compile(r"[0-9]{1,18}")
_ADDED = 'Description="Not defined in the input header; added by tbvar"'


@dataclass
class RawRecord:
    """One VCF record: its number (line, or record for BCF) and the fields tbvar needs."""

    number: int
    line: str
    chrom: str
    pos: int
    id: str | None
    ref: str
    alts: list[str]


#: Records per block when :meth:`VcfSource.records` reads a text VCF.
BLOCK_RECORDS = 1024


@dataclass(frozen=True)
class LineBlock:
    """Consecutive lines of a text VCF after its header, not yet decoded or parsed.

    Attributes
    ----------
    index
        The block's position in the file (0, 1, ...): the chunk it becomes.
    first_record
        0-based ordinal of its first record in the file.
    first_line
        1-based line number of its first line.
    data
        The lines as read, line ends kept (the file's last line may lack one).
    n_records
        Records (lines that are not blank) among them.
    error
        A read error after these lines: the file ends here.
    """

    index: int
    first_record: int
    first_line: int
    data: bytes
    n_records: int
    error: VariantInputError | None = None


def _blank(raw: bytes) -> bool:
    """Whether a line holds only whitespace, as ``str.strip`` sees it once decoded (a line
    that starts with a printable ASCII character is decided without decoding)."""
    stripped = raw.strip()
    return not stripped or (not 0x21 <= stripped[0] <= 0x7E
                            and not raw.decode("utf-8", "replace").strip())


def _sniff(path: str) -> tuple[bool, bool]:
    """(gzip-compressed, BCF) from the first bytes of the file."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    compressed = magic == b"\x1f\x8b"
    if not compressed:
        with open(path, "rb") as handle:
            return False, handle.read(3) == b"BCF"
    try:
        with gzip.open(path, "rb") as handle:
            start = handle.read(3)
    except (OSError, EOFError, zlib.error):
        start = b""
    return True, start == b"BCF"


_REGION = re.compile(r"^(?P<contig>.+?)(?::(?P<start>[0-9][0-9,]*)(?:-(?P<end>[0-9][0-9,]*)?)?)?$")


def parse_region(region: str, contigs: Sequence[str] = ()) -> tuple[str, int, int | None]:
    """``chrom[:start[-end]]`` (1-based, inclusive; commas allowed) → ``(chrom, start, end)``.

    ``end`` is ``None`` when open; a bare ``chrom`` — or any name in ``contigs``, so that
    contig names holding ``:`` work — is ``(chrom, 1, None)``.
    """
    if region in contigs:
        return region, 1, None
    match = _REGION.match(region.strip())
    if not match:
        raise VariantInputError(f"invalid region {region!r} (use chrom or chrom:start-end)")
    start = int(match["start"].replace(",", "")) if match["start"] else 1
    end = int(match["end"].replace(",", "")) if match["end"] else None
    if start < 1 or (end is not None and end < start):
        raise VariantInputError(f"invalid region {region!r}: start must be ≥ 1 and ≤ end")
    return match["contig"], start, end


#: ``(contig, first POS, last POS or None)``, 1-based inclusive, as :func:`parse_region` gives;
#: a first POS of 0 takes the contig from its start (records at the invalid POS 0 included).
Span = tuple[str, int, int | None]


def _starts_in(span: Span | None, pos: int) -> bool:
    """Whether a record at ``pos`` belongs to a span (``None``: no region)."""
    if span is None:
        return True
    _, start, end = span
    return start <= pos and (end is None or pos <= end)


def _region_text(span: Span) -> str:
    """htslib's region text for a span (a contig name holding ``:`` in braces)."""
    contig, start, end = span
    name = f"{{{contig}}}" if ":" in contig else contig
    return f"{name}:{max(start, 1)}-{'' if end is None else end}"


class VcfSource:
    """A VCF/VCF.gz/BCF opened for reading records in file order.

    Parameters
    ----------
    path
        The variant file.
    region
        ``chrom``, ``chrom:start`` or ``chrom:start-end`` (1-based, inclusive); needs a bgzip
        file with a tabix/CSI index, or an indexed BCF. A record belongs to the region when its
        POS lies in it (as ``bcftools --regions-overlap pos``), so records that start before
        the region but overlap it are left to the region holding their POS: regions that tile
        a contig give every record exactly once.
    """

    def __init__(self, path: str | os.PathLike[str], region: str | None = None) -> None:
        self.path = str(path)
        self.region = region
        if not os.path.exists(self.path):
            raise VariantInputError(f"{self.path}: no such file")
        if os.path.isdir(self.path):
            raise VariantInputError(f"{self.path}: is a directory, not a VCF file")
        self.compressed, self.bcf = _sniff(self.path)
        if region and not any(os.path.exists(self.path + ext) for ext in (".tbi", ".csi")):
            raise VariantInputError(f"{self.path}: --region needs a bgzipped VCF (or BCF) with "
                                    "a .tbi/.csi index (bgzip the file, then tabix -p vcf or "
                                    "bcftools index)")
        self.record_unit = "line" if self.line_by_line else "record"
        self._defined: dict[str, set[str]] = {"INFO": set(), "FORMAT": set(), "FILTER": {"PASS"},
                                              "contig": set()}
        self._used_info: dict[str, bool] = {}
        self._used: dict[str, set[str]] = {"FORMAT": set(), "FILTER": set(), "contig": set()}
        self.header = self._read_bcf_header() if self.bcf else self._read_text_header()
        for line in self.header.splitlines():
            match = _DEFINITION.match(line)
            if match:
                self._defined[match.group(1)].add(match.group(2))
        self.n_columns = len(self.header.rstrip("\n").rsplit("\n", 1)[-1].split("\t"))

    @property
    def line_by_line(self) -> bool:
        """Whether tbvar reads the records itself, line by line (a text VCF without a region):
        they are numbered by line (:attr:`record_unit`) and read in :meth:`line_blocks`."""
        return not (self.bcf or self.region)

    # -- header ------------------------------------------------------------------------------
    def _fail(self, number: int | None, reason: str, unit: str | None = None
              ) -> VariantInputError:
        where = f"{unit or self.record_unit} {number}: " if number is not None else ""
        return VariantInputError(f"{self.path}: {where}{reason}")

    def _open_text(self):
        return gzip.open(self.path, "rb") if self.compressed else open(self.path, "rb")

    def _raw_lines(self) -> Iterator[bytes]:
        """The whole text file's lines as bytes, line ends kept; a read error (truncated or
        corrupt compressed data) raises :class:`VariantInputError` naming the last line read."""
        number = 0
        handle = self._open_text()
        try:
            while True:
                try:
                    raw = handle.readline()
                except (EOFError, OSError, zlib.error) as exc:
                    raise self._fail(None, f"compressed data is truncated or corrupt after "
                                           f"line {number} ({exc})") from None
                if not raw:
                    return
                number += 1
                yield raw
        finally:
            handle.close()

    def _line_text(self, number: int, raw: bytes) -> str:
        """Line ``number`` decoded, without its line end (``\\n``, and ``\\r`` of CRLF)."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self._fail(number, "is not valid UTF-8 text") from None
        return text.rstrip("\n").rstrip("\r")

    def _lines(self) -> Iterator[tuple[int, str]]:
        """(1-based line number, text without line end) of the whole text file."""
        for number, raw in enumerate(self._raw_lines(), 1):
            yield number, self._line_text(number, raw)

    def _read_text_header(self) -> str:
        lines: list[str] = []
        for number, text in self._lines():
            if number == 1 and not text.startswith("##fileformat=VCF"):
                raise self._fail(1, "not a VCF file: the first line must be "
                                    "'##fileformat=VCFv4.x'")
            if "\x00" in text:
                raise self._fail(number, "contains a NUL byte")
            lines.append(text)
            if text.startswith("#CHROM"):
                columns = text.split("\t")
                if tuple(columns[:8]) != HEADER_COLUMNS or (
                        len(columns) > 8 and columns[8] != "FORMAT"):
                    raise self._fail(number, "the #CHROM header line must be tab-separated "
                                             "'#CHROM POS ID REF ALT QUAL FILTER INFO "
                                             "[FORMAT samples...]'")
                self._header_lines = number
                return "\n".join(lines) + "\n"
            if not text.startswith("##"):
                raise self._fail(number, "the header ends without a '#CHROM' line")
        raise self._fail(None, "no '#CHROM' header line (empty or not a VCF file)")

    def _read_bcf_header(self) -> str:
        reader = self._open_cyvcf2()
        try:
            return reader.raw_header
        finally:
            reader.close()

    def _open_cyvcf2(self) -> VCF:
        try:
            return VCF(self.path, lazy=True, threads=1)
        except Exception as exc:  # cyvcf2 raises bare Exception / OSError
            raise VariantInputError(f"{self.path}: not a readable BCF file ({exc})") from None

    def count_records(self) -> int | None:
        """Records in the file when that is cheap to know: from a .tbi/.csi index's statistics,
        or by counting the lines of a plain-text VCF; ``None`` otherwise (a gzip file without
        index, a ``--region`` query)."""
        if self.region:
            return None
        if any(os.path.exists(self.path + ext) for ext in (".tbi", ".csi")):
            previous = pysam.set_verbosity(0)
            reader = VCF(self.path)
            try:
                return int(reader.num_records)
            except Exception:  # cyvcf2: bare Exception when the index lacks statistics
                return None
            finally:
                reader.close()
                pysam.set_verbosity(previous)
        if self.compressed:
            return None
        lines = 0
        with open(self.path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 24), b""):
                lines += block.count(b"\n")
            handle.seek(max(handle.tell() - 1, 0))
            lines += handle.read(1) not in (b"\n", b"")  # a last line without line end
        return lines - self.header.count("\n")

    def header_additions(self) -> list[str]:
        """Header lines defining IDs that records used but the header did not define.

        Complete once every record has been read.
        """
        out = []
        for key, has_value in sorted(self._used_info.items()):
            if key not in self._defined["INFO"] and not key.startswith("TBVAR_"):
                kind = "Number=.,Type=String" if has_value else "Number=0,Type=Flag"
                out.append(f"##INFO=<ID={key},{kind},{_ADDED}>")
        for key in sorted(self._used["FORMAT"] - self._defined["FORMAT"]):
            out.append(f"##FORMAT=<ID={key},Number=.,Type=String,{_ADDED}>")
        for key in sorted(self._used["FILTER"] - self._defined["FILTER"]):
            out.append(f"##FILTER=<ID={key},{_ADDED}>")
        for key in sorted(self._used["contig"] - self._defined["contig"]):
            out.append(f"##contig=<ID={key}>")
        return out

    def take_usage(self) -> dict[str, dict[str, bool] | list[str]]:
        """:meth:`usage`, then forget it: the IDs used since the last call (a worker that
        parses blocks sends them back with each block)."""
        usage = self.usage()
        self._used_info.clear()
        for ids in self._used.values():
            ids.clear()
        return usage

    def usage(self) -> dict[str, dict[str, bool] | list[str]]:
        """The INFO keys (with whether they had a value), FORMAT and FILTER IDs and contigs the
        records read so far used: what :meth:`header_additions` is made from."""
        return {"INFO": dict(self._used_info),
                **{kind: sorted(ids) for kind, ids in self._used.items()}}

    def add_usage(self, usage: dict[str, dict[str, bool] | list[str]]) -> None:
        """Count the IDs used by records read elsewhere (:meth:`usage` of another reader of
        this file), as if this reader had read them."""
        for key, has_value in usage["INFO"].items():
            self._used_info[key] = self._used_info.get(key, False) or has_value
        for kind, ids in self._used.items():
            ids.update(usage[kind])

    # -- records -----------------------------------------------------------------------------
    def records(self) -> Iterator[RawRecord]:
        """Every record in file order (or in the region)."""
        if self.bcf:
            yield from self._bcf_records()
        elif self.region:
            yield from self._region_records()
        else:
            for block in self.line_blocks(BLOCK_RECORDS):
                yield from self.block_records(block)

    def line_blocks(self, size: int) -> Iterator[LineBlock]:
        """The records of a text VCF (no ``--region``) in blocks of ``size`` records, as read:
        block k holds records k·size … (k+1)·size − 1 and the blank lines before them, to be
        parsed by :meth:`block_records` (in this process or in another one).

        A read error (truncated or corrupt compressed data) ends the blocks with one that holds
        the lines read before it and the error, raised once those lines have been parsed: a
        problem earlier in the file is reported first, as in a line-by-line read.
        """
        if size < 1:
            raise ValueError("block size must be positive")
        if not self.line_by_line:
            raise ValueError(f"{self.path}: line blocks need a text VCF read without a region")
        lines: list[bytes] = []
        records, index, first_line = 0, 0, self._header_lines + 1
        try:
            for number, raw in enumerate(self._raw_lines(), 1):
                if number <= self._header_lines:
                    continue
                lines.append(raw)
                if not _blank(raw):
                    records += 1
                    if records == size:
                        yield LineBlock(index, index * size, first_line, b"".join(lines), size)
                        lines, records, index, first_line = [], 0, index + 1, number + 1
        except VariantInputError as exc:
            yield LineBlock(index, index * size, first_line, b"".join(lines), records, exc)
            return
        if records:
            yield LineBlock(index, index * size, first_line, b"".join(lines), records)

    def block_records(self, block: LineBlock) -> Iterator[RawRecord]:
        """The records of a block from :meth:`line_blocks`, in order (blank lines skipped); then
        the block's read error, if it has one."""
        lines = block.data.split(b"\n")
        if block.data.endswith(b"\n"):
            lines.pop()
        for number, raw in enumerate(lines, block.first_line):
            text = self._line_text(number, raw)
            if text.strip():
                yield self._parse(number, text)
        if block.error is not None:
            raise block.error

    def _parse(self, number: int, text: str, unit: str | None = None) -> RawRecord:
        def fail(reason: str) -> VariantInputError:
            return self._fail(number, reason, unit)

        if text.startswith("#"):
            raise fail("header line after the first record")
        if "\x00" in text:
            raise fail("contains a NUL byte")
        fields = text.split("\t")
        if len(fields) < 8:
            raise fail(f"{len(fields)} tab-separated columns, a VCF record needs at least 8")
        if len(fields) != self.n_columns:
            raise fail(f"{len(fields)} columns but the #CHROM header line has "
                       f"{self.n_columns}")
        chrom, pos_text, vid, ref, alt = fields[:5]
        if not chrom or " " in chrom:
            raise fail(f"invalid CHROM {chrom!r}")
        if not _POS.fullmatch(pos_text):
            raise fail(f"POS {pos_text!r} is not a non-negative integer")
        pos = int(pos_text)
        if not ref:
            raise fail("empty REF")
        self._track(chrom, fields)
        return RawRecord(number, text, chrom, pos, None if vid in (".", "") else vid, ref,
                         [] if alt == "." else alt.split(","))

    def _track(self, chrom: str, fields: list[str]) -> None:
        self._used["contig"].add(chrom)
        if fields[6] not in (".", "PASS"):
            self._used["FILTER"].update(fields[6].split(";"))
        if fields[7] != ".":
            for item in fields[7].split(";"):
                key, eq, _ = item.partition("=")
                if key:
                    self._used_info[key] = self._used_info.get(key, False) or bool(eq)
        if len(fields) > 8 and fields[8] != ".":
            self._used["FORMAT"].update(fields[8].split(":"))

    def query(self, span: Span, first: int | None = None) -> Iterator[RawRecord]:
        """Records whose POS lies in ``span``, read through the index, in file order.

        With ``first``, the 0-based ordinal of the span's first record in the whole input (the
        file, or this reader's region), records are numbered as a read of the whole input
        numbers them (:meth:`number_of`); without it 1, 2, ... within the span, and errors name
        the span.
        """
        unit = None if first is not None else f"{_region_text(span)} record"

        def number(k: int) -> int:
            return k if first is None else self.number_of(first + k - 1)

        if self.bcf:
            reader = self._open_cyvcf2()
            try:
                yield from self._bcf_variants(reader(_region_text(span)), span, number, unit)
            finally:
                reader.close()
            return
        tabix = self._open_tabix()
        try:
            lines = tabix.fetch(span[0], max(span[1], 1) - 1, span[2])
            yield from self._text_records(lines, span, number, unit)
        finally:
            tabix.close()

    def _open_tabix(self) -> pysam.TabixFile:
        """The bgzipped text file with its index (``.csi`` or ``.tbi``; pysam alone looks for
        ``.tbi`` only)."""
        index = index_path(self.path)
        return pysam.TabixFile(self.path, index=str(index) if index else None)

    def number_of(self, ordinal: int) -> int:
        """The number (:attr:`record_unit`) of the input's record at 0-based ``ordinal`` in a
        read through the index: records of a BCF or region, else lines (a tabix index cannot
        be built for a VCF with blank lines between records; it skips ``#`` lines there, which
        a plain read rejects)."""
        return ordinal + 1 + (self._header_lines if self.line_by_line else 0)

    def _text_records(self, lines: Iterable[str], span: Span, number: Callable[[int], int],
                      unit: str | None = None) -> Iterator[RawRecord]:
        """Records of index-query lines whose POS lies in ``span``; the k-th is numbered
        ``number(k)``."""
        count = 0
        for text in lines:
            record = self._parse(number(count + 1), text.rstrip("\r"), unit)
            if _starts_in(span, record.pos):
                count += 1
                yield record

    def _indexed_span(self, contigs: Sequence[str]) -> Span:
        """The parsed region with its contig named as in the index (``17`` finds ``chr17``,
        as record contigs are harmonised with the genome)."""
        contig, start, end = parse_region(self.region, contigs)
        found = next((name for name in [contig, *contig_name_candidates(contig)]
                      if name in contigs), None)
        if found is None:
            raise self._fail(None, f"region {self.region!r}: contig {contig!r} is not in the "
                                   f"index (indexed: {', '.join(contigs)})")
        return found, start, end

    def _region_records(self) -> Iterator[RawRecord]:
        try:
            tabix = self._open_tabix()
        except (OSError, ValueError) as exc:
            raise self._fail(None, f"cannot query region {self.region!r}: the file must be "
                                   f"bgzip-compressed with a tabix/CSI index ({exc})") from None
        try:
            span = self._indexed_span(tabix.contigs)
            try:
                lines = tabix.fetch(span[0], max(span[1], 1) - 1, span[2])
            except ValueError:
                raise self._fail(None, f"invalid region {self.region!r} (use chrom or "
                                       "chrom:start-end)") from None
            yield from self._text_records(lines, span, lambda count: count)
        finally:
            tabix.close()

    def _bcf_records(self) -> Iterator[RawRecord]:
        reader = self._open_cyvcf2()
        try:
            span = self._indexed_span(reader.seqnames) if self.region else None
            try:
                variants = reader(_region_text(span)) if span else iter(reader)
            except Exception as exc:  # cyvcf2 raises bare Exception
                raise self._fail(None, f"cannot query region {self.region!r} ({exc}); the "
                                       "BCF must be indexed (bcftools index)") from None
            yield from self._bcf_variants(variants, span, lambda count: count)
        finally:
            reader.close()

    def _bcf_variants(self, variants: Iterator, span: Span | None,
                      number: Callable[[int], int], unit: str | None = None
                      ) -> Iterator[RawRecord]:
        """Records of cyvcf2 variants whose POS lies in ``span``; the k-th is numbered
        ``number(k)``."""
        count = 0
        while True:
            try:
                variant = next(variants)
            except StopIteration:
                return
            except Exception as exc:  # htslib parse errors surface as bare Exception
                raise self._fail(number(count + 1), f"cannot be parsed ({exc})", unit) from None
            if _starts_in(span, variant.POS):
                count += 1
                yield RawRecord(number(count), str(variant).rstrip("\n"), variant.CHROM,
                                variant.POS, variant.ID, variant.REF, list(variant.ALT))
