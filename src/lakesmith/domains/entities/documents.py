"""The fleet's PDFs, written with fpdf2: a datasheet per model and maintenance or
inspection reports per ticket. Multi-page, with tables and prose from the domain's
templates (``vocabulary``). The PDF keywords carry what the document is about as
``name=value`` pairs (``doc_type=datasheet; model=TH-200; …``), which the ``pdf``
format reads into fields (``keywords.doc_type``); the creation date is the document's
date, so the same seed gives the same bytes.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lakesmith.domains.entities import vocabulary as v
from lakesmith.domains.entities.generator import EntitiesConfig, Fleet

Row = Mapping[str, Any]


def _pdf(title: str, subject: str, keywords: str, author: str, created: datetime) -> Any:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_subject(subject)
    pdf.set_keywords(keywords)
    pdf.set_author(author)
    pdf.set_creator("lakesmith simulate entities")
    pdf.set_producer("fpdf2")
    pdf.set_creation_date(created)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(18, 18, 18)
    return pdf


def _heading(pdf: Any, text: str, size: int = 13) -> None:
    pdf.set_font("helvetica", "B", size)
    pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _para(pdf: Any, text: str) -> None:
    pdf.set_font("helvetica", "", 10)
    pdf.multi_cell(0, 5.2, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2.5)


def _table(pdf: Any, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A ruled table of single-line cells (``cell`` is ~20x faster than fpdf2's
    ``table``, which wraps every cell); widths follow the longest text of each column."""
    longest = [max(len(str(r[i])) for r in [header, *rows]) + 2 for i in range(len(header))]
    width = pdf.epw
    widths = [width * n / sum(longest) for n in longest]
    for style, cells in [("B", header), *(("", r) for r in rows)]:
        pdf.set_font("helvetica", style, 8.5)
        for w, text in zip(widths, cells, strict=True):
            text = str(text)
            while len(text) > 3 and pdf.get_string_width(text) > w - 2:
                text = text[: int(len(text) * 0.9)]
            pdf.cell(w, 6, text, border=1)
        pdf.ln(6)
    pdf.ln(3)


def _footer(pdf: Any, text: str) -> None:
    pdf.set_font("helvetica", "I", 8)
    pdf.multi_cell(0, 4, text, new_x="LMARGIN", new_y="NEXT")


def datasheet(model: Row, firmware: Sequence[Row]) -> bytes:
    """A three-page datasheet of ``model`` (a row of ``Fleet.models``)."""
    sensors = str(model["sensor_types"]).split(";")
    fill = {
        "model": model["model"],
        "manufacturer": model["manufacturer"],
        "family": model["family"],
        "sensors": ", ".join(s.replace("pm25", "PM2.5").replace("co2", "CO2") for s in sensors),
        "ip": model["ip_rating"],
        "interval": model["interval_s"],
    }
    launched: datetime = model["launched"]
    pdf = _pdf(
        f"{model['model']} {model['family']} datasheet",
        f"Datasheet of the {model['manufacturer']} {model['model']}",
        f"doc_type=datasheet; model={model['model']}; manufacturer={model['manufacturer']}; "
        f"date={launched.strftime('%Y-%m-%dT00:00:00Z')}",
        str(model["manufacturer"]),
        launched,
    )
    pdf.add_page()
    _heading(pdf, f"{model['manufacturer']}", 11)
    _heading(pdf, f"{model['model']} - {model['family']}", 18)
    for text in v.DATASHEET_INTRO:
        _para(pdf, text.format(**fill))
    _heading(pdf, "Key features")
    for s in sensors:
        unit, lo, hi, acc = v.SENSORS[s]
        _para(
            pdf,
            f"- {s.upper() if len(s) < 5 else s.capitalize()} from {lo:g} to {hi:g} {unit}, accuracy {acc}.",
        )
    pdf.add_page()
    _heading(pdf, "Specifications")
    _table(
        pdf,
        ("Measurand", "Range", "Unit", "Accuracy", "Resolution"),
        [
            (
                s,
                f"{v.SENSORS[s][1]:g} to {v.SENSORS[s][2]:g}",
                v.SENSORS[s][0],
                v.SENSORS[s][3],
                f"{(v.SENSORS[s][2] - v.SENSORS[s][1]) / 4096:.3g}",
            )
            for s in sensors
        ],
    )
    _heading(pdf, "Electrical and environmental characteristics")
    _table(
        pdf,
        ("Parameter", "Value"),
        [
            ("Supply", "3.6 V lithium cell or 12-48 V PoE"),
            (
                "Battery life",
                f"{int(5 * 60 / int(model['interval_s']) ** 0.5)} months at the default interval",
            ),
            ("Reporting interval", f"{model['interval_s']} s (configurable 10 s to 1 h)"),
            ("Operating temperature", "-20 to 60 °C"),
            ("Ingress protection", str(model["ip_rating"])),
            ("Radio", "2.4 GHz, WPA2/WPA3; LoRaWAN option"),
            ("List price", f"{model['price']:.2f} {model['currency']}"),
        ],
    )
    pdf.add_page()
    _heading(pdf, "Installation")
    for text in v.DATASHEET_INSTALL:
        _para(pdf, text.format(**fill))
    _heading(pdf, "Maintenance")
    for text in v.DATASHEET_MAINTENANCE:
        _para(pdf, text.format(**fill))
    if firmware:
        _heading(pdf, "Firmware history")
        _table(
            pdf,
            ("Version", "Released", "Notes"),
            [(f["version"], str(f["released_at"])[:10], f["notes"]) for f in firmware],
        )
    _footer(
        pdf, f"{model['manufacturer']} reserves the right to change specifications without notice."
    )
    return bytes(pdf.output())


def report(ticket: Row, device: Row, model: Row, site: Row, seed: int) -> bytes:
    """A three-page maintenance (or inspection) report of ``ticket``."""
    category = str(ticket["category"])
    kind = "inspection" if category == "inspection" else "maintenance"
    sensors = str(model["sensor_types"]).split(";")
    rng = np.random.default_rng([seed, int(str(ticket["ticket"])[3:])])
    sensor = sensors[int(rng.integers(len(sensors)))]
    opened: datetime = ticket["opened"]
    fill = {
        "kind": kind,
        "device": device["device_id"],
        "model": model["model"],
        "site": site["name"],
        "city": site["city"],
        "technician": ticket["technician"],
        "ticket": ticket["ticket"],
        "sensor": sensor,
    }
    pdf = _pdf(
        f"{kind.capitalize()} report {ticket['ticket']} - {device['device_id']}",
        f"{kind.capitalize()} of {device['device_id']} ({model['model']}) at {site['name']}",
        f"doc_type={kind}_report; device_id={device['device_id']}; model={model['model']}; "
        f"site={site['site']}; ticket={ticket['ticket']}; date={opened.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        str(ticket["technician"]),
        opened,
    )
    pdf.add_page()
    _heading(pdf, f"{kind.capitalize()} report {ticket['ticket']}", 16)
    _table(
        pdf,
        ("Field", "Value"),
        [
            ("Device", str(device["device_id"])),
            ("Serial number", str(device["serial"])),
            ("Model", f"{model['model']} ({model['manufacturer']})"),
            ("Site", f"{site['name']}, {site['city']}, {site['country']}"),
            ("Ticket opened", opened.strftime("%Y-%m-%d %H:%M UTC")),
            ("Category", category.replace("_", " ")),
            ("Priority", str(ticket["priority"])),
            ("Technician", str(ticket["technician"])),
        ],
    )
    for text in v.REPORT_INTRO:
        _para(pdf, text.format(**fill))
    _heading(pdf, "Reported problem")
    _para(pdf, str(ticket["description"]))
    pdf.add_page()
    _heading(pdf, "Findings")
    for text in v.REPORT_FINDINGS[category]:
        _para(pdf, text.format(**fill))
    unit, lo, hi, _ = v.SENSORS[sensor]
    ref = np.round(np.linspace(lo + (hi - lo) * 0.1, hi - (hi - lo) * 0.1, 8), 2)
    before = np.round(ref + rng.normal((hi - lo) * 0.01, (hi - lo) * 0.004, 8), 2)
    after = np.round(ref + rng.normal(0, (hi - lo) * 0.001, 8), 2)
    _heading(pdf, f"Measurements ({sensor}, {unit})")
    _table(
        pdf,
        ("Point", "Reference", "As found", "As left", "Deviation as left"),
        [
            (str(i + 1), f"{r:g}", f"{b:g}", f"{a:g}", f"{a - r:+.2f}")
            for i, (r, b, a) in enumerate(
                zip(ref.tolist(), before.tolist(), after.tolist(), strict=True)
            )
        ],
    )
    pdf.add_page()
    _heading(pdf, "Actions and parts")
    _table(
        pdf,
        ("Action", "Part", "Quantity"),
        [
            (f"{category.replace('_', ' ').capitalize()} work on {device['device_id']}", "-", "1"),
            ("Functional test after the work", "-", "1"),
            ("Seal and label check", "tamper seal", str(int(rng.integers(1, 3)))),
        ],
    )
    for text in v.REPORT_CLOSING:
        _para(pdf, text.format(**fill))
    closed = ticket.get("closed")
    status = f"Closed {closed.strftime('%Y-%m-%d %H:%M UTC')}" if closed else "Open"
    _para(pdf, f"Ticket status: {status}.  Signed: {ticket['technician']}")
    return bytes(pdf.output())


_STATE: dict[str, Any] = {}


def _init(fleet: Fleet, cfg: EntitiesConfig) -> None:
    """Give a worker process the fleet once (jobs then carry only row indices)."""
    _STATE.clear()  # the sites cached for an earlier fleet (an earlier run in this process)
    _STATE["fleet"], _STATE["cfg"] = fleet, cfg


def _documents(job: tuple[str, list[int]]) -> list[tuple[str, bytes]]:
    kind, indices = job
    fleet: Fleet = _STATE["fleet"]
    cfg: EntitiesConfig = _STATE["cfg"]
    out: list[tuple[str, bytes]] = []
    if kind == "datasheets":
        for i in indices:
            m = fleet.models.row(i, named=True)
            fw = fleet.firmware.filter(pl.col("model") == m["model"]).to_dicts()
            out.append((f"datasheet_{m['model']}.pdf", datasheet(m, fw)))
        return out
    models = {r["model"]: r for r in fleet.models.iter_rows(named=True)}
    sites = _STATE.setdefault("sites", {r["site"]: r for r in fleet.sites.iter_rows(named=True)})
    for i in indices:
        t = fleet.maintenance.row(i, named=True)
        d = fleet.devices.row(int(str(t["device_id"]).split("-")[1]), named=True)
        m, s = models[d["model"]], sites[d["site"]]
        out.append((f"report_{d['device_id']}_{t['ticket']}.pdf", report(t, d, m, s, cfg.seed)))
    return out


def report_tickets(fleet: Fleet, cfg: EntitiesConfig) -> list[int]:
    """Which tickets get a PDF report (deterministic): a seeded sample of them, in order."""
    n = fleet.maintenance.height
    k = min(cfg.n_reports, n)
    rng = np.random.default_rng([cfg.seed, 1])
    return sorted(rng.choice(n, size=k, replace=False).tolist()) if k else []


def write_documents(
    fleet: Fleet, cfg: EntitiesConfig, out: Path, workers: int | None = None
) -> Iterator[Path]:
    """Write the datasheets and reports to ``out`` (yielding each path as it is written);
    ``workers`` processes (default: 1 below 200 documents, else the CPU count)."""
    out.mkdir(parents=True, exist_ok=True)
    models = list(range(fleet.models.height))
    tickets = report_tickets(fleet, cfg)
    total = len(models) + len(tickets)
    workers = workers or (1 if total < 200 else min(8, os.cpu_count() or 1))
    step = max(1, min(100, total // (workers * 4) or 1))
    jobs = [
        (kind, items[i : i + step])
        for kind, items in (("datasheets", models), ("reports", tickets))
        for i in range(0, len(items), step)
    ]
    if workers <= 1:
        _init(fleet, cfg)
        for docs in map(_documents, jobs):
            yield from _save(out, docs)
        return
    # spawn, not fork: a forked child of a process whose Polars thread pool is running can
    # deadlock in its first Polars call
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=spawn, initializer=_init, initargs=(fleet, cfg)
    ) as pool:
        for docs in pool.map(_documents, jobs):
            yield from _save(out, docs)


def _save(out: Path, docs: list[tuple[str, bytes]]) -> Iterator[Path]:
    for name, data in docs:
        path = out / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        yield path
