"""inhouse.scanners.pickles against an attack corpus: real objects whose pickles would run code on load (dumped with
pickle.dumps / torch.save / numpy, never loaded here), the same payload in every protocol and container (torch zip,
legacy torch, zip in zip, .npy and .npz object arrays), the opcodes that import (GLOBAL, INST, STACK_GLOBAL with
operands from the memo, EXT), pickles that do not parse; and real clean files (a torch state dict in both formats,
a BERT pytorch_model.bin written by transformers, numpy arrays) that must pass."""

from __future__ import annotations

import builtins
import bz2
import collections
import gzip
import importlib
import io
import lzma
import os
import pickle
import pickletools
import random
import subprocess
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from inhouse.scanners import pickles
from inhouse.scanners.base import ScanOutcome

SYSTEM = {"os.system", "posix.system", "nt.system"}


class RunsSystem:
    def __reduce__(self) -> Any:
        return (os.system, ("echo pwned",))


class RunsPopen:
    def __reduce__(self) -> Any:
        return (subprocess.Popen, (["true"],))


class RunsEval:
    def __reduce__(self) -> Any:
        return (builtins.eval, ("1 + 1",))


class RunsExec:
    def __reduce__(self) -> Any:
        return (builtins.exec, ("pass",))


class GetattrChain:
    def __reduce__(self) -> Any:
        return (builtins.getattr, (collections.OrderedDict, "fromkeys"))


class ImportsModule:
    def __reduce__(self) -> Any:
        return (importlib.import_module, ("os",))


class ReduceEx:
    def __reduce_ex__(self, protocol: Any) -> Any:
        return (os.system, ("echo pwned",))


class NewArgs:
    """Pickled with NEWOBJ (protocol 2+): the class itself is called."""

    def __init__(self, x: int = 0):
        self.x = x

    def __getnewargs__(self) -> tuple[int]:
        return (self.x,)


class NewArgsEx:
    """Pickled with NEWOBJ_EX (protocol 4+)."""

    def __getnewargs_ex__(self) -> tuple[tuple[int], dict[str, int]]:
        return ((1,), {"size": 2})


class SetState:
    """Pickled with BUILD: loading calls __setstate__ of a class from the file."""

    def __getstate__(self) -> dict[str, int]:
        return {"a": 1}

    def __setstate__(self, state: dict[str, int]) -> None:
        self.a = state["a"]


PAYLOADS = {
    "os.system": (RunsSystem, SYSTEM),
    "subprocess.Popen": (RunsPopen, {"subprocess.Popen"}),
    "builtins.eval": (RunsEval, {"builtins.eval"}),
    "builtins.exec": (RunsExec, {"builtins.exec"}),
    "builtins.getattr": (GetattrChain, {"builtins.getattr"}),
    "importlib.import_module": (ImportsModule, {"importlib.import_module"}),
    "__reduce_ex__": (ReduceEx, SYSTEM),
}


def scan(path: Path, name: str | None = None, **options: Any) -> ScanOutcome:
    return pickles.scan(path, name or path.name, options)


def unsafe_globals(outcome: ScanOutcome) -> set[str]:
    return {u["global"] for u in outcome.findings["unsafe"] if u["global"]}


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def state_dict() -> collections.OrderedDict[str, torch.Tensor]:
    return collections.OrderedDict(weight=torch.randn(4, 3), bias=torch.zeros(4, dtype=torch.float16),
                                   steps=torch.tensor([3], dtype=torch.int64))


# the payloads in every protocol ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", range(6))
@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_payloads_are_unsafe_in_every_protocol(tmp_path: Path, payload: str, protocol: int) -> None:
    cls, expected = PAYLOADS[payload]
    data = pickle.dumps({"model": [1, 2.0, "x"], "payload": cls()}, protocol=protocol)
    outcome = scan(write(tmp_path, "model.pkl", data))
    assert outcome.status == "findings"
    assert outcome.findings["format"] == "pickle"
    assert unsafe_globals(outcome) & expected, outcome.findings
    assert set(outcome.findings["imports"]) & expected


def test_the_opcode_that_imports_differs_by_protocol(tmp_path: Path) -> None:
    """Protocols 0-3 import with GLOBAL, 4 and 5 with STACK_GLOBAL: both are read."""
    for protocol, opcode in ((0, "GLOBAL"), (2, "GLOBAL"), (4, "STACK_GLOBAL"), (5, "STACK_GLOBAL")):
        data = pickle.dumps(RunsSystem(), protocol=protocol)
        assert opcode in {op.name for op, _, _ in pickletools.genops(data)}
        assert unsafe_globals(scan(write(tmp_path, f"p{protocol}.pkl", data))) & SYSTEM


def test_stack_global_with_memoized_strings(tmp_path: Path) -> None:
    """The pickler memoizes strings: the module name seen earlier comes back through BINGET, not as a string right
    before STACK_GLOBAL. The scanner follows it through the memo."""
    module, name = os.system.__module__, os.system.__name__
    data = pickle.dumps([module, name, RunsSystem()], protocol=4)
    ops = [op.name for op, _, _ in pickletools.genops(data)]
    at = ops.index("STACK_GLOBAL")
    assert ops[at - 3:at] == ["BINGET", "SHORT_BINUNICODE", "MEMOIZE"]
    assert unsafe_globals(scan(write(tmp_path, "m.pkl", data))) == {f"{module}.{name}"}


@pytest.mark.parametrize("data", [
    # MEMOIZE + BINGET
    b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93.",
    # LONG_BINPUT + LONG_BINGET (strings popped off the stack, then fetched back)
    b"\x80\x04\x8c\x02osr\x07\x00\x00\x000\x8c\x06systemr\x08\x00\x00\x000"
    b"j\x07\x00\x00\x00j\x08\x00\x00\x00\x93.",
    # text PUT + GET (protocol 0 opcodes mixed in)
    b"\x80\x04Vos\np5\n0Vsystem\np6\n0g5\ng6\n\x93.",
    # DUP of a string, its copy used
    b"\x80\x04\x8c\x02os2\x94\x8c\x06system\x93.",
], ids=["memoize", "long-binput", "text-put", "dup"])
def test_stack_global_operands_through_the_memo_and_stack(tmp_path: Path, data: bytes) -> None:
    assert "STACK_GLOBAL" in {op.name for op, _, _ in pickletools.genops(data)}  # a well-formed pickle (not loaded)
    outcome = scan(write(tmp_path, "x.pkl", data))
    assert outcome.status == "findings"
    assert unsafe_globals(outcome) == {"os.system"}


def test_stack_global_with_operands_the_scanner_cannot_resolve(tmp_path: Path) -> None:
    # module operand: an empty list (not a string); name: 'system'
    outcome = scan(write(tmp_path, "x.pkl", b"\x80\x04]\x8c\x06system\x93."))
    assert outcome.status == "findings"
    assert any("cannot resolve" in u["reason"] for u in outcome.findings["unsafe"])


def test_dotted_names_walk_attributes_and_are_never_safe(tmp_path: Path) -> None:
    """Protocol 4 resolves 'OrderedDict.fromkeys' attribute by attribute: the allowlisted prefix does not count."""
    data = b"\x80\x04\x8c\x0bcollections\x8c\x14OrderedDict.fromkeys\x93."
    assert unsafe_globals(scan(write(tmp_path, "x.pkl", data))) == {"collections.OrderedDict.fromkeys"}


def test_inst_opcode(tmp_path: Path) -> None:
    """Protocol 0's INST (module and name on lines, arguments since MARK): imports and calls."""
    outcome = scan(write(tmp_path, "old.pkl", b"(S'echo pwned'\nios\nsystem\n."))
    assert unsafe_globals(outcome) == {"os.system"}


def test_python2_names_are_mapped_as_the_unpickler_maps_them(tmp_path: Path) -> None:
    assert unsafe_globals(scan(write(tmp_path, "a.pkl", b"c__builtin__\neval\n(S'1'\ntR."))) == {"builtins.eval"}
    clean = scan(write(tmp_path, "b.pkl", b"\x80\x02c__builtin__\nset\n]\x85R."))
    assert clean.status == "clean" and clean.findings["imports"] == ["builtins.set"]


def test_copyreg_extensions_are_unsafe(tmp_path: Path) -> None:
    for data in (b"\x80\x02\x82\x01.", b"\x80\x02\x83\x01\x02.", b"\x80\x02\x84\x01\x00\x00\x00."):
        outcome = scan(write(tmp_path, "e.pkl", data))
        assert outcome.status == "findings"
        assert any("copyreg extension" in (u["global"] or "") for u in outcome.findings["unsafe"])


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_newobj_of_a_class_from_the_file(tmp_path: Path, protocol: int) -> None:
    data = pickle.dumps(NewArgs(3), protocol=protocol)
    assert "NEWOBJ" in {op.name for op, _, _ in pickletools.genops(data)}
    assert any(g.endswith(".NewArgs") for g in unsafe_globals(scan(write(tmp_path, "n.pkl", data))))


def test_newobj_ex(tmp_path: Path) -> None:
    data = pickle.dumps(NewArgsEx(), protocol=4)
    assert "NEWOBJ_EX" in {op.name for op, _, _ in pickletools.genops(data)}
    assert any(g.endswith(".NewArgsEx") for g in unsafe_globals(scan(write(tmp_path, "n.pkl", data))))


def test_build_calls_setstate_of_a_class_from_the_file(tmp_path: Path) -> None:
    data = pickle.dumps(SetState(), protocol=2)
    assert "BUILD" in {op.name for op, _, _ in pickletools.genops(data)}
    assert any(g.endswith(".SetState") for g in unsafe_globals(scan(write(tmp_path, "s.pkl", data))))


def test_policy_extra_safe_globals_extend_the_allowlist(tmp_path: Path) -> None:
    data = pickle.dumps(NewArgs(1), protocol=4)
    path = write(tmp_path, "n.pkl", data)
    name = next(iter(unsafe_globals(scan(path))))
    assert scan(path, extra_safe_globals=[name]).status == "clean"
    assert scan(path, extra_safe_globals=["other.Thing"]).status == "findings"


# containers --------------------------------------------------------------------------------------------------------------

def test_clean_torch_state_dict_in_both_formats(tmp_path: Path) -> None:
    torch.save(state_dict(), tmp_path / "new.pt")
    torch.save(state_dict(), tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    new, old = scan(tmp_path / "new.pt"), scan(tmp_path / "old.pt")
    assert new.status == "clean" and new.findings["format"] == "torch-zip", new.findings
    assert "torch._utils._rebuild_tensor_v2" in new.findings["imports"]
    assert old.status == "clean" and old.findings["format"] == "torch-legacy", old.findings
    assert old.findings["pickles"] == 5  # magic, protocol, sys info, the state dict, storage keys
    assert "collections.OrderedDict" in old.findings["imports"]


def test_torch_parameters_and_dtypes_are_clean(tmp_path: Path) -> None:
    obj = {"p": torch.nn.Parameter(torch.randn(2, 2)), "dtype": torch.bfloat16, "size": torch.Size([2, 3]),
           "device": torch.device("cpu"), "b": torch.ones(3, dtype=torch.bool)}
    torch.save(obj, tmp_path / "p.pt")
    outcome = scan(tmp_path / "p.pt")
    assert outcome.status == "clean", outcome.findings


def test_malicious_object_in_a_torch_zip(tmp_path: Path) -> None:
    torch.save({"state_dict": state_dict(), "hook": RunsSystem()}, tmp_path / "evil.pt")
    assert zipfile.is_zipfile(tmp_path / "evil.pt")
    outcome = scan(tmp_path / "evil.pt", "pytorch_model.bin")
    assert outcome.findings["format"] == "torch-zip"
    [entry] = outcome.findings["unsafe"]
    assert entry["global"] in SYSTEM and entry["member"].endswith("data.pkl")


def test_malicious_object_in_a_legacy_torch_file(tmp_path: Path) -> None:
    torch.save({"state_dict": state_dict(), "hook": RunsPopen()}, tmp_path / "evil.bin",
               _use_new_zipfile_serialization=False)
    outcome = scan(tmp_path / "evil.bin")
    assert outcome.findings["format"] == "torch-legacy"
    assert unsafe_globals(outcome) == {"subprocess.Popen"}


def test_zip_in_a_zip_in_a_zip(tmp_path: Path) -> None:
    torch.save({"hook": RunsEval()}, tmp_path / "model.pt")
    with zipfile.ZipFile(tmp_path / "inner.zip", "w") as z:
        z.write(tmp_path / "model.pt", "weights/model.pt")
    with zipfile.ZipFile(tmp_path / "middle.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.write(tmp_path / "inner.zip", "inner.zip")
    with zipfile.ZipFile(tmp_path / "outer.zip", "w") as z:
        z.write(tmp_path / "middle.zip", "nested/middle.zip")
        z.writestr("README.md", "nothing to see")
    outcome = scan(tmp_path / "outer.zip")
    [entry] = outcome.findings["unsafe"]
    assert entry["global"] == "builtins.eval"
    assert entry["member"].startswith("nested/middle.zip/inner.zip/weights/model.pt/")


def test_zips_nested_too_deep_are_unsafe(tmp_path: Path) -> None:
    data = pickle.dumps([1, 2])
    for _ in range(pickles.MAX_ZIP_DEPTH + 2):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("x.zip" if data[:2] == b"PK" else "x.pkl", data)
        data = buf.getvalue()
    outcome = scan(write(tmp_path, "deep.zip", data))
    assert outcome.status == "findings"
    assert any("nested deeper" in u["reason"] for u in outcome.findings["unsafe"])


def test_zip_with_too_many_members_is_unsafe(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as z:
        for i in range(pickles.MAX_ZIP_MEMBERS + 1):
            z.writestr(f"f{i}.txt", b"")
    outcome = scan(tmp_path / "many.zip")
    assert outcome.status == "findings"
    assert "more than" in outcome.findings["unsafe"][0]["reason"]


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def test_tar_archives(tmp_path: Path) -> None:
    """torch.load tries a tar first (the format of torch < 0.1.10): such a checkpoint is unsafe whatever it holds
    (its storages cannot be followed), and what its `pickle` imports is listed; other tars are scanned like zips."""
    old = _tar(tmp_path / "old.pt", {"sys_info": pickle.dumps({"protocol_version": 1001}, protocol=2),
                                     "storages": pickle.dumps(0, protocol=2), "tensors": pickle.dumps(0, protocol=2),
                                     "pickle": pickle.dumps({"hook": RunsPopen()}, protocol=2)})
    outcome = scan(old)
    assert outcome.findings["format"] == "tar"
    assert any("tar format of torch" in u["reason"] for u in outcome.findings["unsafe"])
    assert {"global": "subprocess.Popen", "member": "pickle"} in [
        {k: u[k] for k in ("global", "member")} for u in outcome.findings["unsafe"]]
    clean = _tar(tmp_path / "clean.tar", {"a/model.pkl": pickle.dumps([1, 2], protocol=4), "notes.txt": b"hi"})
    assert scan(clean).status == "clean"
    evil = _tar(tmp_path / "evil.tar", {"a/model.pkl": pickle.dumps(RunsSystem(), protocol=4)})
    assert unsafe_globals(scan(evil)) & SYSTEM


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress, zlib.compress])
def test_compressed_pickles(tmp_path: Path, compress: Any) -> None:
    """pandas' x.pkl.gz, joblib's compressed files: decompressed as read; gzip members one after another are read
    on, as GzipFile reads them."""
    evil = write(tmp_path, "df.pkl.gz", compress(pickle.dumps({"a": [1, 2]})) + compress(pickle.dumps(RunsExec())))
    outcome = scan(evil)
    assert outcome.findings["pickles"] == 2 and unsafe_globals(outcome) == {"builtins.exec"}
    assert scan(write(tmp_path, "ok.pkl.gz", compress(pickle.dumps(list(range(10_000)))))).status == "clean"
    rows = scan(write(tmp_path, "rows.json.gz", compress(b'{"a": 1}\n' * 100)))
    assert rows.status == "clean" and rows.findings["format"] == "not-a-pickle"


def test_compressed_joblib(tmp_path: Path) -> None:
    import joblib

    joblib.dump({"model": [1, 2, 3], "hook": RunsSystem()}, tmp_path / "model.joblib", compress=3)
    assert (tmp_path / "model.joblib").read_bytes()[:1] == b"x"  # zlib
    assert unsafe_globals(scan(tmp_path / "model.joblib")) & SYSTEM


def test_numpy_object_arrays(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([RunsExec(), 1], dtype=object), allow_pickle=True)
    np.save(tmp_path / "plain.npy", np.arange(10, dtype=np.float32))
    np.savez(tmp_path / "bundle.npz", weights=np.zeros((2, 2)), extra=np.array([RunsSystem()], dtype=object))
    np.savez(tmp_path / "clean.npz", weights=np.zeros((2, 2)), names=np.array(["a", "b"], dtype=object))
    obj = scan(tmp_path / "obj.npy")
    assert obj.findings["format"] == "numpy" and unsafe_globals(obj) == {"builtins.exec"}
    plain = scan(tmp_path / "plain.npy")
    assert plain.status == "clean" and plain.findings["pickles"] == 0
    bundle = scan(tmp_path / "bundle.npz")
    assert bundle.findings["format"] == "numpy" and unsafe_globals(bundle) & SYSTEM
    assert bundle.findings["unsafe"][0]["member"] == "extra.npy"
    assert scan(tmp_path / "clean.npz").status == "clean"


def test_numpy_arrays_in_plain_pickles_are_clean(tmp_path: Path) -> None:
    for protocol in (2, 3, 4, 5):
        data = pickle.dumps({"a": np.arange(6).reshape(2, 3), "s": np.float32(1.5), "d": np.dtype("<U3")},
                            protocol=protocol)
        outcome = scan(write(tmp_path, f"np{protocol}.pkl", data))
        assert outcome.status == "clean", (protocol, outcome.findings)


def test_bert_pytorch_model_bin_is_clean(tmp_path: Path) -> None:
    """A BERT pytorch_model.bin as transformers wrote them before safetensors (transformers 5 no longer writes
    .bin files: save_pretrained(safe_serialization=False) is ignored), i.e. torch.save of the model's state dict."""
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    torch.save(BertModel(config).state_dict(), tmp_path / "pytorch_model.bin")
    outcome = scan(tmp_path / "pytorch_model.bin")
    assert outcome.findings["format"] == "torch-zip"
    assert outcome.status == "clean", outcome.findings


# pickles that do not parse, and files that are not pickles ---------------------------------------------------------------

def test_truncated_pickle_is_unsafe_not_clean(tmp_path: Path) -> None:
    data = pickle.dumps(state_dict(), protocol=4)
    for cut in (3, len(data) // 2, len(data) - 1):
        outcome = scan(write(tmp_path, "t.bin", data[:cut]))
        assert outcome.status == "findings", cut
        assert any("not a valid pickle" in u["reason"] for u in outcome.findings["unsafe"])


def test_garbage_after_proto_is_unsafe(tmp_path: Path) -> None:
    outcome = scan(write(tmp_path, "g.bin", b"\x80\x04\xff\xfe garbage"))
    assert outcome.status == "findings"


def test_globals_before_garbage_still_count(tmp_path: Path) -> None:
    """A loader runs os.system before it reaches the garbage."""
    outcome = scan(write(tmp_path, "g.dat", b"cos\nsystem\n(S'ls'\ntR\xff\xff"))
    assert unsafe_globals(outcome) == {"os.system"}


def test_concatenated_pickles_are_all_read(tmp_path: Path) -> None:
    data = pickle.dumps([1, 2], protocol=2) + pickle.dumps({"a": 1}, protocol=4) + pickle.dumps(RunsSystem(), 0)
    outcome = scan(write(tmp_path, "c.pkl", data))
    assert outcome.findings["pickles"] == 3
    assert unsafe_globals(outcome) & SYSTEM


def test_files_that_are_not_pickles(tmp_path: Path) -> None:
    header = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    safetensors = len(header).to_bytes(8, "little") + header + b"\x00" * 4
    for name, data in (("model.safetensors.bin", safetensors), ("notes.bin", b"hello world\n"), ("empty.bin", b"")):
        outcome = scan(write(tmp_path, name, data))
        assert outcome.status == "clean" and outcome.findings["format"] == "not-a-pickle", name


def test_large_strings_are_skipped_not_read(tmp_path: Path) -> None:
    """A 64 MB array inside a pickle is passed over (seeked), and a string longer than the file is unsafe."""
    data = pickle.dumps({"w": np.zeros(8 * 1024 * 1024)}, protocol=4)
    assert scan(write(tmp_path, "big.pkl", data)).status == "clean"
    lying = b"\x80\x04\x8e" + (1 << 40).to_bytes(8, "little") + b"abc."
    outcome = scan(write(tmp_path, "lie.pkl", lying))
    assert outcome.status == "findings" and "ends early" in outcome.findings["unsafe"][0]["reason"]


def test_imports_listed_are_bounded(tmp_path: Path) -> None:
    body = b"".join(b"cmod%d\nname\n0" % i for i in range(pickles.MAX_IMPORTS + 50))
    outcome = scan(write(tmp_path, "many.pkl", b"\x80\x02" + body + b"N."))
    assert len(outcome.findings["imports"]) == pickles.MAX_IMPORTS
    assert len(outcome.findings["unsafe"]) == pickles.MAX_UNSAFE


def test_a_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        scan(tmp_path / "absent.pkl")


# mutated pickles: the scanner never fails, and never misses the global a real unpickler would import first -----------

class _FirstGlobal(pickle.Unpickler):
    """The stdlib unpickler with a find_class that imports nothing: it notes the first global a load of these bytes
    would import and stops there. Nothing from the bytes can run: every callable comes from find_class."""

    first: tuple[str, str] | None = None

    def find_class(self, module: str, name: str) -> Any:
        self.first = (module, name)
        raise pickle.UnpicklingError("stop")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("stop")


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        pos = rng.randrange(len(b))
        k = rng.random()
        if k < 0.5:
            b[pos] = rng.randrange(256)
        elif k < 0.75:
            del b[pos:pos + rng.randint(1, 8)]
        else:
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(b)


def test_mutated_pickles_against_the_stdlib_unpickler(tmp_path: Path) -> None:
    rng = random.Random(10)
    seeds = [pickle.dumps([collections.OrderedDict(a=1), {"a": [1, "s", 2.5, b"b"], "e": RunsSystem()}, "os",
                           "system"], protocol=p) for p in range(6)]
    buf = io.BytesIO()
    torch.save(collections.OrderedDict(w=torch.zeros(3), e=RunsSystem()), buf)
    seeds.append(buf.getvalue())
    buf = io.BytesIO()
    np.savez_compressed(buf, a=np.array([RunsSystem()], dtype=object))
    seeds.append(buf.getvalue())
    seeds.append(_tar(tmp_path / "t.tar", {"pickle": pickle.dumps(RunsSystem(), 2), "x.pkl": b"\x80\x02N."}
                      ).read_bytes())
    path = tmp_path / "m.pkl"
    compared = 0
    for _ in range(3000):
        data = _mutate(rng, rng.choice(seeds))
        path.write_bytes(data)
        outcome = scan(path)  # never raises, whatever the bytes
        assert outcome.status in ("clean", "findings")
        if data[:2] == b"PK" or data[:6] == b"\x93NUMPY":
            continue
        spy = _FirstGlobal(io.BytesIO(data))
        try:
            spy.load()
        except Exception:
            pass
        if spy.first is None:
            continue
        module, name = spy.first
        names = {f"{module}.{name}", ".".join(pickles._global_name(module, name, 0))}
        if names & pickles.SAFE_GLOBALS and "." not in name:
            continue
        compared += 1
        flagged = {u["global"] for u in outcome.findings["unsafe"]}
        assert outcome.status == "findings", (data, outcome.findings)
        assert names & (flagged | set(outcome.findings["imports"])) or None in flagged, (data, outcome.findings)
    assert compared > 150  # mutations that still reach an unsafe global in the stdlib unpickler
