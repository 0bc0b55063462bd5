"""The bundled Vocos-EnCodec vocoder on transformers' conventions: config, feature extractor, processor, model,
the codebook/bandwidth table, and the conversion of every published checkpoint layout."""

from .bandwidth import BANDWIDTHS, bandwidth_for_num_codebooks, num_codebooks_for_bandwidth
from .configuration_vocos_encodec import VocosEncodecConfig
from .feature_extraction_vocos_encodec import VocosFeatureExtractor
from .modeling_vocos_encodec import VocosEncodecModel, VocosEncodecOutput
from .processing_vocos_encodec import VocosEncodecProcessor

__all__ = [
    "BANDWIDTHS",
    "VocosEncodecConfig",
    "VocosEncodecModel",
    "VocosEncodecOutput",
    "VocosEncodecProcessor",
    "VocosFeatureExtractor",
    "bandwidth_for_num_codebooks",
    "num_codebooks_for_bandwidth",
]
