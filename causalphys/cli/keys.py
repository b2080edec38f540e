"""A did-you-mean for mistyped keys on the command line (``causalphys trainr=irm``, ``benchmark.n_trian=100``).

Hydra refuses a key that is not in the config ("Key 'n_trian' is not in struct"); this looks first, with the config
groups chosen on the same command line, and names the key with the closest ones there are."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

_PLAIN = re.compile(r"^[A-Za-z_][\w\-]*$")


def _key_and_value(arg: str) -> tuple[str, str] | None:
    if arg.startswith(("-", "+", "~")) or "=" not in arg:
        return None  # flags, additions (+key=...), deletions (~key) and Hydra's own options are not checked
    key, value = arg.split("=", 1)
    if key.startswith("hydra.") or key == "hydra" or "/" in key or "@" in key:
        return None
    return key, value


def _compose(conf_dir: Path, config_name: str, argv: Sequence[str], pairs: list[tuple[str, str]]):
    """The config composed with the group choices in ``argv`` (the first option of a sweep list), or ``None``
    where it cannot be (inside a running Hydra app, a bad group choice or value)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return None  # inside a running Hydra app (tests): leave the checking to Hydra
    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
            # the groups on Hydra's search path: conf/'s and those shipped in the package (scanner/)
            groups = set(GlobalHydra.instance().config_loader().list_groups(""))
            return compose(config_name=config_name, overrides=_choices(argv, pairs, groups))
    except Exception:  # a bad group choice or value: Hydra's own message says it better
        return None


def _choices(argv: Sequence[str], pairs: list[tuple[str, str]], groups: set[str]) -> list[str]:
    choices = []
    for arg in argv:
        if arg.startswith("+") and "=" in arg and not arg.startswith("++"):
            key, value = arg[1:].split("=", 1)
            if key in groups and _PLAIN.match(value.split(",")[0]):
                choices.append(f"+{key}={value.split(',')[0]}")
    for key, value in pairs:
        first = value.split(",")[0]
        if key in groups and _PLAIN.match(first):
            choices.append(f"{key}={first}")
    return choices


def unknown_keys(argv: Sequence[str], conf_dir: Path, config_name: str = "config") -> list[str]:
    """Messages for the ``key=value`` overrides in ``argv`` whose key the config (composed with the group choices
    and ``+experiment`` overlays given in ``argv``, first option of a sweep list) does not have."""
    pairs = [kv for kv in map(_key_and_value, argv) if kv is not None]
    if not pairs:
        return []
    cfg = _compose(conf_dir, config_name, argv, pairs)
    if cfg is None:
        return []
    messages = []
    for key, _ in pairs:
        node, path = cfg, []
        for part in key.split("."):
            if isinstance(node, DictConfig) and part in node.keys():  # `in node` is False for a ??? value
                node = None if OmegaConf.is_missing(node, part) else node._get_node(part)
                path = [*path, part]
                continue
            if not isinstance(node, DictConfig):
                break  # below a value (a list, a number): Hydra says what is wrong
            where = ".".join(path) or "the config"
            known = sorted(str(k) for k in node.keys())
            close = difflib.get_close_matches(part, known, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr('.'.join([*path, c])) for c in close)}?" if close else ""
            messages.append(
                f"unknown key {key!r}: {where} has no {part!r}{hint} (its keys: {known}; to add a new key, write "
                f"+{key}=...)"
            )
            break
    return messages
