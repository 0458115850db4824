"""DenoisingAutoEncoderLoss (TSDAE, Wang et al., 2021): reconstruct a sentence from its damaged version's
sentence embedding with a cross-attending decoder."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable

from torch import Tensor, nn

from raypipe.losses.base import LossRequirements, RaypipeLoss
from raypipe.losses.dense._dense_checks import check_num_columns, loss_name

logger = logging.getLogger(__name__)


def share_parameters(source: nn.Module, target: nn.Module) -> int:
    """Make every parameter of `target` whose module path and name also exist in `source` *be* source's parameter
    (same tensor, so both models train it together). Returns how many were shared."""
    source_modules = dict(source.named_modules())
    shared = 0
    for name, _ in list(target.named_parameters()):
        module_path, _, attr = name.rpartition(".")
        src_module = source_modules.get(module_path)
        src_param = getattr(src_module, attr, None) if src_module is not None else None
        if isinstance(src_param, nn.Parameter):
            tgt_module = target.get_submodule(module_path) if module_path else target
            setattr(tgt_module, attr, src_param)
            shared += 1
    return shared


class DenoisingAutoEncoderLoss(RaypipeLoss):
    """TSDAE: encode the damaged sentence x̃ to e = model(x̃) (B, D); a causal decoder with cross-attention to e
    (one "memory" token) predicts the original sentence x token by token:
    loss = CE(decoder(x[:-1], memory=e), x[1:]), padding ignored.

    With `tie_encoder_decoder=True` (default) the decoder is built from the encoder's own config
    (`is_decoder=True, add_cross_attention=True`, via AutoModelForCausalLM.from_config — no download) and shares
    every encoder weight; only its cross-attention and LM-head transform are new parameters of the loss.
    With `tie_encoder_decoder=False`, `decoder_name_or_path` (a local checkpoint) is loaded as the decoder; the
    target text is re-tokenized when its tokenizer differs from the encoder's.

    | Inputs                           | Labels |
    |----------------------------------|--------|
    | (damaged_sentence, original_sentence) | none |

    Cost: one encoder pass on x̃ plus one decoder pass on x. Reference: Wang et al., "TSDAE", EMNLP Findings 2021.
    """

    citation = """
@inproceedings{wang-2021-TSDAE,
    title = "TSDAE: Using Transformer-based Sequential Denoising Auto-Encoderfor Unsupervised Sentence Embedding Learning",
    author = "Wang, Kexin and Reimers, Nils and Gurevych, Iryna",
    booktitle = "Findings of the Association for Computational Linguistics: EMNLP 2021",
    month = nov,
    year = "2021",
    address = "Punta Cana, Dominican Republic",
    publisher = "Association for Computational Linguistics",
    pages = "671--688",
    url = "https://arxiv.org/abs/2104.06979",
}
"""

    def __init__(
        self, model, decoder_name_or_path: str | None = None, tie_encoder_decoder: bool = True
    ) -> None:
        super().__init__()
        if decoder_name_or_path is None and not tie_encoder_decoder:
            raise ValueError(
                "DenoisingAutoEncoderLoss: tie_encoder_decoder=False needs decoder_name_or_path, but got None. "
                "Fix: pass a local decoder checkpoint, or keep tie_encoder_decoder=True."
            )
        transformer = model[0]
        encoder_hf = getattr(transformer, "auto_model", None)
        if encoder_hf is None:
            raise ValueError(
                f"DenoisingAutoEncoderLoss needs model[0] to be a Transformer module with `.auto_model`, but got "
                f"{type(transformer).__name__}. Fix: use a transformer-based SentenceTransformer."
            )
        self.encoder = model
        self.tokenizer_encoder = getattr(model, "tokenizer", None) or transformer.tokenizer
        if tie_encoder_decoder:
            if decoder_name_or_path:
                logger.warning(
                    "DenoisingAutoEncoderLoss: tie_encoder_decoder=True ignores decoder_name_or_path."
                )
            self.decoder, self.tokenizer_decoder = self._tied_decoder(encoder_hf), self.tokenizer_encoder
        else:
            self.decoder, self.tokenizer_decoder = self._load_decoder(decoder_name_or_path)
        self.decoder_name_or_path = None if tie_encoder_decoder else decoder_name_or_path
        self.tie_encoder_decoder = tie_encoder_decoder
        self.need_retokenization = not isinstance(self.tokenizer_encoder, type(self.tokenizer_decoder))
        if self.tokenizer_decoder.pad_token is None:
            self.tokenizer_decoder.pad_token = self.tokenizer_decoder.eos_token
            self.decoder.config.pad_token_id = self.decoder.config.eos_token_id
        if encoder_hf.config.hidden_size != self.decoder.config.hidden_size:
            raise ValueError(
                f"DenoisingAutoEncoderLoss needs the decoder's hidden size to match the encoder's "
                f"({encoder_hf.config.hidden_size}), but got {self.decoder.config.hidden_size}. "
                f"Fix: choose a decoder of the same width."
            )

    @staticmethod
    def _tied_decoder(encoder_hf: nn.Module) -> nn.Module:
        """A causal LM with cross-attention built from the encoder's config (no download) that shares every
        encoder weight; its cross-attention and LM-head transform are fresh parameters."""
        from transformers import AutoModelForCausalLM

        config = copy.deepcopy(encoder_hf.config)
        config.is_decoder, config.add_cross_attention = True, True
        decoder = AutoModelForCausalLM.from_config(config)
        if share_parameters(encoder_hf, getattr(decoder, decoder.base_model_prefix)) == 0:
            logger.warning("DenoisingAutoEncoderLoss: no encoder weight could be shared with the decoder.")
        if getattr(config, "tie_word_embeddings", True) and decoder.get_output_embeddings() is not None:
            # the LM head reads the (now shared) input embedding matrix
            decoder.get_output_embeddings().weight = decoder.get_input_embeddings().weight
        return decoder

    @staticmethod
    def _load_decoder(path: str):
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        config = AutoConfig.from_pretrained(path)
        config.is_decoder, config.add_cross_attention = True, True
        return AutoModelForCausalLM.from_pretrained(path, config=config), AutoTokenizer.from_pretrained(path)

    @property
    def model(self):
        return self.encoder

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=2,
            max_inputs=2,
            model_kinds=("dense",),
            notes="column 0 = damaged text, column 1 = original text; optimize the loss's decoder parameters too",
        )

    def retokenize(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        """Decode the encoder's ids and tokenize the text again with the decoder's tokenizer."""
        texts = self.tokenizer_encoder.batch_decode(features["input_ids"], skip_special_tokens=True)
        out = self.tokenizer_decoder(texts, padding=True, truncation="longest_first", return_tensors="pt")
        return {k: v.to(features["input_ids"].device) for k, v in out.items()}

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        sentence_features = list(sentence_features)
        check_num_columns(self, len(sentence_features), 2, 2)
        source, target = sentence_features
        if "attention_mask" not in source:
            raise ValueError(
                f"{loss_name(self)} expects tokenized features with an attention_mask, but got keys "
                f"{sorted(source)}. Fix: tokenize with model.tokenize(texts)."
            )
        if self.need_retokenization:
            target = self.retokenize(target)
        memory = self.encoder(source)["sentence_embedding"][:, None]  # (B, 1, D): one memory token
        target_ids = target["input_ids"]  # (B, T)
        logits = self.decoder(
            input_ids=target_ids[:, :-1],
            encoder_hidden_states=memory,
            encoder_attention_mask=source["attention_mask"][:, :1],
            use_cache=False,
        ).logits  # (B, T-1, V)
        ce = nn.CrossEntropyLoss(ignore_index=self.tokenizer_decoder.pad_token_id)
        return ce(logits.reshape(-1, logits.shape[-1]), target_ids[:, 1:].reshape(-1))

    def get_config_dict(self) -> dict:
        return {
            "decoder_name_or_path": self.decoder_name_or_path,
            "tie_encoder_decoder": self.tie_encoder_decoder,
            "need_retokenization": self.need_retokenization,
        }


__all__ = ["DenoisingAutoEncoderLoss"]
