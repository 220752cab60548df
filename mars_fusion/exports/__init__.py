"""Exports of the flower map: CSV, GeoJSON (QGIS), KML (Google Earth), PNG picture."""
from mars_fusion.exports.all_formats import write_all
from mars_fusion.exports.csv_export import CSV_COLUMNS, write_csv
from mars_fusion.exports.geojson_export import geojson_dict, write_geojson
from mars_fusion.exports.kml_export import write_kml
from mars_fusion.exports.png_export import write_png

__all__ = ["CSV_COLUMNS", "geojson_dict", "write_csv", "write_geojson", "write_kml", "write_png", "write_all"]
