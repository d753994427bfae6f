"""The model a layout is checked against: its facts (``facts``), what differs between vLLM releases
(``releases``), and where its layers and experts land (``placement``). Pure: the config.json is read by
``pconf.load.model``."""

from pconf.model.facts import FACT_NAMES, ModelFacts, model_facts

__all__ = ["FACT_NAMES", "ModelFacts", "model_facts"]
