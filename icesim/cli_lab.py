"""`icesim lab`: real kernel networks (namespaces, nftables NAT, coturn) around a gather."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys

import click

from .lab import Lab, LabError, TOPOLOGIES, get_topology, registry
from .lab.lab import resolve_gather_args, stop_detached
from .lab.plan import plan_up, render_script
from .lab.sandbox import privileged, sandbox_argv


def _fail(exc: LabError) -> None:
    click.echo(f"icesim: error: {exc}", err=True)
    sys.exit(2)


def _dry_run_script(topology_name: str, name: str) -> str:
    topology = get_topology(topology_name)
    return render_script(plan_up(topology), sandbox_argv(rootless=not privileged()), name)


@click.group("lab")
def lab_group() -> None:
    """Run gathers through real kernel networks: Linux network namespaces, nftables NAT and
    filtering, coturn as the public STUN/TURN server. Needs root, or unprivileged user
    namespaces (`unshare -rnm`); iproute2, nftables and coturn."""


@lab_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_cmd(as_json: bool) -> None:
    """The topologies, and the labs running now (`lab up`)."""
    running = registry.running()
    if as_json:
        for t in TOPOLOGIES.values():
            click.echo(json.dumps({"topology": t.name, "summary": t.summary, "expect": t.expect,
                                   "namespaces": [ns.name for ns in t.namespaces], "servers": list(t.servers)}))
        for r in running:
            click.echo(json.dumps({"running": r.name, "topology": r.topology, "pid": r.runner_pid}))
        return
    width = max(len(n) for n in TOPOLOGIES)
    for t in TOPOLOGIES.values():
        click.echo(f"{t.name:<{width}}  {t.summary}")
        click.echo(f"{'':<{width}}  expect: {t.expect}")
    click.echo("running: " + (", ".join(f"{r.name} ({r.topology}, pid {r.runner_pid})" for r in running) or "none"))


@lab_group.command("gather", context_settings={"ignore_unknown_options": True})
@click.argument("topology")
@click.option("--dry-run", is_flag=True, help="Print the lab's commands and the gather's, run nothing.")
@click.option("--in", "in_lab", default=None, metavar="NAME", help="Gather in a running lab (`lab up`) instead of a new one.")
@click.argument("gather_args", nargs=-1, type=click.UNPROCESSED)
def gather_cmd(topology: str, dry_run: bool, in_lab: str | None, gather_args: tuple[str, ...]) -> None:
    """Build TOPOLOGY, gather from its client namespace, print the events, tear it down.

    GATHER_ARGS are any `icesim gather` options (after the topology). Without --stun/--turn
    the gather uses the lab's coturn (`icesim lab list --json` shows each lab's servers)."""
    topo = get_topology(topology)
    args = resolve_gather_args(topo, gather_args)  # bad gather options fail here, exit 2
    if dry_run:
        click.echo(_dry_run_script(topology, topology), nl=False)
        click.echo(shlex.join(["ip", "netns", "exec", "client", "python3", "-m", "icesim", "gather", *args]))
        return
    try:
        sys.exit(asyncio.run(_gather_main(topology, gather_args, in_lab)))
    except LabError as exc:
        _fail(exc)


async def _gather_main(topology: str, gather_args: tuple[str, ...], in_lab: str | None) -> int:
    from .lab.lab import gather_env

    if in_lab is not None:
        record = registry.find(in_lab)
        if record.topology != topology:
            raise LabError(f"lab {in_lab!r} runs {record.topology}, not {topology}")
        lab = Lab.running(topology, record.runner_pid, record.rootless)
    else:
        lab = await Lab(topology).start()
    try:
        proc = await asyncio.create_subprocess_exec(*lab.gather_argv(gather_args), stdin=asyncio.subprocess.DEVNULL,
                                                    env=gather_env())
        return await proc.wait()
    finally:
        if in_lab is None:
            await lab.stop()


@lab_group.command("up")
@click.argument("topology")
@click.option("--name", default=None, help="Name of the lab (default: the topology's, made unique).")
@click.option("--dry-run", is_flag=True, help="Print the commands, run nothing.")
def up_cmd(topology: str, name: str | None, dry_run: bool) -> None:
    """Build TOPOLOGY and leave it running; prints one JSON line (name, pid, timings)."""
    get_topology(topology)
    name = registry.check_name(name) if name else registry.free_name(topology)
    if dry_run:
        click.echo(_dry_run_script(topology, name), nl=False)
        return
    if name in {r.name for r in registry.running()}:
        raise click.UsageError(f"a lab named {name!r} is running; `icesim lab down {name}` first")
    try:
        record = asyncio.run(_up_main(topology, name))
    except LabError as exc:
        _fail(exc)
    click.echo(json.dumps({"name": record.name, "topology": record.topology, "pid": record.runner_pid,
                           "up_s": record.up_s, "exec": f"icesim lab exec {record.name} client -- CMD",
                           "down": f"icesim lab down {record.name}"}))


async def _up_main(topology: str, name: str) -> registry.LabRecord:
    lab = await Lab(topology, detached=True).start()
    record = registry.LabRecord(name, topology, lab.runner_pid, lab.rootless, round(lab.up_s, 4))
    registry.save(record)  # first: killed before `detach`, the lab ends and the record goes stale
    await lab.detach()
    return record


@lab_group.command("down")
@click.argument("name")
def down_cmd(name: str) -> None:
    """End the running lab NAME: its namespaces, links, rules and coturn go with it."""
    record = registry.find(name)
    if not stop_detached(record.runner_pid):
        _fail(LabError(f"lab {name!r}: PID {record.runner_pid} did not exit"))
    registry.forget(name)


@lab_group.command("exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("name")
@click.argument("namespace")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_cmd(name: str, namespace: str, command: tuple[str, ...]) -> None:
    """Run COMMAND in NAMESPACE (client, router, public...) of the running lab NAME."""
    record = registry.find(name)
    lab = Lab.running(record.topology, record.runner_pid, record.rootless)
    cmd = list(command[1:] if command[0] == "--" else command)
    if not cmd:
        raise click.UsageError("no COMMAND given")
    try:
        argv = lab.enter_argv(namespace, cmd)
    except KeyError:
        names = ", ".join(ns.name for ns in lab.topology.namespaces)
        raise click.UsageError(f"lab {name!r} has no namespace {namespace!r} (it has {names})") from None
    os.execvp(argv[0], argv)
