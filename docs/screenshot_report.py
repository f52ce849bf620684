"""Screenshots the segment report for the README with headless Chromium (`--screenshot`): the top of the
page (docs/report-digest.png: morning digest and RFM) and the predictions and cohorts
(docs/report-predictions.png).

Build the replayed sample first, then the report, then run this:

    CRM_SEGMENTS_DUCKDB=/tmp/s/crm.duckdb make replay FROM=2026-10-20 TO=2026-11-20 STEP=31
    .venv/bin/python docs/screenshot_report.py /tmp/s/crm_report/index.html [OUTPUT_DIR]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1300, 7600
# (file, top, bottom) in page pixels at WIDTH; the sections' positions on the sample's report.
CROPS = (("report-digest.png", 0, 1650), ("report-predictions.png", 5790, 7600))


def main(page: Path, output_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        shot = Path(scratch) / "page.png"
        subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--disable-gpu",
                "--no-sandbox",
                "--hide-scrollbars",
                "--virtual-time-budget=10000",
                f"--window-size={WIDTH},{HEIGHT}",
                f"--screenshot={shot}",
                page.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
        )
        image = Image.open(shot).convert("RGB")
        for name, top, bottom in CROPS:
            # 128 colours: a fifth of the size, no visible loss on flat charts.
            image.crop((0, top, WIDTH, bottom)).quantize(colors=128).save(output_dir / name, optimize=True)
            print(output_dir / name)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2] if len(sys.argv) > 2 else "docs"))
