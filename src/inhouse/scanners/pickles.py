"""The pickle scanner: which code loading a file would run, by a default-deny allowlist of globals.

A pickle can run code only by naming a callable: the GLOBAL, INST and STACK_GLOBAL opcodes import one (by module
and name), EXT1/2/4 take one from the copyreg extension registry. REDUCE, NEWOBJ, OBJ, BUILD and the rest only call
what those put on the stack. So the scanner walks the opcodes (never loading anything) and lists every global a
load would import; any global that is not on `SAFE_GLOBALS` (tensor and array rebuilding, ordered dicts, dtypes;
what `torch.load(weights_only=True)` accepts) is unsafe, as `picklescan --strict` does: a denylist (os.system,
eval, ...) is routinely bypassed by a callable nobody thought of.

STACK_GLOBAL takes module and name from the stack, so the scanner follows string values through the stack and the
memo (PUT, GET, MEMOIZE and their binary forms); operands it cannot resolve to strings are unsafe. Opcodes that do
not parse (a truncated or doctored pickle) make the file unsafe, never clean: the globals before that point would
still have been imported by a load.

Containers, each read as its loader reads it, without reading what no loader unpickles:
- plain pickles (.pkl, .pickle, .joblib, .dill, old .bin), also several written one after another;
- the legacy torch format (magic number, protocol, sys info, the object, storage keys, then raw storages: the
  five pickles are read, the storages are not);
- zip archives (torch's zip checkpoints `archive/data.pkl`, .npz, any zip): the central directory is read and
  only members that are pickles (or zips or .npy files) by name are scanned; zips in zips to depth 3, at most
  10,000 members each;
- numpy .npy files: the pickle after the header when the dtype holds Python objects;
- tar archives (torch.load reads the format of torch < 0.1.10 from one): pickle members scanned; such a torch
  checkpoint is unsafe, since its storages interleave pickles and data the scanner cannot follow.
Anything else is "not-a-pickle" (clean). Every quantity the file controls is bounded (opcodes, kept string
lengths, stack and memo sizes, lines of text opcodes, the imports listed); large byte strings are skipped, not
read into memory, so memory stays flat whatever the file's size."""

from __future__ import annotations

import _compat_pickle
import ast
import bz2
import codecs
import gzip
import io
import lzma
import os
import pickletools
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import IO, Any

from inhouse.scanners.base import ScanOutcome

VERSION = "1"

MAX_IMPORTS = 200  # globals listed per file
MAX_UNSAFE = 200  # unsafe entries listed per file
MAX_OPS = 50_000_000  # opcodes read per file
MAX_PICKLES = 1_000  # pickles read one after another in one stream
MAX_STACK = 1_000_000
MAX_MEMO = 5_000_000
MAX_LINE = 1024 * 1024  # longest argument line of a text opcode (protocol 0)
KEEP_STRING = 1024  # strings longer than this are skipped, not kept (no module or name is that long)
MAX_ZIP_DEPTH = 3
MAX_ZIP_MEMBERS = 10_000
MAX_NPY_HEADER = 1024 * 1024
SKIP_CHUNK = 1024 * 1024
MAX_MEMBER_IN_MEMORY = 16 * 1024 * 1024  # archive members up to this size are read into memory to be scanned

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
ZIP_MAGIC = b"PK\x03\x04"
NPY_MAGIC = b"\x93NUMPY"
TAR_MAGIC, TAR_MAGIC_AT = b"ustar", 257
TORCH_TAR_MEMBERS = frozenset({"pickle", "storages", "tensors", "sys_info"})
PROTO = 0x80

PLAIN_PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".dill"})
# Members of an archive that a loader may unpickle (or that hold further pickles).
PICKLE_MEMBER_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".dill", ".pt", ".pth", ".bin", ".ckpt", ".npy",
                                    ".npz", ".zip", ".mar"})


def _names(module: str, names: str) -> set[str]:
    return {f"{module}.{n}" for n in names.split()}


_TORCH_KINDS = "BFloat16 Bool Byte Char Double Float Half Int Long Short"
_TORCH_DTYPES = ("bfloat16 bool complex32 complex64 complex128 float16 float32 float64 float8_e4m3fn float8_e4m3fnuz "
                 "float8_e5m2 float8_e5m2fnuz float8_e8m0fnu float4_e2m1fn_x2 int8 int16 int32 int64 uint8 uint16 "
                 "uint32 uint64 qint8 qint32 quint8 quint2x4 quint4x2 bits1x8 bits2x4 bits4x2 bits8 bits16 half "
                 "float double cfloat cdouble chalf short int long " + " ".join(f"uint{i} int{i}" for i in range(1, 8)))

# What loading may import: callables that only rebuild data (tensors, arrays, dtypes, sizes, ordered dicts) and
# cannot run code of the file's choosing. Everything else is unsafe.
SAFE_GLOBALS: frozenset[str] = frozenset(
    _names("collections", "OrderedDict Counter")
    | _names("builtins", "set frozenset complex bytearray slice")
    | {"_codecs.encode"}  # bytes in protocol-2 pickles (numpy): encodes a str with a codec of the encodings package
    | _names("torch", f"Size Tensor device {_TORCH_DTYPES} per_tensor_affine per_tensor_symmetric "
                      "per_channel_affine per_channel_symmetric per_channel_affine_float_qparams")
    | _names("torch", " ".join(f"{k}Storage" for k in _TORCH_KINDS.split()) + " ComplexDoubleStorage "
                      "ComplexFloatStorage QInt32Storage QInt8Storage QUInt2x4Storage QUInt4x2Storage QUInt8Storage")
    | _names("torch", " ".join(f"{k}Tensor" for k in _TORCH_KINDS.split()))
    | _names("torch.cuda", " ".join(f"{k}Storage {k}Tensor" for k in _TORCH_KINDS.split())
             + " ComplexDoubleStorage ComplexFloatStorage")
    | _names("torch.sparse", " ".join(f"{k}Tensor" for k in _TORCH_KINDS.split() if k != "Bool"))
    | _names("torch.cuda.sparse", " ".join(f"{k}Tensor" for k in _TORCH_KINDS.split() if k != "Bool"))
    | _names("torch.storage", "TypedStorage UntypedStorage")
    | _names("torch.nn.parameter", "Parameter")
    | _names("torch.serialization", "_get_layout")
    | _names("torch._utils", "_rebuild_tensor _rebuild_tensor_v2 _rebuild_tensor_v3 _rebuild_parameter "
                             "_rebuild_parameter_with_state _rebuild_qtensor _rebuild_sparse_tensor "
                             "_rebuild_nested_tensor _rebuild_meta_tensor_no_storage _rebuild_wrapper_subclass "
                             "_rebuild_device_tensor_from_numpy _rebuild_device_tensor_from_cpu_tensor")
    | _names("torch._tensor", "_rebuild_from_type_v2")
    | _names("numpy", "ndarray dtype")
    | _names("numpy.core.multiarray", "_reconstruct scalar")
    | _names("numpy._core.multiarray", "_reconstruct scalar")
    | _names("numpy.core.numeric", "_frombuffer")
    | _names("numpy._core.numeric", "_frombuffer")
)


CODE2OP: MappingProxyType[str, pickletools.OpcodeInfo] = MappingProxyType({op.code: op for op in pickletools.opcodes})


class _Unparsable(Exception):
    """The bytes are not a pickle a loader would read to the end: what came before still counts."""


class _Unknown:
    """A stack or memo value the scanner does not follow (anything but a string)."""


UNKNOWN = _Unknown()
MARK = object()


@dataclass
class _Report:
    """What one file holds, gathered over its pickles and members."""

    safe: frozenset[str]
    imports: list[str] = field(default_factory=list)
    seen_imports: set[str] = field(default_factory=set)
    unsafe: list[dict[str, Any]] = field(default_factory=list)
    seen_unsafe: set[tuple[str | None, str | None, str]] = field(default_factory=set)
    pickles: int = 0
    formats: list[str] = field(default_factory=list)

    def imported(self, module: str, name: str, member: str | None) -> None:
        full = f"{module}.{name}"
        if full not in self.seen_imports and len(self.seen_imports) < 10 * MAX_IMPORTS:
            self.seen_imports.add(full)
            if len(self.imports) < MAX_IMPORTS:
                self.imports.append(full)
        if "." in name or full not in self.safe:  # a dotted name walks attributes: never on the allowlist
            self.flag(full, member, "imports a global that is not on the allowlist of safe globals")

    def flag(self, global_: str | None, member: str | None, reason: str) -> None:
        key = (global_, member, reason)
        if key in self.seen_unsafe or len(self.unsafe) >= MAX_UNSAFE:
            return
        self.seen_unsafe.add(key)
        self.unsafe.append({"global": global_, "member": member, "reason": reason})


# reading opcodes -----------------------------------------------------------------------------------------------------

class _Reader:
    """Opcode arguments from a binary stream with everything bounded: lines, kept strings, skipped bytes."""

    def __init__(self, f: IO[bytes], size: int | None):
        self.f = f
        self.size = size  # None: a decompressing stream, whose size is known only at its end

    def byte(self) -> int | None:
        b = self.f.read(1)
        return b[0] if b else None

    def exact(self, n: int) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise _Unparsable(f"the pickle ends early (wanted {n} bytes, {len(data)} remain)")
        return data

    def skip(self, n: int) -> None:
        """Moves past n bytes without keeping them (a large byte string: tensor or array data)."""
        if self.size is None:
            while n > 0:
                got = len(self.f.read(min(n, SKIP_CHUNK)))
                if not got:
                    raise _Unparsable("the pickle ends early (inside a string)")
                n -= got
            return
        here = self.f.tell()
        if self.size - here < n:
            raise _Unparsable(f"the pickle ends early (a string of {n} bytes, {self.size - here} remain)")
        self.f.seek(here + n)  # forward: a file seeks, an archive member reads on without keeping

    def line(self) -> bytes:
        data = self.f.readline(MAX_LINE + 1)
        if not data.endswith(b"\n"):
            if len(data) > MAX_LINE:
                raise _Unparsable(f"a text opcode's argument is longer than {MAX_LINE} bytes")
            raise _Unparsable("the pickle ends early (inside a text opcode's argument)")
        return data[:-1]

    def counted(self, size_bytes: int, signed: bool) -> str | bytes | _Unknown:
        """A length-prefixed string: kept when short, skipped when long (returns UNKNOWN)."""
        raw = self.exact(size_bytes)
        n = int.from_bytes(raw, "little", signed=signed)
        if n < 0:
            raise _Unparsable("a string with a negative length")
        if n > KEEP_STRING:
            self.skip(n)
            return UNKNOWN
        return self.exact(n)


_COUNTED = {  # opcode name -> (bytes of its length, signed, text)
    "SHORT_BINSTRING": (1, False, True), "SHORT_BINBYTES": (1, False, False), "SHORT_BINUNICODE": (1, False, True),
    "LONG1": (1, False, False), "BINSTRING": (4, True, True), "LONG4": (4, True, False),
    "BINBYTES": (4, False, False), "BINUNICODE": (4, False, True), "BINBYTES8": (8, False, False),
    "BINUNICODE8": (8, False, True), "BYTEARRAY8": (8, False, False),
}
_FIXED = {"BININT": 4, "BININT1": 1, "BININT2": 2, "BINGET": 1, "BINPUT": 1, "LONG_BINGET": 4, "LONG_BINPUT": 4,
          "EXT1": 1, "EXT2": 2, "EXT4": 4, "PROTO": 1, "BINFLOAT": 8, "FRAME": 8}
_TEXT_LINES = {"INT", "LONG", "FLOAT", "STRING", "UNICODE", "PERSID", "GET", "PUT"}
_STRING_PUSHES = {"SHORT_BINSTRING", "SHORT_BINBYTES", "SHORT_BINUNICODE", "BINSTRING", "BINBYTES", "BINUNICODE",
                  "BINBYTES8", "BINUNICODE8", "STRING", "UNICODE"}


def _text_string(name: str, raw: bytes) -> str | _Unknown:
    """The value a STRING or UNICODE line pushes (as a str), or UNKNOWN when it is not one the scanner reads."""
    try:
        if name == "UNICODE":
            return raw.decode("raw-unicode-escape")
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[:1] in (b"'", b'"'):
            return codecs.escape_decode(raw[1:-1])[0].decode("ascii")  # as the unpickler reads it
    except (UnicodeDecodeError, ValueError):
        return UNKNOWN
    raise _Unparsable("a STRING opcode without quotes")


def _as_str(value: bytes | str | _Unknown, text: bool) -> str | _Unknown:
    if isinstance(value, _Unknown):
        return value
    if isinstance(value, str):
        return value
    try:
        return value.decode("utf-8" if text else "latin-1")
    except UnicodeDecodeError:
        return UNKNOWN


def _global_name(module: str, name: str, proto: int) -> tuple[str, str]:
    """Python 2 names as the unpickler maps them (fix_imports, for protocols < 3)."""
    if proto < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
    return module, name


@dataclass
class _Budget:
    ops: int = MAX_OPS


def _scan_pickle(r: _Reader, report: _Report, member: str | None, budget: _Budget) -> list[Any]:
    """Reads one pickle (up to its STOP), recording every global it imports. Returns the opcodes' values of a
    pickle made of a single constant (to recognise torch's legacy magic number), else []."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    proto = 0
    ops = 0
    constants: list[Any] = []
    code2op = CODE2OP
    while True:
        code = r.byte()
        if code is None:
            raise _Unparsable("the pickle ends before its STOP opcode")
        op = code2op.get(chr(code))
        if op is None:
            raise _Unparsable(f"byte 0x{code:02x} is not a pickle opcode")
        ops += 1
        budget.ops -= 1
        if budget.ops < 0:
            raise _Unparsable(f"more than {MAX_OPS} opcodes")
        name = op.name
        arg: Any = None
        if name in _COUNTED:
            size, signed, text = _COUNTED[name]
            raw = r.counted(size, signed)
            arg = _as_str(raw, text) if name in _STRING_PUSHES else raw
            if name in ("LONG1", "LONG4") and isinstance(raw, bytes):
                arg = int.from_bytes(raw, "little", signed=True)
        elif name in _FIXED:
            raw_fixed = r.exact(_FIXED[name])
            arg = int.from_bytes(raw_fixed, "little", signed=name == "BININT") if name != "BINFLOAT" else None
        elif name in _TEXT_LINES:
            line = r.line()
            if name in ("STRING", "UNICODE"):
                arg = _text_string(name, line)
            elif name in ("GET", "PUT"):
                try:
                    arg = int(line)
                except ValueError as e:
                    raise _Unparsable(f"{name} with a bad memo index") from e
        elif name in ("GLOBAL", "INST"):
            module_raw, name_raw = r.line(), r.line()
            try:
                module, gname = module_raw.decode("utf-8"), name_raw.decode("utf-8")
            except UnicodeDecodeError:
                report.flag(None, member, f"{name} with a name that is not UTF-8")
                module, gname = "", ""
            if module or gname:
                report.imported(*_global_name(module, gname, proto), member)
        elif op.arg is not None:  # an opcode this scanner does not know how to read (a future protocol)
            raise _Unparsable(f"the opcode {name} is not one this scanner reads")

        # the stack, as far as strings are concerned
        if name == "MARK":
            stack.append(MARK)
        elif name in _STRING_PUSHES:
            stack.append(arg)
        elif name == "PROTO":
            proto = int(arg)
        elif name == "FRAME":
            pass
        elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
            if not stack or stack[-1] is MARK:
                raise _Unparsable(f"{name} with nothing to memoize")
            index = len(memo) if name == "MEMOIZE" else int(arg)
            if len(memo) >= MAX_MEMO and index not in memo:
                raise _Unparsable(f"more than {MAX_MEMO} memo entries")
            memo[index] = stack[-1] if isinstance(stack[-1], str) else UNKNOWN
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if int(arg) not in memo:
                raise _Unparsable(f"{name} of a memo entry that was never set")
            stack.append(memo[int(arg)])
        elif name == "DUP":
            if not stack:
                raise _Unparsable("DUP on an empty stack")
            stack.append(stack[-1])
        elif name == "STACK_GLOBAL":
            if len(stack) < 2:
                raise _Unparsable("STACK_GLOBAL without two operands")
            gname, module = stack.pop(), stack.pop()
            if isinstance(module, str) and isinstance(gname, str):
                report.imported(*_global_name(module, gname, proto), member)
            else:
                report.flag(None, member, "STACK_GLOBAL imports a global whose name the scanner cannot resolve")
            stack.append(UNKNOWN)
        elif name in ("EXT1", "EXT2", "EXT4"):
            report.flag(f"copyreg extension {arg}", member,
                        "imports a global from the copyreg extension registry (not on the allowlist)")
            stack.append(UNKNOWN)
        else:
            _apply_stack_effect(op, stack)
        if len(stack) > MAX_STACK:
            raise _Unparsable(f"a stack deeper than {MAX_STACK}")
        if ops <= 3 and name not in ("PROTO", "FRAME", "STOP"):
            constants.append(arg)
        if name == "STOP":
            return constants if ops <= 4 else []


def _apply_stack_effect(op: pickletools.OpcodeInfo, stack: list[Any]) -> None:
    """Pops and pushes as the opcode does (values other than strings are UNKNOWN)."""
    before, after = op.stack_before, op.stack_after
    if pickletools.markobject in before:
        while True:
            if not stack:
                raise _Unparsable(f"{op.name} without a MARK")
            if stack.pop() is MARK:
                break
        pops = before.index(pickletools.markobject)
    else:
        pops = len(before)
    if len(stack) < pops:
        raise _Unparsable(f"{op.name} on a stack too short")
    if pops:
        del stack[-pops:]
    stack.extend(UNKNOWN for _ in after)


def _scan_stream(f: IO[bytes], size: int | None, report: _Report, member: str | None, budget: _Budget, *,
                 strict: bool) -> bool:
    """Scans the pickles of a stream one after another. `strict`: the stream is known to be a pickle (it starts
    with PROTO, or a loader would unpickle it): bytes that do not parse are unsafe. Otherwise (any file that might
    be a pickle) bytes that do not parse without having imported anything make it not a pickle. Returns whether
    it was a pickle."""
    r = _Reader(f, size)
    count = 0
    legacy = 0
    while count < MAX_PICKLES:
        before = len(report.seen_imports), len(report.unsafe)
        try:
            constants = _scan_pickle(r, report, member, budget)
        except _Unparsable as e:
            imported = (len(report.seen_imports), len(report.unsafe)) != before
            if count == 0 and not strict and not imported:
                return False
            if count > 0 and legacy == 0 and not imported:
                return True  # data after the last pickle, which no loader unpickles
            report.flag(None, member, f"not a valid pickle: {e}")
            report.pickles += 1
            return True
        count += 1
        report.pickles += 1
        if count == 1 and constants == [TORCH_LEGACY_MAGIC]:
            legacy = 5  # magic, protocol version, sys info, the object, storage keys; then raw storages
            report.formats.append("torch-legacy")
        if legacy and count >= legacy:
            return True
        if (f.tell() >= size) if size is not None else not _peek(f):
            return True
        # data after a pickle: read as the next pickle (torch's legacy format, loaders calling load again); data
        # that does not parse and imports nothing is data no loader unpickles
    report.flag(None, member, f"more than {MAX_PICKLES} pickles in one file (the rest not scanned)")
    return True


# containers ----------------------------------------------------------------------------------------------------------

def _npy_pickle_offset(f: IO[bytes]) -> int | None:
    """Offset of the pickle in a .npy stream whose dtype holds objects, None when it holds none (the stream is at
    its start)."""
    head = f.read(8)
    if len(head) < 8 or head[:6] != NPY_MAGIC:
        raise _Unparsable("not a .npy file")
    major = head[6]
    size_len = 2 if major == 1 else 4
    n = int.from_bytes(f.read(size_len), "little")
    if n > MAX_NPY_HEADER:
        raise _Unparsable(f"a .npy header longer than {MAX_NPY_HEADER} bytes")
    header_raw = f.read(n)
    try:
        header = ast.literal_eval(header_raw.decode("latin-1"))
    except (ValueError, SyntaxError, MemoryError, RecursionError) as e:
        raise _Unparsable("a .npy header that is not a Python literal") from e
    descr = header.get("descr") if isinstance(header, dict) else None
    if not _has_objects(descr):
        return None
    return 8 + size_len + n


def _has_objects(descr: Any) -> bool:
    """Whether a numpy dtype description holds Python objects (so the data is a pickle). Unreadable: yes."""
    if isinstance(descr, str):
        return "O" in descr
    if isinstance(descr, (list, tuple)):
        return any(_has_objects(x) for x in descr)
    return not isinstance(descr, (int, type(None)))


def _peek(f: IO[bytes]) -> bytes:
    return f.peek(1)[:1] if isinstance(f, io.BufferedReader) else b""


def _compression(head: bytes) -> str | None:
    """The compression a stream starts with (what joblib and pandas write pickles with), None for none."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh":
        return "bz2"
    if head[:6] == b"\xfd7zXZ\x00" or head[:3] == b"\x5d\x00\x00":
        return "lzma"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"
    return None


class _Decompressing(io.RawIOBase):
    """A compressed stream decompressed as it is read, at most what each read asks for (never whole); streams
    written one after another (gzip and bz2 members) are read on as their readers do."""

    def __init__(self, f: IO[bytes], kind: str):
        self.f = f
        self.kind = kind
        self.d = self._decompressor()
        self.pending = b""  # input for a decompressor that just started

    def _decompressor(self) -> Any:
        if self.kind == "bz2":
            return bz2.BZ2Decompressor()
        if self.kind == "lzma":
            return lzma.LZMADecompressor()
        return zlib.decompressobj(31 if self.kind == "gzip" else 15)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = len(view)
        while want:
            if self.d.eof:
                rest = self.d.unused_data or self.f.read(SKIP_CHUNK)
                if not rest:
                    return 0
                self.d, self.pending = self._decompressor(), rest
            if self.kind in ("bz2", "lzma") and not self.d.needs_input:
                data = b""
            else:
                data = getattr(self.d, "unconsumed_tail", b"") or self.pending or self.f.read(SKIP_CHUNK)
                self.pending = b""
                if not data:
                    return 0  # the input ends inside a stream: the pickle reader finds it truncated
            out = self.d.decompress(data, want)
            if out:
                view[:len(out)] = out
                return len(out)
        return 0


def _scan_compressed(f: IO[bytes], kind: str, name: str, report: _Report, member: str | None, budget: _Budget,
                     depth: int) -> None:
    """A compressed pickle (x.pkl.gz, a compressed .joblib): decompressed as it is read, never whole."""
    stream = io.BufferedReader(_Decompressing(f, kind), SKIP_CHUNK)
    inner = PurePosixPath(PurePosixPath(name).stem)
    try:
        head = stream.peek(2)[:2]
        strict = head[:1] == bytes([PROTO]) or inner.suffix.lower() in PLAIN_PICKLE_SUFFIXES
        if _scan_stream(stream, None, report, member, budget, strict=strict):
            report.formats.append("pickle")
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as e:
        report.flag(None, member, f"a {kind} stream that does not decompress: {type(e).__name__}: {e}")


def _scan_file(f: IO[bytes], size: int, name: str, report: _Report, member: str | None, budget: _Budget, depth: int) -> None:
    """Scans one stream (a file or an archive member) by what it is; `name` is its file name."""
    head = f.read(TAR_MAGIC_AT + len(TAR_MAGIC))
    suffix = PurePosixPath(name).suffix.lower()
    if head[:4] == ZIP_MAGIC or (suffix in (".zip", ".npz", ".pt", ".pth", ".mar") and zipfile.is_zipfile(f)):
        f.seek(0)
        _scan_zip(f, report, member, budget, depth)
        return
    f.seek(0)
    if head[TAR_MAGIC_AT:TAR_MAGIC_AT + len(TAR_MAGIC)] == TAR_MAGIC:
        f.seek(0)
        _scan_tar(f, report, member, budget, depth)
        return
    if head[:6] == NPY_MAGIC:
        report.formats.append("numpy")
        try:
            offset = _npy_pickle_offset(f)
        except _Unparsable as e:
            report.flag(None, member, f"not a valid .npy file: {e}")
            return
        if offset is not None:
            f.seek(offset)
            _scan_stream(f, size, report, member, budget, strict=True)
        return
    kind = _compression(head)
    if kind is not None and (not head or head[0] != PROTO):
        f.seek(0)
        _scan_compressed(f, kind, name, report, member, budget, depth)
        return
    strict = bool(head) and head[0] == PROTO and len(head) > 1 and head[1] <= 5 \
        or suffix in PLAIN_PICKLE_SUFFIXES
    if _scan_stream(f, size, report, member, budget, strict=strict):
        report.formats.append("pickle")
    if zipfile.is_zipfile(f):  # a zip with other bytes before it (zipfile opens those): a loader may read either
        f.seek(0)
        _scan_zip(f, report, member, budget, depth, lenient=True)


def _scan_zip(f: IO[bytes], report: _Report, member: str | None, budget: _Budget, depth: int, *,
              lenient: bool = False) -> None:
    """`lenient`: the stream is not a zip by its first bytes; an end record that does not open (which tensor data
    may hold by chance) is not a zip at all."""
    prefix = f"{member}/" if member else ""
    if depth > MAX_ZIP_DEPTH:
        report.flag(None, member, f"a zip archive nested deeper than {MAX_ZIP_DEPTH} (not scanned)")
        return
    try:
        archive = zipfile.ZipFile(f)
    except MemoryError:
        raise
    except Exception as e:  # BadZipFile, NotImplementedError (a version zipfile does not read), struct errors...
        if not lenient:
            report.flag(None, member, f"not a readable zip archive: {e}")
        return
    with archive:
        infos = archive.infolist()
        names = {i.filename for i in infos}
        torch = any(n.endswith("/data.pkl") or n == "data.pkl" for n in names)
        npz = bool(infos) and all(n.endswith(".npy") for n in names)
        report.formats.append("torch-zip" if torch else "numpy" if npz else "zip")
        if len(infos) > MAX_ZIP_MEMBERS:
            report.flag(None, member, f"a zip archive with more than {MAX_ZIP_MEMBERS} members (not scanned)")
            return
        for info in infos:
            if info.is_dir() or PurePosixPath(info.filename).suffix.lower() not in PICKLE_MEMBER_SUFFIXES:
                continue
            inner = prefix + info.filename
            try:
                _scan_member(archive, info, report, inner, budget, depth + 1)
            except MemoryError:
                raise
            except Exception as e:  # encrypted, unknown compression, corrupt data, a name that is not UTF-8
                report.flag(None, inner, f"an archive member the scanner cannot read: {type(e).__name__}: {e}")


def _scan_tar(f: IO[bytes], report: _Report, member: str | None, budget: _Budget, depth: int) -> None:
    """A tar archive: torch.load tries one first (the format of torch < 0.1.10: members `sys_info`, `pickle`,
    `tensors`, `storages`), and unpickles its members. `storages` interleaves pickles with raw data whose length
    only the pickles tell, so such a checkpoint cannot be vouched for: it is unsafe, and its `pickle` is scanned for
    what it imports. Other members are scanned as zip members are."""
    prefix = f"{member}/" if member else ""
    report.formats.append("tar")
    if depth > MAX_ZIP_DEPTH:
        report.flag(None, member, f"an archive nested deeper than {MAX_ZIP_DEPTH} (not scanned)")
        return
    try:
        with tarfile.open(fileobj=f, mode="r:") as archive:
            infos = []
            for info in archive:
                infos.append(info)
                if len(infos) > MAX_ZIP_MEMBERS:
                    report.flag(None, member, f"a tar archive with more than {MAX_ZIP_MEMBERS} members (not scanned)")
                    return
            names = {i.name for i in infos}
            if {"storages", "pickle"} <= names:
                report.flag(None, member, "a torch checkpoint in the tar format of torch < 0.1.10: its storages "
                                          "cannot be scanned completely; save it again with torch.save or as "
                                          "safetensors")
            for info in infos:
                base = PurePosixPath(info.name)
                if not info.isfile() or (base.suffix.lower() not in PICKLE_MEMBER_SUFFIXES
                                         and base.name not in TORCH_TAR_MEMBERS):
                    continue
                inner = prefix + info.name
                extracted = archive.extractfile(info)
                if extracted is None:
                    continue
                with extracted:
                    _scan_file(extracted, info.size, info.name, report, inner, budget, depth + 1)
    except MemoryError:
        raise
    except Exception as e:  # a corrupt or truncated archive
        report.flag(None, member, f"a tar archive the scanner cannot read: {type(e).__name__}: {e}")


def _scan_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, report: _Report, member: str, budget: _Budget,
                 depth: int) -> None:
    """One archive member: read into memory when small (opcodes read from memory are several times faster than
    from a decompressing stream), streamed when large (memory stays bounded)."""
    with archive.open(info) as m:
        if info.file_size <= MAX_MEMBER_IN_MEMORY:
            data = m.read(MAX_MEMBER_IN_MEMORY + 1)
            _scan_file(io.BytesIO(data), len(data), info.filename, report, member, budget, depth)
        else:
            _scan_file(m, info.file_size, info.filename, report, member, budget, depth)


def scan(path: Path, name: str, options: dict[str, Any]) -> ScanOutcome:
    """What loading `path` (named `name` in its repo) would import. options: `extra_safe_globals` (a policy's
    additions to the allowlist)."""
    extra = frozenset(str(g) for g in options.get("extra_safe_globals") or ())
    report = _Report(safe=SAFE_GLOBALS | extra)
    with open(path, "rb") as f:
        _scan_file(f, os.fstat(f.fileno()).st_size, name or path.name, report, None, _Budget(), depth=0)
    formats = report.formats
    fmt = (formats[0] if formats else "not-a-pickle")
    if "torch-legacy" in formats:
        fmt = "torch-legacy"
    findings = {"format": fmt, "imports": report.imports, "unsafe": report.unsafe, "pickles": report.pickles}
    return ScanOutcome("findings" if report.unsafe else "clean", findings)
