"""Names for the ImageNet-1k class ids the backbone checks use or commonly see on TrashNet.

The full 1000-name list is not shipped (no network, and only these are needed); ids are the
standard 0-based ILSVRC-2012 indices that torchvision and TF checkpoints share.
"""

from __future__ import annotations

NAMES: dict[int, str] = {
    404: "airliner",
    412: "ashcan",
    418: "ballpoint pen",
    435: "bathtub",
    438: "beaker",
    440: "beer bottle",
    441: "beer glass",
    447: "binoculars",
    455: "bottlecap",
    463: "bucket",
    473: "can opener",
    478: "carton",
    481: "cassette",
    492: "chest",
    504: "coffee mug",
    510: "container ship",
    519: "crate",
    530: "digital clock",
    549: "envelope",
    572: "goblet",
    619: "lampshade",
    626: "lighter",
    653: "milk can",
    680: "nipple",
    692: "packet",
    700: "paper towel",
    710: "pencil sharpener",
    711: "perfume",
    720: "pill bottle",
    728: "plastic bag",
    737: "pop bottle",
    749: "quill",
    753: "radiator",
    767: "rubber eraser",
    773: "saltshaker",
    784: "screwdriver",
    793: "shower cap",
    794: "shower curtain",
    804: "soap dispenser",
    817: "sports car",
    818: "spotlight",
    831: "studio couch",
    838: "sunscreen",
    845: "syringe",
    849: "teapot",
    867: "trailer truck",
    868: "tray",
    883: "vase",
    892: "wall clock",
    895: "warplane",
    898: "water bottle",
    899: "water jug",
    901: "whiskey jug",
    904: "window screen",
    907: "wine bottle",
    916: "web site",
    918: "crossword puzzle",
    921: "book jacket",
    922: "menu",
    966: "red wine",
    968: "cup",
    971: "bubble",
    999: "toilet tissue",
}

# ImageNet's bottle classes plus its two bottle-shaped jugs: what a glass or plastic bottle
# photo should land in. Glassware (beer glass, goblet) and the teapot are deliberately left
# out -- they are not bottles, and would make the check easier to pass by accident.
BOTTLES: frozenset[int] = frozenset({440, 720, 737, 898, 899, 901, 907})
# Cardboard and paper packaging: carton, envelope, packet, crate.
CARDBOARD: frozenset[int] = frozenset({478, 519, 549, 692})


def label(class_id: int) -> str:
    """Name of ``class_id`` if listed here, else ``#id``."""
    return NAMES.get(class_id, f"#{class_id}")
