"""A stand-in for every provider but Coder's, so Coder's published templates plan offline.

    python -m tests.provider.stub_provider SCHEMA.json SOURCE

Terraform starts it (through a wrapper in the stub mirror that
``tests/provider/published_stubs.py`` writes) as, say,
``registry.terraform.io/hashicorp/aws``. Its schema is what the templates use
of that provider, read from their HCL: each attribute they set or read is
optional and computed, of any type (``dynamic``), each block they write a
list block. It plans what the configuration says, with every unset attribute
unknown (as a real provider's computed outputs are), and a data source reads
an unset attribute as "". It checks nothing and creates nothing: only Coder's
provider is under test.
"""
from __future__ import annotations

import json
import sys

import msgpack
from tf.gen import tfplugin_pb2 as pb
from tf.gen import tfplugin_pb2_grpc as rpc

UNKNOWN = msgpack.ExtType(0, b"\x00")
EMPTY_STRING = [b'"string"', ""]
LIST = pb.Schema.NestedBlock.NestingMode.LIST


def decode(value: pb.DynamicValue):
    return msgpack.unpackb(value.msgpack, ext_hook=msgpack.ExtType, raw=False, strict_map_key=False)


def encode(obj) -> pb.DynamicValue:
    return pb.DynamicValue(msgpack=msgpack.packb(obj, use_bin_type=True))


def block_pb(spec: dict, typed_blocks: bool = False, typed: bool = False) -> pb.Schema.Block:
    """A block of ``spec``: attributes of any type, or (``typed``) strings and lists of
    strings as the templates write them; its blocks ``typed`` when ``typed_blocks``."""
    def type_of(name: str) -> bytes:
        if not typed:
            return b'"dynamic"'
        return b'["list","string"]' if name in spec["lists"] else b'"string"'
    return pb.Schema.Block(
        attributes=[pb.Schema.Attribute(name=name, type=type_of(name), optional=True,
                                        computed=True) for name in sorted(spec["attrs"])],
        block_types=[pb.Schema.NestedBlock(type_name=name, nesting=LIST,
                                           block=block_pb(inner, typed_blocks, typed_blocks))
                     for name, inner in sorted(spec["blocks"].items())])


def fill(obj, spec: dict, unset, blocks: bool = True):
    """Each unset attribute of ``obj`` (and, with ``blocks``, of its blocks) set to ``unset``."""
    if not isinstance(obj, dict):
        return obj
    for name in spec["attrs"]:
        if obj.get(name) is None:
            obj[name] = unset
    for name, inner in spec["blocks"].items():
        items = obj.get(name)
        if blocks and isinstance(items, list):
            obj[name] = [fill(item, inner, unset) for item in items]
    return obj


class StubServicer(rpc.ProviderServicer):
    def __init__(self, schema: dict):
        self.schema = schema

    def GetMetadata(self, request, context):
        return pb.GetMetadata.Response(
            server_capabilities=pb.ServerCapabilities(plan_destroy=False),
            resources=[pb.GetMetadata.ResourceMetadata(type_name=t) for t in self.schema["resources"]],
            data_sources=[pb.GetMetadata.DataSourceMetadata(type_name=t)
                          for t in self.schema["data_sources"]])

    def GetProviderSchema(self, request, context):
        # A data source's blocks hold strings: terraform 1.11 panics planning a data source
        # whose blocks hold dynamic attributes ("ProposedNew only supports object-typed values").
        def schemas(kind):
            return {t: pb.Schema(version=0, block=block_pb(s, kind == "data_sources"))
                    for t, s in self.schema[kind].items()}
        return pb.GetProviderSchema.Response(
            provider=pb.Schema(block=block_pb(self.schema["provider"])),
            resource_schemas=schemas("resources"), data_source_schemas=schemas("data_sources"))

    def GetFunctions(self, request, context):
        return pb.GetFunctions.Response()

    def ValidateProviderConfig(self, request, context):
        return pb.ValidateProviderConfig.Response()

    def ValidateResourceConfig(self, request, context):
        return pb.ValidateResourceConfig.Response()

    def ValidateDataResourceConfig(self, request, context):
        return pb.ValidateDataResourceConfig.Response()

    def ConfigureProvider(self, request, context):
        return pb.ConfigureProvider.Response()

    def PlanResourceChange(self, request, context):
        proposed = decode(request.proposed_new_state)
        if proposed is not None:
            proposed = fill(proposed, self.schema["resources"][request.type_name], UNKNOWN)
        return pb.PlanResourceChange.Response(planned_state=encode(proposed))

    def ReadDataSource(self, request, context):
        config = fill(decode(request.config), self.schema["data_sources"][request.type_name],
                      EMPTY_STRING, blocks=False)
        return pb.ReadDataSource.Response(state=encode(config))

    def StopProvider(self, request, context):
        return pb.StopProvider.Response()


class _Named:
    """What ``tf.runner`` asks of a provider: its name, for the handshake."""

    def __init__(self, source: str):
        self.source = source

    def full_name(self) -> str:
        return self.source


def main(schema_path: str, source: str) -> None:
    import tf.provider
    import tf.runner

    schema = json.loads(open(schema_path).read())
    tf.provider.ProviderServicer = lambda _provider: StubServicer(schema)
    tf.runner.run_provider(_Named(source), sys.argv[:1])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
