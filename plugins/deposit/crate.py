"""`ro-crate-metadata.json` at the root of the site: the archive as an RO-Crate 1.1 Dataset, for
repositories that take RO-Crates (Zenodo, InvenioRDM, WorkflowHub, Dataverse).

Made with the `rocrate` library: the root Dataset (name, description, date range, rights,
the outlets as publishers), the software that made it with its version and a CreateAction
that links them, every data file as a File with its media type and size, and for table
imports the published dataset the rows come from (DOI, authors, licence) as `isBasedOn`.
Identifiers are paths relative to the crate, so the same file is right on the hosted site and
in the offline copy. Pure: plain values in, the metadata's text out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rocrate.model.contextentity import ContextEntity
from rocrate.rocrate import ROCrate

#: The RO-Crate version written (the rocrate library also knows 1.2; repositories read 1.1).
VERSION = "1.1"


@dataclass(frozen=True)
class DataFile:
    path: str  # relative to the site root (the crate's root)
    media_type: str
    size: int
    name: str
    description: str = ""


@dataclass(frozen=True)
class Archive:
    name: str
    description: str
    first: str  # ISO 8601 date-times of the oldest and newest article
    last: str
    article_count: int
    rights: str
    licence_url: str | None
    publishers: tuple[str, ...]  # the outlets
    software: str
    software_version: str
    software_url: str | None
    site_url: str | None  # the hosted site, when there is one
    files: tuple[DataFile, ...]
    datasets: tuple[dict[str, Any], ...] = field(default_factory=tuple)  # published datasets used


def _one_or_many(values: list) -> Any:
    """RO-Crate 1.1 wants a single value written as itself, not as a list of one."""
    return values[0] if len(values) == 1 else values


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "x"


def crate_metadata(a: Archive) -> str:
    """The text of ro-crate-metadata.json (keys sorted, entities in a fixed order, one a line)."""
    crate = ROCrate(version=VERSION)
    root = crate.root_dataset
    root["name"] = a.name
    root["description"] = a.description
    # The newest article's date, never the clock: the same content gives the same crate.
    root["datePublished"] = a.last
    root["temporalCoverage"] = f"{a.first}/{a.last}"
    if a.site_url:
        root["url"] = a.site_url
    rights = crate.add(ContextEntity(crate, a.licence_url or "#rights", properties={
        "@type": "CreativeWork", "name": "Rights statement", "description": a.rights}))
    root["license"] = rights
    root["publisher"] = _one_or_many([crate.add(ContextEntity(crate, f"#outlet-{_slug(name)}", properties={
        "@type": "Organization", "name": name})) for name in a.publishers])
    software = crate.add(ContextEntity(crate, a.software_url or "#software", properties={
        "@type": "SoftwareApplication", "name": a.software, "version": a.software_version}))
    based_on = []
    for n, d in enumerate(a.datasets, 1):
        doi = str(d.get("doi") or "")
        authors = [crate.add(ContextEntity(crate, f"#author-{_slug(str(name))}", properties={
            "@type": "Person", "name": str(name)})) for name in d.get("authors") or []]
        props: dict[str, Any] = {"@type": "Dataset", "name": str(d.get("title") or ""), "author": _one_or_many(authors)}
        if doi:
            props["identifier"] = f"https://doi.org/{doi}"
        if d.get("licence"):
            props["license"] = crate.add(ContextEntity(crate, f"#licence-{_slug(str(d['licence']))}", properties={
                "@type": "CreativeWork", "name": str(d["licence"])}))
        if d.get("citation"):
            props["citation"] = " ".join(str(d["citation"]).split())
        if d.get("year"):
            props["datePublished"] = str(d["year"])
        if d.get("url"):
            props["url"] = str(d["url"])
        # A local id: an absolute one typed Dataset would read as a data entity of this crate.
        based_on.append(crate.add(ContextEntity(crate, f"#dataset-{_slug(doi or str(d.get('title') or n))}",
                                                properties=props)))
    if based_on:
        root["isBasedOn"] = _one_or_many(based_on)
    files = [crate.add_file(dest_path=f.path, properties={
        "name": f.name, "encodingFormat": f.media_type, "contentSize": str(f.size),
        **({"description": f.description} if f.description else {})}) for f in a.files]
    crate.add(ContextEntity(crate, "#build", properties={
        "@type": "CreateAction", "name": f"{a.software} build of the archive",
        "instrument": software, "result": [root, *files], "endTime": a.last,
        **({"object": _one_or_many(based_on)} if based_on else {})}))
    metadata = crate.metadata.generate()
    # One entity per line: readable and diffable, and json's C encoder (which an indent turns
    # off) writes the ten thousand TEI files of a large archive several times faster.
    entities = ",\n".join(json.dumps(e, sort_keys=True, ensure_ascii=False) for e in metadata["@graph"])
    return f'{{"@context": {json.dumps(metadata["@context"])},\n"@graph": [\n{entities}\n]}}\n'
