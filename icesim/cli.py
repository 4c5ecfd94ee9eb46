"""`icesim`: a thin CLI over icesim.gather(), the embedded STUN server and the bench."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import overload

import click

from . import logs
from .dialects import BROWSER_HELP
from .config import (
    BUNDLE_POLICIES, ICE_TRANSPORT_POLICIES, IP_POLICIES, ConfigError, Faults, GatherConfig, parse_hostport,
    parse_ice_url, parse_interface, parse_media, parse_resolve,
)
from .events import to_json_line
from .gathering import gather
from .render import pretty_line


@overload
def _float_opt(name: str, value: str) -> float: ...
@overload
def _float_opt(name: str, value: str | None) -> float | None: ...
def _float_opt(name: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise ConfigError(name, value, "must be a number") from None


def _int_opt(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(name, value, "must be an integer") from None


def build_config(opts: dict) -> tuple[GatherConfig, bool]:
    """CLI options -> GatherConfig; second value: start the embedded STUN server."""
    username, credential = opts["username"], opts["credential"]
    servers = []
    stun = list(opts["stun"])
    no_servers = any(s.strip().lower() == "none" for s in stun)
    if no_servers and len(stun) > 1:
        raise ConfigError("--stun", ",".join(stun), "'none' cannot be combined with other STUN URLs")
    for url in stun:
        if url.strip().lower() == "none":
            continue
        server = parse_ice_url(url, "--stun")
        if server.is_turn:
            raise ConfigError("--stun", url, "a turn: URL belongs in --turn")
        servers.append(server)
    for url in opts["turn"]:
        server = parse_ice_url(url, "--turn", username=username, credential=credential)
        if not server.is_turn:
            raise ConfigError("--turn", url, "expected a turn: or turns: URL")
        servers.append(server)
    block = opts["block_udp"]
    block_all = "all" in block
    blocked = frozenset(parse_hostport(b, "--block-udp") for b in block if b != "all")
    faults = Faults(
        block_udp_all=block_all, block_udp=blocked, drop=_float_opt("--drop", opts["drop"]) or 0.0,
        latency_ms=_float_opt("--latency", opts["latency"]) or 0.0,
        resolve=tuple(parse_resolve(r) for r in opts["resolve"]),
    )
    config = GatherConfig(
        browser=opts["browser"], servers=servers,
        interfaces=[parse_interface(i) for i in opts["interface"]] or None,
        permission=opts["permission"], mdns=not opts["no_mdns"], faults=faults,
        time_scale=_float_opt("--time-scale", opts["time_scale"] or "1"),
        timeout_ms=_float_opt("--timeout", opts["timeout"]), seed=opts["seed"],
        ip_policy=opts["policy"], ice_transport_policy=opts["ice_transport_policy"],
        media=parse_media(opts["media"]), bundle_policy=opts["bundle_policy"],
        pool_size=_int_opt("--pool-size", opts["pool_size"]),
        pool_lead_ms=_float_opt("--pool-lead", opts["pool_lead"]), sdp=opts["sdp"],
    )
    if config.time_scale <= 0:
        raise ConfigError("--time-scale", opts["time_scale"], "must be > 0")
    if config.interfaces:
        _mark_defaults(config)
    config.validate()
    from .dialects import get_dialect

    get_dialect(config.browser)  # bad --browser fails before anything runs
    embedded = not stun and not opts["turn"]
    return config, embedded


def _mark_defaults(config: GatherConfig) -> None:
    """The first --interface of each family holds the default route."""
    from dataclasses import replace

    seen: set[int] = set()
    out = []
    for iface in config.interfaces or []:
        out.append(replace(iface, default=iface.family not in seen))
        seen.add(iface.family)
    config.interfaces = out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="icesim")
def cli() -> None:
    """Browser-faithful WebRTC ICE gathering: the events a page would see."""


@cli.command("gather")
@click.option("--browser", default="chrome", show_default=True, help=f"Dialect: {BROWSER_HELP}.")
@click.option("--stun", multiple=True, metavar="URL", help="stun:HOST[:PORT]; repeatable; 'none' = no servers. Default: the embedded server.")
@click.option("--turn", multiple=True, metavar="URL", help="turn:HOST[:PORT][?transport=udp|tcp] or turns:...; repeatable.")
@click.option("--username", default=None, help="TURN username (all --turn URLs; required with --turn, as in Chrome).")
@click.option("--credential", default=None, help="TURN credential (all --turn URLs; required with --turn).")
@click.option("--interface", multiple=True, metavar="NAME=ADDR[:TYPE]", help="Interface to gather on (type ethernet|wifi|cellular|vpn|unknown); repeatable. Default: this machine's.")
@click.option("--permission", is_flag=True, help="Camera/mic granted: enumerate interfaces with real IPs.")
@click.option("--no-mdns", is_flag=True, help="Show the host IP instead of an mDNS name (Chrome: WebRtcHideLocalIpsWithMdns off; Firefox: media.peerconnection.ice.obfuscate_host_addresses false).")
@click.option("--block-udp", multiple=True, is_flag=False, flag_value="all", metavar="[HOST:PORT]", help="Drop UDP: all, or to HOST:PORT; repeatable.")
@click.option("--drop", default=None, metavar="P", help="Probability each outgoing datagram is lost (0-1).")
@click.option("--latency", default=None, metavar="MS", help="Added delay on every outgoing datagram and TCP connect.")
@click.option("--resolve", multiple=True, metavar="NAME=ADDR|NXDOMAIN", help="Name resolution rule, like Chromium's --host-resolver-rules; repeatable.")
@click.option("--time-scale", default=None, metavar="F", help="Run browser timers F times faster; t stays browser time.")
@click.option("--timeout", default=None, metavar="MS", help="The page listens until MS ms (browser time), then stops: events after it are cut, repeated STUN errors before it are kept. Default: stop at the null candidate.")
@click.option("--seed", type=int, default=None, help="Reproducible ufrag, tiebreaker, mDNS names and timer jitter.")
@click.option("--policy", default="default", show_default=True, metavar="POLICY", help=f"Chrome's WebRTC IP handling policy: {' | '.join(IP_POLICIES)}. Any but default ignores --permission.")
@click.option("--ice-transport-policy", default="all", show_default=True, metavar="all|relay", help=f"RTCConfiguration.iceTransportPolicy ({' | '.join(ICE_TRANSPORT_POLICIES)}): relay signals relay candidates only (errors still fire).")
@click.option("--media", default="data", show_default=True, metavar="KINDS", help="The offer's m-lines: data, audio, video, comma-separated (audio,video,data: recvonly transceivers + a data channel; Chrome orders them audio, video, data).")
@click.option("--bundle-policy", default="balanced", show_default=True, metavar="POLICY", help=f"RTCConfiguration.bundlePolicy ({' | '.join(BUNDLE_POLICIES)}): balanced/max-compat gather one transport per m-line, max-bundle one in all.")
@click.option("--pool-size", default="0", show_default=True, metavar="N", help="iceCandidatePoolSize: the first N transports take sessions gathered before createOffer; their candidates surface at once, before 'gathering'.")
@click.option("--pool-lead", default="500", show_default=True, metavar="MS", help="With --pool-size: how long before createOffer the page constructed the RTCPeerConnection.")
@click.option("--sdp", is_flag=True, help='End with {"type": "localdescription", "sdp": ...}: the final localDescription in the browser\'s form.')
@click.option("--format", "fmt", type=click.Choice(["jsonl", "pretty"]), default="jsonl", show_default=True)
@click.option("--log-level", type=click.Choice(logs.LEVELS), default="warning", show_default=True)
def gather_cmd(fmt: str, log_level: str, **opts) -> None:
    """Gather ICE candidates like a browser page and print its event stream (JSON Lines)."""
    logs.configure(log_level)
    config, embedded = build_config(opts)
    asyncio.run(_gather_main(config, embedded, fmt))


async def _gather_main(config: GatherConfig, embedded: bool, fmt: str) -> None:
    server = None
    if embedded:
        from .stun_server import StunServer

        server = StunServer()
        host, port = await server.start("127.0.0.1", 0)
        config.servers = [parse_ice_url(f"stun:{host}:{port}")]
    try:
        async for event in gather(config):
            line = to_json_line(event) if fmt == "jsonl" else pretty_line(event)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`icesim gather | head`): stop quietly, like other Unix filters.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        if server is not None:
            server.close()


@cli.command("stun-server")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=3478, show_default=True)
@click.option("--map-address", default=None, metavar="ADDR", help="Answer this public address (a virtual NAT).")
@click.option("--nat", type=click.Choice(["eim", "symmetric"]), default="eim", show_default=True, help="Port mapping with --map-address.")
@click.option("--log-level", type=click.Choice(logs.LEVELS), default="warning", show_default=True)
def stun_server_cmd(host: str, port: int, map_address: str | None, nat: str, log_level: str) -> None:
    """Run the embedded STUN server; prints HOST:PORT on stdout once it listens."""
    import ipaddress

    logs.configure(log_level)
    if map_address is not None:
        try:
            ipaddress.ip_address(map_address)
        except ValueError:
            raise ConfigError("--map-address", map_address, "must be an IP address") from None
    from .stun_server import run_stun_server

    def ready(addr: tuple[str, int]) -> None:
        h = f"[{addr[0]}]" if ":" in addr[0] else addr[0]
        print(f"{h}:{addr[1]}", flush=True)

    try:
        asyncio.run(run_stun_server(host, port, map_address, nat, ready=ready))
    except OSError as exc:
        raise ConfigError("--host/--port", f"{host}:{port}", f"cannot listen: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        pass


@cli.command("bench")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--n", "ns", default="1,100,1000", show_default=True, help="Concurrency levels, comma-separated.")
@click.option("--repeats", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--dataset-sessions", type=click.IntRange(0), default=20000, show_default=True, help="Sessions per `icesim dataset` throughput run (0 = skip).")
def bench_cmd(as_json: bool, ns: str, repeats: int, dataset_sessions: int) -> None:
    """Measure icesim's and raw aioice's gathers/s and memory per live gather."""
    try:
        levels = tuple(int(n) for n in ns.split(","))
        if any(n < 1 for n in levels):
            raise ValueError
    except ValueError:
        raise ConfigError("--n", ns, "expected positive integers, e.g. 1,100,1000") from None
    from . import bench

    logs.configure("warning")
    result = asyncio.run(bench.run_bench(ns=levels, repeats=repeats))
    text = bench.format_table(result)
    if dataset_sessions:
        from .dataset.bench import format_dataset, measure_dataset

        result.update(measure_dataset(sessions=dataset_sessions))
        text += "\n" + format_dataset(result)
        from .dataset.lab_bench import format_lab_dataset, measure_lab_dataset  # `dataset --lab`

        result.update(measure_lab_dataset(sessions=min(dataset_sessions, 2000)))
        text += "\n" + format_lab_dataset(result)
    click.echo(json.dumps(result) if as_json else text)


from .cli_profiles import profiles_cmd  # noqa: E402  (own module: keeps merges simple)
cli.add_command(profiles_cmd)
from .cli_dataset import dataset_cmd  # noqa: E402
cli.add_command(dataset_cmd)


from .cli_repro import repro  # noqa: E402  (a command module of its own)

cli.add_command(repro)

from .cli_lab import lab_group  # noqa: E402  (a command module of its own)

cli.add_command(lab_group)

from .cli_replay import replay_cmd  # noqa: E402  (a command module of its own)

cli.add_command(replay_cmd)


def main() -> None:
    """Entry point: bad input is one line on stderr and exit 2."""
    try:
        cli.main(standalone_mode=False, prog_name="icesim")
    except ConfigError as exc:
        click.echo(f"icesim: error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.UsageError as exc:
        click.echo(f"icesim: error: {exc.format_message()}", err=True)
        sys.exit(2)
    except OSError as exc:
        # A network failure the run cannot go on without (e.g. EMFILE: raise `ulimit -n`).
        click.echo(f"icesim: error: {exc.strerror or exc}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
