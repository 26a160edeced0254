"""The feedback loop: what Cartwise showed (impressions), what shoppers then did with it
(attribution of clicks, carts and purchases to the answer that showed the item), and the
rates that come out of it (click-through, add-to-cart, conversion)."""

from cartwise.feedback.attribution import ATTRIBUTED_TYPES, AttributionWindows, attribute
from cartwise.feedback.impression import Impression, ShownItem, new_request_id
from cartwise.feedback.log import ImpressionLog
from cartwise.feedback.report import FeedbackReport, PlacementRates, Rate, feedback_report

__all__ = [
    "ATTRIBUTED_TYPES",
    "AttributionWindows",
    "FeedbackReport",
    "Impression",
    "ImpressionLog",
    "PlacementRates",
    "Rate",
    "ShownItem",
    "attribute",
    "feedback_report",
    "new_request_id",
]
