"""Everything a study writes, read from a :class:`toolkit.result.StudyResult` and never changing it.

* :mod:`~toolkit.outputs.writers`: the output folder (GeoPackage, GeoParquet, CSV, run.json), saved atomically.
* :mod:`~toolkit.outputs.webmap` and :mod:`~toolkit.outputs.webassets`: the offline Leaflet map (map.html).
* :mod:`~toolkit.outputs.styles`: QGIS styles (QML, SLD, the GeoPackage ``layer_styles`` table).
* :mod:`~toolkit.outputs.static`: static maps (PNG/PDF) with matplotlib.
* :mod:`~toolkit.outputs.report`: report.html.
* :mod:`~toolkit.outputs.schema`: the data dictionary (schema.md).

The modules are imported on use, so ``import toolkit.outputs`` costs nothing.
"""

__all__: list[str] = []
