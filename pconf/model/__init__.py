"""The model a layout is checked against: its facts (``facts``), what differs between vLLM releases
(``releases``), and where its layers and experts land (``placement``). Pure: the config.json is read by
``pconf.load.model``."""

from pconf.model.facts import FACT_NAMES, ModelFacts, model_facts
from pconf.model.releases import RELEASE, ModelRelease

__all__ = ["FACT_NAMES", "RELEASE", "ModelFacts", "ModelRelease", "model_facts"]
