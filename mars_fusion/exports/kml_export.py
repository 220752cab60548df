"""KML export for Google Earth: a folder of placemarks per plot."""
from __future__ import annotations

from pathlib import Path
from typing import Union
from xml.sax.saxutils import escape

import numpy as np

from mars_fusion.snapshot import MapSnapshot


def write_kml(snapshot: MapSnapshot, path: Union[str, Path], name: str = "MARS flower map") -> Path:
    """Write one Placemark per flower (lon,lat,alt), grouped in a Folder per plot."""
    f = snapshot.flowers
    plots = snapshot.plot_ids.astype(str)
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', '<kml xmlns="http://www.opengis.net/kml/2.2">', "<Document>",
             f"<name>{escape(name)}</name>",
             '<Style id="flower"><IconStyle><color>ff00ffff</color><scale>0.5</scale></IconStyle></Style>']
    for plot in np.unique(plots):
        parts.append(f"<Folder><name>{escape(plot or 'no plot')}</name>")
        for i in np.flatnonzero(plots == plot):
            parts.append(
                f"<Placemark><name>{int(f.ids[i])}</name><styleUrl>#flower</styleUrl>"
                f"<description>observations {int(f.n_obs[i])}; cameras {escape(','.join(snapshot.cameras(int(i))))}"
                f"</description><Point><coordinates>{snapshot.longitude[i]:.9f},{snapshot.latitude[i]:.9f},"
                f"{snapshot.altitude[i]:.3f}</coordinates></Point></Placemark>")
        parts.append("</Folder>")
    parts += ["</Document>", "</kml>"]
    out = Path(path)
    out.write_text("\n".join(parts))
    return out
