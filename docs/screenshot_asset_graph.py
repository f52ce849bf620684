"""Screenshots the asset graph of a running Dagster UI (`make dev`) with headless Chromium.

Two pictures: the lineage of every group (docs/asset-graph.png) and the marts group with its
neighbours (docs/asset-graph-marts.png). Materialise first with the same DAGSTER_HOME
(`DAGSTER_HOME=$PWD/.dagster_home make run`) so the assets show their last run.

Not part of the project's dependencies: run it with Playwright from a throwaway environment and the
system's Chromium, for example

    make dev &    # the UI on http://127.0.0.1:3000
    uv run --with playwright python docs/screenshot_asset_graph.py [URL] [OUTPUT_DIR]
"""

from __future__ import annotations

import sys

from headless_chromium import CHROMIUM, QUIET_FLAGS
from playwright.sync_api import sync_playwright

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
OUTPUT_DIR = sys.argv[2] if len(sys.argv) > 2 else "docs"
PAGES = {
    "asset-graph.png": "asset-groups",
    "asset-graph-marts.png": "locations/orchestration.definitions/asset-groups/marts",
}


def main() -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET_FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000}, device_scale_factor=1)
        for name, path in PAGES.items():
            page.goto(f"{URL}/{path}", wait_until="networkidle")
            skip = page.get_by_role("button", name="Skip")  # the first-visit newsletter dialog
            if skip.count():
                skip.click()
            page.wait_for_selector("text=marts", timeout=30_000)
            page.wait_for_timeout(3_000)
            page.screenshot(path=f"{OUTPUT_DIR}/{name}")
            print(f"wrote {OUTPUT_DIR}/{name}")
        browser.close()


if __name__ == "__main__":
    main()
