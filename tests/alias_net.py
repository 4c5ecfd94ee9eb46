"""AliasNet lives in the package (icesim/net/alias.py): `icesim repro` uses it too."""

from icesim.net.alias import AliasNet, RewritingSocket  # noqa: F401
