"""Set up before any test module imports moto."""

# Importing the sandbox package points MOTO_AMIS_PATH at its small image list, which moto reads at import.
import sandbox  # noqa: F401
