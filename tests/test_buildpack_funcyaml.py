"""func.yaml as the buildpack reads it: envs of old and new specVersions, references, options."""

from __future__ import annotations

import sys
import textwrap

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT))
from buildpack import funcyaml  # noqa: E402
from buildpack.errors import BuildpackError  # noqa: E402


def load(tmp_path, text, build_env=None):
    (tmp_path / "func.yaml").write_text(textwrap.dedent(text))
    return funcyaml.load(tmp_path, (build_env or {}).get)


def test_no_func_yaml(tmp_path):
    assert funcyaml.load(tmp_path, {}.get) is None


def test_old_top_level_envs_and_options(tmp_path):
    config = load(tmp_path, """
        specVersion: 0.25.0
        name: old
        runtime: python
        envs:
        - name: MODULE_NAME
          value: my_module
        - name: PORT_NUMBER
          value: 8080
        - name: FLAG
          value: true
        options:
          scale:
            min: 1
            max: 5
    """)
    assert config.envs == {"MODULE_NAME": "my_module", "PORT_NUMBER": "8080", "FLAG": "true"}
    assert config.options == {"scale": {"min": 1, "max": 5}}
    assert config.runtime == "python"


def test_new_run_envs_and_deploy_options(tmp_path):
    config = load(tmp_path, """
        specVersion: 0.36.0
        name: new
        runtime: python
        run:
          envs:
          - name: GREETING
            value: hi
        deploy:
          options:
            resources:
              limits:
                memory: 256Mi
    """)
    assert config.envs == {"GREETING": "hi"}
    assert config.options == {"resources": {"limits": {"memory": "256Mi"}}}


def test_env_reference_resolved_secret_and_config_map_skipped(tmp_path):
    config = load(tmp_path, """
        runtime: python
        run:
          envs:
          - name: FROM_BUILD
            value: '{{ env:BUILD_VALUE }}'
          - name: UNSET
            value: '{{ env:NOT_SET_ANYWHERE }}'
          - name: PASSWORD
            value: '{{ secret:db:password }}'
          - value: '{{ configMap:settings }}'
    """, {"BUILD_VALUE": "resolved"})
    assert config.envs == {"FROM_BUILD": "resolved"}
    assert len(config.skipped) == 3
    assert any("PASSWORD" in s and "never baked" in s for s in config.skipped)
    assert any("NOT_SET_ANYWHERE" in s for s in config.skipped)


def test_unknown_fields_are_tolerated(tmp_path):
    config = load(tmp_path, """
        runtime: python
        invoke: cloudevent
        something_new: {nested: [1, 2]}
    """)
    assert config.envs == {}


def test_empty_file_is_no_settings(tmp_path):
    assert load(tmp_path, "").envs == {}


def test_env_without_name_or_reference_is_an_error(tmp_path):
    with pytest.raises(BuildpackError, match=r"envs\[0\] \(line \d+\) has no name"):
        load(tmp_path, """
            runtime: python
            envs:
            - value: plain
        """)


FIXTURES = ROOT / "tests" / "fixtures" / "func-yaml"


@pytest.mark.parametrize("name, envs, labels", [
    pytest.param("specversion-0.25.yaml", {"MODULE_NAME": "func", "GREETING": "hello from 0.25"},
                 {"options-scale", "options-resources-requests", "options-resources-limits"}, id="0.25"),
    pytest.param("specversion-0.36.yaml", {"GREETING": "hello from 0.36"},
                 {"options-scale", "options-resources-limits"}, id="0.36"),
])
def test_func_yaml_as_func_writes_it(tmp_path, name, envs, labels):
    (tmp_path / "func.yaml").write_bytes((FIXTURES / name).read_bytes())
    config = funcyaml.load(tmp_path, {}.get)
    assert config.envs == envs
    assert len(config.skipped) == 1  # the secret or config map reference
    assert set(funcyaml.option_labels(config.options)) == labels


def test_env_values_are_the_text_written_as_func_reads_them(tmp_path):
    """func (Go yaml.v3, YAML 1.2) keeps these as strings; YAML 1.1 would give True, 511, 750, a date."""
    config = load(tmp_path, """
        runtime: python
        envs:
        - {name: ANSWER, value: yes}
        - {name: MODE, value: 0777}
        - {name: AT, value: 12:30}
        - {name: DAY, value: 2001-12-14}
        - {name: BIG, value: 1e3}
        - {name: FLAG, value: TRUE}
        - {name: OFF, value: off}
        - {name: QUOTED, value: "null"}
        - {name: GONE, value: ~}
        - {name: ALSO_GONE}
        - {name: EMPTY, value: ""}
        deploy:
          options:
            scale: {min: 0o10, max: 0x10}
    """)
    assert config.envs == {"ANSWER": "yes", "MODE": "0777", "AT": "12:30", "DAY": "2001-12-14", "BIG": "1e3",
                           "FLAG": "TRUE", "OFF": "off", "QUOTED": "null", "EMPTY": ""}
    assert any(s.startswith("GONE: the value is null") for s in config.skipped)
    assert any(s.startswith("ALSO_GONE: the value is null") for s in config.skipped)
    assert config.options == {"scale": {"min": 8, "max": 16}}


@pytest.mark.parametrize("text", ["runtime: !!int x\n", "runtime: !!bool x\n", "runtime: !!binary aGk=\n",
                                  "runtime: !!timestamp 2001-01-01\n", "x: !!set {a}\n"])
def test_values_that_do_not_fit_their_tag_are_yaml_errors(tmp_path, text):
    with pytest.raises(BuildpackError, match=r"func.yaml is not valid YAML at line 1"):
        load(tmp_path, text)


@pytest.mark.parametrize("text, invoke", [
    pytest.param("specVersion: 0.34.0\ninvocation:\n  format: cloudevent\n", "cloudevent", id="0.34-cloudevent"),
    pytest.param("invocation: {format: cloudevent}\n", "cloudevent", id="no-specversion"),
    pytest.param("specVersion: 0.25.0\ninvocation:\n  format: http\n", None, id="0.25-http-is-the-default"),
    pytest.param("specVersion: 0.35.0\ninvocation:\n  format: cloudevent\n", None, id="0.35-ignores-invocation"),
    pytest.param("specVersion: 0.36.0\ninvoke: cloudevent\n", "cloudevent", id="0.36-invoke"),
])
def test_invoke_of_every_spec_version(tmp_path, text, invoke):
    assert load(tmp_path, "runtime: python\n" + text).invoke == invoke


def test_unknown_invocation_format_names_the_field(tmp_path):
    with pytest.raises(BuildpackError) as error:
        load(tmp_path, "runtime: python\nspecVersion: 0.30.0\ninvocation:\n  format: carrier-pigeon\n")
    assert "invocation.format (line 4)" in str(error.value)


def test_option_labels_of_keys_that_are_not_text(tmp_path):
    config = load(tmp_path, "runtime: python\ndeploy:\n  options:\n    scale: {1: 2, a: 3, ~: 4, false: 5}\n")
    assert funcyaml.option_labels(config.options) == {"options-scale": '{"1": 2, "a": 3, "false": 5, "null": 4}'}


def test_top_level_scale_of_specversion_0_38(tmp_path):
    config = load(tmp_path, """
        specVersion: 0.38.0
        runtime: python
        scale: {min: 1, max: 4, kpa: {metric: rps, target: 50}}
        deploy:
          options:
            resources: {limits: {memory: 128Mi}}
    """)
    labels = funcyaml.option_labels(config.options)
    assert labels["options-scale"] == '{"kpa": {"metric": "rps", "target": 50}, "max": 4, "min": 1}'
    assert labels["options-resources-limits"] == '{"memory": "128Mi"}'
    with pytest.raises(BuildpackError, match=r"scale.min \(line 3\)"):
        load(tmp_path, "runtime: python\nspecVersion: 0.38.0\nscale: {min: lots}\n")
