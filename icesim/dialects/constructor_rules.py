"""What each browser's RTCPeerConnection constructor refuses in iceServers, with the exact
exception a page catches. Pure rules: `(server, exception name, message)` or None.

A refused configuration starts no gathering and fires no event; GatherConfig.validate raises
ConstructorRefusal with these texts, and `icesim repro` prints the page's exception line."""

from __future__ import annotations

from ..config import IceServerUrl, server_url_text
from .chrome import RESTRICTED_PORTS

Refusal = tuple[IceServerUrl, str, str]

CHROME_PREFIX = "Failed to construct 'RTCPeerConnection': "
FIREFOX_PREFIX = "PeerConnectionImpl.setConfiguration: "


def chrome_constructor_error(servers: list[IceServerUrl]) -> Refusal | None:
    """Chrome 156 (captures H1-H4): a turn(s) URL needs both keys, and neither may be empty;
    no "Missing TURN server credentials." event ever reaches the page."""
    for server in servers:
        if not server.is_turn:
            continue
        if server.username is None or server.credential is None:
            return server, "InvalidAccessError", CHROME_PREFIX + (
                'Both username and credential are required when the URL scheme is "turn" or "turns".')
        if not server.username or not server.credential:
            return server, "InvalidAccessError", CHROME_PREFIX + (
                "ICE server parsing failed: TURN server with empty username or password")
    return None


def firefox_constructor_error(servers: list[IceServerUrl]) -> Refusal | None:
    """Firefox ESR 153, per URL in order: a port on the blocked list throws SyntaxError naming
    the URL as written (capture turn_port22), then a TURN URL without a username (capture
    turn_nocred) or without a credential throws InvalidAccessError. Empty strings pass.
    [PeerConnectionImpl.cpp validate-an-ICE-server-URL: IsPortAllowed, mUsername/mCredential
    WasPassed(); the blocked list is necko's bad-port list, the fetch spec's, as Chrome's]"""
    for server in servers:
        if server.port in RESTRICTED_PORTS:
            return server, "SyntaxError", FIREFOX_PREFIX + f"'{server_url_text(server)}' uses a port that is blocked"
        if server.is_turn and server.username is None:
            return server, "InvalidAccessError", FIREFOX_PREFIX + "TURN server requires a username"
        if server.is_turn and server.credential is None:
            return server, "InvalidAccessError", FIREFOX_PREFIX + "TURN server requires a credential"
    return None


def safari_constructor_error(servers: list[IceServerUrl]) -> Refusal | None:
    """Safari: a turn(s) URL with a null username or credential throws InvalidAccessError
    (empty strings pass); blocked ports are not refused here but dropped with a 701 "URL is
    not allowed" event (SafariDialect.refused_server_error) [source reading only: WebKit
    RTCPeerConnection::iceServersFromConfiguration]."""
    for server in servers:
        if server.is_turn and (server.username is None or server.credential is None):
            return server, "InvalidAccessError", "TURN/TURNS server requires both username and credential"
    return None


# What `new X()` throws when the browser does not define X (WebRTC switched off): each JS
# engine's own ReferenceError text (V8, SpiderMonkey: capture pref_pc_disabled; JavaScriptCore
# [source reading only]).
_UNDEFINED_GLOBAL = {"chrome": "{} is not defined", "firefox": "{} is not defined", "safari": "Can't find variable: {}"}


def undefined_global_message(browser: str, name: str) -> str:
    return _UNDEFINED_GLOBAL[browser].format(name)
