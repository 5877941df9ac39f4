"""fooddelivery: the whole back end of a food-delivery business, once, for AWS, Azure, Google Cloud or a laptop.

Layers (dependencies point inward): ``domain`` (pure rules, standard library only) <- ``ports`` (protocols)
<- ``application`` (use cases, the order saga) <- ``adapters.memory`` / ``http`` <- ``bootstrap`` <- ``cli``.
Cloud adapters live in separate distributions (``fooddelivery_aws``, ``fooddelivery_azure``, ``fooddelivery_gcp``).
"""

__version__ = "0.1.0"
