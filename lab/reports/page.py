"""The HTML the reports write (a run's ladder, the catalogue index, the compare matrix):
one stylesheet, and one way to build elements so that every text and attribute is escaped.

Text goes in as it is and comes out escaped; only what `tag`, `void` and `join`
built (Markup) goes in unchanged. The standard library's html.escape does the
escaping; a template engine would be one more dependency for three small pages.

    >>> tag("td", "<b> & co", class_="bad", title=None)
    '<td class="bad">&lt;b&gt; &amp; co</td>'
    >>> tag("g", void("line", x1=0, marker_end="url(#head)"), data_step=18)
    '<g data-step="18"><line x1="0" marker-end="url(#head)"/></g>'
"""

import html

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2433;max-width:1200px}
h1{font-size:20px;margin:0 0 4px} .summary{color:#555;margin:0 0 12px}
pre.story{white-space:pre-wrap;background:#f6f7f9;padding:10px 14px;border-radius:6px}
table{border-collapse:collapse;margin:12px 0} td,th{border:1px solid #d6d9de;padding:3px 8px;text-align:left}
.runs td,.runs th{white-space:nowrap} .runs td:last-child{white-space:normal}
.pass,.passed,.ok{color:#16794a} .pass{font-weight:600} .fail,.failed,.incomplete,.bad{color:#c0262d;font-weight:700}
.skip,.skipped{color:#a16207} tr.differs td{background:#fff4d6}
svg text{font:12px ui-monospace,monospace} .host{font-weight:700;font-size:13px}
.arrow line{stroke:#3a5ba0;stroke-width:1.4} .arrow.rst line{stroke:#c0262d;stroke-width:2.2}
.arrow.fin line{stroke:#7a4fb3} .arrow.icmp line{stroke:#d97706;stroke-dasharray:5 3}
.call rect{fill:#fff;stroke:#1d2433} .call.fail rect{stroke:#c0262d;stroke-width:2}
.fault rect{fill:#fde68a;opacity:.45} .link{stroke:#16794a;stroke-dasharray:3 3;stroke-width:1.5}
section{margin:18px 0} h2{font-size:16px;margin:0 0 4px} tr.unexplained td:last-child{color:#c0262d}
details{margin:2px 0} summary{cursor:pointer} .count{color:#555} a.commit{font-family:ui-monospace,monospace}
#filters label{margin-right:12px} #shown{color:#555} #differ td:last-child{min-width:30em}
table.cols td:nth-child(-n+2){white-space:nowrap}
"""


class Markup(str):
    """HTML built here: `escape` passes it through unchanged."""


def escape(value):
    return value if isinstance(value, Markup) else Markup(html.escape(str(value)))


def attributes(attrs):
    """class_="x" → class="x", data_step=1 → data-step="1"; a None value is left out."""
    return "".join(f' {name.rstrip("_").replace("_", "-")}="{escape(value)}"'
                   for name, value in attrs.items() if value is not None)


def tag(name, *children, **attrs):
    return Markup(f"<{name}{attributes(attrs)}>{join(children, '')}</{name}>")


def void(name, **attrs):
    """An element with no content, closed in itself (SVG's line, rect, path)."""
    return Markup(f"<{name}{attributes(attrs)}/>")


def join(parts, sep="\n"):
    return Markup(sep.join(escape(p) for p in parts))


def document(title, *body):
    """A whole page: no fetches, the one stylesheet inline."""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>\n'
            f"<style>{STYLE}</style></head><body>\n{join(body)}\n</body></html>\n")
