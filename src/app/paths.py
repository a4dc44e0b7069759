"""Where things live: project root, cache folders, and the check that ids are safe path parts."""

import re
from pathlib import Path

from app.errors import UserError

# ids become folder names: letters, digits, dot, dash, underscore; no "..", no "/"
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def project_root() -> Path:
    # the folder holding the conf/ that Hydra uses (import here: the plugin has no app deps)
    from hydra_plugins.ideolab_searchpath.ideolab_searchpath import find_conf_dir

    return find_conf_dir().parent


def safe_id(value: object, key: str) -> str:
    text = str(value)
    if not _SAFE_ID.match(text) or ".." in text:
        raise UserError(f"{key}={text!r} is not a safe id: use letters, digits, '.', '_' or '-' (no '/' or '..')")
    return text
