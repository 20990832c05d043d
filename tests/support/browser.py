"""Browser steps shared by the chromium tests (tests/e2e)."""

from __future__ import annotations

from tests.backoffice.conftest import PASSWORD, next_code


async def submit_login(page, username: str, password: str = PASSWORD) -> None:  # noqa: ANN001
    """Fill in the login form already on the page and wait for the page it leads to."""
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    async with page.expect_navigation():
        await page.click("button[type=submit].primary")


async def log_in(page, base: str, username: str, password: str = PASSWORD) -> None:  # noqa: ANN001
    """Open the login page of the app at ``base`` and log in (a second factor, if asked, is the caller's)."""
    await page.goto(f"{base}/login")
    await submit_login(page, username, password)


async def second_factor(page, username: str) -> None:  # noqa: ANN001
    """Type the authenticator's code when the account has a second factor (supervisors and admins do)."""
    if await page.locator("input[name=code]").count():
        await page.fill("input[name=code]", await next_code(username))
        async with page.expect_navigation():
            await page.click("button[type=submit].primary")
