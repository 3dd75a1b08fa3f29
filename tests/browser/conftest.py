"""Real-browser tests: Debian's Chromium driven by Playwright against the live server.

Where Chromium is missing the tests skip, except when REQUIRE_BROWSER (or CI)
is set: then a missing browser is a failure, so CI can never pass with the
browser tests silently skipped.

With BROWSER_SCREENSHOTS=<folder>, every snap(page, name) saves a full-page screenshot there, to look at.
"""

import base64
import os
from pathlib import Path

import pytest
from django.core.servers.basehttp import WSGIServer

# Playwright's sync API keeps an event loop in the test thread; the ORM calls
# the tests make to set up data are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


def _browser_required() -> bool:
    return bool(os.environ.get("REQUIRE_BROWSER") or os.environ.get("CI"))


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if _browser_required():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


class _OneRequestAtATime(WSGIServer):
    """Django's test WSGI server without threads (it then answers every request with Connection: close)."""

    def __init__(self, *args, connections_override=None, **kwargs):
        super().__init__(*args, **kwargs)


@pytest.fixture(scope="session")
def live_server(request, django_db_setup):
    """pytest-django's live server, started once the test database exists, one request at a time on SQLite.

    The test database on SQLite is in memory with a shared cache: a connection per request thread would
    see "database table is locked" (at once, without waiting) whenever a page's requests write together,
    as its thumbnails do (each read is audited). So, as Django's LiveServerTestCase does, the server is
    handed the test's own connection (which needs the database set up first), and then answers one
    request at a time. On PostgreSQL the server stays threaded, with a connection per thread.
    """
    from pytest_django.live_server_helper import LiveServer

    address = request.config.getvalue("liveserver") or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost"
    server = LiveServer(address, start=False)
    if server.thread.connections_override:
        server.thread.server_class = _OneRequestAtATime
    server.start()
    yield server
    server.stop()


@pytest.fixture
def new_page(browser, live_server):
    """new_page(javascript=True) -> a Playwright page in a fresh context against the live server."""
    contexts = []

    def make(*, javascript: bool = True):
        context = browser.new_context(base_url=live_server.url, java_script_enabled=javascript)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def log_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


@pytest.fixture
def vault_keys(settings):
    """A vault master key of this test's own, and jobs (suggestions, exports) run inline after commit."""
    settings.VAULT_MASTER_KEYS = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
    return settings.VAULT_MASTER_KEYS


def image_widths(images) -> list[int]:
    """The naturalWidth of every image `images` (a locator) finds, once each has finished loading: 0 = broken."""
    images.first.wait_for()
    for n in range(images.count()):
        images.nth(n).scroll_into_view_if_needed()
    images.page.wait_for_function("imgs => imgs.every(i => i.complete)", arg=images.element_handles())
    return images.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")


def snap(page, name: str) -> None:
    """With BROWSER_SCREENSHOTS=<folder>, save a full-page screenshot there to look at; otherwise nothing."""
    folder = os.environ.get("BROWSER_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


AXE_JS = Path(__file__).resolve().parents[2] / ".cache" / "axe-core-4.14.1" / "axe.min.js"


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script, fetched from the npm registry by bin/fetch-axe (once; it is not committed).

    Missing and not fetchable (no npm, no registry): the test skips, or fails under REQUIRE_BROWSER."""
    import subprocess

    if not AXE_JS.exists():
        fetch = subprocess.run([str(AXE_JS.parents[2] / "bin" / "fetch-axe")], capture_output=True, text=True)
        if fetch.returncode != 0 or not AXE_JS.exists():
            message = f"axe-core is missing at {AXE_JS} and bin/fetch-axe failed: {fetch.stderr.strip()}"
            if _browser_required():
                pytest.fail(message)
            pytest.skip(message)
    return AXE_JS.read_text()


def axe_violations(page, axe_source: str, *, impacts=("serious", "critical")) -> list[str]:
    """What axe-core finds on the page as it is now (WCAG 2.0-2.2 A and AA rules), of the given impacts.

    The script goes in through the DevTools protocol, so the page's Content-Security-Policy (script-src
    'self') does not have to let it in."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source)
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']},
            resultTypes: ['violations'],
        });
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}));
    }""")
    return [f"{v['id']} ({v['impact']}): {v['help']}: {node}" for v in result if v["impact"] in impacts
            for node in v["nodes"]]


# Controls smaller than WCAG 2.2's 24x24 CSS px (2.5.8, AA), or than 44x44 for a primary button (the
# solid, filled ones: not .secondary, not .link). A link inside a sentence is exempt, as 2.5.8 allows.
_SMALL_TARGETS = """() => {
  const inSentence = el => {
    if (el.tagName !== 'A' || getComputedStyle(el).display !== 'inline') return false;
    let block = el.parentElement;
    while (block && getComputedStyle(block).display === 'inline') block = block.parentElement;
    return block && block.textContent.trim() !== el.textContent.trim();
  };
  const out = [];
  const controls = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button]';
  for (const el of document.querySelectorAll(controls)) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === 'hidden') continue;
    if (el.closest('.sr-only') || inSentence(el)) continue;
    const primary = el.matches('button:not(.secondary):not(.link), a.button:not(.secondary)');
    const least = primary ? 44 : 24;
    if (r.width < least - 0.5 || r.height < least - 0.5) {
      const name = (el.getAttribute('aria-label') || el.textContent || el.name || el.type || '').trim().slice(0, 40);
      out.push(`${el.tagName.toLowerCase()}${el.className ? '.' + el.className.split(' ').join('.') : ''} `
               + `"${name}" is ${Math.round(r.width)}x${Math.round(r.height)} (at least ${least})`);
    }
  }
  return out;
}"""


def small_targets(page) -> list[str]:
    """Every visible control on the page below its least size, described."""
    return page.evaluate(_SMALL_TARGETS)
