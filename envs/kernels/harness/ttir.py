"""Does a kernel that ran under the Triton interpreter compile for a GPU?

The interpreter executes a ``@triton.jit`` body as Python, so a body could call torch or numpy
and still "run". Lowering each launched kernel to Triton IR for an sm_90 target with the real
front end (which needs no GPU) rejects such bodies: only Triton language and other jit functions
compile. Used on the CPU path; on a GPU every launch is compiled for real anyway.
"""
from __future__ import annotations

import contextlib
import inspect
import sys
import types
from typing import Any, NamedTuple

import triton
import triton.compiler.code_generator  # imported early on purpose, see below
from triton._C.libtriton import ir
from triton.backends.compiler import GPUTarget
from triton.compiler.compiler import make_backend
from triton.runtime.interpreter import InterpretedFunction
from triton.runtime.jit import JITFunction, _normalize_ty, mangle_type

# The compiler's modules must be imported before the first interpreted launch: imported while
# the interpreter has patched triton.language, they would keep the interpreter's builder.

TARGET = ("cuda", 90, 32)  # an H100, the product's reference GPU


class LaunchSignature(NamedTuple):
    """What a launch specialised a kernel on: the Python function, argument types and constexpr values."""

    fn: types.FunctionType
    signature: tuple[tuple[str, str], ...]
    constexprs: tuple[tuple[str, Any], ...]

    @property
    def name(self) -> str:
        return self.fn.__qualname__


def describe_launch(kernel: Any, args: tuple, kwargs: dict) -> LaunchSignature:
    """The specialisation of one launch of ``kernel`` (a ``JITFunction`` or ``InterpretedFunction``)."""
    fn = kernel.fn
    params = inspect.signature(fn).parameters
    kwargs = {k: v for k, v in kwargs.items() if k in params}  # autotuners add num_warps & co.
    bound = inspect.signature(fn).bind(*args, **kwargs)
    bound.apply_defaults()
    annotations = inspect.get_annotations(fn)
    signature, constexprs = [], []
    for name, value in bound.arguments.items():
        if name in annotations and _normalize_ty(annotations[name]) == "constexpr":
            signature.append((name, "constexpr"))
            constexprs.append((name, value))
        elif value is None:
            signature.append((name, "constexpr"))
            constexprs.append((name, None))
        else:
            signature.append((name, mangle_type(value)))
    return LaunchSignature(fn, tuple(signature), tuple(constexprs))


def _compilable_twin(fn: types.FunctionType, twins: dict[int, Any]) -> JITFunction:
    """A ``JITFunction`` for ``fn`` whose globals see jit twins of every interpreted helper it calls."""
    key = id(fn)
    if key in twins:
        return twins[key]
    namespace = dict(fn.__globals__)
    clone = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    clone.__kwdefaults__, clone.__module__, clone.__qualname__ = fn.__kwdefaults__, fn.__module__, fn.__qualname__
    clone.__annotations__ = dict(getattr(fn, "__annotations__", {}))
    twins[key] = JITFunction(clone)
    for name, value in fn.__globals__.items():
        if isinstance(value, InterpretedFunction):
            namespace[name] = _compilable_twin(value.fn, twins)
    return twins[key]


def _language_state() -> dict[tuple[Any, str], Any]:
    """Every attribute of the ``triton.language`` modules and of the classes they define."""
    state = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith("triton.language") or module is None:
            continue
        for attr, value in list(vars(module).items()):
            state[(module, attr)] = value
            if isinstance(value, type) and value.__module__ == name:
                for member, item in list(vars(value).items()):
                    state[(value, member)] = item
    return state


# Taken before any interpreted launch. The interpreter patches triton.language while a kernel
# runs, and a jit helper called from a kernel (tl.sigmoid, say) patches it again without
# undoing it, so the compile check puts this state back while it compiles.
_PRISTINE = _language_state()
_MISSING = object()


@contextlib.contextmanager
def _compilable_language(twins: dict[int, Any]):
    """triton.language as the compiler expects it: unpatched, with jit twins of its helpers
    (under the interpreter, ``tl.sigmoid`` and friends are interpreted functions too)."""
    owners = {owner for owner, _ in _PRISTINE}
    added = [(owner, attr) for owner in owners for attr in list(vars(owner)) if (owner, attr) not in _PRISTINE]
    changed = []
    for key in [*_PRISTINE, *added]:
        want = _PRISTINE.get(key, _MISSING)
        if isinstance(want, InterpretedFunction):
            want = _compilable_twin(want.fn, twins)
        have = vars(key[0]).get(key[1], _MISSING)
        if want is not have:
            changed.append((key, have))
            _assign(key, want)
    try:
        yield
    finally:
        for key, value in changed:
            _assign(key, value)


def _assign(key: tuple[Any, str], value: Any) -> None:
    owner, attr = key
    if value is _MISSING:
        if attr in vars(owner):
            delattr(owner, attr)
    else:
        setattr(owner, attr, value)


def compile_error(launch: LaunchSignature) -> str | None:
    """``None`` when the launched kernel lowers to Triton IR for :data:`TARGET`, else the compiler's complaint."""
    twins: dict[int, Any] = {}
    try:
        with _compilable_language(twins):
            _lower_to_ttir(_compilable_twin(launch.fn, twins), launch)
    except Exception as err:  # noqa: BLE001 - any front-end failure means "not a Triton kernel"
        lines = [line for line in str(err).strip().splitlines() if line.strip() and set(line.strip()) != {"^"}]
        return f"{launch.name} does not compile for {TARGET[0]} sm_{TARGET[1]}: {(lines or [type(err).__name__])[-1][:300]}"
    return None


def _lower_to_ttir(kernel: JITFunction, launch: LaunchSignature) -> None:
    """The first stage of ``triton.compile`` only: the AST to Triton IR, which needs no GPU."""
    source = triton.compiler.ASTSource(fn=kernel, signature=dict(launch.signature), constexprs=dict(launch.constexprs))
    target = GPUTarget(*TARGET)
    backend = make_backend(target)
    options = backend.parse_options({"enable_fp_fusion": True})  # the front end ignores it; unset, it warns
    context = ir.context()
    ir.load_dialects(context)
    backend.load_dialects(context)
    source.make_ir(target, options, backend.get_codegen_implementation(options), backend.get_module_map(), context)
