"""Unknown values, plain or refined (terraform >= 1.6), are checked only once known."""
from __future__ import annotations

import json

import msgpack
import pytest
from msgpack.ext import ExtType
from tf.gen import tfplugin_pb2 as pb
from tf.types import Unknown
from tf.utils import read_dynamic_value

from provider import tf_adapt

from tests.kit.provider import coder_env
from tests.kit.tools import terraform_binaries

# What terraform 1.11 sends for lower(each.key) at validate: unknown, known not to be null.
REFINED = ExtType(12, b"\x81\x01\xc2")


def test_every_extension_decodes_as_unknown():
    """Fails if the pinned tf stops looking its msgpack hook up where adapted() sets it."""
    wire = msgpack.packb({"os": REFINED, "env": {"A": ExtType(0, b"\x00")}, "order": [REFINED]})
    with tf_adapt.adapted():
        assert read_dynamic_value(pb.DynamicValue(msgpack=wire)) == {
            "os": Unknown, "env": {"A": Unknown}, "order": [Unknown]}
    assert read_dynamic_value(pb.DynamicValue(msgpack=wire))["os"] == REFINED  # tf as it was


@pytest.mark.parametrize("binary", terraform_binaries())
def test_template_built_from_each_key_validates_plans_and_applies(terraform, binary):
    tf = terraform("refined", binary=binary)
    tf.init()
    done = tf.run("validate")
    assert "Success! The configuration is valid." in done.stdout, done.stdout + done.stderr
    plan = tf.run("plan", "-input=false", env=coder_env())
    assert 'coder_app.apps["Code"] will be created' in plan.stdout
    tf.apply(coder_env())
    assert json.loads(tf.run("output", "-json").stdout)["slugs"]["value"] == ["code", "jupyter"]
    state = tf.state()
    assert state['coder_agent.main["Linux"]']["os"] == "linux"
    assert state['data.coder_parameter.choice["Region"]']["value"] == "eu"
