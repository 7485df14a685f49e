"""Model, dataset and space cards (README.md): YAML front matter, validation, derived facts, HTML.

* `split_front_matter(text)` -> (metadata | None, body, error | None)
* `validate_card(text, repo_type)` -> `CardReport` (what `/api/validate-yaml` answers:
  errors make it a 400, warnings are shown to the user but do not block the commit)
* `card_facts(metadata, repo_type)` -> `CardFacts` (cardData, derived tags, pipeline tag...)
* `render_card_html(body)` -> safe HTML (no raw HTML, no script URLs)

Pure functions: no I/O. YAML is read with `yaml.safe_load` only.
"""

from __future__ import annotations

import base64
import datetime as _dt
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml

from inhouse.vocabulary import RepoType

__all__ = [
    "CardFacts",
    "CardReport",
    "KNOWN_LICENSES",
    "KNOWN_PIPELINE_TAGS",
    "KNOWN_SIZE_CATEGORIES",
    "MISSING_METADATA_WARNING",
    "card_facts",
    "is_safe_url",
    "render_card_html",
    "split_front_matter",
    "validate_card",
]

MISSING_METADATA_WARNING = "Empty or missing yaml metadata in repo card"

#: License ids the Hub knows (https://huggingface.co/docs/hub/repositories-licenses).
KNOWN_LICENSES: frozenset[str] = frozenset(
    """
    apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause
    bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0
    cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0
    cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0
    cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1
    eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research
    intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl openmdw-1.0
    openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license
    fair-noncommercial-research-license llama2 llama3 llama3.1 llama3.2 llama3.3 llama4
    grok2-community gemma unknown other
    """.split()
)

#: Task ids the Hub knows (`pipeline_tag` on models, `task_categories` on datasets).
KNOWN_PIPELINE_TAGS: frozenset[str] = frozenset(
    """
    text-classification token-classification table-question-answering question-answering
    zero-shot-classification translation summarization feature-extraction text-generation
    text2text-generation fill-mask sentence-similarity text-to-speech text-to-audio
    automatic-speech-recognition audio-to-audio audio-classification audio-text-to-text
    voice-activity-detection depth-estimation image-classification object-detection
    image-segmentation text-to-image image-to-text image-to-image image-to-video
    unconditional-image-generation video-classification reinforcement-learning robotics
    tabular-classification tabular-regression tabular-to-text table-to-text multiple-choice
    text-ranking text-retrieval time-series-forecasting text-to-video image-text-to-text
    image-text-to-image image-text-to-video visual-question-answering
    document-question-answering zero-shot-image-classification graph-ml mask-generation
    zero-shot-object-detection text-to-3d image-to-3d image-feature-extraction
    video-text-to-text keypoint-detection visual-document-retrieval any-to-any video-to-video
    conversational other
    """.split()
)

KNOWN_SIZE_CATEGORIES: frozenset[str] = frozenset(
    """
    n<1K 1K<n<10K 10K<n<100K 100K<n<1M 1M<n<10M 10M<n<100M 100M<n<1B 1B<n<10B 10B<n<100B
    100B<n<1T n>1T
    """.split()
)

KNOWN_SPACE_SDKS = frozenset({"gradio", "streamlit", "docker", "static"})

# Limits that keep a hostile front matter (alias bombs, self-referencing aliases) cheap.
MAX_METADATA_DEPTH = 64
MAX_METADATA_NODES = 200_000


# --- front matter --------------------------------------------------------------------

_OPEN_RE = re.compile(r"\A\ufeff?\s*---[ \t]*(?:\r\n|\n)")
_CLOSE_RE = re.compile(r"^---[ \t]*(?:\r\n|\n|\Z)", re.MULTILINE)


class _TooLarge(Exception):
    pass


def _check_bounds(value: Any) -> None:
    """Raise _TooLarge if `value` is too deep, too big, or contains itself."""
    budget = [MAX_METADATA_NODES]

    def walk(v: Any, depth: int) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            raise _TooLarge("it has too many entries (YAML aliases can multiply them)")
        if depth > MAX_METADATA_DEPTH:
            raise _TooLarge(f"it is nested more than {MAX_METADATA_DEPTH} levels deep (or refers to itself)")
        if isinstance(v, dict):
            for k, item in v.items():
                walk(k, depth + 1)
                walk(item, depth + 1)
        elif isinstance(v, (list, tuple, set, frozenset)):
            for item in v:
                walk(item, depth + 1)

    walk(value, 0)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (_dt.date, _dt.datetime)):
        return "a date"
    return type(value).__name__


def split_front_matter(text: str) -> tuple[dict[str, Any] | None, str, str | None]:
    """Split a card into (metadata, body, error).

    The metadata block is a leading `---` line, YAML, and a closing `---` line (leading
    blank lines are allowed, as on the Hub). Returns:

    * (None, text, None) when there is no (closed) block;
    * (dict, body, None) for a valid block (an empty block gives {});
    * (None, body, message) when the YAML is invalid or is not a mapping.
    """
    opening = _OPEN_RE.match(text)
    if not opening:
        return None, text, None
    closing = _CLOSE_RE.search(text, opening.end())
    if not closing:
        return None, text, None
    block = text[opening.end() : closing.start()]
    body = text[closing.end() :]
    # Line number of the first YAML line in the file, for error messages.
    first_line = text.count("\n", 0, opening.end()) + 1
    try:
        data = yaml.safe_load(block)
    except RecursionError:
        return None, body, f"The card metadata is too large: it is nested more than {MAX_METADATA_DEPTH} levels deep."
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {first_line + mark.line}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, body, f"Invalid YAML in the card metadata{where}: {problem}. Fix the YAML between the '---' lines."
    if data is None:
        return {}, body, None
    if not isinstance(data, dict):
        return (
            None,
            body,
            f"The card metadata must be a YAML mapping (key: value lines), but it is {_type_name(data)}.",
        )
    try:
        _check_bounds(data)
    except _TooLarge as exc:
        return None, body, f"The card metadata is too large: {exc}."
    return data, body, None


# --- validation ----------------------------------------------------------------------


@dataclass
class CardReport:
    """The outcome of `validate_card`. `errors` make the card invalid (HTTP 400)."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def _quote_hint(value: Any) -> str:
    if isinstance(value, (bool, int, float, _dt.date)):
        return (
            f" (YAML read the unquoted value as {_type_name(value)}: values like no, yes, on, off, 1.0 or"
            " 2020-01-01 need quotes to be strings)"
        )
    return ""


def _str_or_str_list(meta: dict[str, Any], key: str, errors: list[str]) -> list[str] | None:
    """Check that meta[key] is a string or a list of strings; return it as a list."""
    if key not in meta or meta[key] is None:
        return None
    value = meta[key]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        bad = [(i, v) for i, v in enumerate(value) if not isinstance(v, str)]
        if not bad:
            return list(value)
        i, v = bad[0]
        errors.append(
            f'"{key}" must be a string or a list of strings, but item {i} is {_type_name(v)}{_quote_hint(v)}.'
        )
        return None
    errors.append(f'"{key}" must be a string or a list of strings, but it is {_type_name(value)}{_quote_hint(value)}.')
    return None


def _optional_str(meta: dict[str, Any], key: str, errors: list[str]) -> str | None:
    if key not in meta or meta[key] is None:
        return None
    value = meta[key]
    if not isinstance(value, str):
        errors.append(f'"{key}" must be a string, but it is {_type_name(value)}{_quote_hint(value)}.')
        return None
    return value


def _check_model_index(value: Any, errors: list[str]) -> None:
    """model-index: [{name, results: [{task: {type}, dataset: {type, name}, metrics: [{type, value}]}]}]"""
    example = (
        "Expected e.g. [{name: my-model, results: [{task: {type: text-classification}, "
        "dataset: {type: imdb, name: IMDb}, metrics: [{type: accuracy, value: 0.9}]}]}]."
    )
    if not isinstance(value, list):
        errors.append(f'"model-index" must be a list of models, but it is {_type_name(value)}. {example}')
        return
    for i, entry in enumerate(value):
        here = f"model-index[{i}]"
        if not isinstance(entry, dict):
            errors.append(f"{here} must be a mapping with 'name' and 'results', but it is {_type_name(entry)}.")
            continue
        if not isinstance(entry.get("name"), str) or not entry.get("name"):
            errors.append(f"{here}.name is required and must be a non-empty string.")
        results = entry.get("results")
        if not isinstance(results, list):
            errors.append(f"{here}.results is required and must be a list, but it is {_type_name(results)}.")
            continue
        for j, result in enumerate(results):
            rhere = f"{here}.results[{j}]"
            if not isinstance(result, dict):
                errors.append(f"{rhere} must be a mapping with 'task', 'dataset' and 'metrics'.")
                continue
            task = result.get("task")
            if not isinstance(task, dict) or not isinstance(task.get("type"), str):
                errors.append(f"{rhere}.task must be a mapping with a string 'type' (e.g. text-classification).")
            dataset = result.get("dataset")
            if not isinstance(dataset, dict):
                errors.append(f"{rhere}.dataset must be a mapping with string 'type' and 'name'.")
            else:
                for k in ("type", "name"):
                    if not isinstance(dataset.get(k), str):
                        errors.append(f"{rhere}.dataset.{k} is required and must be a string.")
            metrics = result.get("metrics")
            if not isinstance(metrics, list) or not metrics:
                errors.append(f"{rhere}.metrics must be a non-empty list of {{type, value}} mappings.")
                continue
            for mi, metric in enumerate(metrics):
                mhere = f"{rhere}.metrics[{mi}]"
                if not isinstance(metric, dict):
                    errors.append(f"{mhere} must be a mapping with 'type' and 'value'.")
                    continue
                if not isinstance(metric.get("type"), str):
                    errors.append(f"{mhere}.type is required and must be a string (e.g. accuracy).")
                if "value" not in metric or metric["value"] is None:
                    errors.append(f"{mhere}.value is required.")


def _check_configs(value: Any, errors: list[str]) -> None:
    """configs: [{config_name, data_files: str | [str] | [{split, path: str | [str]}], default?}]"""
    if not isinstance(value, list):
        errors.append(
            f'"configs" must be a list of {{config_name, data_files}} mappings, but it is {_type_name(value)}.'
        )
        return
    seen: set[str] = set()
    defaults = 0
    for i, cfg in enumerate(value):
        here = f"configs[{i}]"
        if not isinstance(cfg, dict):
            errors.append(f"{here} must be a mapping with 'config_name' and 'data_files'.")
            continue
        name = cfg.get("config_name")
        if not isinstance(name, str) or not name:
            errors.append(f"{here}.config_name is required and must be a non-empty string.")
        elif name in seen:
            errors.append(f"{here}.config_name {name!r} is used twice; config names must be unique.")
        else:
            seen.add(name)
        if cfg.get("default") is True:
            defaults += 1
        elif "default" in cfg and not isinstance(cfg["default"], bool):
            errors.append(f"{here}.default must be true or false.")
        if "data_files" not in cfg:
            continue  # the Hub accepts configs that only set e.g. data_dir
        files = cfg["data_files"]
        if isinstance(files, str):
            continue
        if not isinstance(files, list) or not files:
            errors.append(f"{here}.data_files must be a path pattern, a list of them, or a list of {{split, path}}.")
            continue
        for j, item in enumerate(files):
            if isinstance(item, str):
                continue
            if isinstance(item, dict):
                split_ok = isinstance(item.get("split"), str) and item.get("split")
                path = item.get("path")
                path_ok = isinstance(path, str) or (
                    isinstance(path, list) and path and all(isinstance(p, str) for p in path)
                )
                if not split_ok:
                    errors.append(f"{here}.data_files[{j}].split is required and must be a string (e.g. train).")
                if not path_ok:
                    errors.append(f"{here}.data_files[{j}].path is required: a path pattern or a list of them.")
                continue
            errors.append(f"{here}.data_files[{j}] must be a path pattern or a {{split, path}} mapping.")
    if defaults > 1:
        errors.append('Only one entry of "configs" may have default: true.')


def _warn_unknown(values: Iterable[str], known: frozenset[str], what: str, key: str, warnings: list[str]) -> None:
    for v in values:
        if v not in known:
            warnings.append(f'"{key}": {v!r} is not a known {what}.')


def validate_card(text: str, repo_type: RepoType) -> CardReport:
    """Validate a README.md like the Hub's `/api/validate-yaml`.

    Errors (invalid YAML, wrong shapes) mean the card must be fixed; warnings (no
    metadata, unknown license or task id) are advice.
    """
    report = CardReport()
    meta, _body, error = split_front_matter(text)
    if error:
        report.errors.append(error)
        return report
    report.metadata = meta
    if not meta:
        if meta is None and _OPEN_RE.match(text):
            report.warnings.append(
                MISSING_METADATA_WARNING + ": the metadata block starts with '---' but has no closing '---' line."
            )
        else:
            report.warnings.append(MISSING_METADATA_WARNING)
        return report

    errors, warnings = report.errors, report.warnings

    non_string_keys = [k for k in meta if not isinstance(k, str)]
    if non_string_keys:
        warnings.append(
            f"Metadata key {non_string_keys[0]!r} is not a string (YAML read it as {_type_name(non_string_keys[0])}); "
            "quote it if you meant the text."
        )

    licenses = _str_or_str_list(meta, "license", errors)
    if licenses:
        for lic in licenses:
            if lic not in KNOWN_LICENSES:
                hint = " (license ids are lower-case)" if lic.lower() in KNOWN_LICENSES else ""
                warnings.append(
                    f'"license": {lic!r} is not a license id the Hub knows{hint}. Use one of the Hub ids '
                    "(e.g. apache-2.0, mit, cc-by-4.0), or 'other' with license_name and license_link."
                )
        if "other" in licenses and not meta.get("license_name"):
            warnings.append('"license" is \'other\': add license_name (and license_link) to say which license applies.')
    _optional_str(meta, "license_name", errors)
    _optional_str(meta, "license_link", errors)

    for key in ("tags", "language"):
        _str_or_str_list(meta, key, errors)
    _optional_str(meta, "pretty_name", errors)

    if "model-index" in meta:
        _check_model_index(meta["model-index"], errors)

    if repo_type == RepoType.MODEL:
        for key in ("datasets", "base_model", "metrics"):
            _str_or_str_list(meta, key, errors)
        _optional_str(meta, "library_name", errors)
        pipeline_tag = _optional_str(meta, "pipeline_tag", errors)
        if pipeline_tag is not None:
            _warn_unknown([pipeline_tag], KNOWN_PIPELINE_TAGS, "pipeline tag (task id)", "pipeline_tag", warnings)
        if "inference" in meta and not isinstance(meta["inference"], (bool, dict)):
            errors.append(f'"inference" must be true, false or a mapping, but it is {_type_name(meta["inference"])}.')
        if "widget" in meta and meta["widget"] is not None and not isinstance(meta["widget"], list):
            errors.append(f'"widget" must be a list of examples, but it is {_type_name(meta["widget"])}.')

    elif repo_type == RepoType.DATASET:
        lists = {
            key: _str_or_str_list(meta, key, errors)
            for key in ("task_categories", "task_ids", "size_categories", "annotations_creators",
                        "language_creators", "multilinguality", "source_datasets")  # fmt: skip
        }
        _warn_unknown(lists["task_categories"] or [], KNOWN_PIPELINE_TAGS, "task category", "task_categories", warnings)
        _warn_unknown(
            lists["size_categories"] or [], KNOWN_SIZE_CATEGORIES, "size category (e.g. 1K<n<10K)",
            "size_categories", warnings,
        )  # fmt: skip
        if "configs" in meta:
            _check_configs(meta["configs"], errors)
        if "dataset_info" in meta and not isinstance(meta["dataset_info"], (dict, list)):
            errors.append(f'"dataset_info" must be a mapping or a list, but it is {_type_name(meta["dataset_info"])}.')

    else:  # space
        for key in ("models", "datasets"):
            _str_or_str_list(meta, key, errors)
        sdk = _optional_str(meta, "sdk", errors)
        if sdk is not None and sdk not in KNOWN_SPACE_SDKS:
            warnings.append(f'"sdk": {sdk!r} is not one of {", ".join(sorted(KNOWN_SPACE_SDKS))}.')

    return report


# --- derived facts -------------------------------------------------------------------


@dataclass
class CardFacts:
    """What a repo's card contributes to its API listing."""

    card_data: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    pipeline_tag: str | None = None
    library_name: str | None = None
    license: str | None = None
    base_models: list[str] = field(default_factory=list)


def _json_safe(value: Any) -> Any:
    """Dates to ISO strings, keys to strings, sets to lists, bytes to base64, NaN/inf to strings."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (_dt.date, _dt.datetime, _dt.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {_json_key(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_json_safe(v) for v in value), key=repr)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def _json_key(key: Any) -> str:
    """Dict keys as JSON would spell them (YAML allows `1:`, `true:`, `null:`, dates...)."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return {None: "null", True: "true", False: "false"}[key]
    safe = _json_safe(key)
    return safe if isinstance(safe, str) else str(safe)


def strings_of(value: Any) -> list[str]:
    """A string or the strings of a list; anything else is dropped."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v.strip()]
    return []


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def card_facts(metadata: dict[str, Any] | None, repo_type: RepoType) -> CardFacts:
    """Derive cardData and the Hub's tags from card metadata (tolerates invalid shapes).

    Tags, in order, deduplicated:
    * model: library_name, tags, pipeline_tag, languages ("en"), "dataset:<id>",
      "base_model:<id>", "license:<id>";
    * dataset: "task_categories:<x>", "task_ids:<x>", "annotations_creators:<x>",
      "language_creators:<x>", "multilinguality:<x>", "source_datasets:<x>",
      "language:<x>", "license:<x>", "size_categories:<x>", then tags;
    * space: sdk, tags, "license:<id>".
    """
    meta = metadata if isinstance(metadata, dict) else {}
    try:
        _check_bounds(meta)
        card_data = _json_safe(meta)
    except (_TooLarge, RecursionError):
        card_data = {}
        meta = {}

    licenses = strings_of(meta.get("license"))
    library = meta.get("library_name") if isinstance(meta.get("library_name"), str) else None
    pipeline = meta.get("pipeline_tag") if isinstance(meta.get("pipeline_tag"), str) else None
    base_models = _dedupe(strings_of(meta.get("base_model")))
    tags = strings_of(meta.get("tags"))
    languages = strings_of(meta.get("language"))

    derived: list[str] = []
    if repo_type == RepoType.DATASET:
        for key in ("task_categories", "task_ids", "annotations_creators", "language_creators",
                    "multilinguality", "source_datasets"):  # fmt: skip
            derived += [f"{key}:{v}" for v in strings_of(meta.get(key))]
        derived += [f"language:{v}" for v in languages]
        derived += [f"license:{v}" for v in licenses]
        derived += [f"size_categories:{v}" for v in strings_of(meta.get("size_categories"))]
        derived += tags
    elif repo_type == RepoType.SPACE:
        if isinstance(meta.get("sdk"), str):
            derived.append(meta["sdk"])
        derived += tags
        derived += [f"license:{v}" for v in licenses]
    else:
        if library:
            derived.append(library)
        derived += tags
        if pipeline:
            derived.append(pipeline)
        derived += languages
        derived += [f"dataset:{v}" for v in strings_of(meta.get("datasets"))]
        derived += [f"base_model:{v}" for v in base_models]
        derived += [f"license:{v}" for v in licenses]

    return CardFacts(
        card_data=card_data,
        tags=_dedupe(t.strip() for t in derived if t.strip()),
        pipeline_tag=pipeline,
        library_name=library,
        license=licenses[0] if licenses else None,
        base_models=base_models,
    )


# --- HTML ----------------------------------------------------------------------------

_ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f]")


def is_safe_url(url: str) -> bool:
    """Allow http(s), mailto, and relative URLs (paths, `?query`, `#fragment`, `//host`)."""
    cleaned = _IGNORED_IN_SCHEME.sub("", url).lower()
    head = re.split(r"[/?#]", cleaned, maxsplit=1)[0]
    if ":" not in head:
        return True
    return head.split(":", 1)[0] in _ALLOWED_SCHEMES


@lru_cache(maxsize=1)
def _markdown() -> Callable[[str], str]:
    try:
        from markdown_it import MarkdownIt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("Rendering cards needs the 'markdown-it-py' package: pip install markdown-it-py") from exc

    from markdown_it.renderer import RendererHTML
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

    class SafeLinks(MarkdownIt):
        def validateLink(self, url: str) -> bool:
            return is_safe_url(url)

    md = SafeLinks("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])

    def link_open(renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict,
                  env: EnvType) -> str:
        href = tokens[idx].attrGet("href") or ""
        if re.match(r"(?i)^(https?:)?//", str(href)):
            tokens[idx].attrSet("rel", "nofollow noopener noreferrer")
        return renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    return md.render


def render_card_html(body: str) -> str:
    """Markdown to HTML that is safe to embed: raw HTML is escaped, not passed through;
    links and images keep only http(s), mailto and relative URLs (others render as text);
    external links get rel="nofollow noopener noreferrer"."""
    return _markdown()(body)
