"""`icesim replay --serve DIR`: the sessions, the icesim module and a detector, served on loopback
to a real browser (issue 7 point 3), for teams that test in Playwright/Puppeteer.

Routes (GET unless said): `/` an index of the sessions, `/sessions.json` the same as JSON,
`/run/<id>?clock=virtual|real` a page that installs the module (`installIcesim(window, doc,
{clock})`) before any detector code runs and then runs the detector (serve_page.mjs),
`/doc/<id>.json` the session's replay document, `/js/<name>.mjs` the module (icesim/js),
`/detector/<path>` the detector and the files beside it, `/results.json` the results so far, and
POST `/result/<id>` where the page reports: the server prints one JSON line per result on stdout
(the shape of `icesim replay --format jsonl`, made by the `describe` callable) and answers it.
Only 127.0.0.1 is bound: the pages' WebRTC is the replay, nothing else leaves the machine.
"""

from __future__ import annotations

import html
import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ..config import ConfigError

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
CLOCKS = ("virtual", "real")
MAX_RESULT_BYTES = 8 << 20
INDEX_ROWS = 2000  # the HTML index lists this many sessions; /sessions.json lists all
_PAGE_SCRIPT = "serve_page.mjs"
_PAGE_CONSOLE = "serve_console.mjs"  # imported by the page script

# Row -> replay document (icesim/replay/document.py); result + document -> output line.
BuildDocument = Callable[[dict[str, Any]], dict[str, Any]]
Describe = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Detector:
    """The detector file, how a page loads it, and the function to call (None: the default)."""

    path: Path
    kind: str  # "classic" (a script element) or "module" (import())
    export: str | None = None
    commonjs: bool = False  # a classic script gets `module`/`exports` while it loads


# Asks the runner's own Detector (icesim/js/replay-detector.mjs) how it reads the file, so a page
# loads it exactly as `icesim replay` does.
_DETECTOR_FACTS = """
import { Detector, DetectorError } from %s;
try {
  const d = new Detector(process.argv[1], process.argv[2] || null);
  console.log(JSON.stringify({ kind: d.kind, commonjs: d.commonJS }));
} catch (e) {
  if (!(e instanceof DetectorError)) throw e;
  console.log(JSON.stringify({ error: e.message }));
}
"""


def load_detector(path: str | Path, export: str | None) -> Detector:
    """The --detector file, checked as `icesim replay` checks it before anything is served: the
    runner loads it once in a throwaway page (syntax, the export); ConfigError names the option.
    Raises ReplayUnavailable without Node.js."""
    from .pool import NODE_FLAGS, node_command

    file = Path(path)
    if not file.is_file():
        raise ConfigError("--detector", str(path), "no such file")
    if export is not None and not re.fullmatch(r"[A-Za-z_$][\w$]*", export):
        raise ConfigError("--export", export, "is not a JavaScript identifier")
    command = node_command()
    job = json.dumps({"detector": str(file.resolve()), "export": export}) + "\n"
    checked = subprocess.run(command, input=job, capture_output=True, text=True, timeout=120)
    if checked.returncode != 0:
        why = (checked.stderr.strip().splitlines() or [f"the replay runner exited {checked.returncode}"])[0]
        raise ConfigError("--export" if export and "no function" in why else "--detector", export or str(path),
                          why.removeprefix("detector: "))
    script = _DETECTOR_FACTS % json.dumps((module_dir() / "replay-detector.mjs").as_uri())
    done = subprocess.run([command[0], *NODE_FLAGS, "--input-type=module", "-e", script, str(file.resolve()),
                           export or ""], capture_output=True, text=True, timeout=120)
    facts = json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else {"error": done.stderr.strip()}
    if "error" in facts:
        raise ConfigError("--detector", str(path), facts["error"])
    return Detector(file.resolve(), facts["kind"], export, bool(facts["commonjs"]))


def parse_port(value: int) -> int:
    if not 0 <= value <= 65535:
        raise ConfigError("--port", str(value), "must be 0 (pick a free port) to 65535")
    return value


def module_dir() -> Path:
    return Path(str(resources.files("icesim") / "js"))


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value).replace("</", "<\\/")


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser closed while a request was in flight (killed by a test, a tab closed): not
        worth a traceback on stderr; anything else still gets one."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class ReplayServer:
    """Serves the sessions to browser pages and prints the results they POST back."""

    def __init__(self, rows: Sequence[dict[str, Any]], build_document: BuildDocument, describe: Describe, *,
                 detector: Detector | None = None, port: int = DEFAULT_PORT, clock: str = "virtual",
                 max_ms: float = 120000, console_lines: int = 20, out: TextIO = sys.stdout) -> None:
        self.rows = {str(row["session_id"]): row for row in rows}
        self.order = list(self.rows)
        self.detector = detector
        self.clock = clock
        self.max_ms = max_ms
        self.console_lines = console_lines
        self.describe = describe
        self.results: dict[str, dict[str, Any]] = {}
        self._out = out
        self._lock = threading.Lock()
        self._build = build_document  # per request: a document dated now (icesim replay --fixed-date: not)
        self.httpd = _QuietServer((HOST, port), _handler(self))
        self.httpd.daemon_threads = True

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def run_url(self, session_id: str, clock: str | None = None) -> str:
        return f"{self.url}run/{quote(session_id, safe='')}?clock={clock or self.clock}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def document(self, session_id: str) -> dict[str, Any]:
        return self._build(self.rows[session_id])

    def summary(self, session_id: str) -> dict[str, Any]:
        row = self.rows[session_id]
        return {"session_id": session_id, **{k: row.get(k) for k in ("label", "scenario", "profile", "browser")},
                "run": self.run_url(session_id), "document": f"{self.url}doc/{quote(session_id, safe='')}.json"}

    def record(self, session_id: str, result: dict[str, Any]) -> dict[str, Any]:
        """One page's result: the output line, printed once per POST and kept."""
        result = {**result, "session_id": session_id}
        line = self.describe(result, self.document(session_id))
        with self._lock:
            self.results[session_id] = line
            self._out.write(json.dumps(line) + "\n")
            self._out.flush()
        return line

    # -- pages -----------------------------------------------------------------------------

    def index_html(self) -> str:
        det = self.detector
        head = (f"detector <code>{html.escape(det.path.name)}</code> ({det.kind}"
                f"{', export ' + html.escape(det.export) if det.export else ''})" if det
                else "no detector: the pages install the module for your own script (window.icesim.run(fn))")
        rows = []
        for sid in self.order[:INDEX_ROWS]:
            s, q = self.summary(sid), quote(sid, safe="")
            cells = "".join(f"<td>{html.escape(str(s[k] if s[k] is not None else ''))}</td>"
                            for k in ("label", "scenario", "profile", "browser"))
            rows.append(f"<tr><td><a href='/run/{q}?clock=virtual'>{html.escape(sid)}</a></td>{cells}"
                        f"<td><a href='/run/{q}?clock=real'>real time</a> <a href='/doc/{q}.json'>document</a></td></tr>")
        more = (f"<p>{len(self.order) - INDEX_ROWS} more in <a href='/sessions.json'>sessions.json</a></p>"
                if len(self.order) > INDEX_ROWS else "")
        return ("<!doctype html><meta charset='utf-8'><title>icesim replay</title>"
                f"<h1>icesim replay: {len(self.order)} sessions</h1><p>{head}</p>"
                "<table><tr><th>session</th><th>label</th><th>scenario</th><th>profile</th><th>browser</th><th></th></tr>"
                + "".join(rows) + "</table>" + more)

    def run_html(self, session_id: str, clock: str) -> str:
        det, q = self.detector, quote(session_id, safe="")
        config = {
            "sessionId": session_id, "documentUrl": f"/doc/{q}.json", "moduleUrl": "/js/icesim-webrtc.mjs",
            "clock": clock, "maxMs": self.max_ms, "consoleLines": self.console_lines,
            "detectorUrl": f"/detector/{quote(det.path.name)}" if det else None,
            "detectorKind": det.kind if det else None, "exportName": det.export if det else None,
            "commonJS": det.commonjs if det else False,
            "resultUrl": f"/result/{q}",
        }
        row = self.rows[session_id]
        facts = " · ".join(html.escape(f"{k} {row.get(k)}") for k in ("label", "scenario", "profile", "browser"))
        return ("<!doctype html><html><head><meta charset='utf-8'>"
                f"<title>icesim replay {html.escape(session_id)}</title>"
                f"<script type='application/json' id='icesim-config'>{_script_json(config)}</script>"
                f"<script type='module' src='/{_PAGE_SCRIPT}'></script></head><body>"
                f"<h1>{html.escape(session_id)}</h1><p>{facts} · clock {clock}</p>"
                "<pre id='icesim-verdict' data-status='running'>running...</pre></body></html>")


STATUSES = ("resolved", "rejected", "callback", "returned", "threw", "unsettled")  # icesim/js/README.md


def page_result(result: Any) -> dict[str, Any]:
    """A POSTed result in the runner's shape (status, value, settled_ms, errors, console), or
    ValueError: a page is any program, only the shape is trusted."""
    if not isinstance(result, dict):
        raise ValueError("not a JSON object")
    if result.get("status") not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    settled = result.get("settled_ms")
    if settled is not None and (isinstance(settled, bool) or not isinstance(settled, (int, float))):
        raise ValueError("settled_ms must be a number or null")
    for key in ("errors", "console"):
        lines = result.get(key, [])
        if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
            raise ValueError(f"{key} must be a list of strings")
    return {"status": result["status"], "value": result.get("value"), "settled_ms": settled,
            "errors": result.get("errors", []), "console": result.get("console", [])}


def _handler(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    js_dir = module_dir()
    page_script = Path(str(resources.files("icesim") / "replay" / _PAGE_SCRIPT))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
            pass  # stderr carries the URL only; stdout the results

        def _send(self, status: int, body: bytes | str, content_type: str = "text/plain; charset=utf-8") -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _json(self, value: Any, status: int = 200) -> None:
            self._send(status, json.dumps(value), "application/json")

        def _file(self, path: Path, content_type: str) -> None:
            self._send(200, path.read_bytes(), content_type)

        def _session(self, quoted: str) -> str | None:
            sid = unquote(quoted)
            if sid not in server.rows:
                self._send(404, f"no session {sid!r}\n")
                return None
            return sid

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urlsplit(self.path)
            path = url.path
            if path in ("/", "/index.html"):
                self._send(200, server.index_html(), "text/html; charset=utf-8")
            elif path == "/sessions.json":
                self._json([server.summary(sid) for sid in server.order])
            elif path == "/results.json":
                self._json(list(server.results.values()))
            elif path in (f"/{_PAGE_SCRIPT}", f"/{_PAGE_CONSOLE}"):
                self._file(page_script.with_name(path[1:]), "text/javascript")
            elif m := re.fullmatch(r"/js/([\w.-]+\.mjs)", path):
                file = js_dir / m[1]
                self._file(file, "text/javascript") if file.is_file() else self._send(404, "not found\n")
            elif m := re.fullmatch(r"/doc/([^/]+)\.json", path):
                if (sid := self._session(m[1])) is not None:
                    self._json(server.document(sid))
            elif m := re.fullmatch(r"/run/([^/]+)", path):
                clock = parse_qs(url.query).get("clock", [server.clock])[-1]
                if clock not in CLOCKS:
                    self._send(400, f"clock must be one of {', '.join(CLOCKS)}, not {clock!r}\n")
                elif (sid := self._session(m[1])) is not None:
                    self._send(200, server.run_html(sid, clock), "text/html; charset=utf-8")
            elif path.startswith("/detector/") and server.detector is not None:
                self._detector_file(unquote(path[len("/detector/"):]))
            else:
                self._send(404, "not found\n")

        def _detector_file(self, relative: str) -> None:
            """The detector and the files beside it (an ES module may import its helpers)."""
            base = server.detector.path.parent  # type: ignore[union-attr]
            file = (base / relative).resolve()
            if not file.is_relative_to(base) or not file.is_file():
                self._send(404, "not found\n")
            else:
                self._file(file, "text/javascript")

        def do_POST(self) -> None:  # noqa: N802
            m = re.fullmatch(r"/result/([^/]+)", urlsplit(self.path).path)
            if m is None:
                self._send(404, "not found\n")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_RESULT_BYTES:
                self._send(413, "result too large\n")
                return
            body = self.rfile.read(length)
            if (sid := self._session(m[1])) is None:
                return
            try:
                result = page_result(json.loads(body))
            except ValueError as exc:
                self._send(400, f"bad result: {exc}\n")
                return
            self._json(server.record(sid, result))

    return Handler


def serve(*, rows: Sequence[dict[str, Any]], build_document: BuildDocument, describe: Describe,
          detector: str | Path | None = None, export: str | None = None, port: int | None = None,
          clock: str = "virtual", max_ms: float = 120000, console_lines: int = 20,
          out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
    """Serve until SIGINT/SIGTERM (`icesim replay --serve`). Options are checked before it
    listens (ConfigError names the option); the URL goes to stderr, the results to stdout."""
    if export is not None and detector is None:
        raise ConfigError("--export", export, "needs --detector")
    det = load_detector(detector, export) if detector is not None else None
    chosen = parse_port(DEFAULT_PORT if port is None else port)
    try:
        server = ReplayServer(rows, build_document, describe, detector=det, port=chosen, clock=clock,
                              max_ms=max_ms, console_lines=console_lines, out=out)
    except OSError as exc:
        raise ConfigError("--port", chosen, f"cannot listen on {HOST}: {exc.strerror or exc}") from None
    first = server.order[0]
    what = f"detector {det.path.name} ({det.kind})" if det else "no detector: window.icesim.run(fn) in each page"
    count = f"{len(server.order)} session{'s' if len(server.order) != 1 else ''}"
    # SIGTERM stops it like Ctrl-C from the moment the URL is out (a client may stop it at once).
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        err.write(f"icesim replay: serving {count} at {server.url} ({what}; {clock} clock)\n"
                  f"icesim replay: first page {server.run_url(first)}; results as JSON lines on stdout; Ctrl-C stops\n")
        err.flush()
        server.serve_forever()
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.httpd.server_close()


class _Stopped(Exception):
    """SIGTERM: leave serve_forever like Ctrl-C does."""


def _stop(signum: int, frame: object) -> None:
    raise _Stopped()
