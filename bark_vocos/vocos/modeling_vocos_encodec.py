"""The VocosEncodec vocoder: EnCodec codes or codebook features -> ConvNeXt backbone -> ISTFT -> 24 kHz audio.

The math is that of the original Vocos (gemelo-ai/vocos 0.1.0, `VocosBackbone` + `ISTFTHead`), with the weight
names of the transformers port (hf-audio/vocos-encodec-24khz). The forward pass is arranged for CPU speed without
changing the math: activations stay channels-last `(B, T, H)` from the embedding convolution on (both convolutions
run as oneDNN channels-last `conv2d`, no transposes per block), the adaptive layer norm's scale and shift go straight
into `F.layer_norm`, the linear layers read weights prepacked for oneDNN and take their kernel and GELU placement by
measurement (`bark_vocos.kernels.linear`), the layer scale and residual add are one `addcmul`, and the ISTFT head
builds its spectrum with vectorized exp/cos/sin on contiguous halves (not `torch.polar`'s scalar loop), its inverse FFT
and overlap-add on contiguous frames-major memory, reusing its buffers where autograd is off.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from ..bandwidth import bandwidth_for_num_codebooks, num_codebooks_for_bandwidth
from ..hub import explain_unavailable
from ..kernels import derived_weight
from ..permissions import set_default_mode
from .codes import check_codes, embed_codes
from .configuration_vocos_encodec import VocosEncodecConfig
from .conversion import config_for_layout, convert_state_dict, read_state_dict
from .heads import VocosEncodecISTFTHead
from .layouts import CheckpointLayout, detect_layout, hub_options
from .modules import VocosEncodecAdaptiveLayerNorm, VocosEncodecConvNeXtBlock

__all__ = ["VocosEncodecModel", "VocosEncodecOutput", "VocosEncodecPreTrainedModel", "convert_checkpoint"]

logger = logging.getLogger(__name__)

# Keyword arguments transformers passes to every model; accepted and ignored, as the port's forward does.
_GENERIC_FORWARD_KWARGS = frozenset({"output_attentions", "output_hidden_states", "use_cache", "past_key_values"})


@dataclass
class VocosEncodecOutput(ModelOutput):
    """Output of `VocosEncodecModel`.

    Args:
        audio (`torch.FloatTensor` of shape `(batch_size, frames * hop_length)`): The waveform, float32.
        attention_mask (`torch.LongTensor` of shape `(batch_size, frames * hop_length)`, *optional*): 1 where a
            sample belongs to the item, 0 where it comes from padding; trim item `i` with
            `audio[i][attention_mask[i].bool()]`. `None` when every item fills the whole length.
    """

    audio: torch.FloatTensor | None = None
    attention_mask: torch.LongTensor | None = None


class VocosEncodecPreTrainedModel(PreTrainedModel):
    """Weight initialization and the transformers plumbing for VocosEncodec."""

    config_class = VocosEncodecConfig
    base_model_prefix = "vocos_encodec"
    main_input_name = "input_features"
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Fresh-model initialization, through `transformers.initialization` so that loaded tensors are kept.

        Those functions skip a tensor `from_pretrained` has already filled (its `_is_hf_initialized` flag); plain
        torch in-place fills would overwrite the checkpoint's values wherever transformers still runs this hook
        after loading (transformers 5.4 does, for every module).
        """
        if isinstance(module, VocosEncodecISTFTHead):
            init.copy_(module.window, torch.hann_window(module.n_fft))
        elif isinstance(module, (VocosEncodecAdaptiveLayerNorm, nn.LayerNorm)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, (nn.Linear, nn.Conv1d)):
            init.trunc_normal_(module.weight, std=0.02)
            init.zeros_(module.bias)


class VocosEncodecModel(VocosEncodecPreTrainedModel):
    """Vocos vocoder for EnCodec 24 kHz: decodes EnCodec codes (or their codebook features) to a waveform.

    Weights (transformers layout): `codebook_weights` `(num_quantizers, codebook_dim)`, `embed.*`, `norm.weight`/
    `norm.bias` `(num_bandwidths, hidden_size)`, `layers.N.{dwconv,norm,pwconv1,pwconv2,layer_scale_parameter}`,
    `final_layer_norm.*`, `decoder.out.*`, `decoder.window`.
    """

    def __init__(self, config: VocosEncodecConfig):
        super().__init__(config)
        self.embed = nn.Conv1d(config.codebook_dim, config.hidden_size, config.kernel_size, padding=config.padding)
        self.norm = VocosEncodecAdaptiveLayerNorm(config)
        self.layers = nn.ModuleList([VocosEncodecConvNeXtBlock(config) for _ in range(config.num_layers)])
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = VocosEncodecISTFTHead(config)
        self.register_buffer("codebook_weights", torch.zeros(config.num_quantizers, config.codebook_dim))
        self.post_init()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *args, **kwargs) -> VocosEncodecModel:
        """Loads a checkpoint of any known layout, strictly, from a local folder or a hub id.

        The layouts (see `bark_vocos.vocos.layouts`): `vocos_encodec`, the transformers port's final one
        (`config.json` + `model.safetensors` or `pytorch_model.bin`); `vocos`, the port's earlier one (model_type
        `vocos_with_encodec` / `vocos`, `backbone.*` / `head.*` keys); `original`, charactr's `config.yaml` +
        `pytorch_model.bin`. Any missing, unexpected or mis-shaped tensor is a `ValueError` naming it (the EnCodec
        model's own weights an earlier checkpoint may carry are the one exception: the vocoder does not use them).

        Args:
            pretrained_model_name_or_path: Local folder or hub id.
            **kwargs: Passed on to `PreTrainedModel.from_pretrained` (e.g. `dtype`, `device_map`, `revision`).

        Raises:
            ModelNotAvailableError: When it is neither a local folder nor reachable on the hub.
            UnknownLayoutError: (a `ValueError`) When its files match no known layout.
            ValueError: When the checkpoint's tensors do not match the model exactly.
        """
        with explain_unavailable(pretrained_model_name_or_path, "Vocos vocoder", "--vocoder PATH or a local folder"):
            layout = detect_layout(pretrained_model_name_or_path, **hub_options(kwargs))
            if layout.name != "vocos_encodec":
                return cls._from_converted(layout, **kwargs)
            for name in ("output_loading_info", "ignore_mismatched_sizes"):
                if kwargs.pop(name, False):
                    raise ValueError(f"{name} is not supported: loading is strict, any mismatch raises")
            # Mismatched shapes are collected (not raised anonymously by transformers) so the error can name them.
            model, info = super().from_pretrained(
                pretrained_model_name_or_path, *args, output_loading_info=True, ignore_mismatched_sizes=True, **kwargs
            )
        problems = {name: sorted(info.get(name) or []) for name in ("missing_keys", "unexpected_keys")}
        problems["mismatched_keys"] = sorted(str(item) for item in info.get("mismatched_keys") or [])
        problems = {name: keys for name, keys in problems.items() if keys}
        if problems:
            details = "; ".join(f"{name}: {', '.join(keys)}" for name, keys in problems.items())
            raise ValueError(
                f"checkpoint {os.fspath(pretrained_model_name_or_path)} does not match the model: {details}"
            )
        return model

    @classmethod
    def _from_converted(cls, layout: CheckpointLayout, **kwargs) -> VocosEncodecModel:
        """Builds the model from a checkpoint of the `original` or `vocos` layout through the strict key map.

        Args:
            layout: What `detect_layout` found.
            **kwargs: `dtype`/`torch_dtype`, `device_map` (a device, or "auto" for CPU/the first GPU), and hub
                options (already used to find the files).

        Raises:
            TypeError: For any other keyword argument.
            ValueError: If the checkpoint does not match its config exactly.
        """
        for name in hub_options(kwargs):
            kwargs.pop(name)
        dtype = kwargs.pop("dtype", None) or kwargs.pop("torch_dtype", None)
        device_map = kwargs.pop("device_map", None)
        if kwargs:
            raise TypeError(f"unsupported arguments for a {layout.name}-layout checkpoint: {sorted(kwargs)}")
        model = cls(config_for_layout(layout))
        state_dict = convert_state_dict(layout.name, read_state_dict(layout.weights_file), model.state_dict())
        model.load_state_dict(state_dict, strict=True)
        model.config.name_or_path = layout.source
        if dtype is not None and dtype != "auto":
            model.to(getattr(torch, dtype) if isinstance(dtype, str) else dtype)
        if device_map is not None:
            device = ("cuda" if torch.cuda.is_available() else "cpu") if device_map == "auto" else device_map
            if not isinstance(device, (str, torch.device, int)):
                raise TypeError(f"device_map for a {layout.name}-layout checkpoint must be a device or 'auto'")
            model.to(device)
        return model.eval()

    def resolve_bandwidth(
        self, bandwidth: float | None = None, bandwidth_id: int | torch.Tensor | None = None, num_codebooks=None
    ) -> float:
        """The bandwidth in kbps from `bandwidth`, `bandwidth_id` (index into `config.bandwidths`) or the codes.

        Args:
            bandwidth: Bandwidth in kbps, one of `config.bandwidths`.
            bandwidth_id: Index into `config.bandwidths` (int or one-element tensor), an alternative to `bandwidth`.
            num_codebooks: Number of codebooks of the codes being decoded, if any; infers the bandwidth when neither
                of the others is given and must agree with it otherwise.

        Raises:
            ValueError: On an unknown bandwidth or id, disagreeing arguments, or no way to tell the bandwidth.
        """
        bandwidths = list(self.config.bandwidths)
        if bandwidth_id is not None:
            index = int(bandwidth_id.reshape(-1)[0]) if isinstance(bandwidth_id, torch.Tensor) else bandwidth_id
            if isinstance(bandwidth_id, torch.Tensor) and bandwidth_id.numel() != 1:
                raise ValueError(f"bandwidth_id must hold one index, got shape {tuple(bandwidth_id.shape)}")
            if not isinstance(index, int) or not 0 <= index < len(bandwidths):
                raise ValueError(f"bandwidth_id {bandwidth_id!r} is not valid; valid ids are 0..{len(bandwidths) - 1}")
            if bandwidth is not None and float(bandwidth) != bandwidths[index]:
                raise ValueError(f"bandwidth {bandwidth} and bandwidth_id {index} ({bandwidths[index]}) disagree")
            bandwidth = bandwidths[index]
        if bandwidth is None:
            if num_codebooks is None:
                raise ValueError(f"input_features need a bandwidth (one of {bandwidths} kbps) or a bandwidth_id")
            bandwidth = bandwidth_for_num_codebooks(num_codebooks)
        num_codebooks_for_bandwidth(bandwidth)  # a ValueError listing the valid values for an unknown bandwidth
        if float(bandwidth) not in bandwidths:
            raise ValueError(f"bandwidth {bandwidth} kbps is not supported by this model; valid: {bandwidths}")
        if num_codebooks is not None and num_codebooks != num_codebooks_for_bandwidth(bandwidth):
            raise ValueError(
                f"codes have {num_codebooks} codebooks but bandwidth {bandwidth} kbps uses "
                f"{num_codebooks_for_bandwidth(bandwidth)}; pass the bandwidth that produced the codes or none"
            )
        return float(bandwidth)

    def codes_to_features(self, codes: torch.Tensor) -> torch.Tensor:
        """EnCodec codes -> summed codebook embeddings, from the model's own codebook table.

        Args:
            codes: Integer tensor `(K, T)` or `(K, B, T)` with K codebooks (2, 4, 8 or 16), values in `[0, 1024)`.

        Returns:
            Features of shape `(B, codebook_dim, T)` in the codebook table's dtype.

        Raises:
            TypeError: If `codes` is not an integer tensor.
            ValueError: On a wrong number of dimensions or codebooks, or a code outside `[0, 1024)`.
        """
        codes = check_codes(codes, self.config.codebook_size, self.config.max_codebooks)
        return embed_codes(codes, self.codebook_weights, self.config.codebook_size)

    def forward(
        self,
        input_features: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        bandwidth: float | None = None,
        *,
        codes: torch.Tensor | None = None,
        bandwidth_id: int | torch.Tensor | None = None,
        lengths: torch.Tensor | list[int] | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> VocosEncodecOutput:
        """Decodes codes or features to audio.

        The first three parameters are the transformers port's, in its order: `model(features, mask, 6.0)` works.

        Args:
            input_features: Codebook features `(B, codebook_dim, T)` (from the processor or `codes_to_features`).
            attention_mask: `(B, T * hop_length)` sample mask of padded audio (from the processor); passed through.
            bandwidth: Bandwidth in kbps (1.5, 3, 6 or 12). Inferred from K for codes; required for features
                unless `bandwidth_id` is given.
            codes: EnCodec codes `(K, T)` or `(K, B, T)`, decoded with the model's own codebook table.
            bandwidth_id: Index into `config.bandwidths`, an alternative to `bandwidth`.
            lengths: Valid frames per item `(B,)` of a padded batch of codes or features; gives the output's
                `attention_mask` in samples. Not together with `attention_mask`.
            return_dict: Ignored unless False, which returns the tuple `(audio, attention_mask)`.
            **kwargs: Other keyword arguments transformers passes to models (`output_hidden_states`, ...): ignored,
                as the port ignores them; any other name is ignored with a warning naming it.

        Returns:
            `VocosEncodecOutput` with `audio` float32 `(B, T * hop_length)` and `attention_mask` (None when neither
            `attention_mask` nor `lengths` was given).
        """
        unknown = sorted(set(kwargs) - _GENERIC_FORWARD_KWARGS)
        if unknown:
            logger.warning("VocosEncodecModel.forward ignores the keyword arguments %s", ", ".join(unknown))
        if (input_features is None) == (codes is None):
            raise ValueError("pass exactly one of input_features (B, codebook_dim, T) or codes (K, T) / (K, B, T)")
        if codes is not None:
            codes = check_codes(codes, self.config.codebook_size, self.config.max_codebooks)
            bandwidth = self.resolve_bandwidth(bandwidth, bandwidth_id, num_codebooks=codes.shape[0])
            input_features = embed_codes(codes, self.codebook_weights, self.config.codebook_size)
        else:
            bandwidth = self.resolve_bandwidth(bandwidth, bandwidth_id)
            _check_features(input_features, self.config.codebook_dim)
        batch, _, num_frames = input_features.shape
        attention_mask = _output_mask(attention_mask, lengths, batch, num_frames, self.config.hop_length)
        with torch.inference_mode(not torch.is_grad_enabled()):
            audio = self.decode(input_features, self.config.bandwidths.index(bandwidth))
        if attention_mask is not None:
            attention_mask = attention_mask.to(audio.device)
        if return_dict is False:
            return (audio, attention_mask)
        return VocosEncodecOutput(audio=audio, attention_mask=attention_mask)

    def decode(self, input_features: torch.Tensor, bandwidth_id: int) -> torch.Tensor:
        """Features (B, codebook_dim, T) -> float32 audio (B, T * hop_length), no input checks."""
        weight = self.embed.weight
        hidden_states = self.embed_conv(input_features.to(device=weight.device, dtype=weight.dtype))
        hidden_states = self.norm(hidden_states, bandwidth_id)  # (B, T, H) contiguous from here on
        for layer in self.layers:
            hidden_states = layer(hidden_states, bandwidth_id)
        hidden_states = self.final_layer_norm(hidden_states)
        return self.decoder(hidden_states)

    def embed_conv(self, input_features: torch.Tensor) -> torch.Tensor:
        """`self.embed` on (B, codebook_dim, T) features -> (B, T, H) contiguous, computed channels-last.

        As the blocks' `depthwise_conv`: viewed as a `(B, C, 1, T)` image in torch's `channels_last` format, oneDNN
        reads the features and writes the output frames-major, so the output is the `(B, T, H)` the backbone wants
        without a copy (features from codes already come frames-major: `embed_codes` sums `(B, T, C)` rows). The weight
        is kept in the channels-last layout too (`derived_weight`): given the plain one, the convolution reorders it
        on every call. Same weights and sums.
        """
        conv = self.embed
        image = input_features.unsqueeze(2).contiguous(memory_format=torch.channels_last)  # (B, C, 1, T)
        if torch.is_grad_enabled() and conv.weight.requires_grad:  # a kept copy would not pass gradients on
            weight = _channels_last_image_weight(conv.weight)
        else:
            weight = derived_weight(conv, "channels_last", _channels_last_image_weight)  # (H, C, 1, kernel_size)
        output = F.conv2d(image, weight, conv.bias, padding=(0, conv.padding[0]))
        return output.squeeze(2).transpose(1, 2).contiguous()


def _channels_last_image_weight(weight: torch.Tensor) -> torch.Tensor:
    """A conv1d weight (out, in, kernel) as a conv2d one (out, in, 1, kernel) in `channels_last` memory."""
    return weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)


def _check_features(input_features, codebook_dim: int) -> None:
    if not isinstance(input_features, torch.Tensor) or not input_features.dtype.is_floating_point:
        raise TypeError(f"input_features must be a float tensor, got {type(input_features).__name__}")
    if input_features.dim() != 3 or input_features.shape[1] != codebook_dim or input_features.shape[2] == 0:
        raise ValueError(
            f"input_features must have shape (B, {codebook_dim}, T) with T > 0, got {tuple(input_features.shape)}"
        )


def _output_mask(
    attention_mask: torch.Tensor | None, lengths, batch: int, num_frames: int, hop_length: int
) -> torch.Tensor | None:
    """The output's sample mask (B, T * hop_length) from a given mask or from per-item frame lengths."""
    num_samples = num_frames * hop_length
    if attention_mask is not None and lengths is not None:
        raise ValueError("pass attention_mask (samples) or lengths (frames), not both")
    if attention_mask is not None:
        if tuple(attention_mask.shape) != (batch, num_samples):
            raise ValueError(
                f"attention_mask must have shape (B, T * {hop_length}) = {(batch, num_samples)}, "
                f"got {tuple(attention_mask.shape)}"
            )
        return attention_mask
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths).reshape(-1).long()
    if lengths.numel() != batch or bool(((lengths < 1) | (lengths > num_frames)).any()):
        raise ValueError(f"lengths must hold {batch} frame counts in [1, {num_frames}], got {lengths.tolist()}")
    positions = torch.arange(num_samples)
    return (positions[None, :] < (lengths[:, None] * hop_length)).long()


def convert_checkpoint(source: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """Writes `source` (any known layout, local or hub) to `destination` in the `vocos_encodec` layout.

    The folder appears complete or not at all: it is written next to `destination` and renamed into place.

    Raises:
        FileExistsError: If `destination` exists and is not an empty folder.
    """
    destination = Path(destination)
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise FileExistsError(f"{destination} already exists and is not an empty folder")
    model = VocosEncodecModel.from_pretrained(source)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        model.save_pretrained(staging)
        for path in [staging, *staging.rglob("*")]:  # mkdtemp's folder is 0700: give the usual permissions
            set_default_mode(path)
        if destination.exists():
            destination.rmdir()
        staging.rename(destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return destination
