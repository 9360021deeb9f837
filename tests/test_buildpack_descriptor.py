"""buildpack.toml lists every setting the buildpack reads, with honest defaults."""

from __future__ import annotations

import re
import sys

from conftest import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

sys.path.insert(0, str(ROOT))
from buildpack import detect, function, launchenv, pip  # noqa: E402

CONFIGURATIONS = {c["name"]: c for c in tomllib.loads((ROOT / "buildpack.toml").read_text())["metadata"]["configurations"]}


def read_settings() -> set[str]:
    """Every setting name the buildpack's code asks the platform for."""
    source = "".join(path.read_text() for path in (ROOT / "buildpack").glob("*.py"))
    named = set(re.findall(r'(?:setting|raw_setting|is_set)\("([A-Z_]+)"\)', source))
    named |= set(detect.FUNCTION_SETTINGS) | set(pip.SETTINGS) | set(function.GOOGLE_SETTINGS)
    named |= {f"{prefix}<NAME>" for prefix, _ in launchenv.BPE_PREFIXES}
    return named


def test_every_setting_read_is_listed():
    missing = read_settings() - set(CONFIGURATIONS)
    assert not missing, f"buildpack.toml [[metadata.configurations]] lacks {sorted(missing)}"
    assert {"BP_PIP_REQUIREMENT", "BPE_APPEND_<NAME>", "GOOGLE_FUNCTION_SIGNATURE_TYPE", "PIP_CERT"} <= set(CONFIGURATIONS)


def test_defaults_are_what_the_buildpack_does():
    assert CONFIGURATIONS["BP_FUNCTION"]["default"] == ""  # unset: discovery by style, not func.main
    assert "finds the function" in CONFIGURATIONS["BP_FUNCTION"]["description"]
    assert CONFIGURATIONS["BP_PIP_REQUIREMENT"]["default"] == "requirements.txt"
    assert CONFIGURATIONS["BP_LOG_LEVEL"]["default"] == "INFO"
    for name, configuration in CONFIGURATIONS.items():
        assert configuration.get("build") or configuration.get("launch"), name
        assert configuration["description"], name
