"""EmbedDistillLoss: match the student's embeddings to pre-computed teacher embeddings."""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from raypipe.losses.base import LABEL_REQUIRED, LossRequirements, RaypipeLoss, embed_columns
from raypipe.losses.dense._dense_checks import (
    check_num_columns,
    embedding_dimension,
    loss_name,
    model_device,
    require_labels,
)

DISTANCE_METRICS = ("mse", "l2", "cosine")


class EmbedDistillLoss(RaypipeLoss):
    """Embedding distillation: for every text column c, a distance between the student embedding s_c (optionally
    through a learnable Linear projection to the teacher's dimension) and the teacher embedding t_c:
    mse = mean((s − t)²), l2 = mean_i ‖s_i − t_i‖₂, cosine = mean_i (1 − cos(s_i, t_i)); loss = mean over columns.

    | Inputs          | Labels                                                        |
    |-----------------|---------------------------------------------------------------|
    | text column(s)  | teacher embeddings (B, d) for every column, or (B, columns, d) |

    Compute the teacher embeddings once (e.g. `dataset.map`) and store them as the label column.
    Cost: O(B·D·columns). Reference: Kim et al., "EmbedDistill", arXiv:2301.12005.
    """

    citation = """
@misc{kim2023embeddistill,
    title={EmbedDistill: A Geometric Knowledge Distillation for Information Retrieval},
    author={Seungyeon Kim and Ankit Singh Rawat and Manzil Zaheer and Sadeep Jayasumana and Veeranjaneyulu Sadhanala and Wittawat Jitkrittum and Aditya Krishna Menon and Rob Fergus and Sanjiv Kumar},
    year={2023},
    eprint={2301.12005},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""

    def __init__(self, model, distance_metric: str = "cosine", projection_dim: int | None = None) -> None:
        super().__init__()
        if distance_metric not in DISTANCE_METRICS:
            raise ValueError(
                f"{loss_name(self)}: distance_metric={distance_metric!r} is not supported; allowed: "
                f"{', '.join(DISTANCE_METRICS)}. Fix: pass one of those."
            )
        self.model = model
        self.distance_metric = distance_metric
        self.projection_dim = projection_dim
        self.projection: nn.Linear | None = None
        if projection_dim is not None:
            # a trainable parameter of the loss (the trainer adds loss parameters to the optimizer)
            self.projection = nn.Linear(self._student_dim(), projection_dim, device=model_device(model))

    def _student_dim(self) -> int:
        dim = embedding_dimension(self.model)
        if dim is None:
            raise ValueError(
                f"{loss_name(self)} with a projection needs the model's embedding dimension, but the model reports "
                f"None. Fix: use a model with a fixed output dimension, or projection_dim=None."
            )
        return dim

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=1,
            max_inputs=None,
            label=LABEL_REQUIRED,
            label_kind="vector",
            label_shape="(batch, teacher_dim) or (batch, num_columns, teacher_dim)",
            model_kinds=("dense",),
        )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        sentence_features = list(sentence_features)
        check_num_columns(self, len(sentence_features), 1, None)
        require_labels(self, labels, "pre-computed teacher embeddings (batch, teacher_dim)")
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def _teacher_per_column(self, labels: Tensor | list[Tensor], num_columns: int) -> list[Tensor]:
        if isinstance(labels, (list, tuple)):
            teachers = [t.detach() for t in labels]
        else:
            labels = require_labels(self, labels, "teacher embeddings").detach()
            if labels.dim() == 2:  # one teacher embedding per row, shared by every column
                teachers = [labels] * num_columns
            elif labels.dim() == 3:
                teachers = [labels[:, i] for i in range(labels.shape[1])]
            else:
                raise ValueError(
                    f"{loss_name(self)} expects teacher embeddings of shape (batch, teacher_dim) or "
                    f"(batch, {num_columns}, teacher_dim), but got shape {tuple(labels.shape)}. "
                    f"Fix: store one embedding (or one per text column) per row."
                )
        if len(teachers) != num_columns:
            raise ValueError(
                f"{loss_name(self)} expects one teacher embedding per text column ({num_columns}), but got "
                f"{len(teachers)}. Fix: pass (batch, {num_columns}, teacher_dim) labels, or 2D labels "
                f"(batch, teacher_dim) to share one teacher embedding across columns."
            )
        return teachers

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | list[Tensor]) -> Tensor:
        check_num_columns(self, len(embeddings), 1, None)
        teachers = self._teacher_per_column(labels, len(embeddings))
        losses = []
        for student, teacher in zip(embeddings, teachers):
            teacher = teacher.to(device=student.device, dtype=student.dtype)
            if self.projection is not None:
                student = self.projection(student)
            if student.shape != teacher.shape:
                raise ValueError(
                    f"{loss_name(self)} expects teacher embeddings shaped like the student's "
                    f"{tuple(student.shape)}, but got {tuple(teacher.shape)}. "
                    f"Fix: set projection_dim={teacher.shape[-1]} to learn a projection to the teacher's size."
                )
            if self.distance_metric == "mse":
                losses.append(nn.functional.mse_loss(student, teacher))
            elif self.distance_metric == "l2":
                losses.append(torch.norm(student - teacher, dim=-1).mean())
            else:
                losses.append((1 - nn.functional.cosine_similarity(student, teacher, dim=-1)).mean())
        return torch.stack(losses).mean()

    def save_projection(self, path: str | os.PathLike) -> None:
        """Write the projection's weight/bias as a safetensors file."""
        if self.projection is None:
            raise ValueError(
                f"{loss_name(self)} has no projection layer to save. Fix: construct it with projection_dim=<int>."
            )
        from safetensors.torch import save_file

        save_file(
            {k: v.detach().contiguous().cpu() for k, v in self.projection.state_dict().items()}, str(path)
        )

    def load_projection(self, path: str | os.PathLike) -> None:
        """Load a projection saved by `save_projection` (creating the layer if needed)."""
        from safetensors.torch import load_file

        state = load_file(str(path))
        out_features, in_features = state["weight"].shape
        if self.projection is None:
            student_dim = self._student_dim()
            if in_features != student_dim:
                raise ValueError(
                    f"{loss_name(self)}: the saved projection expects {in_features}-dim student embeddings, but "
                    f"the model outputs {student_dim}. Fix: load a projection trained for this model."
                )
            self.projection = nn.Linear(in_features, out_features, device=model_device(self.model))
            self.projection_dim = out_features
        elif (self.projection.in_features, self.projection.out_features) != (in_features, out_features):
            raise ValueError(
                f"{loss_name(self)}: the saved projection is {in_features} -> {out_features}, but this loss has "
                f"{self.projection.in_features} -> {self.projection.out_features}. Fix: match projection_dim."
            )
        self.projection.load_state_dict(state)

    def get_config_dict(self) -> dict:
        return {"distance_metric": self.distance_metric, "projection_dim": self.projection_dim}


__all__ = ["EmbedDistillLoss"]
