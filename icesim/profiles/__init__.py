"""Profiles: one population of page visits (people or bots) each, as validated pure data."""

from .loader import library_dir, load_library, load_profile, parse_profile, select_profiles
from .schema import BUILTIN_POOLS, FIELDS, InterfaceSpec, Profile, ProfileError

__all__ = [
    "BUILTIN_POOLS", "FIELDS", "InterfaceSpec", "Profile", "ProfileError", "library_dir", "load_library",
    "load_profile", "parse_profile", "select_profiles",
]
