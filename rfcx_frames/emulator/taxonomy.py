"""The emulated platform's classification tree and classifiers (static data of the world).

Tropical birds, frogs, insects and mammals from five biogeographic regions plus a few
"characteristic" sounds (chainsaw, gunshot ...). Every classification that can be heard
carries a typical frequency band, the regions it lives in and the shape its calls take in
the synthetic audio (:data:`rfcx_frames.emulator.audio.CALL_KINDS`).
"""

from __future__ import annotations

from dataclasses import dataclass

REGIONS = ("neotropic", "afrotropic", "indomalaya", "australasia", "palearctic")
ANYWHERE = "*"


@dataclass(frozen=True)
class Taxon:
    """One classification row, with the extra facts the world generator needs."""

    value: str
    title: str
    type: str
    parent: str | None = None
    frequency_min: int | None = None
    frequency_max: int | None = None
    regions: tuple[str, ...] = ()
    kind: str = ""
    names: tuple[tuple[str, str], ...] = ()  # (name, language_id), in rank order

    @property
    def audible(self) -> bool:
        """Whether calls of this classification are rendered into the audio."""
        return self.frequency_min is not None and self.frequency_max is not None


def _t(value: str, title: str, type_: str, parent: str | None, band: tuple[int, int] | None = None,
       regions: str = "", kind: str = "", names: tuple[tuple[str, str], ...] = ()) -> Taxon:
    lo, hi = band if band is not None else (None, None)
    return Taxon(value=value, title=title, type=type_, parent=parent, frequency_min=lo,
                 frequency_max=hi, regions=tuple(regions.split()) if regions else (),
                 kind=kind, names=names)


EN, ES, PT = "en_US", "es_ES", "pt_BR"

TAXA: tuple[Taxon, ...] = (
    _t("aves", "Aves", "class", None, names=(("Birds", EN), ("Aves", ES), ("Aves", PT))),
    _t("amphibia", "Amphibia", "class", None,
       names=(("Amphibians", EN), ("Anfibios", ES), ("Anfíbios", PT))),
    _t("insecta", "Insecta", "class", None,
       names=(("Insects", EN), ("Insectos", ES), ("Insetos", PT))),
    _t("mammalia", "Mammalia", "class", None,
       names=(("Mammals", EN), ("Mamíferos", ES), ("Mamíferos", PT))),
    _t("passeriformes", "Passeriformes", "order", "aves", names=(("Perching birds", EN),)),
    _t("psittaciformes", "Psittaciformes", "order", "aves",
       names=(("Parrots", EN), ("Loros", ES), ("Papagaios", PT))),
    _t("piciformes", "Piciformes", "order", "aves", names=(("Woodpeckers and allies", EN),)),
    _t("cuculiformes", "Cuculiformes", "order", "aves", names=(("Cuckoos and allies", EN),)),
    _t("anura", "Anura", "order", "amphibia",
       names=(("Frogs and toads", EN), ("Ranas y sapos", ES), ("Sapos e rãs", PT))),
    _t("orthoptera", "Orthoptera", "order", "insecta", names=(("Crickets and katydids", EN),)),
    _t("hemiptera", "Hemiptera", "order", "insecta", names=(("True bugs", EN),)),
    _t("primates", "Primates", "order", "mammalia", names=(("Primates", EN),)),
    _t("proboscidea", "Proboscidea", "order", "mammalia", names=(("Elephants", EN),)),
    _t("turdidae", "Turdidae", "family", "passeriformes",
       names=(("Thrushes", EN), ("Zorzales", ES), ("Sabiás", PT))),
    _t("mimidae", "Mimidae", "family", "passeriformes",
       names=(("Mockingbirds and thrashers", EN),)),
    _t("tyrannidae", "Tyrannidae", "family", "passeriformes",
       names=(("Tyrant flycatchers", EN), ("Atrapamoscas", ES))),
    _t("thraupidae", "Thraupidae", "family", "passeriformes", names=(("Tanagers", EN),)),
    _t("pycnonotidae", "Pycnonotidae", "family", "passeriformes", names=(("Bulbuls", EN),)),
    _t("muscicapidae", "Muscicapidae", "family", "passeriformes",
       names=(("Old World flycatchers", EN),)),
    _t("psittacidae", "Psittacidae", "family", "psittaciformes",
       names=(("New World and African parrots", EN),)),
    _t("cacatuidae", "Cacatuidae", "family", "psittaciformes", names=(("Cockatoos", EN),)),
    _t("picidae", "Picidae", "family", "piciformes",
       names=(("Woodpeckers", EN), ("Pájaros carpinteros", ES), ("Pica-paus", PT))),
    _t("megalaimidae", "Megalaimidae", "family", "piciformes", names=(("Asian barbets", EN),)),
    _t("cuculidae", "Cuculidae", "family", "cuculiformes", names=(("Cuckoos", EN),)),
    _t("eleutherodactylidae", "Eleutherodactylidae", "family", "anura",
       names=(("Rain frogs", EN), ("Ranas de lluvia", ES))),
    _t("hylidae", "Hylidae", "family", "anura",
       names=(("Tree frogs", EN), ("Ranas arborícolas", ES), ("Pererecas", PT))),
    _t("hyperoliidae", "Hyperoliidae", "family", "anura", names=(("Reed frogs", EN),)),
    _t("gryllidae", "Gryllidae", "family", "orthoptera",
       names=(("Crickets", EN), ("Grillos", ES), ("Grilos", PT))),
    _t("cicadidae", "Cicadidae", "family", "hemiptera",
       names=(("Cicadas", EN), ("Cigarras", ES), ("Cigarras", PT))),
    _t("atelidae", "Atelidae", "family", "primates", names=(("Howler and spider monkeys", EN),)),
    _t("hominidae", "Hominidae", "family", "primates", names=(("Great apes", EN),)),
    _t("hylobatidae", "Hylobatidae", "family", "primates", names=(("Gibbons", EN),)),
    _t("elephantidae", "Elephantidae", "family", "proboscidea", names=(("Elephants", EN),)),
    _t("catharus", "Catharus", "genus", "turdidae", names=(("Nightingale-thrushes", EN),)),
    _t("turdus", "Turdus", "genus", "turdidae", names=(("True thrushes", EN),)),
    _t("pycnonotus", "Pycnonotus", "genus", "pycnonotidae"),
    _t("amazona", "Amazona", "genus", "psittacidae", names=(("Amazon parrots", EN),)),
    _t("eleutherodactylus", "Eleutherodactylus", "genus", "eleutherodactylidae",
       names=(("Coquís", ES),)),
    # birds
    _t("catharus_ustulatus", "Catharus ustulatus", "species", "catharus", (1500, 5000),
       "neotropic", "sweep", (("Swainson's Thrush", EN), ("Zorzal de Swainson", ES),
                              ("Sabiá-de-óculos", PT))),
    _t("catharus_aurantiirostris", "Catharus aurantiirostris", "species", "catharus",
       (2000, 5200), "neotropic", "trill",
       (("Orange-billed Nightingale-Thrush", EN), ("Zorzalito piquianaranjado", ES))),
    _t("turdus_merula", "Turdus merula", "species", "turdus", (1500, 4500), "palearctic",
       "sweep", (("Common Blackbird", EN), ("Mirlo común", ES), ("Melro-preto", PT))),
    _t("turdus_leucomelas", "Turdus leucomelas", "species", "turdus", (1800, 4500),
       "neotropic", "trill", (("Pale-breasted Thrush", EN), ("Sabiá-barranco", PT))),
    _t("dumetella_carolinensis", "Dumetella carolinensis", "species", "mimidae", (1000, 5000),
       "neotropic", "sweep", (("Gray Catbird", EN), ("Pájaro gato gris", ES))),
    _t("pitangus_sulphuratus", "Pitangus sulphuratus", "species", "tyrannidae", (2000, 4500),
       "neotropic", "sweep",
       (("Great Kiskadee", EN), ("Bienteveo grande", ES), ("Bem-te-vi", PT))),
    _t("coereba_flaveola", "Coereba flaveola", "species", "thraupidae", (4000, 8000),
       "neotropic", "trill", (("Bananaquit", EN), ("Reinita común", ES), ("Cambacica", PT))),
    _t("pycnonotus_barbatus", "Pycnonotus barbatus", "species", "pycnonotus", (1500, 4000),
       "afrotropic", "sweep", (("Common Bulbul", EN),)),
    _t("pycnonotus_aurigaster", "Pycnonotus aurigaster", "species", "pycnonotus",
       (1500, 4000), "indomalaya", "trill", (("Sooty-headed Bulbul", EN),)),
    _t("luscinia_megarhynchos", "Luscinia megarhynchos", "species", "muscicapidae",
       (2000, 8000), "palearctic", "trill",
       (("Common Nightingale", EN), ("Ruiseñor común", ES), ("Rouxinol-comum", PT))),
    _t("amazona_vittata", "Amazona vittata", "species", "amazona", (800, 4000), "neotropic",
       "sweep", (("Puerto Rican Amazon", EN), ("Cotorra puertorriqueña", ES))),
    _t("psittacus_erithacus", "Psittacus erithacus", "species", "psittacidae", (600, 3500),
       "afrotropic", "sweep",
       (("Grey Parrot", EN), ("Loro gris", ES), ("Papagaio-cinzento", PT))),
    _t("cacatua_galerita", "Cacatua galerita", "species", "cacatuidae", (1000, 6000),
       "australasia", "noise", (("Sulphur-crested Cockatoo", EN),)),
    _t("melanerpes_portoricensis", "Melanerpes portoricensis", "species", "picidae",
       (1500, 4000), "neotropic", "pulses",
       (("Puerto Rican Woodpecker", EN), ("Carpintero de Puerto Rico", ES))),
    _t("psilopogon_javensis", "Psilopogon javensis", "species", "megalaimidae", (500, 1500),
       "indomalaya", "pulses", (("Black-banded Barbet", EN),)),
    _t("eudynamys_orientalis", "Eudynamys orientalis", "species", "cuculidae", (800, 2500),
       "australasia indomalaya", "sweep", (("Pacific Koel", EN),)),
    # frogs
    _t("eleutherodactylus_coqui", "Eleutherodactylus coqui", "species", "eleutherodactylus",
       (1000, 3500), "neotropic", "sweep", (("Common Coquí", EN), ("Coquí común", ES))),
    _t("eleutherodactylus_portoricensis", "Eleutherodactylus portoricensis", "species",
       "eleutherodactylus", (1800, 3200), "neotropic", "pulses",
       (("Upland Coquí", EN), ("Coquí de la montaña", ES))),
    _t("boana_faber", "Boana faber", "species", "hylidae", (400, 1500), "neotropic", "pulses",
       (("Smith Frog", EN), ("Sapo-ferreiro", PT))),
    _t("dendropsophus_minutus", "Dendropsophus minutus", "species", "hylidae", (3000, 5200),
       "neotropic", "pulses", (("Lesser Treefrog", EN), ("Pererequinha-do-brejo", PT))),
    _t("litoria_caerulea", "Litoria caerulea", "species", "hylidae", (300, 1500),
       "australasia", "pulses", (("Australian Green Tree Frog", EN),)),
    _t("hyperolius_tuberculatus", "Hyperolius tuberculatus", "species", "hyperoliidae",
       (2500, 4500), "afrotropic", "pulses", (("Rhacophorus Reed Frog", EN),)),
    # insects
    _t("gryllus_campestris", "Gryllus campestris", "species", "gryllidae", (3500, 5200),
       "palearctic", "pulses",
       (("Field Cricket", EN), ("Grillo campestre", ES), ("Grilo-do-campo", PT))),
    _t("teleogryllus_commodus", "Teleogryllus commodus", "species", "gryllidae", (3500, 5500),
       "australasia", "pulses", (("Black Field Cricket", EN),)),
    _t("dundubia_vaginata", "Dundubia vaginata", "species", "cicadidae", (3000, 7000),
       "indomalaya", "noise", (("Sheathed Cicada", EN),)),
    _t("quesada_gigas", "Quesada gigas", "species", "cicadidae", (3000, 7000), "neotropic",
       "noise", (("Giant Cicada", EN), ("Chicharra gigante", ES), ("Cigarra-do-cafeeiro", PT))),
    # mammals
    _t("alouatta_guariba", "Alouatta guariba", "species", "atelidae", (200, 1000), "neotropic",
       "noise", (("Brown Howler Monkey", EN), ("Bugio-ruivo", PT))),
    _t("pan_troglodytes", "Pan troglodytes", "species", "hominidae", (200, 2000), "afrotropic",
       "sweep", (("Chimpanzee", EN), ("Chimpancé", ES), ("Chimpanzé", PT))),
    _t("hylobates_moloch", "Hylobates moloch", "species", "hylobatidae", (600, 1800),
       "indomalaya", "sweep", (("Javan Gibbon", EN), ("Silvery Gibbon", EN))),
    _t("loxodonta_cyclotis", "Loxodonta cyclotis", "species", "elephantidae", (60, 400),
       "afrotropic", "sweep", (("African Forest Elephant", EN), ("Elefante de bosque", ES))),
    # sounds that are not animals
    _t("chainsaw", "Chainsaw", "characteristic", None, (100, 3000), ANYWHERE, "noise",
       (("Motosierra", ES), ("Motosserra", PT))),
    _t("gunshot", "Gunshot", "characteristic", None, (200, 4000), ANYWHERE, "noise",
       (("Disparo", ES), ("Tiro", PT))),
    _t("vehicle", "Vehicle", "characteristic", None, (50, 1500), ANYWHERE, "noise",
       (("Vehículo", ES), ("Veículo", PT))),
    _t("rain", "Rain", "characteristic", None, (500, 5000), ANYWHERE, "noise",
       (("Lluvia", ES), ("Chuva", PT))),
    _t("dog_bark", "Dog bark", "characteristic", None, (300, 2500), ANYWHERE, "sweep",
       (("Ladrido", ES), ("Latido", PT))),
    _t("human_voice", "Human voice", "characteristic", None, (100, 3000), ANYWHERE, "trill",
       (("Voz humana", ES), ("Voz humana", PT))),
)

BY_VALUE: dict[str, Taxon] = {t.value: t for t in TAXA}
CLASS_IDS: dict[str, int] = {t.value: i + 1 for i, t in enumerate(TAXA)}
CALL_KIND: dict[str, str] = {t.value: t.kind for t in TAXA if t.kind}
THREATS = ("chainsaw", "gunshot", "vehicle", "dog_bark", "human_voice")


@dataclass(frozen=True)
class ClassifierSpec:
    """A classifier of the world: which classifications it outputs and how it scans audio."""

    id: int
    name: str
    version: int
    outputs: tuple[str, ...]
    window_ms: int  # length of one detection window
    step_ms: int  # hop between windows (on an absolute grid)
    threshold: float = 0.5


def _lineage(value: str) -> set[str]:
    out = set()
    node: str | None = value
    while node is not None:
        out.add(node)
        node = BY_VALUE[node].parent
    return out


def _audible_under(ancestor: str) -> tuple[str, ...]:
    return tuple(t.value for t in TAXA if t.audible and ancestor in _lineage(t.value))


CLASSIFIERS: tuple[ClassifierSpec, ...] = (
    ClassifierSpec(1, "frog-cnn", 1, _audible_under("anura"), 2000, 1000),
    ClassifierSpec(2, "bird-multi", 3, _audible_under("aves"), 3000, 1500, 0.6),
    ClassifierSpec(3, "soundscape-events", 2,
                   _audible_under("mammalia") + _audible_under("insecta")
                   + tuple(t.value for t in TAXA if t.type == "characteristic"), 2000, 2000, 0.4),
)
CLASSIFIER_OF: dict[str, int] = {v: c.id for c in CLASSIFIERS for v in c.outputs}


def output_class_name(value: str) -> str:
    """The name a classifier uses for a classification (``eleu_coqu`` style codes).

    Examples
    --------
    >>> output_class_name("eleutherodactylus_coqui"), output_class_name("chainsaw")
    ('eleu_coqu', 'chainsaw')
    """
    parts = value.split("_")
    if len(parts) == 2 and BY_VALUE[value].type == "species":
        return f"{parts[0][:4]}_{parts[1][:4]}"
    return value


def call_kind(value: str, type_: str = "") -> str:
    """Shape of the calls of a classification in the synthetic audio.

    Examples
    --------
    >>> call_kind("chainsaw"), call_kind("unknown_thing")
    ('noise', 'sweep')
    """
    return CALL_KIND.get(value, "noise" if type_ == "characteristic" else "sweep")


def local_taxa(region: str, nyquist_limit: float, min_band: float = 300.0) -> list[Taxon]:
    """Audible classifications that can be heard at a site of ``region``.

    Those whose band, cut at ``nyquist_limit`` Hz, keeps at least ``min_band`` Hz.

    Examples
    --------
    >>> any(t.value == "eleutherodactylus_coqui" for t in local_taxa("neotropic", 5400))
    True
    """
    out = []
    for t in TAXA:
        if not t.audible or not (region in t.regions or ANYWHERE in t.regions):
            continue
        assert t.frequency_min is not None and t.frequency_max is not None
        if min(t.frequency_max, nyquist_limit) - t.frequency_min >= min_band:
            out.append(t)
    return out
