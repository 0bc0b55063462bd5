"""The bundled Vocos-EnCodec vocoder on transformers' conventions: config, feature extractor, processor, model,
the codebook/bandwidth table, codes checks, and the detection and conversion of every published checkpoint layout."""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoProcessor

from ..bandwidth import BANDWIDTHS, bandwidth_for_num_codebooks, num_codebooks_for_bandwidth
from .configuration_vocos_encodec import VocosEncodecConfig
from .feature_extraction_vocos_encodec import VocosFeatureExtractor
from .layouts import CheckpointLayout, UnknownLayoutError, detect_layout
from .modeling_vocos_encodec import VocosEncodecModel, VocosEncodecOutput, convert_checkpoint
from .processing_vocos_encodec import VocosEncodecProcessor

__all__ = [
    "BANDWIDTHS",
    "CheckpointLayout",
    "UnknownLayoutError",
    "VocosEncodecConfig",
    "VocosEncodecModel",
    "VocosEncodecOutput",
    "VocosEncodecProcessor",
    "VocosFeatureExtractor",
    "bandwidth_for_num_codebooks",
    "convert_checkpoint",
    "detect_layout",
    "num_codebooks_for_bandwidth",
]

# `exist_ok`: a transformers release that ships its own vocos_encodec keeps working with our classes registered.
AutoConfig.register(VocosEncodecConfig.model_type, VocosEncodecConfig, exist_ok=True)
AutoModel.register(VocosEncodecConfig, VocosEncodecModel, exist_ok=True)
AutoFeatureExtractor.register(VocosEncodecConfig, VocosFeatureExtractor, exist_ok=True)
AutoProcessor.register(VocosEncodecConfig, VocosEncodecProcessor, exist_ok=True)
