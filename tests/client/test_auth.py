"""Logins against the emulated Auth0 tenant and the shared credentials file."""

from __future__ import annotations

import datetime as dt
import os
import stat
import time
from pathlib import Path

import pytest

from rfcx_frames import AuthenticationError, Client, auth
from rfcx_frames.emulator import Emulator
from rfcx_frames.session import Session

UTC = dt.timezone.utc


def _bare_client(emu: Emulator) -> Client:
    return Client(api_url=emu.api_url, ingest_url=emu.ingest_url, auth_url=emu.auth_url,
                  progress=False)


@pytest.fixture()
def no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("RFCX_TOKEN", "AUTH0_CLIENT_SECRET", "AUTH0_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_credentials_file_round_trip_in_the_official_format(tmp_path: Path) -> None:
    creds = auth.Credentials("acc.ess.tok", dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC),
                             refresh_token="refresh", id_token="id.tok.en")
    path = auth.write_credentials(tmp_path / ".rfcx_credentials", creds)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text().splitlines()
    assert lines == ["version 1", "acc.ess.tok", "refresh", "2031-05-06T07:08:09.000000Z",
                     "id.tok.en"]
    assert auth.read_credentials(path) == creds
    bare = auth.Credentials("only-access", dt.datetime(2031, 1, 1, tzinfo=UTC))
    auth.write_credentials(path, bare)
    assert path.read_text().splitlines()[2] == "" and path.read_text().splitlines()[4] == ""
    assert auth.read_credentials(path) == bare
    assert auth.read_credentials(path).token == "only-access"  # type: ignore[union-attr]
    # the official client writes seconds without a fraction when microseconds are 0
    path.write_text("version 1\nacc\n\n2031-01-01T00:00:00Z\n\n")
    assert auth.read_credentials(path).expiry == dt.datetime(2031, 1, 1, tzinfo=UTC)  # type: ignore[union-attr]
    path.write_text("version 2\nacc\n\n2031-01-01T00:00:00Z\n\n")
    assert auth.read_credentials(path) is None
    assert "acc.ess.tok" not in repr(creds)


def test_credentials_replace_a_readable_file_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / ".rfcx_credentials"
    path.write_text("old content\n")
    path.chmod(0o644)
    auth.write_credentials(path, auth.Credentials("acc", dt.datetime(2031, 1, 1, tzinfo=UTC)))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert auth.read_credentials(path) is not None


def test_a_failed_credentials_write_keeps_the_old_login(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / ".rfcx_credentials"
    old = auth.Credentials("old.tok.en", dt.datetime(2031, 1, 1, tzinfo=UTC))
    auth.write_credentials(path, old)

    def disk_full(fd: int) -> None:  # a full disk cannot be had here: fail the flush to disk
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", disk_full)
        with pytest.raises(OSError, match="No space left"):
            auth.write_credentials(path, auth.Credentials("new.tok.en", old.expiry))
    assert auth.read_credentials(path) == old
    assert [p.name for p in tmp_path.iterdir()] == [".rfcx_credentials"]


def test_expiry_is_compared_in_utc() -> None:
    now = dt.datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    creds = auth.Credentials("t", dt.datetime(2024, 3, 1, 12, 30, tzinfo=UTC))
    assert not creds.valid_for(3600, now=now)
    assert creds.valid_for(600, now=now)
    shifted = now.astimezone(dt.timezone(dt.timedelta(hours=-8)))
    assert creds.valid_for(600, now=shifted) == creds.valid_for(600, now=now)


@pytest.mark.slow
def test_device_code_login_end_to_end_then_shared_file(
        demo_emulator: Emulator, no_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = no_env / ".rfcx_credentials"
    c = _bare_client(demo_emulator)
    c.authenticate(persisted_credentials_path=str(path), open_browser=False)
    out = capsys.readouterr().out
    assert "Go to this URL in a browser:" in out and "Your code is:" in out
    assert len(c.streams_df()) >= 6
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = auth.read_credentials(path)
    assert stored is not None and stored.refresh_token and stored.id_token
    assert stored.token not in repr(c)

    # the official client reads the same file without touching the network
    from rfcx._authentication import Authentication  # type: ignore[import-untyped]

    official = Authentication(persisted_credentials_path=str(path))
    official.authenticate()
    assert official.credentials.token == stored.token
    assert "Using persisted" in capsys.readouterr().out

    # a second client reuses the file; an expiring one is refreshed, not re-logged in
    again = _bare_client(demo_emulator)
    again.authenticate(persisted_credentials_path=str(path), open_browser=False)
    assert capsys.readouterr().out == ""
    soon = auth.Credentials(stored.access_token, auth.expiry_in(600),
                            stored.refresh_token, stored.id_token)
    auth.write_credentials(path, soon)
    refreshed = _bare_client(demo_emulator)
    refreshed.authenticate(persisted_credentials_path=str(path), open_browser=False)
    assert "Go to this URL" not in capsys.readouterr().out
    renewed = auth.read_credentials(path)
    assert renewed is not None and renewed.token != stored.token and renewed.valid_for(3600)
    assert renewed.refresh_token == stored.refresh_token
    assert len(refreshed.projects()) >= 1
    # a client without a token picks up a valid file in the working directory
    assert len(_bare_client(demo_emulator).projects()) >= 1


def test_device_flow_slows_down_when_told(demo_emulator: Emulator) -> None:
    waits: list[float] = []

    def fast_sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(0.0 if len(waits) <= 2 else 0.6)

    creds = auth.device_code_login(Session(rate_limit=None), demo_emulator.auth_url, "cid",
                                   out=lambda _: None, open_browser=False, sleep=fast_sleep)
    assert creds.id_token and creds.refresh_token
    assert waits[-1] > waits[0]


def test_client_credentials_when_a_secret_is_set(
        demo_emulator: Emulator, no_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH0_CLIENT_SECRET", demo_emulator.client_secret)
    c = _bare_client(demo_emulator)
    with pytest.raises(AuthenticationError, match="AUTH0_CLIENT_ID"):
        c.authenticate()
    monkeypatch.setenv("AUTH0_CLIENT_ID", "machine-client")
    c.authenticate()
    assert c.authenticated
    assert not (no_env / ".rfcx_credentials").exists()
    monkeypatch.setenv("AUTH0_CLIENT_SECRET", "wrong-secret")
    with pytest.raises(AuthenticationError) as err:
        _bare_client(demo_emulator).authenticate()
    assert "wrong-secret" not in str(err.value)


def test_refresh_with_a_bad_token_raises(demo_emulator: Emulator) -> None:
    with pytest.raises(AuthenticationError, match="refresh"):
        auth.refresh_login(Session(rate_limit=None), demo_emulator.auth_url, "cid", "bogus")


def test_credentials_hand_over_the_bearer_token_but_never_the_refresh_token(
        no_env: Path) -> None:
    expiry = dt.datetime(2099, 1, 2, 3, 4, 5, tzinfo=UTC)
    auth.write_credentials(no_env / ".rfcx_credentials", auth.Credentials(
        "acc.ess.tok", expiry, refresh_token="refresh-secret", id_token="id.tok.en"))
    creds = Client(api_url="http://127.0.0.1:9", progress=False).credentials()
    assert (creds.token, creds.expiry, creds.refresh_token) == ("id.tok.en", expiry, None)
    assert "id.tok.en" not in repr(creds) and "acc.ess.tok" not in repr(creds)
    # A bare token: the expiry its JWT names, else none known.
    jwt = "eyJhbGciOiJub25lIn0.eyJleHAiOjQxMDI0NDQ4MDB9."  # exp: 2100-01-01
    given = Client(api_url="http://127.0.0.1:9", token=jwt, progress=False).credentials()
    assert (given.token, given.expiry) == (jwt, dt.datetime(2100, 1, 1, tzinfo=UTC))
    opaque = Client(api_url="http://127.0.0.1:9", token="opaque", progress=False).credentials()
    assert opaque.expiry == auth.NO_EXPIRY
    (no_env / ".rfcx_credentials").unlink()
    with pytest.raises(AuthenticationError, match="not authenticated"):
        Client(api_url="http://127.0.0.1:9", progress=False).credentials()
