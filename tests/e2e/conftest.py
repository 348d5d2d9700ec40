"""Browser fixtures: Debian's headless Chromium driven by Playwright against pytest-django's live_server.

    def test_x(live_server, page, seeded_catalog):
        page.goto(live_server.url + "/")
        shoot(page, "calculator")     # test-artifacts/screenshots/calculator-1280.png and -390.png

The browser is /usr/bin/chromium from the distribution (`make browser` / .ci/run install it); Playwright never
downloads one. live_server is transactional, so rows a test creates are committed and the server thread sees
them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
WIDTHS = (1280, 390)
DESKTOP = {"width": 1280, "height": 900}
# Elements that stick out of the viewport (outside a horizontally scrolling box): the page would pan sideways.
WIDEST_ELEMENTS = """() => {
  const limit = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= limit) return [];
  return Array.from(document.querySelectorAll("body *"))
    .filter((el) => el.getBoundingClientRect().right > limit + 1 && !el.closest(".table-wrap"))
    .slice(0, 5).map((el) => el.tagName + (el.id ? "#" + el.id : "") + "." + el.className);
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """One Chromium per test module. Playwright's sync API keeps an event loop running on this thread, and
    Django refuses ORM calls from such a thread unless DJANGO_ALLOW_ASYNC_UNSAFE says the caller is
    synchronous (it is: the tests never await). The variable is set only while the browser lives, so other
    modules, their worker subprocesses and `check --deploy` never see it."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: `make browser` installs Debian's chromium (CI fails on this skip)"
        )
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


@pytest.fixture
def page(browser, live_server) -> Iterator:
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def shoot():
    """shoot(page, name): full-page screenshots at 1280 px and 390 px wide, then back to the desktop size."""

    def take(page, name: str) -> list[Path]:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        paths = []
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900 if width > 600 else 844})
            page.wait_for_timeout(150)  # let the chart resize
            overflow = page.evaluate(WIDEST_ELEMENTS)
            assert not overflow, f"{name} is wider than {width}px: {overflow}"
            path = SCREENSHOT_DIR / f"{name}-{width}.png"
            page.screenshot(path=str(path), full_page=True)
            paths.append(path)
        page.set_viewport_size(DESKTOP)
        return paths

    return take


@pytest.fixture
def seeded_catalog(transactional_db) -> None:
    """The whole shipped catalog, loaded as `make run` loads it (so suggestions can name other cards)."""
    from django.core.management import call_command

    call_command("seed_catalog", verbosity=0)


@pytest.fixture
def planner_user(transactional_db):
    """An editor of team "Inference" (plans need the editor role) with a known password."""
    from django.contrib.auth import get_user_model

    from planner.services import teams

    user = get_user_model().objects.create_user(username="ada", password="correct-horse-battery")
    teams.team_create(user=user, name="Inference", slug="inference")
    return user


def wait_for_update(page) -> None:
    """Wait until the calculator shows the estimate of the form's current inputs (and the URL has them)."""
    page.wait_for_function(
        """() => document.body.dataset.pending === "0"
            && location.search.slice(1)
               === new URLSearchParams(new FormData(document.getElementById("calculator-form"))).toString()"""
    )
