"""MiniLM's int8 graph rewritten, once per load and in memory, so that a session that keeps
the weights int8 (the English route's lean session) does not dequantise what a run does
not read: the same outputs, bit for bit, at half the time a lead.

The packaged model dequantises each weight in the graph (`Cast` int8 -> float, `Mul` by
its scales). Without constant folding that runs at every `Session.run`, and the word
embeddings alone are 11.7M of the model's 22.5M weights, of which a lead reads about 150
rows. So:

- `Gather(Mul(Cast(q), s), ids)` with a scale per row becomes
  `Mul(Cast(Gather(q, ids)), Gather(s, ids))`: the same products, for the rows read only;
- `Where(IsNaN(p), 0, p)` after a `Softmax` (the exporter's guard for a row that is all
  masked) is dropped: a softmax of finite scores is never NaN, and the attention mask adds a
  finite -3.4e38, never -inf, so the guard only ever copies its input.

The ONNX messages are read with a schema of the few fields used here (the `protobuf`
package onnxruntime depends on); every other field is carried over as it was read. The
rewritten model is kept in the cache folder (`derived`): a session reads it from a file in
45 MB less memory than from bytes, and the rewrite (about 0.1 s) is done once per machine.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any

from monitor.dedup.derived import cached_file, file_sha256

# Bumped whenever `lean_graph` changes: the files rewritten before are not read.
_FORMAT = 1


def lean_model(model: Path, digest: str = "") -> str | bytes:
    """What a session should load for `model` (whose sha256 is `digest` if the caller has
    checked it; else it is hashed here): the path of its rewritten graph in the cache folder
    (a copy of `model` if nothing applies), or without one the rewritten bytes."""
    digest = digest or file_sha256(model)

    def rewrite(tmp: Path) -> None:
        source = model.read_bytes()
        tmp.write_bytes(lean_graph(source) or source)

    path = cached_file("minilm-lean", digest[:16], str(_FORMAT), ".onnx", rewrite)
    if path is not None:
        return str(path)
    return lean_graph(model.read_bytes()) or str(model)


def lean_graph(model: bytes) -> bytes | None:
    """`model` (ONNX bytes) with the two rewrites above, or None if neither applies."""
    proto: Any = _model_class()()
    proto.ParseFromString(model)
    graph = proto.graph
    scales = {t.name: list(t.dims) for t in graph.initializer}
    users: dict[str, list[Any]] = defaultdict(list)
    producer: dict[str, Any] = {}
    for node in graph.node:
        for name in node.input:
            users[name].append(node)
        for name in node.output:
            producer[name] = node
    kept = {o.name for o in graph.output}
    dropped: set[int] = set()
    replaced: dict[int, list[Any]] = {}
    renamed: dict[str, str] = {}
    for node in graph.node:
        if node.op_type == "Gather" and _axis(node) == 0:
            parts = _dequantised_rows(node.input[0], producer, users, scales, kept)
            if parts is not None:
                cast, mul = parts
                dropped |= {id(cast), id(mul)}
                replaced[id(node)] = _gather_first(graph, node, cast, mul)
        elif node.op_type == "Where" and node.output[0] not in kept:
            source = producer.get(node.input[0])
            guarded = node.input[2]
            if (
                source is not None
                and source.op_type == "IsNaN"
                and source.input[0] == guarded
                and getattr(producer.get(guarded), "op_type", "") == "Softmax"
            ):
                dropped.add(id(node))
                if len(users[source.output[0]]) == 1:
                    dropped.add(id(source))
                renamed[node.output[0]] = guarded
    if not dropped:
        return None
    nodes = []
    for node in graph.node:
        if id(node) in dropped:
            continue
        for new in replaced.get(id(node), [node]):
            for at, name in enumerate(new.input):
                if name in renamed:
                    new.input[at] = renamed[name]
            nodes.append(new)
    del graph.node[:]
    graph.node.extend(nodes)
    data: bytes = proto.SerializeToString()
    return data


def _axis(node: Any) -> int:
    for attribute in node.attribute:
        if attribute.name == "axis":
            return int(attribute.i)
    return 0


def _dequantised_rows(
    name: str,
    producer: dict[str, Any],
    users: dict[str, list[Any]],
    dims: dict[str, list[int]],
    kept: set[str],
) -> tuple[Any, Any] | None:
    """(Cast, Mul) if `name` is `Mul(Cast(q), s)` of initializers q [rows, n] and s
    [rows, 1], read by one node only."""
    mul = producer.get(name)
    if mul is None or mul.op_type != "Mul" or len(users[name]) != 1 or name in kept:
        return None
    for cast_out, scale in (mul.input, reversed(mul.input)):
        cast = producer.get(cast_out)
        if cast is None or cast.op_type != "Cast" or len(users[cast_out]) != 1:
            continue
        weights = dims.get(cast.input[0])
        if weights and len(weights) == 2 and dims.get(scale) == [weights[0], 1]:
            return cast, mul
    return None


def _gather_first(graph: Any, gather: Any, cast: Any, mul: Any) -> list[Any]:
    """Gather the int8 rows and their scales, then Cast and Mul them (the Mul's operand
    order kept: the same products)."""
    out = gather.output[0]
    ids = gather.input[1]
    weights = cast.input[0]
    scale = mul.input[1] if mul.input[0] == cast.output[0] else mul.input[0]
    rows = _copy(graph, gather, [weights, ids], f"{out}/q")
    row_scales = _copy(graph, gather, [scale, ids], f"{out}/s")
    floats = _copy(graph, cast, [f"{out}/q"], f"{out}/f")
    operands = [f"{out}/f", f"{out}/s"]
    if mul.input[0] != cast.output[0]:
        operands.reverse()
    product = _copy(graph, mul, operands, out)
    return [rows, row_scales, floats, product]


def _copy(graph: Any, node: Any, inputs: list[str], output: str) -> Any:
    new = type(node)()
    new.CopyFrom(node)  # its attributes (Gather's axis, Cast's type) and domain
    del new.input[:]
    new.input.extend(inputs)
    del new.output[:]
    new.output.append(output)
    new.name = f"{node.name or node.op_type}:{output}"
    return new


@lru_cache(maxsize=1)
def _model_class() -> type:
    """ModelProto with the fields read here (numbers from onnx.proto); the others are kept
    as unknown fields, written back unchanged."""
    from google.protobuf import (  # type: ignore[import-untyped]
        descriptor_pb2,
        descriptor_pool,
        message_factory,
    )

    field = descriptor_pb2.FieldDescriptorProto
    schema = descriptor_pb2.FileDescriptorProto(
        name="monitor_onnx_subset.proto", package="monitor_onnx", syntax="proto2"
    )

    def message(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        added = schema.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            added.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                added.field[-1].type_name = type_name

    one, many = field.LABEL_OPTIONAL, field.LABEL_REPEATED
    text, integer, nested = field.TYPE_STRING, field.TYPE_INT64, field.TYPE_MESSAGE
    message("AttributeProto", ("name", 1, text, one, ""), ("i", 3, integer, one, ""))
    message("TensorProto", ("dims", 1, integer, many, ""), ("name", 8, text, one, ""))
    message("ValueInfoProto", ("name", 1, text, one, ""))
    message(
        "NodeProto",
        ("input", 1, text, many, ""),
        ("output", 2, text, many, ""),
        ("name", 3, text, one, ""),
        ("op_type", 4, text, one, ""),
        ("attribute", 5, nested, many, ".monitor_onnx.AttributeProto"),
    )
    message(
        "GraphProto",
        ("node", 1, nested, many, ".monitor_onnx.NodeProto"),
        ("initializer", 5, nested, many, ".monitor_onnx.TensorProto"),
        ("output", 12, nested, many, ".monitor_onnx.ValueInfoProto"),
    )
    message("ModelProto", ("graph", 7, nested, one, ".monitor_onnx.GraphProto"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(schema)
    model: type = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("monitor_onnx.ModelProto")
    )
    return model
