"""Who and where: the fixed users, projects and recording sites of the synthetic worlds."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .schedule import Schedule

DEMO_USER, OTHER_USER, SYSTEM_USER = 1, 2, 3
OWNER, ADMIN, MEMBER, GUEST = 4, 1, 2, 3


@dataclass(frozen=True)
class UserSpec:
    """A platform user of the world."""

    id: int
    email: str
    firstname: str
    lastname: str
    roles: str = "rfcxUser"
    picture: str | None = None


@dataclass(frozen=True)
class ProjectSpec:
    """A project and who may do what in it (``roles``: (user id, role id))."""

    key: str
    name: str
    description: str
    created_by: int
    is_public: bool
    roles: tuple[tuple[int, int], ...]
    external_id: int | None = None


@dataclass(frozen=True)
class StreamSpec:
    """A recording site: place, recorder settings and daily schedule."""

    project: str
    name: str
    timezone: str
    latitude: float
    longitude: float
    altitude: float
    country_code: str
    region: str
    sample_rate: int
    codec: str
    schedule: Schedule
    description: str | None = None


USERS = (
    UserSpec(DEMO_USER, "ada@example.org", "Ada", "Lovelace",
             picture="https://example.org/avatars/ada.png"),
    UserSpec(OTHER_USER, "grace@example.org", "Grace", "Hopper"),
    UserSpec(SYSTEM_USER, "system@example.org", "RFCx", "System", roles="rfcxUser,systemUser"),
)

PROJECTS = (
    ProjectSpec("pr", "Puerto Rico Soundscapes",
                "Acoustic monitoring of coquís and forest birds in Puerto Rico.", DEMO_USER,
                False, ((DEMO_USER, OWNER), (OTHER_USER, GUEST)), external_id=1201),
    ProjectSpec("pantropical", "Pantropical Forest Network",
                "Dawn and dusk recordings from tropical forests on four continents.",
                OTHER_USER, False, ((OTHER_USER, OWNER), (DEMO_USER, ADMIN))),
    ProjectSpec("lisbon", "Lisbon Urban Soundscapes",
                "Open recordings of urban parks and wetlands around Lisbon.", OTHER_USER,
                True, ((OTHER_USER, OWNER),), external_id=1350),
    ProjectSpec("borneo", "Borneo Private Survey",
                "Unpublished survey of lowland dipterocarp forest.", OTHER_USER, False,
                ((OTHER_USER, OWNER),)),
)


def _dawn_dusk(dawn: int, dawn_len: int, dusk: int, dusk_len: int, **kw: Any) -> Schedule:
    return Schedule(sessions=((dawn, dawn_len), (dusk, dusk_len)), **kw)


# the demo user's own streams, in order; worlds with more streams cycle through them
OWN_STREAMS = (
    StreamSpec("pr", "El Yunque Canopy", "America/Puerto_Rico", 18.2986, -65.7880, 750.0, "PR",
               "neotropic", 12000, "opus",
               Schedule(sessions=((240, 360),), drop_rate=0.002, short_rate=0.0,
                        lost_day_rate=0.02),
               "Continuous morning recorder on the canopy tower."),
    StreamSpec("pr", "Guánica Dry Forest", "America/Puerto_Rico", 17.9713, -66.8676, 90.0, "PR",
               "neotropic", 24000, "flac",
               _dawn_dusk(320, 60, 1080, 40, drop_rate=0.02, short_rate=0.5, outage_days=3,
                          jitter_ms=20_000)),
    StreamSpec("pantropical", "Serra do Mar Ridge", "America/Sao_Paulo", -23.3400, -44.8300,
               820.0, "BR", "neotropic", 48000, "flac",
               _dawn_dusk(300, 70, 1050, 40, drop_rate=0.01, short_rate=0.4, jitter_ms=45_000)),
    StreamSpec("pantropical", "Korup Plot A", "Africa/Douala", 5.0700, 8.8500, 150.0, "CM",
               "afrotropic", 32000, "flac",
               _dawn_dusk(330, 60, 1110, 30, drop_rate=0.03, short_rate=0.3,
                          lost_day_rate=0.06, jitter_ms=10_000)),
    StreamSpec("pantropical", "Gunung Halimun", "Asia/Jakarta", -6.7400, 106.5300, 1050.0, "ID",
               "indomalaya", 16000, "opus",
               _dawn_dusk(290, 60, 1060, 40, drop_rate=0.015, short_rate=0.6)),
    StreamSpec("pantropical", "Kakadu Billabong", "Australia/Darwin", -12.6700, 132.4800, 20.0,
               "AU", "australasia", 44100, "flac",
               _dawn_dusk(350, 50, 1100, 40, drop_rate=0.01, short_rate=0.4, outage_days=4,
                          jitter_ms=5_000)),
)

# other people's streams: public (readable, not listed by default) and private (403)
OTHER_STREAMS = (
    StreamSpec("lisbon", "Monsanto Forest Park", "Europe/Lisbon", 38.7300, -9.1900, 180.0, "PT",
               "palearctic", 24000, "flac",
               _dawn_dusk(360, 45, 1140, 30, drop_rate=0.01, short_rate=0.5)),
    StreamSpec("lisbon", "Tagus Estuary", "Europe/Lisbon", 38.8000, -9.0300, 5.0, "PT",
               "palearctic", 8000, "opus",
               Schedule(sessions=((400, 30),), drop_rate=0.02, short_rate=0.5)),
    StreamSpec("borneo", "Danum Valley", "Asia/Kuching", 4.9650, 117.8000, 200.0, "MY",
               "indomalaya", 16000, "flac",
               Schedule(sessions=((330, 30),), drop_rate=0.01, short_rate=0.3)),
)
STREAMS = OWN_STREAMS + OTHER_STREAMS


def stream_plan(own: int, rng: np.random.Generator) -> list[StreamSpec]:
    """The streams of a world with ``own`` streams in the demo user's projects.

    Beyond the six hand-made sites, copies of them are placed a few km away.

    Examples
    --------
    >>> plan = stream_plan(8, np.random.default_rng(0))
    >>> len(plan), plan[6].name, plan[-1].name
    (11, 'El Yunque Canopy 2', 'Danum Valley')
    """
    plan = list(OWN_STREAMS[:own])
    for k in range(len(OWN_STREAMS), own):
        base = OWN_STREAMS[k % len(OWN_STREAMS)]
        lat, lon = base.latitude + rng.uniform(-0.05, 0.05), base.longitude + rng.uniform(-0.05, 0.05)
        plan.append(replace(base, name=f"{base.name} {k // len(OWN_STREAMS) + 1}",
                            latitude=round(lat, 4), longitude=round(lon, 4)))
    return plan + list(OTHER_STREAMS)
