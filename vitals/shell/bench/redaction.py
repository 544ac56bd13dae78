"""``vitals bench redaction``: the PHI redactor's scan rate on adversarial strings.

Each shape is repeated to ``--size`` characters and scanned once, as one attribute value; every
detector must take time linear in its input, so the rate (MiB/s) stays flat from shape to shape
and from size to size. The ordinary-prose line is the reference a quadratic detector would fall
far below (a 512 KiB run of one letter once took minutes).
"""

from __future__ import annotations

from pathlib import Path

import click

from collector.redaction import RedactionPolicy, Redactor
from vitals.shell.bench.common import BENCH_SECRET, Figure, Stopwatch, out_option, parse_size, report, say

#: name -> one repetition of the shape (what each detector's pattern could trip on).
SHAPES: dict[str, str] = {
    "prose (reference)": "admit note for the evening shift, bed 4 ready; ",
    "one letter": "a",
    "e-mail: a@": "a@",
    "e-mail: a.": "a.",
    "digits": "1",
    "ssn/phone: 1-": "1-",
    "ssn: 123-45-6789-": "123-45-6789-",
    "phone: 555-867-5309x ": "555-867-5309x ",
    "dots": ".",
    "date: timestamps": "2024-05-01T10:",
    "name: a-": "a-",
    "name: HL7 carets a'^1": "a'^1 ",
    "name: Patient: A B": "Patient: Ab Cd ",
    "mrn: mrn ": "mrn ",
    "hl7: PID": "PID",
    # The detectors of issue #12's shapes.
    "keyed: a=a=": "a=a=",
    "keyed: mrn=x": "mrn=x ",
    "keyed: Name: ab": "Name: ab ",
    "keyed: q=Ab+": "q=Ab+",
    "keyed: SQL quotes '": "'",
    'keyed: escaped JSON \\"': '\\"',
    "keyed: JSON nesting [{": "[{",
    "keyed: INSERT": "insert into t (a) values (",
    "name: patient Ab": "patient Ab ",
    "phone: id=5558675309": "id=5558675309 ",
    "phone: x5558675309": "x5558675309 ",
    "percent: %41": "%41",
    "hl7: \\rPID": "\\rPID",
    "hl7: <C": "<C",
}


def scan_rate(redactor: Redactor, text: str) -> float:
    """MiB of UTF-8 scanned per second for one scan of ``text``."""
    watch = Stopwatch()
    redactor.text(text)
    seconds = watch.seconds
    return len(text.encode()) / (1 << 20) / seconds if seconds else 0.0


@click.command()
@click.option(
    "--size", default="512k", show_default=True, help="Characters per scanned string (512k = 512,000)."
)
@out_option()
def redaction(size: str, out: Path | None) -> None:
    """Scan rate (MiB/s) of the PHI redactor on adversarial strings, one per detector."""
    chars = parse_size(size)
    redactor = Redactor(RedactionPolicy(), BENCH_SECRET.encode())
    figures = []
    for name, shape in SHAPES.items():
        say(f"scanning {name} ...")
        text = (shape * (chars // len(shape) + 1))[:chars]
        rate = scan_rate(redactor, text)
        figures.append(
            Figure(name, rate, "MiB/s", digits=1, detail=f"{chars:,} chars", reference="prose (reference)")
        )
    report(figures, out, {"size": chars})


__all__ = ["SHAPES", "redaction", "scan_rate"]
