"""The one exception type shown to users as a short message (no traceback unless HYDRA_FULL_ERROR=1)."""


class UserError(Exception):
    """Bad input: a message that names the file, line or key at fault."""
