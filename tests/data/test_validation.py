"""Dataset validation before any compute: every failure class names the column (and row) and the fix, and the
trainer raises it before the first forward pass (model.forward is patched to fail if called)."""

from __future__ import annotations

import pytest
from datasets import Dataset

from raypipe.data.validation import DatasetValidationError, dataset_problems, validate_datasets

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def dense(tiny_bert_dir):
    import raypipe

    return raypipe.SentenceTransformer(tiny_bert_dir, device="cpu")


@pytest.fixture(scope="module")
def cross(tiny_cls_dir):
    import raypipe

    return raypipe.CrossEncoder(tiny_cls_dir, device="cpu")


def _mnrl(model):
    from raypipe.losses.dense.multiple_negatives_ranking import MultipleNegativesRankingLoss

    return MultipleNegativesRankingLoss(model)


def _cosent(model):
    from raypipe.losses.dense.cosent import CoSENTLoss

    return CoSENTLoss(model)


def _no_forward(model, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("forward ran before validation")

    monkeypatch.setattr(model, "forward", boom)


CASES = [
    # (id, data, loss factory, expected fragments: column/row and fix)
    ("empty", {"anchor": [], "positive": []}, _mnrl, ["empty", "Fix: pass a dataset with at least one row"]),
    ("reserved", {"anchor": ["a"], "positive": ["b"], "return_loss": [1]}, _mnrl,
     ["'return_loss'", "reserved", "rename_column"]),
    ("id_like", {"query_id": ["q1"], "anchor": ["a"], "positive": ["b"]}, _mnrl,
     ["'query_id'", "ID columns", "remove_columns(['query_id'])"]),
    ("too_few_inputs", {"anchor": ["a", "b"]}, _mnrl,
     ["MultipleNegativesRankingLoss expects at least 2 input column(s)", "['anchor']", "Fix:"]),
    ("label_missing", {"a": ["x"], "b": ["y"]}, _cosent, ["needs a label column", "Fix: add one"]),
    ("label_unexpected", {"a": ["x"], "b": ["y"], "label": [1.0]}, _mnrl, ["takes no labels", "remove it"]),
    ("label_kind", {"a": ["x", "y"], "b": ["y", "z"], "label": ["high", "low"]}, _cosent,
     ["column 'label'", "expected a number", "row(s) [0, 1]", "Fix:"]),
    ("null_text", {"anchor": ["a", None, "c"], "positive": ["b", "c", "d"]}, _mnrl,
     ["column 'anchor' has null texts", "row(s) [1]", "Fix: drop or fill"]),
    ("non_string", {"anchor": ["a", "b", "c"], "positive": ["x", "y", "z"], "negative": [1, 2, 3]}, _mnrl,
     ["column 'negative' has int values", "row(s) [0, 1, 2]", "Fix: convert them to str"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_trainer_raises_before_forward(case, dense, tmp_path, monkeypatch):
    from raypipe.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    _, data, loss_fn, fragments = case
    _no_forward(dense, monkeypatch)
    args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path), report_to="none")
    with pytest.raises(DatasetValidationError) as err:
        SentenceTransformerTrainer(model=dense, args=args, train_dataset=Dataset.from_dict(data), loss=loss_fn(dense))
    for fragment in fragments:
        assert fragment in str(err.value), (fragment, str(err.value))


def test_one_error_lists_every_problem(dense):
    ds = Dataset.from_dict({"doc_id": ["1", "2"], "anchor": ["a", None], "label": [1.0, 0.0]})
    with pytest.raises(DatasetValidationError) as err:
        validate_datasets(ds, _mnrl(dense), dense)
    # ID column, unexpected label, null text (doc_id still counts as an input column, by position)
    assert len(err.value.problems) == 3
    assert "3 problem(s)" in str(err.value) and "'doc_id'" in str(err.value) and "row(s) [1]" in str(err.value)


def test_num_labels_mismatch_names_fix(cross, tiny_cls3_dir):
    import raypipe
    from raypipe.losses.cross.binary_cross_entropy import BinaryCrossEntropyLoss

    three = raypipe.CrossEncoder(tiny_cls3_dir, device="cpu")
    ds = Dataset.from_dict({"q": ["a"], "d": ["b"], "label": [1.0]})
    probs = dataset_problems(ds, BinaryCrossEntropyLoss(cross), three)
    assert any("num_labels == 1" in p and "num_labels=1" in p for p in probs)


def test_class_id_out_of_range(tiny_cls3_dir):
    import raypipe
    from raypipe.losses.cross.cross_entropy import CrossEntropyLoss

    three = raypipe.CrossEncoder(tiny_cls3_dir, device="cpu")
    ds = Dataset.from_dict({"q": ["a", "b"], "d": ["b", "c"], "label": [1, 5]})
    probs = dataset_problems(ds, CrossEntropyLoss(three), three)
    assert any("class id 5" in p and "row(s) [1]" in p for p in probs)


def test_model_type_mismatch(cross, dense):
    ds = Dataset.from_dict({"a": ["x"], "b": ["y"]})
    probs = dataset_problems(ds, _mnrl(dense), cross)
    assert any("but the model is a CrossEncoder" in p and "Fix:" in p for p in probs)


def test_vector_label_length_vs_embedding_dim(dense):
    from raypipe.losses.dense.mse import MSELoss

    ds = Dataset.from_dict({"text": ["a", "b"], "label": [[0.1] * 32, [0.1] * 5]})
    probs = dataset_problems(ds, MSELoss(dense), dense)
    assert any("length 5" in p and "row(s) [1]" in p for p in probs), probs


def test_listwise_label_count_mismatch(cross):
    from raypipe.losses.cross.list_net import ListNetLoss

    ds = Dataset.from_dict({"query": ["q1", "q2"], "docs": [["a", "b"], ["c", "d"]], "labels": [[1, 0], [1, 0, 0]]})
    probs = dataset_problems(ds, ListNetLoss(cross), cross)
    assert any("has 3 labels but the row has 2 documents" in p and "row(s) [1]" in p for p in probs), probs


def test_dict_of_datasets_names_the_dataset(dense):
    good = Dataset.from_dict({"a": ["x"], "b": ["y"]})
    bad = Dataset.from_dict({"a": ["x"]})
    with pytest.raises(DatasetValidationError, match=r"train_dataset\['bad'\]"):
        validate_datasets({"good": good, "bad": bad}, {"good": _mnrl(dense), "bad": _mnrl(dense)}, dense)


def test_valid_dataset_passes(dense):
    validate_datasets(Dataset.from_dict({"a": ["x", "y"], "b": ["y", "z"]}), _mnrl(dense), dense)
