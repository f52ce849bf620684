"""The HTML page: the template (page.html.j2, CSS and JS inline) filled with the panels, the chart
specs and the Vega bundle (vega, vega-lite and vega-embed from vl-convert: one script, no CDN)."""

from __future__ import annotations

import json
import os
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jinja2
import vl_convert

from orchestration.report.formats import format_value
from orchestration.report.i18n import Translator

TEMPLATE = Path(__file__).with_name("page.html.j2")
# The Vega-Lite major version Altair writes its specs for.
VEGA_LITE_VERSION = "6.4"


@cache
def vega_bundle() -> str:
    """vega + vega-lite + vega-embed as one classic script (it sets window.vegaEmbed).

    vl-convert bundles it on each call (seconds): the result is kept in the user's cache folder, one
    file per vl-convert and Vega-Lite version.
    """
    cache_dir = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "crm-segments"
    path = cache_dir / f"vega-bundle-{version('vl-convert-python')}-vl{VEGA_LITE_VERSION}.js"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    bundle = vl_convert.javascript_bundle(vl_version=VEGA_LITE_VERSION)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        partial.write_text(bundle, encoding="utf-8")
        os.replace(partial, path)
    except OSError:
        pass  # a read-only home: bundle again next time
    return bundle


def script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no `</` or `<!--` can close or confuse it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).replace("<", "\\u003c")


def render_page(data: dict[str, Any], charts: dict[str, dict[str, Any]], t: Translator) -> str:
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True)
    template = environment.from_string(TEMPLATE.read_text(encoding="utf-8"))
    return template.render(
        t=t,
        lang=t.lang,
        data=data,
        charts=charts,
        data_json=jinja2.utils.markupsafe.Markup(script_json(data)),
        charts_json=jinja2.utils.markupsafe.Markup(script_json(charts)),
        fmt=format_value,
        vega_js=jinja2.utils.markupsafe.Markup(vega_bundle()),
    )
