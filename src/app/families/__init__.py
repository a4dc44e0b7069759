"""Model families, one module each, behind the interface in `base.py`.

The registry names modules, not classes, so that choosing a family imports only that family's
libraries (an sklearn-only run never imports torch or spaCy).
"""

import importlib

from app.errors import UserError

FAMILIES = {
    "check": "app.families.check:CheckFamily",
    "sklearn": "app.families.sklearn_family:SklearnFamily",
    "spacy": "app.families.spacy_family:SpacyFamily",
    "hf": "app.families.hf_family:HfFamily",
}


def get_family(name: str, model_id: str = "?"):
    if name not in FAMILIES:
        raise UserError(
            f"model preset {model_id!r} names family {name!r}, which is unknown; families: {', '.join(FAMILIES)}"
        )
    module, cls = FAMILIES[name].split(":")
    return getattr(importlib.import_module(module), cls)()
