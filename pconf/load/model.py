"""Reading a model's Hugging Face ``config.json``: a file, a model directory, or a snapshot in the local cache.

The only place pconf reads a model's files. Nothing is downloaded and no network is touched: ``hf_id`` is looked
up in the local Hugging Face cache (the ``models--ORG--NAME/snapshots/<commit>/`` layout huggingface_hub writes)
only. The JSON is read bounded (MAX_MODEL_CONFIG_BYTES) and must be a table; what its keys mean is
``pconf.model``'s business.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from pconf.errors import Issue, Location
from pconf.keypath import KeyPath
from pconf.load.files import NotRegularFile, read_bounded

#: The largest config.json pconf reads (real ones are a few KiB; some carry label maps of a few hundred KiB).
MAX_MODEL_CONFIG_BYTES = 4 << 20
CONFIG_NAME = "config.json"
#: A Hugging Face repository id: an optional owner, then a name (the characters the Hub allows).
_HF_ID = re.compile(r"(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*\Z", re.ASCII)
_COMMIT = re.compile(r"[0-9a-f]{40}\Z")


class ModelConfigFile(NamedTuple):
    """A model's config.json as read: its parsed table, and the path it was read from (as messages show it)."""

    data: dict[str, Any]
    path: str


def read_model_config(path: str, where: Location, key: KeyPath) -> ModelConfigFile | Issue:
    """Read the config.json at ``path`` (or ``path/config.json`` for a directory); an Issue about ``key``, located
    at ``where`` (the place that named the file), when it cannot be read or is not a JSON table."""
    if "\x00" in path:
        return Issue(key, where, "load.model_config", "the path holds a NUL character", "check the path", path)
    if os.path.isdir(path):
        path = os.path.join(path, CONFIG_NAME)
    try:
        raw = read_bounded(path, MAX_MODEL_CONFIG_BYTES)
    except FileNotFoundError:
        return Issue(key, where, "load.model_config", f"no such file: {path}",
                     "name a config.json, or a model directory holding one")
    except NotRegularFile as exc:
        return Issue(key, where, "load.model_config", f"{path} is {exc.kind}, not a regular file",
                     "name a config.json, or a model directory holding one")
    except OSError as exc:
        return Issue(key, where, "load.model_config", f"cannot read {path}: {exc.strerror}",
                     "check the path and its permissions")
    if len(raw) > MAX_MODEL_CONFIG_BYTES:
        return Issue(key, where, "load.model_config",
                     f"{path} is larger than {MAX_MODEL_CONFIG_BYTES >> 20} MiB", "a model's config.json is small")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return Issue(key, where, "load.model_config", f"{path} is not valid UTF-8", "name a model's config.json")
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError; so is an over-long integer
        detail = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        return Issue(key, where, "load.model_config", f"{path} is not valid JSON{detail}",
                     "name a model's config.json")
    if not isinstance(data, dict):
        return Issue(key, where, "load.model_config", f"{path} does not hold a JSON object",
                     "name a model's config.json")
    return ModelConfigFile(data, path)


def hf_hub_cache(environ: Mapping[str, str]) -> str:
    """The Hugging Face hub cache directory huggingface_hub uses: HF_HUB_CACHE (or the older
    HUGGINGFACE_HUB_CACHE), else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if environ.get(name):
            return os.path.expanduser(environ[name])
    if environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(environ["HF_HOME"]), "hub")
    cache = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "huggingface", "hub")


def find_cached_config(hf_id: str, revision: str, environ: Mapping[str, str], where: Location,
                       key: KeyPath) -> str | Issue:
    """The path of ``hf_id``'s config.json in the local Hugging Face cache at ``revision`` (a branch or tag the
    cache has a ref for, or a commit), or an Issue saying where pconf looked."""
    if not _HF_ID.match(hf_id) or ".." in hf_id:
        return Issue(key, where, "load.model_cache", "not a Hugging Face model id",
                     "write ORG/NAME, e.g. \"Qwen/Qwen2.5-7B-Instruct\"", hf_id)
    hub = hf_hub_cache(environ)
    repo = os.path.join(hub, "models--" + hf_id.replace("/", "--"))
    commit = revision if _COMMIT.match(revision) else _read_ref(repo, revision)
    snapshot = os.path.join(repo, "snapshots", commit) if commit else ""
    config = os.path.join(snapshot, CONFIG_NAME)
    if commit and os.path.isfile(config):
        return config
    missing = (f"{hf_id} is not in the local Hugging Face cache ({hub})" if not os.path.isdir(repo) else
               f"the cache has no snapshot of {hf_id} at revision {revision}" if not commit or not
               os.path.isdir(snapshot) else f"the cached snapshot of {hf_id} has no config.json")
    return Issue(key, where, "load.model_cache", missing,
                 "download it first (e.g. `huggingface-cli download " + hf_id + " config.json`), set HF_HUB_CACHE "
                 "or HF_HOME to the cache that holds it, or name the file with model.config")


def _read_ref(repo: str, revision: str) -> str:
    """The commit a cached ref (``refs/main``) points at, or "" when the cache has none."""
    if not re.fullmatch(r"[\w.-]+(?:/[\w.-]+)*", revision, re.ASCII) or ".." in revision:
        return ""
    try:
        text = read_bounded(os.path.join(repo, "refs", revision), 1024)
    except OSError:
        return ""
    commit = text.decode("ascii", errors="replace").strip()
    return commit if _COMMIT.match(commit) else ""


__all__ = ["MAX_MODEL_CONFIG_BYTES", "ModelConfigFile", "find_cached_config", "hf_hub_cache", "read_model_config"]
