"""Saving and loading fitted synthesizers in a safe, documented format.

A model file is one NumPy ``.npz`` archive (a zip), read with
``allow_pickle=False`` so loading never runs code:

* ``metadata`` -- a 0-d string array holding JSON: ``format`` ("dpsynth-model"),
  ``format_version``, ``method``, ``schema`` (the public schema), ``release``
  (the release metadata, with the ledger release id), ``domain`` (the model's
  attribute names and cell counts, after domain compression), ``junction_tree``
  (cliques, parent, order, separators, cells), ``total``, ``cliques`` (the
  measured attribute sets) and ``compression`` (per attribute, which original
  values kept their own cell; null when the domain was not compressed);
* ``potential_<i>`` -- the log-potential of junction-tree clique ``i``.

An approximate model (``inference: "approx"``, format version 2) has
``region_graph`` (regions, parents, cells, counting numbers) and ``zeros``
(attribute sets) in place of ``junction_tree``, and arrays
``marginal_<i>`` (the pseudo-marginal of region ``i``, counts) and ``zero_<i>``
(the structural-zero masks). Exact models are still written as version 1.

Everything in the file is DP output or public (schema), so sharing it is a
release like the synthetic rows themselves. Sampling from a loaded model is
post-processing: no ledger charge. Format: ``docs/model-format.md``.
"""
from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

from dpsynth.domain import Schema
from dpsynth.errors import InputError
from dpsynth.io import atomic_write, json_default
from dpsynth.pgm import ApproximateModel, Domain, GraphicalModel, JunctionTree, RegionGraph

FORMAT = "dpsynth-model"
FORMAT_VERSION = 2       # the newest version this dpsynth reads; exact models are written as 1
MAX_METADATA_BYTES = 2**30   # the metadata member, uncompressed (4 bytes a character)


def save(synth: Any, path: str | os.PathLike) -> None:
    """Write a fitted synthesizer to ``path`` (atomically)."""
    synth._check_fitted()
    model: GraphicalModel | ApproximateModel = synth.model_
    comp = synth.compression_
    meta = {
        "format": FORMAT,
        "format_version": 1,
        "method": synth.method,
        "schema": synth.schema_.to_dict(),
        "release": synth.release_,
        "domain": {"names": list(model.domain.names), "sizes": list(model.domain.sizes)},
        "total": model.total,
        "cliques": [list(c) for c in model.cliques],
        "compression": None if comp is None else {a: comp.keep[a].astype(int).tolist() for a in comp.domain.names},
    }
    if model.inference == "approx":
        graph = model.region_graph
        meta.update(format_version=2, inference="approx",
                    region_graph={"regions": [list(r) for r in graph.regions],
                                  "parents": [list(p) for p in graph.parents], "cells": list(graph.cells),
                                  "counting": list(graph.counting)},
                    zeros=[list(a) for a, _ in model.zeros])
        arrays = {f"marginal_{i}": np.asarray(m, dtype=np.float64) for i, m in enumerate(model.marginals)}
        arrays.update({f"zero_{i}": np.asarray(m, dtype=bool) for i, (_, m) in enumerate(model.zeros)})
    else:
        tree = model.junction_tree
        meta["junction_tree"] = {"cliques": [list(c) for c in tree.cliques], "parent": list(tree.parent),
                                 "order": list(tree.order), "separators": [list(s) for s in tree.separators],
                                 "cells": list(tree.cells)}
        arrays = {f"potential_{i}": np.asarray(p, dtype=np.float64) for i, p in enumerate(model.potentials)}
    text = json.dumps(meta, default=json_default)
    with atomic_write(path, "wb") as fh:
        np.savez_compressed(fh, metadata=np.array(text), **arrays)


def load(path: str | os.PathLike) -> Any:
    """A fitted synthesizer read from ``path``; InputError (one line) when the file is
    missing, corrupt, truncated or written by a newer dpsynth."""
    from dpsynth.synthesizers import METHODS
    from dpsynth.synthesizers.compress import Compression

    meta, archive = _open(path)
    with archive:
        try:
            schema = Schema.from_json(meta["schema"])
            domain = Domain(meta["domain"]["names"], meta["domain"]["sizes"])
            model = _model(meta, archive, domain)
            cls = METHODS[meta["method"]]
            release = meta["release"]
            synth = cls(epsilon=release["epsilon"], delta=release["delta"])
            synth.schema_, synth.model_, synth.release_, synth.ledger_ = schema, model, release, None
            base = Domain(schema.names, schema.sizes)
            synth.compression_ = None if meta["compression"] is None else Compression(
                base, {a: np.asarray(v, dtype=bool) for a, v in meta["compression"].items()})
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InputError(f"{path}: not a valid dpsynth model file ({type(exc).__name__}: {exc}); "
                             "re-create it with `dpsynth synth ... --save-model`") from exc
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise _unreadable(path, exc) from exc
    return synth


def _arrays(archive: Any, prefix: str, shapes: list[tuple[int, ...]], dtype: type = np.float64) -> list[np.ndarray]:
    """Members ``<prefix>_0, <prefix>_1, ...`` of the archive as ``dtype``. Each
    member's header is checked against ``shapes`` before its data is read, so a
    crafted file cannot make loading allocate more than its metadata's model."""
    out = []
    for i, shape in enumerate(shapes):
        name = f"{prefix}_{i}"
        stored = _header_shape(archive, name)
        if stored != shape:
            raise ValueError(f"{prefix} {i} has shape {stored}, its attribute set needs {shape}")
        out.append(np.asarray(archive[name], dtype=dtype))
    return out


def _header_shape(archive: Any, name: str) -> tuple[int, ...]:
    """The shape member ``name``'s .npy header declares, read without its data."""
    with archive.zip.open(f"{name}.npy") as fh:
        version = np.lib.format.read_magic(fh)
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            raise ValueError(f"{name} is in .npy format version {version}, which dpsynth does not write")
        return tuple(readers[version](fh)[0])


def _model(meta: dict, archive: Any, domain: Domain) -> GraphicalModel | ApproximateModel:
    """The model described by a file's metadata and arrays."""
    cliques = [tuple(c) for c in meta["cliques"]]
    if meta.get("inference", "exact") == "approx":
        rg = meta["region_graph"]
        graph = RegionGraph(tuple(tuple(r) for r in rg["regions"]), tuple(tuple(p) for p in rg["parents"]),
                            tuple(rg["cells"]), tuple(float(c) for c in rg["counting"]))
        marginals = _arrays(archive, "marginal", [domain.shape(r) for r in graph.regions])
        zero_sets = [tuple(z) for z in meta["zeros"]]
        masks = _arrays(archive, "zero", [domain.shape(z) for z in zero_sets], bool)
        return ApproximateModel(domain, graph, marginals, meta["total"], cliques=cliques,
                                zeros=list(zip(zero_sets, masks)))
    jt = meta["junction_tree"]
    tree = JunctionTree(tuple(tuple(c) for c in jt["cliques"]), tuple(jt["parent"]), tuple(jt["order"]),
                        tuple(tuple(s) for s in jt["separators"]), tuple(jt["cells"]))
    potentials = _arrays(archive, "potential", [domain.shape(c) for c in tree.cliques])
    return GraphicalModel(domain, tree, potentials, meta["total"], cliques=cliques)


def _open(path: str | os.PathLike) -> tuple[dict, Any]:
    """The file's metadata and its open archive (arrays are read on demand, :func:`_arrays`)."""
    if not os.path.exists(path):
        raise InputError(f"{path}: no such model file; create one with `dpsynth synth ... --save-model {path}`")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise _unreadable(path, exc) from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise _unreadable(path, ValueError("a single array, not a model archive"))
    try:
        if archive.zip.getinfo("metadata.npy").file_size > MAX_METADATA_BYTES:
            raise ValueError(f"metadata past {MAX_METADATA_BYTES} bytes")
        meta = json.loads(str(archive["metadata"][()]))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError("no dpsynth-model metadata")
        version = meta.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise InputError(f"{path}: model format version {version} is newer than this dpsynth supports "
                             f"({FORMAT_VERSION}); upgrade dpsynth to read it")
    except InputError:
        archive.close()
        raise
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        archive.close()
        raise _unreadable(path, exc) from exc
    return meta, archive


def _unreadable(path: str | os.PathLike, exc: BaseException) -> InputError:
    return InputError(f"{path}: not a readable dpsynth model file (corrupt or truncated: {exc}); "
                      "re-create it with `dpsynth synth ... --save-model`")
