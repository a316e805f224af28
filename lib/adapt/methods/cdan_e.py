from __future__ import annotations

from dataclasses import dataclass

from lib.adapt.methods.cdan import CDAN, CDANOptions
from lib.options import option


@dataclass(frozen=True)
class CDANEOptions(CDANOptions):
    entropy: bool = option(True, "Weight each example by 1 + exp(-entropy) of its prediction.")


class CDANE(CDAN):
    """CDAN+E (Long et al., NeurIPS 2018): CDAN with entropy conditioning, examples whose
    predictions are confident (low entropy) weigh more in the domain loss."""

    name = "cdan+e"
    Options = CDANEOptions
