"""The HTML report's structure: headings that say what differs, metric directions, embedded
pictures, citations, the run's config panel; opened in headless Chromium when installed."""

import copy
import json
import re
import shutil
import subprocess
from html import unescape
from html.parser import HTMLParser

import pytest

from scorebench.report import html, leaderboard
from scorebench.report.baselines import load_baselines
from scorebench.runs import RunDir
from scorebench.stores import run_results


class Page(HTMLParser):
    """Headings, table headers, images, summaries and paragraphs of a page, as text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.found: dict[str, list] = {"h2": [], "th": [], "img": [], "summary": [], "p": []}
        self.meta: list[dict] = []
        self._open: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.found["img"].append(attrs)
        elif tag == "meta":
            self.meta.append(attrs)
        elif tag in self.found:
            self._open.append(tag)
            self.found[tag].append("")

    def handle_endtag(self, tag):
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data):
        for tag in self._open:
            self.found[tag][-1] += data


@pytest.fixture(scope="module")
def page(workspace):
    """The report of the workspace's toy run beside a sibling protocol (another eval seed)
    and the NCSN paper's table."""
    root, _ = workspace
    run = RunDir(root / "R")
    records = run_results(run)
    sibling = copy.deepcopy(records[0])
    sibling["protocol"]["seed"] = 7
    sibling["fingerprint"] = "sibling0000000000"
    board = leaderboard.build([*records, sibling], load_baselines(["ncsn-paper-table1"]))
    text = html.render(board, [run.path])
    (root / "report.html").write_text(text)
    return Page(text), root / "report.html"


def test_headings_say_what_the_protocol_is_and_what_differs(page):
    parsed, _ = page
    toy = [h for h in parsed.found["h2"] if h.startswith("toy-gmm: points")]
    assert len(toy) == 2  # the sibling shares the heading...
    differs = [p for p in parsed.found["p"] if "differs from its sibling tables in" in p]
    assert (
        differs == ["differs from its sibling tables in: eval.seed differs"] * 2
    )  # ...not the words
    assert any(h.startswith("cifar10: paper") for h in parsed.found["h2"])
    assert "run R" in parsed.found["h2"]


def test_metric_headers_carry_their_direction_and_scale(page):
    parsed, _ = page
    heads = set(parsed.found["th"])
    assert {"mode weight err ↓", "SWD ↓", "MMD^2 ↓", "IS ↑", "FID ↓"} <= heads
    scales = [p for p in parsed.found["p"] if p.startswith("Scale:")]
    assert len(scales) == 2  # each toy group; the paper's table has no scale of ours
    assert all("SWD is in the data's own units" in p for p in scales)
    assert all("MMD^2 is unbiased and may be slightly negative" in p for p in scales)


def test_paper_rows_are_cited_with_a_link(page):
    parsed, path = page
    (citation,) = [p for p in parsed.found["p"] if p.startswith("Source:")]
    assert "Song & Ermon 2019" in citation and "Table 1" in citation
    assert 'href="https://arxiv.org/abs/1907.05600"' in path.read_text()


def test_pictures_are_embedded_and_the_run_shows_its_config(page):
    parsed, _ = page
    sources = [img["src"] for img in parsed.found["img"] if img.get("src")]
    assert sources and all(src.startswith("data:image/png;base64,") for src in sources)
    alts = [img.get("alt", "") for img in parsed.found["img"]]
    assert "training loss" in alts and "loss per noise level" in alts
    assert any(alt.startswith("R @4 /") for alt in alts)  # a row's samples over the real data
    assert {"command", "resolved config", "versions and machine"} <= set(parsed.found["summary"])
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in parsed.meta


#: Injected into a copy of the report: after layout, every table cell that is not wholly
#: on screen (inside the viewport and its table's scroll frame), as the browser laid it out.
LAYOUT_PROBE = """<script>
addEventListener("load", () => {
  const width = document.documentElement.clientWidth, cut = [];
  for (const td of document.querySelectorAll("section.protocol td")) {
    const box = td.getBoundingClientRect(), frame = td.closest(".scroll").getBoundingClientRect();
    if (!box.width || box.right > Math.min(width, frame.right) + 1 || box.left < Math.max(0, frame.left) - 1)
      cut.push(td.dataset.label + ": " + td.textContent);
  }
  const page = document.documentElement.scrollWidth, cells = document.querySelectorAll("section.protocol td").length;
  parent.postMessage(JSON.stringify({width, page, cut, cells}), "*");
});
</script>"""
#: A phone's screen: headless Chromium's windows are at least 500 px wide, so the report is
#: opened in a frame of the phone's width, which is the width its layout sees.
PHONE = """<body style="margin:0">
<iframe src="{src}" style="width:{width}px;height:1600px;border:0"></iframe>
<script>addEventListener("message", (e) => {{ document.body.dataset.layout = e.data; }});</script>
</body>"""


def _chromium(browser, *args, width):
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},1600"]
        + ["--hide-scrollbars", "--virtual-time-budget=5000", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout


def test_headless_chromium_shows_every_metric_column_at_phone_and_desktop_width(page, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no Chromium installed (.ci/run installs Debian's chromium)")
    _, path = page
    (tmp_path / "report.html").write_text(path.read_text())
    (tmp_path / "probed.html").write_text(
        path.read_text().replace("</body>", LAYOUT_PROBE + "</body>")
    )
    for width in (390, 1400):
        for name, src in (("shown", "report.html"), ("measured", "probed.html")):
            (tmp_path / f"{name}-{width}.html").write_text(PHONE.format(src=src, width=width))
        shot = tmp_path / f"report-{width}.png"
        window = max(width, 500)
        _chromium(
            browser,
            f"--screenshot={shot}",
            (tmp_path / f"shown-{width}.html").as_uri(),
            width=window,
        )
        assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
        dom = _chromium(
            browser, "--dump-dom", (tmp_path / f"measured-{width}.html").as_uri(), width=window
        )
        found = re.search(r'data-layout="([^"]*)"', dom)
        assert found, f"the layout probe did not run at {width} px"
        layout = json.loads(unescape(found.group(1)))
        assert layout["width"] == width and layout["cells"] > 20
        assert layout["cut"] == [], f"cut off at {width} px: {layout['cut'][:5]}"
        assert layout["page"] <= width  # nothing makes the page scroll sideways
    dom = _chromium(browser, "--dump-dom", path.as_uri(), width=1400)
    assert '<div id="zoom" hidden=""' in dom and "toy-gmm: points" in dom


class _Sharpness:
    """A third party's point metric that declares its value, label and direction."""

    @staticmethod
    def register_metrics():
        from scorebench.registry import Component

        values = {"sharpness": ("sharpness", "lower")}
        factory = "scorebench.metrics.points:mmd_rbf"  # any callable: only the meta matters
        return [Component("sharpness", factory, meta={"type": "sample-metric", "values": values})]


def test_a_plugin_metric_declares_its_label_and_direction():
    from scorebench import hookimpl
    from scorebench.plugins import get_plugin_manager
    from scorebench.report.compare import compare

    plugin = _Sharpness()
    hookimpl(plugin.register_metrics)
    get_plugin_manager().register(plugin, name="sharpness-plugin")
    assert (
        leaderboard.lower_is_better("sharpness") and leaderboard.label("sharpness") == "sharpness"
    )

    def board(value):
        row = {"origin": "run", "model": "m", "sampler": "s", "metrics": {"sharpness": value}}
        row.update(intervals={}, seeds=[0], match={"m": 1})
        return {"groups": [{"fingerprint": "f", "rows": [row]}]}

    (change,) = compare(board(1.0), board(2.0), {"sharpness": 0.5})
    assert change.regressed  # higher is worse, as the plugin declared
    heads, _ = leaderboard.table({"columns": ["sharpness"], "rows": []})
    assert "sharpness ↓" in heads


def test_a_points_run_outside_every_table_shows_its_newest_evaluation_named(workspace):
    """Below the tables a run repeats nothing they show; a run in none of them shows its
    newest evaluation, captioned with its sampler."""
    root, _ = workspace
    alone = Page(html.render({"groups": []}, [root / "R"]))
    (caption,) = [c for c in alone.found["img"] if c.get("alt", "").startswith("newest evaluation")]
    assert caption["alt"].startswith("newest evaluation: annealed_langevin (")
    assert "steps_per_level=2" in caption["alt"]
    records = run_results(RunDir(root / "R"))
    shown = Page(html.render(leaderboard.build(records, []), [root / "R"]))
    assert not [c for c in shown.found["img"] if c.get("alt", "").startswith("newest evaluation")]
