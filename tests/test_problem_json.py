"""application/problem+json errors (the platform API's) become the client's usual one-line errors."""

from __future__ import annotations

import logging

import pytest

from pipelines.api.client import PixeeClient
from pipelines.errors import ApiError, AuthError, ForbiddenError, NotFoundError
from pipelines.settings import Secret, Settings
from tests.loopback_support import Answer, problem, serving

KEY = "pxk_0a9b8c7d6e5f4a3b2c1d"


def fail(answer: Answer, path: str = "/api/v1/scans/scan_9") -> ApiError:
    with serving({path: answer}, KEY) as server:
        settings = Settings(
            base_url=server.url + "/api/v1", token=Secret(KEY), requests_per_minute=6000.0, burst=50
        )
        with (
            PixeeClient(settings, max_attempts=2, backoff_base=0.001) as client,
            pytest.raises(ApiError) as failed,
        ):
            client.get_json(path)
    return failed.value


def test_a_404_problem_is_not_found_built_from_title_detail_and_instance() -> None:
    error = fail(problem(404, "Not Found", "scan scan_9 expired", "/errors/7f3a"))
    assert type(error) is NotFoundError and error.status == 404
    assert str(error) == (
        "Not Found: scan scan_9 expired (instance /errors/7f3a); endpoint /api/v1/scans/scan_9; status 404"
    )


def test_an_instance_that_is_the_endpoint_is_said_once() -> None:
    error = fail(problem(404, "Not Found", "scan scan_9 expired", "/api/v1/scans/scan_9"))
    assert str(error) == "Not Found: scan scan_9 expired; endpoint /api/v1/scans/scan_9; status 404"


def test_a_401_problem_is_an_auth_error_that_still_says_what_to_change() -> None:
    error = fail(problem(401, "Unauthorized", "API key invalid", "/errors/1"))
    assert type(error) is AuthError
    assert str(error).startswith(
        "the API refused the token (401 unauthorized: Unauthorized: API key invalid (instance /errors/1)); "
        "check PIXEE_TOKEN"
    ), error


def test_other_statuses_keep_their_kinds() -> None:
    assert type(fail(problem(403, "Forbidden", "no access"))) is ForbiddenError
    error = fail(problem(422, "Unprocessable Entity", "page-size must be 1..100"))
    assert type(error) is ApiError and "Unprocessable Entity: page-size must be 1..100" in str(error)


def test_a_detail_that_repeats_the_title_says_it_once() -> None:
    assert str(fail(problem(409, "Conflict", "Conflict"))).startswith("Conflict; endpoint")


def test_a_problem_echoing_the_key_never_shows_it_in_the_error_or_a_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    error = fail(
        problem(
            400, f"Bad key {KEY}", f"key {KEY[:-5]} is not valid here; got {KEY[4:]}", f"/api/v1/keys/{KEY}"
        )
    )
    text = str(error)
    assert "\n" not in text and "instance" in text
    for piece in (KEY, KEY[:12], KEY[-12:]):
        assert piece not in text and piece not in caplog.text, text


def test_a_huge_problem_is_cut_to_one_readable_line() -> None:
    error = fail(problem(400, "Bad Request", "x" * 100_000 + "\n" + "y" * 10))
    assert len(str(error)) < 400 and "\n" not in str(error)
