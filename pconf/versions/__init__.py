"""The vLLM releases pconf models, one profile each (``profile.py`` says what a profile holds).

Adding a release: a module ``vX_Y.py`` declaring its ``PROFILE`` as changes from the release before it, a row
in ``PROFILES`` below, ``since=``/``until=`` on the fields it adds or drops, and its recorded vectors under
``tests/data``.
"""

from __future__ import annotations

from pconf.versions import v0_23, v0_28, v0_34
from pconf.versions.profile import SEED, Behaviour, FieldChange, Profile, ServeFlag, version_key

#: Every release pconf models, oldest first.
PROFILES: dict[str, Profile] = {p.name: p for p in (v0_23.PROFILE, v0_28.PROFILE, v0_34.PROFILE)}
#: The release a file without ``vllm_version`` targets: the seed's, so that files and lock files written before
#: profiles keep their meaning and their graph hashes.
DEFAULT = SEED


def lookup(text: str) -> Profile | None:
    """The profile a ``vllm_version`` names (``"0.34"``, ``"0.34.0"``; the seed also as ``"0.23.0-seed"``), or None."""
    name = text.strip().removesuffix("-seed")
    for profile in PROFILES.values():
        if name in (profile.name, profile.release):
            return profile
    return None


def supported() -> str:
    """The supported releases in words, for messages and help."""
    return ", ".join(f'"{p.name}"' for p in PROFILES.values())


__all__ = ["DEFAULT", "PROFILES", "SEED", "Behaviour", "FieldChange", "Profile", "ServeFlag", "lookup", "supported",
           "version_key"]
