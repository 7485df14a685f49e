import json
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inhouse.services.cards import (
    MISSING_METADATA_WARNING,
    CardFacts,
    card_facts,
    is_safe_url,
    render_card_html,
    split_front_matter,
    validate_card,
)

# The exact cards huggingface_hub's own tests send (tests/test_hf_api.py).
INVALID_MODELCARD = """
---
model-index: foo
---

This is a modelcard with an invalid metadata section.
"""
EMPTY_METADATA_MODELCARD = "This is a modelcard without metadata"

# --- split_front_matter --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "metadata", "body"),
    [
        ("---\nlicense: mit\n---\n# Title\n", {"license": "mit"}, "# Title\n"),
        ("\n---\nlicense: mit\n---\nbody", {"license": "mit"}, "body"),  # leading blank line
        ("\ufeff---\nlicense: mit\n---\nbody", {"license": "mit"}, "body"),  # BOM
        ("---\r\nlicense: mit\r\n---\r\nbody", {"license": "mit"}, "body"),  # CRLF
        ("---\nlicense: mit\n---", {"license": "mit"}, ""),  # no newline at the end
        ("---   \nlicense: mit\n---  \nbody", {"license": "mit"}, "body"),  # trailing spaces
        ("---\n---\nbody", {}, "body"),  # empty block
        ("---\n# only a comment\n---\nbody", {}, "body"),
        ("---\na: 1\n---\ntext\n---\nmore\n", {"a": 1}, "text\n---\nmore\n"),  # first closing line wins
        ("# No metadata\n---\na: 1\n---\n", None, "# No metadata\n---\na: 1\n---\n"),  # not at the start
        ("---\na: 1\n", None, "---\na: 1\n"),  # never closed
        ("----\na: 1\n----\n", None, "----\na: 1\n----\n"),
        ("", None, ""),
    ],
)
def test_split_front_matter(text: str, metadata: dict | None, body: str) -> None:
    meta, rest, error = split_front_matter(text)
    assert error is None
    assert meta == metadata
    assert rest == body


def test_split_front_matter_invalid_yaml_names_the_line() -> None:
    meta, body, error = split_front_matter("---\nlicense: mit\ntags: [a, b\n---\nbody")
    assert meta is None
    assert body == "body"
    assert error is not None
    assert "Invalid YAML" in error and "line 4" in error


@pytest.mark.parametrize(
    ("text", "kind"),
    [("---\n- a\n- b\n---\n", "a list"), ("---\njust text\n---\n", "a string"), ("---\n42\n---\n", "a number")],
)
def test_split_front_matter_requires_a_mapping(text: str, kind: str) -> None:
    meta, _, error = split_front_matter(text)
    assert meta is None
    assert error is not None and "mapping" in error and kind in error


def test_split_front_matter_is_safe_load_only() -> None:
    _, _, error = split_front_matter("---\na: !!python/object/apply:os.system ['echo hi']\n---\n")
    assert error is not None and "Invalid YAML" in error


@pytest.mark.parametrize(
    "yaml_text",
    [
        "a: &x [*x]",  # refers to itself
        "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]",  # billion laughs
        "a: " + "[" * 100 + "]" * 100,  # deeply nested
        "a: " + "[" * 5000 + "]" * 5000,  # deep enough to exhaust PyYAML's recursion
    ],
)
def test_hostile_yaml_is_rejected_cheaply(yaml_text: str) -> None:
    meta, _, error = split_front_matter(f"---\n{yaml_text}\n---\n")
    assert meta is None
    assert error is not None and "too large" in error


# --- validate_card -------------------------------------------------------------------


def test_client_invalid_modelcard_is_an_error() -> None:
    report = validate_card(INVALID_MODELCARD, "model")
    assert not report.ok
    assert any("model-index" in e for e in report.errors)


def test_client_card_without_metadata_is_a_warning() -> None:
    report = validate_card(EMPTY_METADATA_MODELCARD, "model")
    assert report.ok
    assert report.warnings == [MISSING_METADATA_WARNING]
    assert report.metadata is None


@pytest.mark.parametrize("text", ["", "---\n---\nbody", "# Title only"])
def test_empty_metadata_warns(text: str) -> None:
    report = validate_card(text, "dataset")
    assert report.ok and report.warnings == [MISSING_METADATA_WARNING]


def test_unclosed_block_warns_with_a_hint() -> None:
    report = validate_card("---\nlicense: mit\n\n# Title", "model")
    assert report.ok
    assert report.warnings[0].startswith(MISSING_METADATA_WARNING)
    assert "closing" in report.warnings[0]


VALID_MODEL_INDEX = """---
license: apache-2.0
model-index:
- name: my-model
  results:
  - task:
      type: text-classification
      name: Text Classification
    dataset:
      type: imdb
      name: IMDb
      split: test
    metrics:
    - type: accuracy
      value: 0.93
      verified: false
    - type: f1
      value: 91.2
---
body
"""


def test_valid_model_index() -> None:
    report = validate_card(VALID_MODEL_INDEX, "model")
    assert report.errors == [] and report.warnings == []


@pytest.mark.parametrize(
    ("model_index", "fragment"),
    [
        ("foo", '"model-index" must be a list'),
        ("{name: x}", '"model-index" must be a list'),
        ("[foo]", "model-index[0] must be a mapping"),
        ("[{results: []}]", "model-index[0].name is required"),
        ("[{name: x}]", "model-index[0].results is required"),
        ("[{name: x, results: [foo]}]", "model-index[0].results[0] must be a mapping"),
        (
            "[{name: x, results: [{dataset: {type: d, name: D}, metrics: [{type: a, value: 1}]}]}]",
            "results[0].task must be a mapping",
        ),
        (
            "[{name: x, results: [{task: {type: t}, dataset: {type: d}, metrics: [{type: a, value: 1}]}]}]",
            "results[0].dataset.name is required",
        ),
        (
            "[{name: x, results: [{task: {type: t}, dataset: {type: d, name: D}, metrics: []}]}]",
            "results[0].metrics must be a non-empty list",
        ),
        (
            "[{name: x, results: [{task: {type: t}, dataset: {type: d, name: D}, metrics: [{type: a}]}]}]",
            "results[0].metrics[0].value is required",
        ),
        (
            "[{name: x, results: [{task: {type: t}, dataset: {type: d, name: D}, metrics: [{value: 1}]}]}]",
            "results[0].metrics[0].type is required",
        ),
    ],
)
def test_invalid_model_index(model_index: str, fragment: str) -> None:
    report = validate_card(f"---\nmodel-index: {model_index}\n---\n", "model")
    assert any(fragment in e for e in report.errors), report.errors


@pytest.mark.parametrize(
    ("yaml_text", "repo_type", "error_fragment", "warning_fragment"),
    [
        # license
        ("license: mit", "model", None, None),
        ("license: [mit, apache-2.0]", "model", None, None),
        ("license: llama3.1", "model", None, None),
        ("license: openrail++", "model", None, None),
        ("license: my-own-license", "model", None, "'my-own-license' is not a license id"),
        ("license: Apache-2.0", "model", None, "lower-case"),
        ("license: other", "model", None, "license_name"),
        ("license: other\nlicense_name: acme\nlicense_link: LICENSE", "model", None, None),
        ("license: {name: mit}", "model", '"license" must be a string or a list of strings', None),
        ("license: [mit, 3]", "model", "item 1 is a number", None),
        # string-or-list fields
        ("tags: [a, b]", "model", None, None),
        ("tags: a", "model", None, None),
        ("tags: {a: b}", "model", '"tags" must be a string or a list of strings', None),
        ("language: no", "model", "YAML read the unquoted value as a boolean", None),
        ("language: 'no'", "model", None, None),
        ("language: [en, fr]", "dataset", None, None),
        ("datasets: [imdb, 1]", "model", '"datasets"', None),
        ("base_model: [gpt2, {a: b}]", "model", '"base_model"', None),
        ("base_model: meta-llama/Llama-2-7b-hf", "model", None, None),
        # pipeline_tag
        ("pipeline_tag: text-generation", "model", None, None),
        ("pipeline_tag: [text-generation]", "model", '"pipeline_tag" must be a string', None),
        ("pipeline_tag: text-generator", "model", None, "not a known pipeline tag"),
        ("library_name: 3", "model", '"library_name" must be a string', None),
        ("inference: false", "model", None, None),
        ("inference: maybe", "model", '"inference" must be true, false or a mapping', None),
        # datasets
        ("task_categories: [text-classification]", "dataset", None, None),
        ("task_categories: [classifying]", "dataset", None, "not a known task category"),
        ("task_categories: {a: b}", "dataset", '"task_categories"', None),
        ("size_categories: 10K<n<100K", "dataset", None, None),
        ("size_categories: [lots]", "dataset", None, "not a known size category"),
        ("pretty_name: 12", "dataset", '"pretty_name" must be a string', None),
        ("dataset_info: 3", "dataset", '"dataset_info" must be a mapping or a list', None),
        # spaces
        ("title: Demo\nsdk: gradio\napp_file: app.py", "space", None, None),
        ("sdk: flask", "space", None, "'flask' is not one of"),
        # keys YAML reads as non-strings
        ("1: a\nlicense: mit", "model", None, "not a string"),
        # dates are fine where any value is allowed
        ("created: 2024-01-01\nlicense: mit", "model", None, None),
    ],
)
def test_validate_card_fields(
    yaml_text: str, repo_type: str, error_fragment: str | None, warning_fragment: str | None
) -> None:
    report = validate_card(f"---\n{yaml_text}\n---\n# Card\n", repo_type)
    if error_fragment is None:
        assert report.errors == []
    else:
        assert any(error_fragment in e for e in report.errors), report.errors
    if warning_fragment is None:
        assert report.warnings == []
    else:
        assert any(warning_fragment in w for w in report.warnings), report.warnings


@pytest.mark.parametrize(
    ("configs", "fragment"),
    [
        ("[{config_name: default, data_files: data/*.parquet}]", None),
        ("[{config_name: default, data_files: [a.csv, b.csv]}]", None),
        ("[{config_name: default, data_files: [{split: train, path: train/*}, {split: test, path: [t.csv]}]}]", None),
        ("[{config_name: a, data_dir: a}, {config_name: b, data_dir: b, default: true}]", None),
        ("{config_name: default}", '"configs" must be a list'),
        ("[foo]", "configs[0] must be a mapping"),
        ("[{data_files: a.csv}]", "configs[0].config_name is required"),
        ("[{config_name: a, data_files: x}, {config_name: a, data_files: y}]", "used twice"),
        ("[{config_name: a, data_files: 3}]", "configs[0].data_files must be"),
        ("[{config_name: a, data_files: [{path: x}]}]", "data_files[0].split is required"),
        ("[{config_name: a, data_files: [{split: train}]}]", "data_files[0].path is required"),
        ("[{config_name: a, data_files: [{split: train, path: [1]}]}]", "data_files[0].path is required"),
        ("[{config_name: a, data_files: [3]}]", "data_files[0] must be"),
        ("[{config_name: a, default: yes please}]", "default must be true or false"),
        ("[{config_name: a, default: true}, {config_name: b, default: true}]", "Only one entry"),
    ],
)
def test_dataset_configs(configs: str, fragment: str | None) -> None:
    report = validate_card(f"---\nconfigs: {configs}\n---\n", "dataset")
    if fragment is None:
        assert report.errors == []
    else:
        assert any(fragment in e for e in report.errors), report.errors


def test_cards_built_by_huggingface_hub_are_valid() -> None:
    from huggingface_hub import DatasetCard, DatasetCardData, EvalResult, ModelCard, ModelCardData

    model_card = ModelCard.from_template(
        ModelCardData(
            language="en",
            license="mit",
            library_name="timm",
            tags=["image-classification", "resnet"],
            datasets="beans",
            metrics=["accuracy"],
            base_model="timm/resnet50",
            model_name="my-cool-model",
            eval_results=[
                EvalResult(
                    task_type="image-classification",
                    dataset_type="beans",
                    dataset_name="Beans",
                    metric_type="accuracy",
                    metric_value=0.7,
                )
            ],
        )
    )
    report = validate_card(str(model_card), "model")
    assert report.errors == [] and report.warnings == []

    dataset_card = DatasetCard.from_template(
        DatasetCardData(
            language="en",
            license="mit",
            task_categories=["text-classification"],
            size_categories="10K<n<100K",
            pretty_name="My dataset",
            configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}],
        )
    )
    report = validate_card(str(dataset_card), "dataset")
    assert report.errors == [] and report.warnings == []


# --- card_facts ----------------------------------------------------------------------


def test_card_facts_model() -> None:
    meta, _, _ = split_front_matter(
        "---\nlicense: mit\nlanguage: [en, fr]\ndatasets: imdb\nbase_model: [gpt2, distilgpt2]\n"
        "library_name: transformers\npipeline_tag: text-generation\ntags: [chat, en, chat]\n---\n"
    )
    facts = card_facts(meta, "model")
    assert facts == CardFacts(
        card_data=meta,
        tags=[
            "transformers", "chat", "en", "text-generation", "fr", "dataset:imdb",
            "base_model:gpt2", "base_model:distilgpt2", "license:mit",
        ],  # fmt: skip
        pipeline_tag="text-generation",
        library_name="transformers",
        license="mit",
        base_models=["gpt2", "distilgpt2"],
    )


def test_card_facts_dataset() -> None:
    meta = {
        "task_categories": ["text-generation"],
        "task_ids": "language-modeling",
        "language": "en",
        "size_categories": "1K<n<10K",
        "license": ["cc-by-4.0", "mit"],
        "tags": ["LeRobot"],
        "datasets": "ignored-for-datasets",
    }
    facts = card_facts(meta, "dataset")
    assert facts.tags == [
        "task_categories:text-generation",
        "task_ids:language-modeling",
        "language:en",
        "license:cc-by-4.0",
        "license:mit",
        "size_categories:1K<n<10K",
        "LeRobot",
    ]
    assert facts.license == "cc-by-4.0"
    assert facts.pipeline_tag is None


def test_card_facts_space() -> None:
    facts = card_facts({"sdk": "gradio", "tags": ["demo"], "license": "mit"}, "space")
    assert facts.tags == ["gradio", "demo", "license:mit"]


@pytest.mark.parametrize("metadata", [None, {}, {"tags": 3, "license": {"a": 1}, "pipeline_tag": ["x"]}])
def test_card_facts_tolerates_missing_or_bad_metadata(metadata: dict | None) -> None:
    facts = card_facts(metadata, "model")
    assert facts.tags == [] and facts.license is None and facts.pipeline_tag is None and facts.base_models == []


def test_card_data_is_json_safe() -> None:
    meta, _, error = split_front_matter(
        "---\ndate: 2024-01-02\nwhen: 2024-01-02 03:04:05\n2: two\ntrue: yes\nnull: x\n"
        "score: .nan\nbig: .inf\nblob: !!binary aGVsbG8=\nset: !!set {b, a}\n"
        "nested: [{d: 2020-05-06}]\n---\n"
    )
    assert error is None
    data = card_facts(meta, "model").card_data
    json.dumps(data, allow_nan=False)
    assert data["date"] == "2024-01-02"
    assert data["when"].startswith("2024-01-02T03:04:05")
    assert data["2"] == "two" and data["true"] is True and data["null"] == "x"
    assert data["score"] == "nan" and data["big"] == "inf"
    assert data["blob"] == "aGVsbG8="
    assert data["set"] == ["a", "b"]
    assert data["nested"] == [{"d": "2020-05-06"}]


# --- render_card_html ----------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append((tag, attrs))


_SAFE_TAGS = {
    "a", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img", "li",
    "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_SAFE_ATTRS = {"href", "src", "alt", "title", "rel", "class", "style", "start"}


def assert_safe_html(html: str) -> None:
    assert "<script" not in html.lower()
    parser = _Collector()
    parser.feed(html)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag in _SAFE_TAGS, tag
        for name, value in attrs:
            assert name in _SAFE_ATTRS, (tag, name)
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "src"):
                assert is_safe_url(value or ""), (tag, value)
            if name == "style":
                assert re.fullmatch(r"text-align:(left|right|center)", value or ""), value


HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=//evil.example></iframe>",
    "<svg/onload=alert(1)>",
    "<style>body{display:none}</style>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1)  )",
    "[click](java\tscript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](javascript&#58;alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](file:///etc/passwd)",
    "![img](javascript:alert(1))",
    "![img](data:image/svg+xml,<svg onload=alert(1)>)",
    "<javascript:alert(1)>",
    "[ref]\n\n[ref]: javascript:alert(1)",
    '[x](https://ok.example "title\\" onmouseover=\\"alert(1)")',
    '![x](https://ok.example/a.png "t" onerror="alert(1)")',
    "```html\n<script>alert(1)</script>\n```",
    "`<script>alert(1)</script>`",
    "<!-- comment --><script>alert(1)</script>",
    "[a](<javascript:alert(1)>)",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
]


@pytest.mark.parametrize("markdown", HOSTILE)
def test_render_neutralises_hostile_markdown(markdown: str) -> None:
    assert_safe_html(render_card_html(markdown))


def test_render_escapes_raw_html_as_text() -> None:
    html = render_card_html("<b>bold</b> & <script>x</script>")
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "&lt;script&gt;" in html
    assert "&amp;" in html


def test_render_drops_bad_links_but_keeps_their_text() -> None:
    html = render_card_html("[click me](javascript:alert(1))")
    assert "<a" not in html
    assert "click me" in html


@pytest.mark.parametrize(
    ("markdown", "fragment"),
    [
        ("# Title", "<h1>Title</h1>"),
        ("**bold** _em_", "<strong>bold</strong> <em>em</em>"),
        ("[site](https://example.com)", '<a href="https://example.com" rel="nofollow noopener noreferrer">site</a>'),
        ("[proto-relative](//example.com/x)", 'href="//example.com/x" rel="nofollow noopener noreferrer"'),
        ("[mail](mailto:a@example.com)", '<a href="mailto:a@example.com">mail</a>'),
        ("[rel](docs/README.md)", '<a href="docs/README.md">rel</a>'),
        ("[abs](/org/model/blob/main/x.py)", '<a href="/org/model/blob/main/x.py">abs</a>'),
        ("[frag](#usage)", '<a href="#usage">frag</a>'),
        ("[q](?x=1)", '<a href="?x=1">q</a>'),
        ("![logo](https://example.com/logo.png)", '<img src="https://example.com/logo.png" alt="logo"'),
        ("<https://example.com>", '<a href="https://example.com" rel="nofollow noopener noreferrer">'),
        ("| a | b |\n|---|:-:|\n| 1 | 2 |", "<table>"),
        ("~~gone~~", "<s>gone</s>"),
        ("```python\nprint('<hi>')\n```", '<code class="language-python">print(\'&lt;hi&gt;\')'),
    ],
)
def test_render_markdown(markdown: str, fragment: str) -> None:
    html = render_card_html(markdown)
    assert fragment in html
    assert_safe_html(html)


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://example.com", True),
        ("HTTP://example.com", True),
        ("mailto:a@b.c", True),
        ("relative/path", True),
        ("/abs/path", True),
        ("#frag", True),
        ("?q=1", True),
        ("//host/x", True),
        ("path/with:colon", True),  # the colon is after a slash: a path, not a scheme
        ("javascript:alert(1)", False),
        (" JAVASCRIPT:alert(1)", False),
        ("java\nscript:alert(1)", False),
        ("java\x00script:alert(1)", False),
        ("vbscript:x", False),
        ("data:text/html,x", False),
        ("file:///etc/passwd", False),
        ("ftp://example.com", False),
        ("weird:thing", False),
    ],
)
def test_is_safe_url(url: str, safe: bool) -> None:
    assert is_safe_url(url) is safe


_markdown_bits = st.sampled_from(
    [
        "<", ">", "<script>", "</script>", "<img src=x onerror=alert(1)>", "javascript:", "[", "]", "(",
        ")", "![", "](", '"', "'", "`", "```", "\n", "\n\n", " ", "on", "error", "=", "&#", "&", ";",
        "x", "http://a", "data:", "|", "---", "#", "*", "_", "\\", "\t",
    ]  # fmt: skip
)


@settings(max_examples=300)
@given(st.lists(_markdown_bits, max_size=40).map("".join))
def test_render_is_safe_for_markdown_like_input(markdown: str) -> None:
    assert_safe_html(render_card_html(markdown))


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_render_is_safe_for_arbitrary_text(markdown: str) -> None:
    assert_safe_html(render_card_html(markdown))
