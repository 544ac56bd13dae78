"""MkDocs hook: tidy the option tables that mkdocs-click generates from the ``vitals`` commands.

With click 8.2 and later a flag without an explicit default reports click's internal ``UNSET``
sentinel, which mkdocs-click prints as the default; an empty-string default comes out as an
empty code span. Both read as noise in a reference, so they are rewritten after rendering.
"""

from __future__ import annotations

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

REWRITES = {
    "<td><code>Sentinel.UNSET</code></td>": "<td></td>",
    "<td>``</td>": '<td><code>""</code></td>',
}


def on_page_content(html: str, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    for before, after in REWRITES.items():
        html = html.replace(before, after)
    return html
