"""Reading an 835 file: pyx12 checks it against its 005010X221A1 map (envelopes and their
counts and control numbers, segments, loops, elements, code lists, dates), and the
segments it has checked become the domain's remittances, which must then balance
(portal/domain/remittances.py). Any problem refuses the whole file, each named by the
segment's number in the file (ISA is 1) and the rule."""

import functools
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from portal.domain.remittances import (
    Adjustment,
    AmountError,
    ClaimPayment,
    ProviderAdjustment,
    Refusal,
    Remittance,
    RemittanceFile,
    ServiceLine,
    balance_refusals,
    cents,
)

VERSION = "005010X221A1"
_GROUP_RULE = f"an 835 remittance's group is needed: GS01 HP and GS08 {VERSION}"
# pyx12 logs what it finds, values included (a patient's name in an NM1): the portal
# reports the problems itself and logs none of them.
_log = logging.getLogger("pyx12")
_log.setLevel(logging.CRITICAL + 1)  # its records are never made, whoever handles logs
_log.addHandler(logging.NullHandler())
_log.propagate = False
log = logging.getLogger(__name__)


@functools.cache
def _pyx12() -> tuple[Any, Any]:
    """pyx12 and the portal's parameters for it, imported on the first 835 read: only an
    835 upload needs it, and importing it would cost every cold start about 25 ms."""
    import pyx12.error_handler
    import pyx12.errors
    import pyx12.map_if
    import pyx12.params
    import pyx12.x12context

    params = pyx12.params.params()
    load_map = pyx12.map_if.load_map_file

    @functools.cache
    def shared_map(map_file: str, map_path: str | None) -> Any:
        return load_map(map_file, params, map_path)

    def cached_map(map_file: str, param: Any, map_path: str | None = None) -> Any:
        """pyx12 builds each map from its XML for every file read (half a second for the
        835 and envelope maps); a map is only read while a file is walked (the walk's
        counts are the walker's), so the portal's reads share one of each."""
        if param is params:
            return shared_map(map_file, map_path)
        return load_map(map_file, param, map_path)

    pyx12.map_if.load_map_file = cached_map
    return pyx12, params


class RemittanceRefused(ValueError):
    """The file was refused whole; `refusals` in the order of the file."""

    def __init__(self, refusals: list[Refusal]):
        self.refusals = sorted(set(refusals), key=lambda r: (r.segment, r.rule))
        super().__init__("; ".join(str(r) for r in self.refusals))


def read_835(text: str) -> RemittanceFile:
    """The file's remittances, each checked and balanced; RemittanceRefused otherwise."""
    text = text.lstrip("\ufeff \r\n\t")
    if not text.startswith("ISA"):
        raise RemittanceRefused([Refusal(1, "ISA", "an X12 file starts with an ISA segment")])
    pyx12, params = _pyx12()
    errh = pyx12.error_handler.err_handler()
    builder = _Builder()
    try:
        reader = pyx12.x12context.X12ContextReader(params, errh, io.StringIO(text))
        for node in reader.iter_segments():
            builder.add(node.seg_data.get_seg_id() or "", node.seg_data, node.cur_line_number or 0)
    except (pyx12.errors.X12Error, pyx12.errors.EngineError) as exc:
        raise RemittanceRefused([*builder.refusals, _stopped(builder, str(exc))]) from None
    except Exception as exc:  # pyx12 stumbling on a damaged file (an IndexError...)
        log.warning("pyx12 could not read on past segment %d: %s", builder.position, type(exc))
        at = builder.position + 1
        refusal = Refusal(at, "?", "the file cannot be read past here (damaged segment)")
        raise RemittanceRefused([*builder.refusals, refusal]) from None
    collected = _Collector()
    errh.accept(collected)
    refusals = collected.refusals + builder.finish()
    if not refusals:
        for remittance in builder.remittances:
            refusals += balance_refusals(remittance)
    if refusals:
        raise RemittanceRefused(refusals)
    return RemittanceFile(tuple(builder.remittances))


def _stopped(builder: "_Builder", message: str) -> Refusal:
    """Why pyx12 could not read on, at the segment after the last one it read."""
    at = builder.position + 1
    if "Map not found" in message:
        return Refusal(at, "GS", _GROUP_RULE)
    if at == 1:  # pyx12 quotes the file after the ISA: left out
        return Refusal(1, "ISA", _plain(message.split(" for ISA")[0]))
    return Refusal(at, "?", _plain(message))


_UNREADABLE_ISA = (
    "the ISA segment cannot be read (106 characters, its elements at fixed places, ending in"
    " the segment terminator), so no segment after it can be"
)


def _plain(message: str) -> str:
    return " ".join(message.split()).rstrip(".")


@dataclass
class _Claim:
    claim: ClaimPayment
    lines: list[ServiceLine] = field(default_factory=list)
    claim_date: date | None = None


@dataclass
class _Builder:
    """Remittances from checked segments, in order: the 835's loops as a state machine."""

    remittances: list[Remittance] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    position: int = 0
    last_id: str = ""
    current: Remittance | None = None
    claims: list[_Claim] = field(default_factory=list)
    plb: list[ProviderAdjustment] = field(default_factory=list)
    in_payer: bool = False
    interchange: str = ""

    def add(self, seg_id: str, seg: Any, position: int) -> None:
        self.position, self.last_id = position, seg_id
        try:
            self._add(seg_id, seg, position)
        except AmountError as exc:
            self.refusals.append(Refusal(position, seg_id, str(exc)))

    def _add(self, seg_id: str, seg: Any, at: int) -> None:
        value = seg.get_value
        if seg_id == "ISA":
            self.interchange = f"{(value('ISA06') or '').strip()}-{value('ISA13') or ''}"
        elif seg_id == "GS":
            if value("GS01") != "HP" or value("GS08") != VERSION:
                self.refusals.append(Refusal(at, "GS", _GROUP_RULE))
        elif seg_id == "ST":
            self.current = Remittance(
                segment=at,
                control_number=value("ST02") or "",
                handling="",
                amount_cents=0,
                credit=True,
                method="",
                paid_on=None,
                trace_number="",
                payer_id="",
                payer_name="",
                interchange=self.interchange,
            )
            self.claims, self.plb, self.in_payer = [], [], False
        elif self.current is None:
            return
        elif seg_id == "BPR":
            self.current = replace(
                self.current,
                handling=value("BPR01") or "",
                amount_cents=cents(value("BPR02") or "0"),
                credit=value("BPR03") != "D",
                method=value("BPR04") or "",
                paid_on=_day(value("BPR16")),
            )
        elif seg_id == "TRN":
            self.current = replace(
                self.current,
                trace_number=value("TRN02") or "",
                payer_id=value("TRN03") or "",
            )
        elif seg_id == "N1":
            self.in_payer = value("N101") == "PR"
            if self.in_payer:
                self.current = replace(self.current, payer_name=value("N102") or "")
        elif seg_id == "CLP":
            self.claims.append(
                _Claim(
                    ClaimPayment(
                        segment=at,
                        claim_id=value("CLP01") or "",
                        status=value("CLP02") or "",
                        charge_cents=cents(value("CLP03") or "0"),
                        paid_cents=cents(value("CLP04") or "0"),
                        patient_cents=cents(value("CLP05") or "0"),
                        payer_claim_number=value("CLP07") or "",
                    )
                )
            )
        elif seg_id == "SVC" and self.claims:
            self.claims[-1].lines.append(
                ServiceLine(
                    segment=at,
                    qualifier=value("SVC01-1") or "",
                    code=value("SVC01-2") or "",
                    charge_cents=cents(value("SVC02") or "0"),
                    paid_cents=cents(value("SVC03") or "0"),
                    service_date=None,
                )
            )
        elif seg_id == "CAS" and self.claims:
            adjustments = tuple(_adjustments(seg, at))
            claim = self.claims[-1]
            if claim.lines:
                line = claim.lines[-1]
                claim.lines[-1] = replace(line, adjustments=line.adjustments + adjustments)
            else:
                claim.claim = replace(
                    claim.claim, adjustments=claim.claim.adjustments + adjustments
                )
        elif seg_id == "DTM" and self.claims:
            claim = self.claims[-1]
            qualifier = value("DTM01")
            if qualifier == "472" and claim.lines:
                claim.lines[-1] = replace(claim.lines[-1], service_date=_day(value("DTM02")))
            elif qualifier == "232" and not claim.lines:
                claim.claim_date = _day(value("DTM02"))
        elif seg_id == "REF" and self.claims and self.claims[-1].lines:
            if value("REF01") == "6R":
                claim = self.claims[-1]
                claim.lines[-1] = replace(claim.lines[-1], control_number=value("REF02") or "")
        elif seg_id == "LQ" and self.claims and self.claims[-1].lines:
            claim = self.claims[-1]
            line = claim.lines[-1]
            claim.lines[-1] = replace(line, remarks=(*line.remarks, value("LQ02") or ""))
        elif seg_id in ("MOA", "MIA") and self.claims:
            claim = self.claims[-1]
            codes = [value(f"{seg_id}{i:02d}") for i in range(3, 25)]
            remarks = tuple(c for c in codes if c and not c.replace(".", "").isdigit())
            claim.claim = replace(claim.claim, remarks=claim.claim.remarks + remarks)
        elif seg_id == "PLB":
            self.plb += _provider_adjustments(seg, at)
        elif seg_id == "SE":
            self.remittances.append(
                replace(
                    self.current,
                    claims=tuple(_finished(c) for c in self.claims),
                    provider_adjustments=tuple(self.plb),
                )
            )
            self.current = None

    def finish(self) -> list[Refusal]:
        """The refusals of what the file lacks or repeats (pyx12 reports the rest)."""
        refusals = list(self.refusals)
        if self.position == 0:  # pyx12 finds no segment in a file whose ISA it cannot read
            refusals.append(Refusal(1, "ISA", _UNREADABLE_ISA))
        elif self.last_id != "IEA":
            refusals.append(
                Refusal(self.position, self.last_id or "?", "the file ends without an IEA")
            )
        seen: dict[str, int] = {}
        for r in self.remittances:
            if r.remittance_id in seen:
                refusals.append(
                    Refusal(
                        r.segment + 2,
                        "TRN",
                        f"trace number {r.trace_number} of payer {r.payer_id} is also the "
                        f"transaction's at segment {seen[r.remittance_id]}",
                    )
                )
            seen.setdefault(r.remittance_id, r.segment)
        return refusals


def _finished(c: _Claim) -> ClaimPayment:
    lines = tuple(
        line if line.service_date is not None else replace(line, service_date=c.claim_date)
        for line in c.lines
    )
    return replace(c.claim, lines=lines)


def _adjustments(seg: Any, at: int) -> Iterator[Adjustment]:
    group = seg.get_value("CAS01") or ""
    for first in (2, 5, 8, 11, 14, 17):
        reason = seg.get_value(f"CAS{first:02d}")
        if reason:
            amount = cents(seg.get_value(f"CAS{first + 1:02d}") or "0")
            yield Adjustment(group, reason, amount, at)


def _provider_adjustments(seg: Any, at: int) -> list[ProviderAdjustment]:
    found = []
    for first in (3, 5, 7, 9, 11, 13):
        reason = seg.get_value(f"PLB{first:02d}-1")
        if reason:
            found.append(
                ProviderAdjustment(
                    segment=at,
                    reason=reason,
                    reference=seg.get_value(f"PLB{first:02d}-2") or "",
                    amount_cents=cents(seg.get_value(f"PLB{first + 1:02d}") or "0"),
                )
            )
    return found


def _day(text: str | None) -> date | None:
    """CCYYMMDD; None for none, and for a date that is not one (pyx12 reports those)."""
    try:
        return date.fromisoformat(f"{text[:4]}-{text[4:6]}-{text[6:]}") if text else None
    except ValueError:
        return None


class _Collector:
    """pyx12's error tree as refusals."""

    def __init__(self) -> None:
        self.refusals: list[Refusal] = []

    def _envelope(self, node: Any, segment_id: str, close: str, open_: str) -> None:
        at = getattr(node, close, None) or getattr(node, open_, None) or 1
        for _, message in node.errors:
            self.refusals.append(Refusal(int(at), segment_id, _plain(message)))

    def visit_root_pre(self, errh: Any) -> None: ...

    def visit_root_post(self, errh: Any) -> None: ...

    def visit_isa_pre(self, node: Any) -> None:
        self._envelope(node, "IEA" if node.cur_line_iea else "ISA", "cur_line_iea", "cur_line_isa")

    def visit_isa_post(self, node: Any) -> None: ...

    def visit_gs_pre(self, node: Any) -> None:
        self._envelope(node, "GE" if node.cur_line_ge else "GS", "cur_line_ge", "cur_line_gs")

    def visit_gs_post(self, node: Any) -> None: ...

    def visit_st_pre(self, node: Any) -> None:
        self._envelope(node, "SE" if node.cur_line_se else "ST", "cur_line_se", "cur_line_st")

    def visit_st_post(self, node: Any) -> None: ...

    def visit_seg(self, node: Any) -> None:
        for error in node.errors:
            self.refusals.append(Refusal(node.cur_line, node.seg_id, _plain(error[1])))

    def visit_ele(self, node: Any) -> None:
        seg = node.parent
        for error in node.errors:
            self.refusals.append(Refusal(seg.cur_line, seg.seg_id, _plain(error[1])))
