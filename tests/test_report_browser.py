"""The HTML report in a real browser: headless Chromium loads it and a small script checks it.

The check page is a copy of ``index.html`` with one script at the top of its
head. The script records every resource that fails to load (capture-phase
``error`` events), every uncaught error and every ``console.error``, and on
``load`` it checks that every image is complete with a natural width, that
every in-page link points at an element that exists, and writes the result
as JSON into the DOM, which ``--dump-dom`` prints. Links to files are checked
on disk here; links to anything outside the report fail (it must be
self-contained). Chromium's own console lines on stderr also fail the test.

The tests skip, saying why, where no Chromium is installed (Debian: ``apt-get
install chromium``).
"""

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from f1opt.compare import compare  # noqa: E402
from f1opt.report import Section, write_report  # noqa: E402

_CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
    None,
)
pytestmark = pytest.mark.skipif(
    _CHROMIUM is None,
    reason="no Chromium on PATH (Debian: apt-get install chromium): the report is not "
    "checked in a browser",
)

_CHECK = """<script>
(function () {
  var problems = [];
  window.addEventListener("error", function (e) {
    var t = e.target;
    if (t && t !== window && (t.src || t.href)) {
      problems.push("resource failed to load: " + (t.src || t.href));
    } else {
      problems.push("uncaught error: " + e.message);
    }
  }, true);
  var original = console.error;
  console.error = function () {
    problems.push("console.error: " + Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments);
  };
  window.addEventListener("load", function () {
    var images = document.images, links = document.querySelectorAll("a[href]");
    for (var i = 0; i < images.length; i++) {
      var img = images[i];
      if (!(img.complete && img.naturalWidth > 0)) {
        problems.push("image not shown: " + img.getAttribute("src"));
      }
      if (!img.getAttribute("alt")) { problems.push("image without alt: " + img.src); }
    }
    var hrefs = [];
    for (var j = 0; j < links.length; j++) {
      var href = links[j].getAttribute("href");
      if (href.charAt(0) === "#") {
        if (!document.getElementById(decodeURIComponent(href.slice(1)))) {
          problems.push("broken in-page link: " + href);
        }
      } else { hrefs.push(links[j].href); }
    }
    var out = document.createElement("pre");
    out.id = "f1opt-browser-check";
    out.textContent = JSON.stringify(
      {problems: problems, images: images.length, links: links.length, hrefs: hrefs});
    document.body.appendChild(out);
  });
})();
</script>
"""


def _browser_check(index: Path, tmp_path: Path) -> dict:
    """Load a check copy of ``index`` in headless Chromium; the checker's findings."""
    html = index.read_text(encoding="utf-8")
    assert "<head>" in html
    page = index.with_name("browser-check.html")
    page.write_text(html.replace("<head>", "<head>\n" + _CHECK, 1), encoding="utf-8")
    profile = tmp_path / "chromium-profile"
    command = [
        _CHROMIUM,
        "--headless",
        "--no-sandbox",  # tests may run as root in containers
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",  # let the load event fire before the DOM is dumped
        "--dump-dom",
        page.as_uri(),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        page.unlink()
        shutil.rmtree(profile, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="f1opt-browser-check">(.*?)</pre>', done.stdout, re.S)
    assert found, "the check script did not run:\n" + done.stdout[-2000:]
    result = json.loads(
        found.group(1)
        .replace("&quot;", '"')
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
    )
    for href in result["hrefs"]:  # links to files: inside the report and present
        url = urlparse(href)
        target = Path(unquote(url.path))
        if url.scheme != "file":
            result["problems"].append(f"link outside the report: {href}")
        elif not target.exists():
            result["problems"].append(f"broken link: {href}")
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    result["problems"].extend(f"browser console: {line}" for line in console)
    return result


def _sections(rng):
    n = 150
    sections = []
    y = (rng.random(n) < 0.3).astype(int)
    s = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)
    c = compare(s, y, target="binary", average="binary", cv=3, n_bootstrap=50)
    sections.append(Section("binary", c, s, y, "binary, 150 rows", label_names=["spam"]))
    Y = (rng.random((n, 3)) < 0.4).astype(int)
    S = np.clip(0.3 * Y + rng.random((n, 3)) * 0.7, 0, 1)
    c = compare(S, Y, target="multilabel", average="micro", cv=3, n_repeats=2, n_bootstrap=50)
    sections.append(
        Section("multilabel & <names>", c, S, Y, "3 labels", label_names=["joy", "fear", "calm"])
    )
    k = rng.choice(3, n)
    logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[k]
    P = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    c = compare(P, k, target="multiclass", average="macro", cv=3, n_bootstrap=50)
    sections.append(Section("multiclass", c, P, k, "3 classes", label_names=["a", "b", "c"]))
    return sections


@pytest.fixture(scope="module")
def report_index(tmp_path_factory):
    directory = tmp_path_factory.mktemp("browser") / "report"
    return write_report(directory, _sections(np.random.default_rng(0)), title="browser check")


def test_report_renders_without_missing_image_console_error_or_broken_link(report_index, tmp_path):
    result = _browser_check(report_index, tmp_path)
    assert result["problems"] == []
    n_png = len(list(report_index.parent.glob("*.png")))
    assert result["images"] == n_png >= 9  # every figure written is shown, and none more
    assert result["links"] >= 3  # the table of contents


def test_the_browser_check_catches_a_broken_report(report_index, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(report_index.parent, broken)
    next(iter(sorted(broken.glob("*-cv.png")))).unlink()  # a missing image
    truncated = sorted(broken.glob("*-pr.png"))[0]
    truncated.write_bytes(truncated.read_bytes()[:40])  # an image that cannot be decoded
    html = (broken / "index.html").read_text(encoding="utf-8")
    html = html.replace(
        "</body>",
        '<a href="#nowhere">x</a><a href="gone.html">y</a><a href="https://example.org/">z</a>'
        "<script>console.error('oops'); undefined_function();</script></body>",
    )
    (broken / "index.html").write_text(html, encoding="utf-8")
    problems = "\n".join(_browser_check(broken / "index.html", tmp_path)["problems"])
    for expected in (
        "image not shown: s1-cv.png",
        "image not shown: s1-pr.png",
        "resource failed to load",
        "broken in-page link: #nowhere",
        "broken link: file://",
        "link outside the report: https://example.org/",
        "console.error: oops",
        "undefined_function",
    ):
        assert expected in problems, problems
