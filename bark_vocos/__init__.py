"""bark-vocos model layer: the bundled VocosEncodec vocoder (config, processor, model) and Bark glue."""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoProcessor

from .errors import BarkVocosError, ModelNotAvailableError
from .vocos.bandwidth import BANDWIDTHS, bandwidth_for_num_codebooks, num_codebooks_for_bandwidth
from .vocos.configuration_vocos_encodec import VocosEncodecConfig
from .vocos.feature_extraction_vocos_encodec import VocosFeatureExtractor
from .vocos.modeling_vocos_encodec import VocosEncodecModel, VocosEncodecOutput
from .vocos.processing_vocos_encodec import VocosEncodecProcessor

__all__ = [
    "BANDWIDTHS",
    "BarkVocosError",
    "ModelNotAvailableError",
    "VocosEncodecConfig",
    "VocosEncodecModel",
    "VocosEncodecOutput",
    "VocosEncodecProcessor",
    "VocosFeatureExtractor",
    "bandwidth_for_num_codebooks",
    "num_codebooks_for_bandwidth",
]

# `exist_ok`: a transformers release that ships its own vocos_encodec keeps working with our classes registered.
AutoConfig.register(VocosEncodecConfig.model_type, VocosEncodecConfig, exist_ok=True)
AutoModel.register(VocosEncodecConfig, VocosEncodecModel, exist_ok=True)
AutoFeatureExtractor.register(VocosEncodecConfig, VocosFeatureExtractor, exist_ok=True)
AutoProcessor.register(VocosEncodecConfig, VocosEncodecProcessor, exist_ok=True)
