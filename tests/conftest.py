"""Shared pytest fixtures. Keep the logic in helper modules; only fixtures here."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import coturn as _coturn  # noqa: E402  (tests/coturn.py)
from icesim.dialects import ChromeDialect  # noqa: E402

# --------------------------------------------------------------------------
# coturn (tests/coturn.py)
# --------------------------------------------------------------------------

_COTURN_FIXTURES = {"coturn", "coturn_factory"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that use a coturn fixture get the `coturn` marker automatically,
    # so `pytest -m "not coturn"` works without marking each test by hand.
    for item in items:
        if _COTURN_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.coturn)


def _require_turnserver() -> None:
    # Fail, don't skip: a skip would hide that coturn was never installed.
    try:
        _coturn.find_turnserver()
    except _coturn.CoturnNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_coturn.CoturnServer]:
    """One coturn for the whole session on 127.0.0.1 (user test/secret, realm test).

    Attributes: host, port, address, username, password, realm, stun_url,
    turn_udp_url, turn_tcp_url, turn_url(transport), relay_min_port,
    relay_max_port, pid, log().
    """
    _require_turnserver()
    with _coturn.start_coturn(tmp_path_factory.mktemp("coturn")) as server:
        yield server


@pytest.fixture
def coturn_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., _coturn.CoturnServer]]:
    """Start extra coturn instances for one test; all are stopped after it.

    ``coturn_factory(**kwargs)`` takes the keyword arguments of
    ``tests/coturn.py:start_coturn`` (username, password, realm,
    allow_loopback_peers, extra_args, ...), and returns a ready CoturnServer.
    """
    _require_turnserver()
    with contextlib.ExitStack() as stack:

        def start(**kwargs: object) -> _coturn.CoturnServer:
            workdir = tmp_path_factory.mktemp("coturn")
            return stack.enter_context(_coturn.start_coturn(workdir, **kwargs))  # type: ignore[arg-type]

        yield start


@pytest.fixture
def closed_port() -> int:
    """A 127.0.0.1 port with nothing listening on it (UDP nor TCP)."""
    return _coturn.closed_port()


# --------------------------------------------------------------------------
# ChromeDialect rules (tests/test_chrome_*.py; helpers in tests/chrome_helpers.py)
# --------------------------------------------------------------------------


@pytest.fixture
def chrome() -> ChromeDialect:
    return ChromeDialect()
