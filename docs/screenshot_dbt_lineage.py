"""Screenshots the lineage of `make docs`' page with headless Chromium: every exposure (the report, the
published copy, each sync) and the marts it reads (docs/dbt-lineage.png).

Not part of the project's dependencies: run it with Playwright from a throwaway environment and the
system's Chromium, for example

    make docs    # prints the page's path, crm_segments_docs/index.html for the default warehouse
    uv run --with playwright python docs/screenshot_dbt_lineage.py [PAGE] [OUTPUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

from headless_chromium import CHROMIUM, QUIET_FLAGS
from playwright.sync_api import sync_playwright

PAGE = Path(sys.argv[1] if len(sys.argv) > 1 else "crm_segments_docs/index.html").resolve()
OUTPUT = sys.argv[2] if len(sys.argv) > 2 else "docs/dbt-lineage.png"
# dbt's node selection syntax, typed into the graph's --select box.
SELECTION = "1+exposure:*"


def main() -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100}, device_scale_factor=2)
        page.goto(f"{PAGE.as_uri()}#!/overview?g_v=1")
        page.get_by_text("Update Graph").wait_for(timeout=30_000)
        page.locator("input[placeholder='...']").first.fill(SELECTION)
        page.get_by_text("Update Graph").click()
        page.wait_for_timeout(3_000)  # the graph animates into place
        page.screenshot(path=OUTPUT)
        print(f"wrote {OUTPUT}")
        browser.close()


if __name__ == "__main__":
    main()
