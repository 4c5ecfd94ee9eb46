"""`icesim profiles list|show NAME|validate PATH...`: the profile library from the shell."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from .profiles import FIELDS, load_library, load_profile
from .profiles.schema import Profile, ProfileError


@click.group("profiles")
def profiles_cmd() -> None:
    """Profiles: populations of people and bots for `icesim dataset` (profiles/*.toml)."""


@profiles_cmd.command("list")
def list_cmd() -> None:
    """One line per library profile: name, label, scenario, browser, the seed signal."""
    for name, p in sorted(load_library().items()):
        click.echo(f"{name:<40} {p.label:<6} {p.scenario:<22} {p.browser:<8} {p.signal}")


@profiles_cmd.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="The validated profile as JSON.")
def show_cmd(name: str, as_json: bool) -> None:
    """A profile with every field, defaults filled in (NAME or a path to a .toml file)."""
    profile = load_profile(name) if name.endswith(".toml") else _by_name(name)
    data = profile_dict(profile)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"# {profile.source}")
    for key, value in data.items():
        click.echo(f"{key} = {json.dumps(value)}")


@profiles_cmd.command("fields")
def fields_cmd() -> None:
    """Every profile field with its default and meaning."""
    for key, default, doc in FIELDS:
        click.echo(f"{key:<28} default {json.dumps(default):<26} {doc}")


@profiles_cmd.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate_cmd(paths: tuple[Path, ...]) -> None:
    """Validate profile files (or directories of them); the first error exits 2."""
    count = 0
    for path in paths:
        for file in sorted(path.glob("*.toml")) if path.is_dir() else [path]:
            load_profile(file)
            count += 1
    click.echo(f"{count} profile(s) valid")


def _by_name(name: str) -> Profile:
    library = load_library()
    if name not in library:
        raise ProfileError("profiles", "name", name, "no such profile (see `icesim profiles list`)")
    return library[name]


def profile_dict(profile: Profile) -> dict:
    """JSON-ready form (networks as CIDR text); also what the manifest records."""
    out = {}
    for f in dataclasses.fields(profile):
        v = getattr(profile, f.name)
        if f.name == "extra":
            continue
        if f.name == "interfaces":
            v = [{"name": i.name, "type": i.adapter_type, "cidr": str(i.cidr)} for i in v]
        elif f.name in ("public_pool", "proxy_pool"):
            v = [str(n) for n in v]
        elif f.name == "versions":
            v = dict(v)
        elif isinstance(v, tuple):
            v = list(v)
        out[f.name] = v
    return out
