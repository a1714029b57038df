"""Filter signatures: stable keys, covering rules, and no secrets on disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from cache_world import DAY0, NOW, SCHEMA, WorldFetch, signature

from rfcx_frames.cache import FilterSignature, TimeRangedCache, user_identity
from rfcx_frames.cache.disk import LAYOUT
from rfcx_frames.cache.manifest import MANIFEST, MANIFEST_KEYS, SIGNATURE_FILE
from rfcx_frames.cache.signature import SIGNATURE_KEYS

BASE = "https://api.example.org"


def test_equal_signatures_hash_equally_across_processes() -> None:
    a = FilterSignature.build("detections", BASE + "/", "u", classifications=["b", "a"],
                        classifiers=[3, 1], min_confidence=0.5, review_statuses=["confirmed"])
    b = FilterSignature.build("detections", BASE, "u", classifications={"a", "b"},
                        classifiers=(1, 3), min_confidence=0.5, review_statuses=("confirmed",))
    assert a == b and a.key == b.key and hash(a) == hash(b)
    code = (
        "from rfcx_frames.cache import FilterSignature as F;"
        f"print(F('detections', {BASE!r}, 'u', classifications=['a','b'], classifiers=[1,3],"
        " min_confidence=0.5, review_statuses=['confirmed']).key)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == a.key  # no dependence on PYTHONHASHSEED or set order
    assert FilterSignature.from_dict(a.to_dict()) == a


def test_any_field_changes_the_key() -> None:
    base = FilterSignature.build("detections", BASE, "u")
    variants = [
        FilterSignature("annotations", BASE, "u"),
        FilterSignature.build("detections", "https://other", "u"),
        FilterSignature.build("detections", BASE, "v"),
        FilterSignature.build("detections", BASE, "u", classifications=[]),
        FilterSignature.build("detections", BASE, "u", classifiers=[1]),
        FilterSignature.build("detections", BASE, "u", min_confidence=0.0),
        FilterSignature.build("detections", BASE, "u", review_statuses=["rejected"]),
    ]
    assert len({base.key, *(v.key for v in variants)}) == len(variants) + 1


def test_covers_rules() -> None:
    everything = FilterSignature.build("detections", BASE, "u")
    strict = FilterSignature.build("detections", BASE, "u", classifications=["a"], classifiers=[1],
                             min_confidence=0.9, review_statuses=["confirmed"])
    assert everything.covers(strict) and not strict.covers(everything)
    assert strict.covers(strict)
    wider = FilterSignature.build("detections", BASE, "u", classifications=["a", "b"],
                            min_confidence=0.5)
    assert wider.covers(strict)
    assert not wider.covers(FilterSignature.build("detections", BASE, "u", classifications=["c"],
                                            min_confidence=0.9))
    assert not wider.covers(FilterSignature.build("detections", BASE, "u", classifications=["a"]))
    assert not FilterSignature.build("detections", BASE, "other").covers(strict)
    assert sorted(wider.stricter_fields(strict)) == ["classifications", "classifiers",
                                                     "min_confidence", "review_statuses"]


def test_token_shaped_user_and_bad_values_are_refused() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    with pytest.raises(ValueError, match="token"):
        FilterSignature.build("detections", BASE, jwt)
    with pytest.raises(ValueError, match="review_statuses"):
        FilterSignature.build("detections", BASE, "u", review_statuses=["pending"])
    with pytest.raises(ValueError, match="entity"):
        FilterSignature.build("../x", BASE, "u")
    assert len(user_identity("Someone@Example.org ")) == 16
    assert user_identity("someone@example.org") == user_identity("Someone@Example.org ")


def test_signature_has_no_token_field() -> None:
    assert set(SIGNATURE_KEYS) == {"entity", "base_url", "user", "classifications",
                                   "classifiers", "min_confidence", "review_statuses"}
    with pytest.raises(TypeError):
        FilterSignature.build("detections", BASE, "u", token="secret")  # type: ignore[call-arg]


def test_manifest_holds_only_documented_keys(tmp_path: Path, world: pd.DataFrame) -> None:
    sig = signature(classifications=["bird_a"], min_confidence=0.4)
    TimeRangedCache(tmp_path).query(
        "detections", sig, ["s01", "s02"], DAY0, DAY0 + pd.Timedelta(days=2),
        WorldFetch(world, sig), SCHEMA, now=NOW,
    )
    folder = tmp_path / LAYOUT / "detections" / sig.key
    manifest = json.loads((folder / MANIFEST).read_text())
    assert set(manifest) == MANIFEST_KEYS
    assert set(manifest["signature"]) == set(SIGNATURE_KEYS)
    assert manifest["signature"]["user"] == sig.user
    assert set(json.loads((folder / SIGNATURE_FILE).read_text())) == set(SIGNATURE_KEYS)
    for state in manifest["streams"].values():
        assert set(state) == {"complete", "files", "rows", "fetched"}
        for part in state["files"]:
            assert set(part) == {"path", "date", "coverage", "rows", "bytes", "written"}
